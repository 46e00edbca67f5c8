"""A hostile LwM2M device through the running LwM2M lab, over real UDP sockets: floods of
mutated datagrams, malformed registration queries and object links, retransmission storms and
duplicate MIDs from two peers at once, undecodable payloads, and two devices claiming the same
endpoint name. The lab answers per CoAP (a response or a RST), records each datagram, never
files a device's bytes as a lab error, and registers and reads the next good device.
"""

from __future__ import annotations

import importlib.util
import random
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiocoap import Code, Message

from conformance.declaration import Declaration, Timeouts, builtin_declaration
from conformance.evidence.transcript import Transcript
from conformance.lwm2m.lab import Lwm2mLab
from conformance.lwm2m.model import ContentFormat
from conformance.runtime import LabLoop


def _load(name: str, path: Path) -> ModuleType:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


TESTS = Path(__file__).parents[1]
CAMPAIGN = _load("conformance_fuzz_campaign", TESTS / "fuzz" / "campaign.py")
LWM2M = _load("conformance_tests_lwm2m_lab_conftest", TESTS / "lwm2m" / "lab" / "conftest.py")
# The LwM2M lab tests' fixtures and fake device (aiocoap, real sockets), re-exported.
device_loop = LWM2M.device_loop
make_device = LWM2M.make_device


def _declaration() -> Declaration:
    base = builtin_declaration("lwm2m")
    timeouts = Timeouts(request=2.0, session=5.0, post_update_window=5.0, fota=10.0)
    assert base.lwm2m is not None
    lwm2m = base.lwm2m.model_copy(update={"security": "nosec"})
    return base.model_copy(update={"timeouts": timeouts, "lwm2m": lwm2m})


@pytest.fixture(scope="module")
def lab_loop() -> Iterator[LabLoop]:
    loop = LabLoop("hostile-lwm2m-lab")
    yield loop
    loop.stop()


@pytest.fixture
def transcript(tmp_path: Path) -> Iterator[Transcript]:
    t = Transcript(path=tmp_path / "transcript.jsonl")
    yield t
    t.close()


@pytest.fixture
def lab(lab_loop: LabLoop, transcript: Transcript, tmp_path: Path) -> Iterator[Lwm2mLab]:
    the_lab = Lwm2mLab(lab_loop, _declaration(), transcript, tmp_path)
    the_lab.start()
    yield the_lab
    the_lab.stop()


def _port(lab: Lwm2mLab) -> int:
    return int(lab.addresses()["LAB_LWM2M_URI"].rsplit(":", 1)[1])


class Udp:
    """A raw UDP 'device': sends datagrams as given, reads the lab's answers."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(3)
        self.lab = ("127.0.0.1", port)

    def exchange(self, datagram: bytes) -> Message | None:
        """Send; the lab's answer to a CON (a response, an ACK or a RST) decoded."""
        self.sock.sendto(datagram, self.lab)
        data, _ = self.sock.recvfrom(65536)
        return Message.decode(data)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def udp(lab: Lwm2mLab) -> Iterator[Callable[[], Udp]]:
    made: list[Udp] = []

    def make() -> Udp:
        made.append(Udp(_port(lab)))
        return made[-1]

    yield make
    for u in made:
        u.close()


def _register_message(mid: int, query: list[str], links: bytes = b"</1/0>,</3/0>",
                      token: bytes = b"\x07") -> bytes:
    msg = Message(code=Code.POST, uri_path=("rd",), uri_query=tuple(query), payload=links,
                  content_format=40)
    msg.mtype, msg.mid, msg.token = 0, mid, token  # CON, set by hand as a device would
    return bytes(msg.encode())


def _no_lab_error(transcript: Transcript) -> None:
    bad = [e for e in transcript if "harness" in (e.error or "") or "lab error" in e.summary]
    assert not bad, [(e.summary, e.error) for e in bad]


def _good_device(lab: Lwm2mLab, make_device: Any, ep: str = "good") -> None:
    device = make_device(lab.addresses()["LAB_LWM2M_URI"])
    device.site.values["/3/0/0"] = (int(ContentFormat.TEXT), b"Good Corp")
    assert device.register(f"ep={ep}&lt=60&lwm2m=1.1&b=U").code == Code.CREATED
    lab.wait_registration(ep, timeout=5)
    read = lab.read(ep, "/3/0/0")
    assert read.code == "2.05" and read.payload == b"Good Corp"


@pytest.mark.parametrize(
    "query",
    [["ep=u1", "lt=²"], ["ep=u2", "lt=8²6400"], ["ep=u3", "lt=³", "b=U"]],
    ids=["superscript-2", "embedded", "superscript-3"],
)
def test_unicode_digit_lifetime_is_400_not_a_lab_error(
    query: list[str], lab: Lwm2mLab, udp: Callable[[], Udp], transcript: Transcript,
    make_device: Any,
) -> None:
    """'²'.isdigit() is true and int('²') raises: the lab answered 5.00 'lab error'."""
    reply = udp().exchange(_register_message(0x1001, query))
    assert reply is not None and reply.code == Code.BAD_REQUEST
    _no_lab_error(transcript)
    _good_device(lab, make_device)


def test_unicode_digit_content_format_in_the_root_link_is_not_a_lab_error(
    lab: Lwm2mLab, udp: Callable[[], Udp], transcript: Transcript
) -> None:
    links = '</>;rt="oma.lwm2m";ct=²,</1/0>,</3/0>'.encode()
    reply = udp().exchange(_register_message(0x1002, ["ep=ct2", "lt=60", "b=U"], links))
    assert reply is not None and reply.code == Code.CREATED
    _no_lab_error(transcript)


def test_link_format_built_to_backtrack_is_answered_at_once(
    lab: Lwm2mLab, udp: Callable[[], Udp], transcript: Transcript, make_device: Any
) -> None:
    """Object links with 5000 blanks before a stray quote: the link parser backtracked in
    O(n³) on the lab's event loop (about ten minutes, every device frozen meanwhile)."""
    links = b"</1/0>;a=" + b" " * 5000 + b'x"'
    started = time.monotonic()
    reply = udp().exchange(_register_message(0x1003, ["ep=redos", "lt=60", "b=U"], links))
    assert time.monotonic() - started < 1.0
    assert reply is not None and reply.code == Code.BAD_REQUEST
    assert any(e.raw.endswith(links) for e in transcript if e.direction == "device->lab")
    _no_lab_error(transcript)
    _good_device(lab, make_device)


@pytest.mark.parametrize("kind", ["datagram", "query", "links"])
def test_flood_of_mutated_datagrams_is_answered_recorded_and_survived(
    kind: str, lab: Lwm2mLab, udp: Callable[[], Udp], transcript: Transcript, make_device: Any
) -> None:
    """Mutations from the fuzz campaign's engine, sent as CON requests: every one answered
    (a CoAP response or a RST), every datagram in the transcript byte for byte."""
    rng = random.Random(f"hostile-lwm2m-{kind}")
    targets = CAMPAIGN.targets()
    device = udp()
    for mid in range(40):
        if kind == "datagram":
            data = CAMPAIGN.random_input(rng, targets["coap-datagram"])
            data = bytes([0x40 | (data[0] & 0x0F) if data else 0x40]) + data[1:]  # keep it CON
        elif kind == "query":
            raw = CAMPAIGN.random_input(rng, targets["registration-query"])
            query = [q for q in raw.decode("utf-8", "replace").split("&") if q][:12]
            data = _register_message(0x2000 + mid, [q[:250] for q in query])
        else:
            links = CAMPAIGN.random_input(rng, targets["link-format"])
            data = _register_message(0x3000 + mid, [f"ep=links{mid}", "lt=60", "b=U"], links)
        if len(data) >= 4:
            data = data[:2] + (0x4000 + mid).to_bytes(2, "big") + data[4:]  # fresh MIDs
        try:
            reply = device.exchange(data)
        except TimeoutError:
            reply = None  # a datagram too broken to answer (e.g. not even a header)
        if reply is None:
            assert len(data) < 4 or data[0] >> 6 != 1, data.hex()
        recorded = [e for e in transcript if e.direction == "device->lab" and e.raw == data]
        assert recorded or len(data) < 4, data.hex()
    _no_lab_error(transcript)
    _good_device(lab, make_device)


def test_same_mid_from_two_peers_is_two_messages_and_a_storm_is_contained(
    lab: Lwm2mLab, udp: Callable[[], Udp], transcript: Transcript, make_device: Any
) -> None:
    """MIDs are per peer (RFC 7252 §4.5): two devices using MID 0x5151 both register; the
    storm of one (60 copies) is answered from the deduplication cache and recorded once as a
    storm, without registering twice or touching the other device."""
    a, b = udp(), udp()
    first = a.exchange(_register_message(0x5151, ["ep=twin-a", "lt=60", "b=U"]))
    second = b.exchange(_register_message(0x5151, ["ep=twin-b", "lt=60", "b=U"]))
    assert first is not None and second is not None
    assert first.code == second.code == Code.CREATED
    assert first.opt.location_path != second.opt.location_path
    storm = _register_message(0x5151, ["ep=twin-a", "lt=60", "b=U"])
    answers = [a.exchange(storm) for _ in range(60)]
    assert all(r is not None and r.opt.location_path == first.opt.location_path
               for r in answers)
    assert len([e for e in lab.events("twin-a") if e.kind == "register"]) == 1
    assert len([e for e in lab.events("twin-b") if e.kind == "register"]) == 1
    storms = [e for e in transcript if "retransmission storm" in (e.error or "")]
    assert len(storms) == 1
    _no_lab_error(transcript)
    _good_device(lab, make_device)


@pytest.mark.parametrize(
    ("fmt", "payload"),
    [
        (ContentFormat.TLV, b"\xc8\x00\xff" + b"x" * 4),  # claims 255 bytes, 4 present
        (ContentFormat.SENML_JSON, b'[{"bn":"/3/0/","n":"0","vs":'),
        (ContentFormat.SENML_CBOR, b"\x9f\xbf\x21\x66"),
        (ContentFormat.LWM2M_JSON, b'{"e":[{"n":"0","sv":1}]}'),
        (ContentFormat.TEXT, b"\xff\xfe not utf-8"),
    ],
    ids=["tlv", "senml-json", "senml-cbor", "lwm2m-json", "text"],
)
def test_undecodable_read_payload_is_returned_with_the_error(
    fmt: ContentFormat, payload: bytes, lab: Lwm2mLab, make_device: Any, transcript: Transcript
) -> None:
    device = make_device(lab.addresses()["LAB_LWM2M_URI"])
    device.register("ep=badpayload&lt=60&lwm2m=1.1&b=U")
    lab.wait_registration("badpayload", timeout=5)
    device.site.values["/3/0"] = (int(fmt), payload)
    device.site.values["/3/0/0"] = (int(fmt), payload)
    path = "/3/0/0" if fmt == ContentFormat.TEXT else "/3/0"
    read = lab.read("badpayload", path)
    assert read.code == "2.05" and read.payload == payload
    assert read.decode_error and read.content is None
    received = [e for e in transcript if e.direction == "device->lab" and payload in e.raw]
    assert received, "the device's answer is in the transcript, raw"
    _no_lab_error(transcript)
    _good_device(lab, make_device)


def test_two_devices_with_one_endpoint_name_never_get_each_others_requests(
    lab: Lwm2mLab, make_device: Any, transcript: Transcript
) -> None:
    uri = lab.addresses()["LAB_LWM2M_URI"]
    old, new = make_device(uri), make_device(uri)
    old.site.values["/3/0/0"] = (int(ContentFormat.TEXT), b"Old Corp")
    new.site.values["/3/0/0"] = (int(ContentFormat.TEXT), b"New Corp")
    assert old.register("ep=twin&lt=60&lwm2m=1.1&b=U").code == Code.CREATED
    assert new.register("ep=twin&lt=60&lwm2m=1.1&b=U").code == Code.CREATED
    read = lab.read("twin", "/3/0/0")
    assert read.payload == b"New Corp"  # the newest registration of the name is the device
    assert not [m for m in old.site.received if m.code == Code.GET]
    assert not any(b"Old Corp" in e.raw for e in transcript if e.direction == "device->lab")
