"""Hostile LwM2M devices, round 2 (issue 15), through the running LwM2M lab over real UDP and
DTLS sockets: unknown critical options, broken block-wise registrations, registration
takeover (Update / De-register / Register from another address or security context), and
overlong or too many registrations. Before, each was a 2.01 / 2.04, a 5.00 with an aiocoap
traceback, or unbounded; what each proves is listed in docs/robustness.md.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiocoap import Code, Message
from aiocoap.optiontypes import OpaqueOption

from conformance.evidence.transcript import Transcript
from conformance.lwm2m.lab import Lwm2mLab
from conformance.lwm2m.model import ContentFormat
from conformance.runtime import LabLoop

LWM2M = sys.modules["conformance_tests_lwm2m_lab_conftest"]  # loaded by conftest.py
# The LwM2M lab tests' fixtures (the lab's loop, the fake devices' loop and devices).
lab_loop = LWM2M.lab_loop
device_loop = LWM2M.device_loop
make_device = LWM2M.make_device
IDENTITY, KEY = LWM2M.IDENTITY, LWM2M.KEY


@pytest.fixture
def make_lab(
    lab_loop: LabLoop, transcript: Transcript, tmp_path: Path, started: Callable[[Any], Any]
) -> Callable[..., Lwm2mLab]:
    """``make_lab("psk", registrations_per_source=3)``: security and ``limits`` changed."""

    def make(security: str = "nosec", **limits: Any) -> Lwm2mLab:
        decl = LWM2M.declaration(security)
        decl = decl.model_copy(update={"limits": decl.limits.model_copy(update=limits)})
        lab: Lwm2mLab = started(Lwm2mLab(lab_loop, decl, transcript, tmp_path))
        return lab

    return make


class Udp:
    """A raw NoSec 'device' on its own socket (its own address)."""

    def __init__(self, lab: Lwm2mLab) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.lab = ("127.0.0.1", int(lab.addresses()["LAB_LWM2M_URI"].rsplit(":", 1)[1]))
        self.mid = 100

    def request(self, code: Code, path: str, query: tuple[str, ...] = (),
                payload: bytes = b"", extra: tuple[Any, ...] = (), **options: Any) -> Message:
        msg = Message(code=code, uri_path=tuple(p for p in path.split("/") if p),
                      uri_query=query, payload=payload, **options)
        for option in extra:
            msg.opt.add_option(option)
        self.mid += 1
        msg.mtype, msg.mid, msg.token = 0, self.mid, self.mid.to_bytes(2, "big")
        self.sock.sendto(bytes(msg.encode()), self.lab)
        data, _ = self.sock.recvfrom(65536)
        return Message.decode(data)

    def register(self, ep: str, **options: Any) -> Message:
        return self.request(Code.POST, "/rd", (f"ep={ep}", "lt=60", "lwm2m=1.1", "b=U"),
                            b"</1/0>,</3/0>", content_format=40, **options)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def udp() -> Iterator[Callable[[Lwm2mLab], Udp]]:
    made: list[Udp] = []

    def make(lab: Lwm2mLab) -> Udp:
        made.append(Udp(lab))
        return made[-1]

    yield make
    for u in made:
        u.close()


def _no_lab_error(transcript: Transcript) -> None:
    bad = [e for e in transcript if "harness" in (e.error or "") or "lab error" in e.summary
           or "5.00" in e.summary]
    assert not bad, [(e.summary, e.error) for e in bad]


def _registered(lab: Lwm2mLab) -> set[str]:
    """Endpoints registered now (from the lab's events, each checked against the store)."""
    names = {e.endpoint for e in lab.events() if e.kind == "register"}
    return {ep for ep in names if lab.registration(ep) is not None}


def _findings(transcript: Transcript, text: str) -> list[str]:
    return [e.error or "" for e in transcript if text in (e.error or "")]


# --------------------------------------------------------------------------- RFC 7252 / 7959


def test_unknown_critical_option_is_4_02_and_nothing_registered(
    make_lab: Callable[..., Lwm2mLab], udp: Callable[[Lwm2mLab], Udp], transcript: Transcript
) -> None:
    """Option 9999 (odd: critical) on a Register was ignored: 2.01. RFC 7252 §5.4.1: 4.02."""
    lab = make_lab()
    device = udp(lab)
    answer = device.register("crit", extra=(OpaqueOption(9999, b"\x01"),))
    assert answer.code == Code.BAD_OPTION, answer.code
    assert _registered(lab) == set()
    assert _findings(transcript, "unrecognised critical option 9999")
    elective = device.register("elective", extra=(OpaqueOption(9998, b"\x01"),))
    assert elective.code == Code.CREATED  # an unknown elective option is ignored, as it should
    _no_lab_error(transcript)


@pytest.mark.parametrize(
    ("second", "want"),
    [((2, False, 2), Code.REQUEST_ENTITY_INCOMPLETE),  # block 2 after block 0: a gap
     ((1, False, 3), Code.REQUEST_ENTITY_INCOMPLETE),  # 64-byte blocks, then 128: size grew
     ((1, False, 7), Code.BAD_REQUEST)],  # SZX 7 is reserved (RFC 7959 §2.2)
    ids=["gap", "size-change", "szx7"],
)
def test_broken_block1_registration_gets_rfc_7959_answers(
    second: tuple[int, bool, int], want: Code, make_lab: Callable[..., Lwm2mLab],
    udp: Callable[[Lwm2mLab], Udp], transcript: Transcript,
) -> None:
    """A Register in blocks with a gap or a size change was 5.00 plus an aiocoap ValueError
    traceback; SZX 7 got 2.31. Now 4.08 / 4.00, recorded, no lab error."""
    lab = make_lab()
    device = udp(lab)
    links = (b"</1/0>,</3/0>," * 20)[:200]
    query = ("ep=blocks", "lt=60", "b=U")
    first = device.request(Code.POST, "/rd", query, links[:64], content_format=40,
                           block1=(0, True, 2))
    assert first.code == Code.CONTINUE
    answer = device.request(Code.POST, "/rd", query, links[64:128], content_format=40,
                            block1=second)
    assert answer.code == want, answer.code
    assert _findings(transcript, "coap: Block1")
    assert _registered(lab) == set()
    _no_lab_error(transcript)
    assert device.register("after-blocks").code == Code.CREATED


# --------------------------------------------------------------------------- ownership


def test_update_and_deregister_from_another_address_are_findings_over_nosec(
    make_lab: Callable[..., Lwm2mLab], udp: Callable[[Lwm2mLab], Udp], transcript: Transcript
) -> None:
    """NoSec cannot tell a NAT rebinding from a takeover: the lab answers as LwM2M says (the
    registration follows the Update's address), but each request from an address other than
    the registration's is a recorded finding (before: an ordinary "address change")."""
    lab = make_lab()
    owner, other, third = udp(lab), udp(lab), udp(lab)
    created = owner.register("victim")
    where = "/" + "/".join(created.opt.location_path)
    assert other.request(Code.POST, where, ("lt=90",)).code == Code.CHANGED
    assert third.request(Code.DELETE, where).code == Code.DELETED
    found = _findings(transcript, "not the owner")
    assert len(found) == 2 and "Update of rd/" in found[0] and "De-register" in found[1]
    _no_lab_error(transcript)


def test_dtls_registration_is_not_taken_over(
    make_lab: Callable[..., Lwm2mLab], make_device: Any, udp: Callable[[Lwm2mLab], Udp],
    transcript: Transcript,
) -> None:
    """Declared PSK, registered over DTLS: an Update or De-register over NoSec (4.01) or with
    another PSK identity (4.03) is refused and recorded, and so is a NoSec Register of the
    same endpoint; the same identity from a new address (NAT rebinding, new handshake) is
    the owner and is served."""
    lab = make_lab("psk")
    lab.add_psk("stranger", b"stranger-key")
    dtls_uri = lab.addresses()["LAB_LWM2M_DTLS_URI"]
    owner = make_device(dtls_uri, psk=(IDENTITY, KEY))
    assert owner.register("ep=urn:dev:psk&lt=60&lwm2m=1.1&b=U").code == Code.CREATED
    where = owner.location
    nosec = udp(lab)
    assert nosec.request(Code.POST, where, ("lt=90",)).code == Code.UNAUTHORIZED
    assert nosec.request(Code.DELETE, where).code == Code.UNAUTHORIZED
    assert nosec.register("urn:dev:psk").code == Code.UNAUTHORIZED
    stranger = make_device(dtls_uri, psk=("stranger", b"stranger-key"))
    assert stranger.request(Code.POST, where + "?lt=90").code == Code.FORBIDDEN
    assert stranger.request(Code.DELETE, where).code == Code.FORBIDDEN
    reg = lab.registration("urn:dev:psk")
    assert reg is not None and reg.secure and reg.psk_identity == IDENTITY
    assert len(_findings(transcript, "not the owner")) == 4
    assert len(_findings(transcript, "takeover")) == 1
    rebound = make_device(dtls_uri, psk=(IDENTITY, KEY))  # same device, new address
    assert rebound.request(Code.POST, where + "?lt=90").code == Code.CHANGED
    assert rebound.request(Code.DELETE, where).code == Code.DELETED
    _no_lab_error(transcript)


def test_credentials_the_lab_gave_the_endpoint_are_its_own(
    make_lab: Callable[..., Lwm2mLab], make_device: Any, transcript: Transcript,
) -> None:
    """A bootstrap provisioned the device with a new PSK identity, and the device registers
    with it without having De-registered (its old registration lingers): the lab gave that
    identity to this endpoint, so the Register is the device's own, not a takeover (before:
    4.03, so the PSK bootstrap case FAILed a device whose only fault was the missing
    De-register). An identity given to another endpoint still takes nothing over."""
    lab = make_lab("psk")
    lab.add_psk("provisioned", b"provisioned-key", endpoint="urn:dev:psk")
    lab.add_psk("elsewhere", b"elsewhere-key", endpoint="urn:dev:other")
    dtls_uri = lab.addresses()["LAB_LWM2M_DTLS_URI"]
    owner = make_device(dtls_uri, psk=(IDENTITY, KEY))
    assert owner.register("ep=urn:dev:psk&lt=60&lwm2m=1.1&b=U").code == Code.CREATED
    other = make_device(dtls_uri, psk=("elsewhere", b"elsewhere-key"))
    assert other.register("ep=urn:dev:psk&lt=60&lwm2m=1.1&b=U").code == Code.FORBIDDEN
    again = make_device(dtls_uri, psk=("provisioned", b"provisioned-key"))
    assert again.register("ep=urn:dev:psk&lt=60&lwm2m=1.1&b=U").code == Code.CREATED
    reg = lab.registration("urn:dev:psk")
    assert reg is not None and reg.psk_identity == "provisioned"
    assert len(_findings(transcript, "takeover")) == 1  # the "elsewhere" one only
    _no_lab_error(transcript)


# --------------------------------------------------------------------------- bounds


def test_overlong_endpoint_name_and_query_are_refused(
    make_lab: Callable[..., Lwm2mLab], udp: Callable[[Lwm2mLab], Udp], transcript: Transcript
) -> None:
    """An endpoint name of 60,000 bytes was registered; now 4.00 naming the bound."""
    lab = make_lab()
    device = udp(lab)
    assert device.register("e" * 60_000).code == Code.BAD_REQUEST
    assert device.register("e" * 300).code == Code.BAD_REQUEST  # within the query bound
    assert _findings(transcript, "limits.query_bytes 1024")
    assert _findings(transcript, "limits.endpoint_length 255")
    assert _registered(lab) == set()
    assert device.register("e" * 255).code == Code.CREATED
    _no_lab_error(transcript)


def test_registrations_per_source_and_in_total_are_bounded(
    make_lab: Callable[..., Lwm2mLab], udp: Callable[[Lwm2mLab], Udp], transcript: Transcript
) -> None:
    """5,000 random endpoints from one peer were all registered. Past the declared bounds:
    4.29, recorded; a re-registration of an endpoint already held is still served."""
    lab = make_lab(registrations_per_source=3, registrations_total=5)
    first, second = udp(lab), udp(lab)
    codes = [first.register(f"many{i}").code for i in range(5)]
    assert codes == [Code.CREATED] * 3 + [Code.TOO_MANY_REQUESTS] * 2
    assert first.register("many0").code == Code.CREATED  # the same endpoint again
    codes = [second.register(f"other{i}").code for i in range(3)]
    assert codes == [Code.CREATED] * 2 + [Code.TOO_MANY_REQUESTS]
    assert len(_registered(lab)) == 5
    assert _findings(transcript, "limits.registrations_per_source 3")
    assert _findings(transcript, "limits.registrations_total 5")
    _no_lab_error(transcript)


def test_read_answer_with_too_many_values_is_refused_naming_the_bound(
    make_lab: Callable[..., Lwm2mLab], make_device: Any, transcript: Transcript
) -> None:
    """A device answering a Read with thousands of tiny TLV entries (1 MiB of them held the
    lab's loop for seconds to decode and describe): past 4096 values the answer is a decode
    error naming the bound; the same device's normal answers still read."""
    lab = make_lab()
    device = make_device(lab.addresses()["LAB_LWM2M_URI"])
    many = b"".join(bytes([0x61]) + i.to_bytes(2, "big") + b"\x01" for i in range(5000))
    device.site.values["/3/0/7"] = (int(ContentFormat.TLV), many)  # 20 KB, Block2 to the lab
    device.site.values["/3/0/0"] = (int(ContentFormat.TEXT), b"Good Corp")
    assert device.register("ep=many-values&lt=60&lwm2m=1.1&b=U").code == Code.CREATED
    lab.wait_registration("many-values", timeout=5)
    read = lab.read("many-values", "/3/0/7")
    assert read.code == "2.05" and read.payload == many
    assert "more than 4096 entries" in (read.decode_error or "")
    good = lab.read("many-values", "/3/0/0")
    assert good.code == "2.05" and good.payload == b"Good Corp" and not good.decode_error
    _no_lab_error(transcript)
