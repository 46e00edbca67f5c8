"""Datagram flood (issue 15): while garbage datagrams pour in from many addresses, the LwM2M lab
keeps answering a well-behaved device that sends at 10x a chatty device's rate, rejects the
garbage per CoAP, and keeps its transcript bounded (GARBAGE_PER_SECOND recorded, the rest
counted in a note). Loopback only, bounded in count (4,000 garbage datagrams, 200 Updates)
and time (2 s of load). The rates the lab sustains are measured in bench/bench_lwm2m_flood.py.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiocoap import Code, Message

from conformance.declaration import Declaration, Timeouts, builtin_declaration
from conformance.evidence.transcript import Entry, Transcript
from conformance.lwm2m.coaplog import GARBAGE_PER_SECOND
from conformance.lwm2m.lab import Lwm2mLab
from conformance.runtime import LabLoop

SECONDS = 2.0
GOOD_RATE = 100  # Updates/s: 10x a chatty device that sends every 100 ms
GARBAGE = 4000  # datagrams in SECONDS, from FLOODERS addresses
FLOODERS = 8
ACK_TIMEOUT = 2.0  # CoAP: a request without an answer is sent again after this
ANSWER_WAIT = 20.0  # bound on waiting for the last answers (retransmissions included)


def _declaration() -> Declaration:
    base = builtin_declaration("lwm2m")
    assert base.lwm2m is not None
    lwm2m = base.lwm2m.model_copy(update={"security": "nosec"})
    timeouts = Timeouts(request=2.0, session=5.0, post_update_window=5.0, fota=10.0)
    return base.model_copy(update={"timeouts": timeouts, "lwm2m": lwm2m})


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Lwm2mLab, Transcript]]:
    loop = LabLoop("flood-lwm2m-lab")
    transcript = Transcript(path=tmp_path / "transcript.jsonl")
    the_lab = Lwm2mLab(loop, _declaration(), transcript, tmp_path)
    the_lab.start()
    yield the_lab, transcript
    the_lab.stop()
    loop.stop()
    transcript.close()


def _request(mid: int, path: tuple[str, ...], query: tuple[str, ...] = (),
             payload: bytes = b"") -> bytes:
    msg = Message(code=Code.POST, uri_path=path, uri_query=query, payload=payload)
    if payload:
        msg.opt.content_format = 40
    msg.mtype, msg.mid, msg.token = 0, mid, mid.to_bytes(2, "big")  # CON, as a device sets it
    return bytes(msg.encode())


def _garbage(rng: random.Random, n: int) -> bytes:
    """Never a CoAP message: CoAP version 1 with the reserved token length 15 (a CON, so the
    lab owes it a RST), or CoAP version 0."""
    head = 0x4F if n % 2 else 0x0F
    return bytes([head]) + rng.randbytes(rng.randint(3, 199))


class GoodDevice:
    """A registered device on its own socket; a thread collects the lab's answers by MID."""

    def __init__(self, lab_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.lab = ("127.0.0.1", lab_port)
        self.sent: dict[int, bytes] = {}
        self.answers: dict[int, Message] = {}
        self.all_answered = threading.Event()
        self.expected = 0
        self.closing = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while not self.closing:
            try:
                data = self.sock.recv(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            msg = Message.decode(data)
            if msg.mid in self.sent:
                self.answers.setdefault(msg.mid, msg)
                if self.expected and len(self.answers) >= self.expected:
                    self.all_answered.set()

    def send(self, mid: int, datagram: bytes) -> None:
        self.sent[mid] = datagram
        self.sock.sendto(datagram, self.lab)

    def wait(self, expected: int, timeout: float) -> None:
        """Wait for ``expected`` answers, sending the unanswered again every ACK_TIMEOUT."""
        self.all_answered.clear()
        self.expected = expected
        if len(self.answers) >= expected:
            self.all_answered.set()
        deadline = time.monotonic() + timeout
        while not self.all_answered.wait(min(ACK_TIMEOUT, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                return
            for mid, datagram in list(self.sent.items()):
                if mid not in self.answers:
                    self.sock.sendto(datagram, self.lab)  # same MID: a CoAP retransmission

    def close(self) -> None:
        self.closing = True
        self.reader.join(5)
        self.sock.close()


def _flood(port: int, stop: threading.Event, sent: list[int]) -> None:
    rng = random.Random(15)
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(FLOODERS)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        start = time.monotonic()
        n = 0
        while n < GARBAGE and not stop.is_set():
            due = min(GARBAGE, int((time.monotonic() - start) / SECONDS * GARBAGE))
            while n < due:
                socks[n % FLOODERS].sendto(_garbage(rng, n), ("127.0.0.1", port))
                n += 1
            time.sleep(0.001)  # pacing of the load, not a synchronisation
        sent.append(n)
    finally:
        for s in socks:
            s.close()


def _wait_entry(transcript: Transcript, predicate: object, timeout: float) -> Entry | None:
    arrived = threading.Event()
    found: list[Entry] = []

    def listen(entry: Entry) -> None:
        if predicate(entry):  # type: ignore[operator]
            found.append(entry)
            arrived.set()

    transcript.subscribe(listen)
    for entry in transcript:
        if predicate(entry):  # type: ignore[operator]
            return entry
    arrived.wait(timeout)
    return found[0] if found else None


@pytest.mark.slow
def test_lab_keeps_answering_a_device_while_garbage_floods_in(
    lab: tuple[Lwm2mLab, Transcript],
) -> None:
    the_lab, transcript = lab
    port = int(the_lab.addresses()["LAB_LWM2M_URI"].rsplit(":", 1)[1])
    device = GoodDevice(port)
    try:
        device.send(1, _request(1, ("rd",), ("ep=flood-good", "lt=300", "b=U"), b"</3/0>"))
        device.wait(1, ANSWER_WAIT)
        created = device.answers.get(1)
        assert created is not None and created.code == Code.CREATED
        location = tuple(created.opt.location_path)

        stop, garbage_sent = threading.Event(), []
        flooder = threading.Thread(target=_flood, args=(port, stop, garbage_sent))
        flooder.start()
        try:
            start = time.monotonic()
            updates = int(SECONDS * GOOD_RATE)
            for i in range(updates):  # one Update every 10 ms while the flood goes on
                mid = 2 + i
                device.send(mid, _request(mid, location))
                time.sleep(max(0.0, start + (i + 1) / GOOD_RATE - time.monotonic()))
        finally:
            flooder.join(SECONDS + 30)
            stop.set()
        device.wait(1 + updates, ANSWER_WAIT)
        codes = [device.answers[m].code for m in range(2, 2 + updates) if m in device.answers]
        missing = [m for m in range(2, 2 + updates) if m not in device.answers]
        assert not missing, f"{len(missing)} of {updates} Updates unanswered: MIDs {missing}"
        assert set(codes) == {Code.CHANGED}, set(codes)
    finally:
        device.close()

    assert garbage_sent == [GARBAGE]
    # The transcript stays bounded: at most GARBAGE_PER_SECOND garbage entries per second of
    # flood, the rest counted in flood notes.
    note = _wait_entry(transcript, lambda e: e.summary.startswith("flood: "), 5.0)
    assert note is not None and "not recorded" in note.summary
    recorded = [e for e in transcript if e.summary.startswith("unparsable CoAP datagram")]
    windows = int(time.monotonic() - start) + 2
    assert 0 < len(recorded) <= GARBAGE_PER_SECOND * windows
    assert not [e for e in transcript if "harness" in (e.error or "")]
    reg = the_lab.wait_registration("flood-good", timeout=5)
    assert reg.location == "/".join(location)
