"""When a device came back: its first datagram (a DTLS ClientHello), not its Register (int-555)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.evidence.transcript import Transcript

NEW, OLD = "127.0.0.1:40002", "127.0.0.1:41968"


def first_attempt(transcript: Transcript, peer: str, mark: int, after: float) -> float | None:
    device = SimpleNamespace(lab=SimpleNamespace(transcript=transcript))
    return Lwm2mDevice.first_attempt(device, peer, mark, after)  # type: ignore[arg-type]


def test_handshake_start_is_the_return(tmp_path: Path) -> None:
    t = Transcript(path=tmp_path / "t.jsonl")
    t.record("lwm2m", "device->lab", "CON DELETE /rd/1", peer=OLD)
    left = t.record("lwm2m", "note", "de-registered dev (rd/1)", peer=OLD).time
    mark = 0
    t.record("lwm2m", "lab->device", "ACK 2.02 Deleted", peer=OLD)
    hello = t.record("lwm2m", "note", "DTLS ClientHello: no cookie", peer=NEW).time
    t.record("lwm2m", "note", "DTLS handshake complete (PSK identity 'x')", peer=NEW)
    t.record("lwm2m", "device->lab", "CON POST /rd?ep=dev", peer=NEW)
    assert first_attempt(t, NEW, mark, left) == hello
    t.close()


def test_same_session_register_is_the_return(tmp_path: Path) -> None:
    t = Transcript(path=tmp_path / "t.jsonl")
    t.record("lwm2m", "device->lab", "CON DELETE /rd/1", peer=OLD)
    left = t.record("lwm2m", "note", "de-registered dev (rd/1)", peer=OLD).time
    t.record("lwm2m", "lab->device", "ACK 2.02 Deleted", peer=OLD)
    back = t.record("lwm2m", "device->lab", "CON POST /rd?ep=dev", peer=OLD).time
    assert first_attempt(t, OLD, 0, left) == back
    assert first_attempt(t, NEW, 0, left) is None
    t.close()
