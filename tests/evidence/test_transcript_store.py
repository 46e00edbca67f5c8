"""The transcript store: each message once, on disk, read back; memory bounded by the tail."""

from __future__ import annotations

import itertools
import json
import threading
import tracemalloc
from pathlib import Path

import pytest

from conformance.evidence import transcript as transcript_module
from conformance.evidence.transcript import TAIL, Entry, Transcript


@pytest.mark.parametrize("on_disk", [True, False])
def test_slices_beyond_the_tail_are_read_back_from_the_file(tmp_path: Path, on_disk: bool) -> None:
    t = Transcript(path=tmp_path / "t.jsonl" if on_disk else None)
    total = TAIL * 3 + 17
    for n in range(total):
        raw = bytes([n % 256, 0xFF]) if n % 2 else f"<x>{n}</x>".encode()
        t.record("omadm", "device->lab", f"message {n + 1}", raw=raw, headers={"n": str(n)})
    assert len(t) == t.mark() == total
    old = t.since(5)
    assert [e.seq for e in old] == list(range(6, total + 1))
    assert old[0].summary == "message 6" and old[0].raw == bytes([5, 0xFF])
    assert old[1].raw == b"<x>6</x>" and old[1].headers == {"n": "6"}
    assert [e.seq for e in t.since(total - 3)] == [total - 2, total - 1, total]
    assert t.since(total) == []
    assert [e.seq for e in t][:3] == [1, 2, 3] and sum(1 for _ in t) == total
    assert len(t.for_device("")) == total
    t.close()
    assert t.since(total - 1)[0].seq == total  # still readable after the writer closed


def test_a_listener_can_leave() -> None:
    t = Transcript()
    seen: list[int] = []
    t.subscribe(lambda e: seen.append(e.seq))
    late: list[int] = []

    def listener(entry: Entry) -> None:
        late.append(entry.seq)

    t.subscribe(listener)
    t.record("omadm", "device->lab", "one")
    t.unsubscribe(listener)
    t.record("omadm", "device->lab", "two")
    assert seen == [1, 2] and late == [1]


def test_the_file_holds_xml_as_text_and_binary_as_hex(tmp_path: Path) -> None:
    t = Transcript(path=tmp_path / "t.jsonl")
    t.record("omadm", "device->lab", "xml", raw=b"<SyncML/>")
    t.record("lwm2m", "device->lab", "coap", raw=b"\x40\x01\x00\x07\xff\xfe")
    t.record("omadm", "note", "odd text \udc80 from a surrogate-escaped decode")
    lines = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert lines[0]["raw_text"] == "<SyncML/>" and "raw" not in lines[0]
    assert lines[1]["raw"] == "40010007fffe"
    assert t.since(2)[0].summary == "odd text \udc80 from a surrogate-escaped decode"


def test_memory_does_not_grow_with_the_number_of_messages(tmp_path: Path) -> None:
    t = Transcript(path=tmp_path / "t.jsonl")
    body = b"<Status>" + b"x" * 2000 + b"</Status>"

    def grow(n: int) -> int:
        tracemalloc.start()
        for _ in range(n):
            t.record("omadm", "device->lab", "POST pkg3", raw=body, decoded=body.decode())
        current, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return current

    grow(TAIL)  # fill the tail first
    first = grow(1000)  # both beyond the tail: the same 512 entries are kept
    second = grow(4000)  # four times as many messages
    # what is retained is the bounded tail plus one offset per STRIDE entries
    assert second < first + 4000 // transcript_module.STRIDE * 64 + 50_000


def test_datagrams_go_to_their_listeners_redacted_not_into_the_store(tmp_path: Path) -> None:
    t = Transcript(path=tmp_path / "t.jsonl")
    t.redactor.add("topsecret")
    seen: list[tuple[str, bool, str, bytes]] = []
    done = threading.Event()

    def listener(
        protocol: str, inbound: bool, peer: str, local: str, data: bytes, when: float
    ) -> None:
        seen.append((protocol, inbound, peer, data))
        done.set()

    t.subscribe_datagrams(listener)
    t.datagram("lwm2m", True, "127.0.0.1:5684", b"\x17\xfe\xfdtopsecret")
    assert done.wait(1)
    assert seen == [("lwm2m", True, "127.0.0.1:5684", b"\x17\xfe\xfd" + b"*" * 9)]
    assert len(t) == 0


def test_since_time_reads_from_the_window_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter(float(n // 3) for n in range(100_000))  # three entries per clock second
    monkeypatch.setattr(transcript_module.time, "time", lambda: next(clock))
    t = Transcript(path=tmp_path / "t.jsonl")
    total = TAIL * 4 + 5
    for n in range(total):
        t.record("lwm2m", "device->lab", f"m{n}")
    for when in (0.0, 1.0, 100.5, 300.0, float(total // 3), total / 3 + 1):
        expected = [e.seq for e in t if e.time >= when]
        assert [e.seq for e in t.since_time(when)] == expected
    # read as it goes: the caller stops at the end of its window, however long the run
    window = [e.seq for e in itertools.takewhile(lambda e: e.time <= 201.0, t.since_time(200.0))]
    assert window == [601, 602, 603, 604, 605, 606]
