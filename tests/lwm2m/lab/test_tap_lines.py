"""The CoAP tap's transcript lines, pinned: what the evidence says for each message is not
changed by work on the lab's speed (issue 19, sixth wave).

`data/tap_lines.jsonl` holds the lines main's tap and transcript wrote (before the sixth
wave) for the seeded, generated datagrams and messages below: requests and answers with every
option the tap shows, unknown codes, non-UTF-8 and secret-carrying payloads, DTLS, mutated and
truncated datagrams, duplicates and a retransmission storm. Regenerate only for an intended
change of the evidence: `python tests/lwm2m/lab/test_tap_lines.py` (it writes the file).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from aiocoap import Code, Message
from aiocoap.numbers.types import ACK, CON, NON, RST
from aiocoap.optiontypes import BlockOption
from aiocoap.transports.simplesocketserver import _Address

from conformance.evidence.redact import Redactor
from conformance.evidence.transcript import Transcript
from conformance.lwm2m.coaplog import CoapTap
from conformance.lwm2m.objects import ObjectRegistry

GOLDEN = Path(__file__).parent / "data" / "tap_lines.jsonl"
_ODD = ["é", "\udfff", "\x00", '"', "\\", "€", "sekret", "&", "?", "/", " "]


class _Socket:
    """The server socket a remote sends through: what the tap sends (RSTs) is kept."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self._transport = self

    def sendto(self, data: bytes, addr: Any) -> None:
        self.sent.append(bytes(data))


def _text(rng: random.Random, n: int = 8) -> str:
    return "".join(rng.choice(_ODD) if rng.random() < 0.3 else chr(rng.randint(33, 126))
                   for _ in range(rng.randint(0, n)))


def _payload(rng: random.Random) -> bytes:
    return rng.choice([
        b"", b"", rng.randbytes(rng.randint(1, 12)),
        b'</1/0>,</3/0>;ver="1.1",</>;rt="oma.lwm2m";ct=11543',
        b'[{"bn":"/0/0/","n":"5","vd":"c2VrcmV0LWtleQ=="},{"n":"0","vs":"coap://x"}]',
        bytes.fromhex("c8050b7365637265742d6b6579c1000a"),  # TLV with a Secret Key
        _text(rng, 20).encode("utf-8", "surrogatepass"),
    ])


def _message(rng: random.Random) -> Message:
    code = rng.choice([Code.GET, Code.POST, Code.PUT, Code.DELETE, Code.FETCH, Code.CONTENT,
                       Code.CHANGED, Code.CREATED, Code.NOT_FOUND, Code.EMPTY,
                       Code(rng.randint(0, 255))])
    m = Message(code=code, payload=_payload(rng) if code != Code.EMPTY else b"")
    m.mtype, m.mid = rng.choice([CON, NON, ACK, RST]), rng.randint(0, 0xFFFF)
    m.token = rng.randbytes(rng.randint(0, 8)) if code != Code.EMPTY else b""
    if code == Code.EMPTY:
        return m
    segments = ["rd", "0", "1", "3", "5", "bs", "dp", _text(rng, 4), ""]
    if rng.random() < 0.7:
        m.opt.uri_path = tuple(rng.choice(segments) for _ in range(rng.randint(0, 4)))
    if rng.random() < 0.3:
        m.opt.uri_query = tuple(_text(rng) for _ in range(rng.randint(1, 4)))
    if rng.random() < 0.5:
        m.opt.content_format = rng.choice([0, 40, 60, 110, 112, 11542, 11543, 1543,
                                           rng.randint(0, 65535)])
    if rng.random() < 0.2:
        m.opt.accept = rng.choice([40, 11542, 99])
    if rng.random() < 0.2:
        m.opt.observe = rng.randint(0, 2**24 - 1)
    for name in ("block1", "block2"):
        if rng.random() < 0.15:
            setattr(m.opt, name, BlockOption.BlockwiseTuple(
                rng.randint(0, 30), rng.random() < 0.5, rng.randint(0, 6)))
    if rng.random() < 0.2:
        m.opt.location_path = tuple(_text(rng, 3) for _ in range(rng.randint(1, 3)))
    if rng.random() < 0.1:
        m.opt.size1 = rng.randint(0, 9999)
    if rng.random() < 0.1:
        m.opt.size2 = rng.randint(0, 9999)
    if rng.random() < 0.1:
        m.opt.etag = rng.randbytes(rng.randint(1, 8))
    return m


def _datagram(rng: random.Random) -> bytes:
    try:
        raw = bytearray(_message(rng).encode())
    except UnicodeEncodeError:  # a lone surrogate in an option: aiocoap cannot send it
        raw = bytearray(rng.randbytes(12))
    roll = rng.random()
    if roll < 0.15:  # a few bytes changed
        for _ in range(rng.randint(1, 3)):
            raw[rng.randrange(len(raw))] = rng.randint(0, 255)
    elif roll < 0.2:
        raw = bytearray(rng.randbytes(rng.randint(0, 20)))
    elif roll < 0.25 and len(raw) > 4:
        raw = raw[: rng.randrange(4, len(raw))]
    return bytes(raw)


def tap_lines(tmp: Path, monkeypatch: Any) -> tuple[str, list[bytes]]:
    """The transcript the tap writes for the generated traffic, and the datagrams it sent."""
    rng = random.Random(19)
    clock = [1796598385.25]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    redactor = Redactor()
    redactor.add("sekret")
    transcript = Transcript(redactor, tmp / "t.jsonl")
    registry = ObjectRegistry.builtin()
    devices: dict[str, str] = {}
    tap = CoapTap(
        transcript,
        device_of=lambda p: (devices.get(p, p), "rd/1" if p in devices else ""),
        registry=lambda: registry,
        on_contact=lambda p: devices.update({p: devices.get(p, "dev-" + p)}),
    )
    sock = _Socket()
    last = b""
    for _n in range(150):
        clock[0] += rng.choice([0.0001, 0.37, 1.0])
        remote = _Address(sock, ("127.0.0.1", rng.choice([5683, 40000, 40001])))
        if rng.random() < 0.65:
            datagram = last if last and rng.random() < 0.1 else _datagram(rng)
            secure = rng.random() < 0.3
            tap.incoming(remote, datagram, secure=secure)
            last = datagram
        else:
            message = _message(rng)
            message.remote = remote
            try:
                raw = message.encode() if rng.random() < 0.5 else None  # else the tap encodes
            except UnicodeEncodeError:
                continue
            tap.outgoing(message, secure=rng.random() < 0.3, raw=raw)
    storm = Message(code=Code.POST, uri_path=("rd", "1"))
    storm.mtype, storm.mid, storm.token = CON, 7, b"s"
    for _ in range(25):  # a retransmission storm: 20 copies recorded, then one note
        tap.incoming(_Address(sock, ("127.0.0.1", 40002)), storm.encode(), secure=False)
    transcript.close()
    return (tmp / "t.jsonl").read_text(), sock.sent


def test_the_taps_lines_are_the_pinned_ones(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    lines, sent = tap_lines(tmp_path, monkeypatch)
    golden = GOLDEN.read_text().split("\n#sent ")
    assert lines.splitlines() == golden[0].splitlines()  # a line at a time: a readable diff
    assert [s.hex() for s in sent] == golden[1].split()
    assert len(lines.splitlines()) > 150 and sent  # the traffic was what the file pins


def test_aiocoaps_own_reset_is_recorded_as_the_message_it_is(tmp_path: Path) -> None:
    """aiocoap answers a response it does not recognise with a RST built with ``payload=""``
    (a str); before the sixth wave the tap failed on it and wrote a "tap failed" note instead
    of the message (found by the lab-level differential check of issue 19, sixth wave)."""
    transcript = Transcript(path=tmp_path / "t.jsonl")
    tap = CoapTap(transcript, device_of=lambda p: (p, ""))
    rst = Message(code=Code.EMPTY, payload=b"")
    rst.mtype, rst.mid, rst.payload = RST, 0x1234, ""  # as aiocoap's message manager builds it
    rst.remote = _Address(_Socket(), ("127.0.0.1", 40000))
    tap.outgoing(rst, secure=False, raw=bytes([0x70, 0, 0x12, 0x34]))
    [entry] = list(transcript)
    assert (entry.direction, entry.summary, entry.raw) == ("lab->device", "RST MID=4660",
                                                           bytes([0x70, 0, 0x12, 0x34]))
    assert entry.headers == {"MID": "4660", "Token": ""} and entry.peer == "127.0.0.1:40000"


def test_a_datagrams_entries_reach_the_file_before_its_answer_is_sent(tmp_path: Path) -> None:
    """Under the hold a datagram is handled in, its entries are written together, and at the
    latest when the lab's answer is recorded: before it is sent (sockets.send_tapped)."""
    path = tmp_path / "t.jsonl"
    tap = CoapTap(Transcript(path=path), device_of=lambda p: (p, ""))
    remote = _Address(_Socket(), ("127.0.0.1", 40000))
    update = Message(code=Code.POST, uri_path=("rd", "1"))
    update.mtype, update.mid, update.token = CON, 9, b"t"
    with tap.held():
        tap.incoming(remote, update.encode(), secure=False)
        assert path.read_text() == ""  # held back
        answer = Message(code=Code.CHANGED)
        answer.mtype, answer.mid, answer.token, answer.remote = ACK, 9, b"t", remote
        tap.outgoing(answer, secure=False, raw=answer.encode())
        summaries = [line.split('"summary": ')[1].split('"')[1]
                     for line in path.read_text().splitlines()]
        assert summaries == ["CON POST /rd/1", "ACK 2.04 Changed"]


if __name__ == "__main__":  # regenerate the pinned lines (an intended change of evidence)
    import tempfile

    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        text, rsts = tap_lines(Path(folder), patch)
    GOLDEN.write_text(text + "#sent " + " ".join(s.hex() for s in rsts) + "\n")
    print(f"{GOLDEN}: {len(text.splitlines())} lines, {len(rsts)} datagrams sent")
