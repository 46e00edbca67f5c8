"""CoAP ping (RFC 7252 §4.3) as proof of life at the moment of a silence.

Seen with lwm2m-node-lib in random case orders: a request the client never answers FAILed
after a case it had answered ("answered the lab 0.0 s before") and stayed INCONCLUSIVE after a
case it had left silent (the proof was too old), so 6-8 of 181 verdicts moved with the order.
The lab now pings the device when that proof is too old: a device that answers the ping and
not the request FAILs in every order; one that answers neither stays INCONCLUSIVE.

The devices here are raw UDP sockets, so that what goes on the wire is seen byte for byte.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path as FsPath
from types import SimpleNamespace
from typing import Any

import pytest
from aiocoap import ACK, RST, Code, Message
from aiocoap.transports import simplesocketserver

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.evidence.transcript import Transcript
from conformance.lwm2m import ping as ping_module
from conformance.lwm2m.lab import Lwm2mLab
from conformance.runtime import LabLoop
from conformance.verdicts import DeviceFault, DeviceTimeout

from .conftest import IDENTITY, KEY, declaration, raw_register

REQUEST = 0.5  # timeouts.request of these tests' lab and device (s)


class RawDevice:
    """A UDP socket registered with the lab. It never answers a request; how it answers an
    Empty CON (a ping) is ``answer``: "rst", "ack-2.05" (node-coap's way), "second" (a RST to
    the ping's retransmission only), or None (not at all). Every datagram is kept."""

    def __init__(self, lab: Lwm2mLab, ep: str, answer: str | None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.answer = answer
        self.pings: list[Message] = []
        self.ping_bytes: list[bytes] = []
        self.requests: list[Message] = []
        self.lab_address = raw_register(lab, self.sock, ep)
        self.sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recvfrom(512)[0]
            except TimeoutError:
                continue
            except OSError:
                return
            message = Message.decode(data)
            if message.code != Code.EMPTY:
                self.requests.append(message)
                continue
            self.pings.append(message)
            self.ping_bytes.append(data)
            reply = self._reply(message)
            if reply is not None:
                self.sock.sendto(reply.encode(), self.lab_address)

    def _reply(self, ping: Message) -> Message | None:
        if self.answer == "rst" or (self.answer == "second" and len(self.pings) == 2):
            return Message(_mtype=RST, _mid=ping.mid, code=Code.EMPTY)
        if self.answer == "ack-2.05":
            return Message(_mtype=ACK, _mid=ping.mid, code=Code.CONTENT, payload=b"x")
        return None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture()
def lab(lab_loop: LabLoop, transcript: Transcript, tmp_path: FsPath) -> Iterator[Lwm2mLab]:
    the_lab = Lwm2mLab(lab_loop, declaration(request=REQUEST), transcript, tmp_path)
    the_lab.start()
    yield the_lab
    the_lab.stop()


@pytest.fixture()
def raw_device(lab: Lwm2mLab) -> Iterator[Any]:
    made: list[RawDevice] = []

    def make(answer: str | None, ep: str = "pinged") -> RawDevice:
        made.append(RawDevice(lab, ep, answer))
        return made[-1]

    yield make
    for device in made:
        device.close()


def test_a_reset_answers_the_ping(lab: Lwm2mLab, raw_device: Any) -> None:
    device = raw_device("rst")
    answer = lab.ping("pinged")
    assert answer is not None and answer.kind == "RST"
    mid = device.pings[0].mid
    assert device.ping_bytes == [bytes([0x40, 0x00, mid >> 8, mid & 0xFF])]  # Empty CON, no token
    sent = [e.summary for e in lab.transcript if e.direction == "lab->device"]
    got = [e.summary for e in lab.transcript if e.direction == "device->lab"]
    assert f"CON MID={mid} (CoAP ping)" in sent and f"RST MID={mid}" in got, (sent, got)


def test_an_acknowledgement_with_a_code_answers_it_too(lab: Lwm2mLab, raw_device: Any) -> None:
    raw_device("ack-2.05")
    answer = lab.ping("pinged")
    assert answer is not None and answer.kind == "ACK 2.05"


def test_the_ping_is_retransmitted_with_its_message_id(
    lab: Lwm2mLab, raw_device: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ping_module, "ACK_TIMEOUT", 0.1)
    device = raw_device("second")
    answer = lab.ping("pinged", timeout=2.0)
    assert answer is not None and answer.kind == "RST"
    assert len(device.pings) == 2 and device.pings[0].mid == device.pings[1].mid


def test_unanswered_within_the_timeout_is_none(
    lab: Lwm2mLab, raw_device: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ping_module, "ACK_TIMEOUT", 0.1)
    device = raw_device(None)
    assert lab.ping("pinged", timeout=0.5) is None
    assert len(device.pings) >= 2 and len({p.mid for p in device.pings}) == 1


def test_a_reset_from_another_address_is_no_answer(lab: Lwm2mLab, raw_device: Any) -> None:
    """Only the device's own address answers its ping (a Message ID alone is guessable)."""
    device = raw_device(None)
    answered = threading.Event()

    def forge() -> None:  # another socket sends the RST the device does not
        while not device.pings:
            if answered.wait(0.01):
                return
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            rst = Message(_mtype=RST, _mid=device.pings[0].mid, code=Code.EMPTY)
            other.sendto(rst.encode(), device.lab_address)

    forger = threading.Thread(target=forge, daemon=True)
    forger.start()
    try:
        assert lab.ping("pinged", timeout=1.0) is None
    finally:
        answered.set()
        forger.join(5)


def test_not_registered_is_none(lab: Lwm2mLab) -> None:
    assert lab.ping("nobody") is None


# -- the silence rule (conformance.dut.liveness) with the ping --------------------------------


def dut(lab: Lwm2mLab, ep: str) -> Lwm2mDevice:
    decl = declaration(request=REQUEST)
    assert decl.lwm2m is not None
    decl = decl.model_copy(update={"lwm2m": decl.lwm2m.model_copy(update={"endpoint": ep})})
    facade = SimpleNamespace(lwm2m=lab, packages=object(), transcript=lab.transcript)
    return Lwm2mDevice(facade, None, decl)  # type: ignore[arg-type]


def test_silence_after_silence_fails_when_the_ping_is_answered(
    lab: Lwm2mLab, raw_device: Any
) -> None:
    """The order-dependence seen: the second of two silent requests FAILs as the first does."""
    device = raw_device("rst")
    online = dut(lab, "pinged")
    with pytest.raises(DeviceFault, match="answered the lab 0"):
        online.read("/3/0/0")  # registered a moment before: that is the proof
    assert not device.pings
    with pytest.raises(DeviceFault, match=r"Read /3/0/1 went unanswered twice .*CoAP ping"):
        online.read("/3/0/1")  # the proof above is too old now: the ping is
    assert len(device.pings) == 1
    assert [m.opt.uri_path for m in device.requests].count(("3", "0", "1")) >= 2


def test_silence_after_silence_stays_inconclusive_without_an_answer_to_the_ping(
    lab: Lwm2mLab, raw_device: Any
) -> None:
    device = raw_device(None)
    online = dut(lab, "pinged")
    with pytest.raises(DeviceFault):
        online.read("/3/0/0")
    with pytest.raises(DeviceTimeout, match="cannot show the device was alive"):
        online.read("/3/0/1")
    assert device.pings, "the lab did not ping"
    assert [m.opt.uri_path for m in device.requests].count(("3", "0", "1")) == 1
    assert any("did not answer a CoAP ping" in e.summary for e in lab.transcript)


def test_a_ping_over_dtls_is_answered_inside_the_session(lab: Lwm2mLab, make_device) -> None:
    """Over DTLS the ping goes in the device's session, as its requests do; aiocoap's client
    answers it with a Reset (RFC 7252 §4.3), decrypted by the lab before it is matched."""
    device = make_device(lab.addresses()["LAB_LWM2M_DTLS_URI"], psk=(IDENTITY, KEY))
    assert device.register("ep=secure-ping&lt=60&lwm2m=1.1&b=U").code == Code.CREATED
    assert lab.wait_registration("secure-ping", timeout=5).secure
    answer = lab.ping("secure-ping")
    assert answer is not None and answer.kind == "RST"
    assert any(e.summary.startswith("RST MID=") and e.device == "secure-ping"
               for e in lab.transcript if e.direction == "device->lab")


COAP_SERVER = shutil.which("coap-server-notls")


def test_libcoap_answers_the_ping(lab: Lwm2mLab) -> None:
    """An independent CoAP stack (Debian's libcoap server) answers the lab's Empty CON with a
    Reset, matched from its address: the ping is the RFC's, not an idea of our own stack.
    (Sent straight through the lab's DM endpoint: libcoap's tools do not register.)"""
    if COAP_SERVER is None:
        pytest.skip("coap-server-notls (libcoap3-bin) is not installed")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([COAP_SERVER, "-A", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        interface = lab._endpoints["dm"].interface
        remote = simplesocketserver._Address(interface._pool, ("127.0.0.1", port))
        # Retransmitted (RFC 7252 §4.2) until the server is up: no wait for it to start.
        answer = lab._call(interface.pings.ping(interface, remote, 10.0), 10.0)
        assert answer is not None and answer.kind == "RST", answer
    finally:
        server.kill()
        server.communicate(timeout=10)


def test_a_ping_that_cannot_be_sent_is_no_answer(lab_loop: LabLoop) -> None:
    """A DTLS session the device dropped, a socket gone: the ping reaches nobody, and the
    silence rule gets "not answered" (INCONCLUSIVE), not an exception (a harness ERROR)."""

    class Gone:
        class _mman:  # stands for aiocoap's message manager
            @staticmethod
            def _next_message_id() -> int:
                return 7

        @staticmethod
        def send(message: Message) -> None:
            raise OSError("the DTLS session is gone")

    watch = ping_module.PingWatch(lambda remote: str(remote))
    assert lab_loop.call(watch.ping(Gone(), "127.0.0.1:9", 1.0), 5) is None
    assert not watch  # nothing left waiting
