"""The transcript store: each message once, on disk, read back; memory bounded by the tail."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import random
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from conformance.evidence import transcript as transcript_module
from conformance.evidence.redact import Redactor
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


_ODD = ["é", "\u2028", "\ud800", "\udfff", "\x00", "\x1f", '"', "\\", "€", "\U0001f600", "\x7f",
        "\n", "sekret", "736b"]


def _odd_text(rng: Any, n: int = 12) -> str:
    return "".join(rng.choice(_ODD) if rng.random() < 0.5 else chr(rng.randint(32, 126))
                   for _ in range(rng.randint(0, n)))


def test_a_line_written_field_by_field_is_the_json_encoders_line() -> None:
    """The store's usual line is built without the encoder (issue 19): for generated entries
    (surrogates, control characters, non-UTF-8 raw, odd clocks, headers that are not str),
    the line is the encoder's, or the encoder writes it."""
    rng = random.Random(19)
    plain = 0
    for seq in range(1, 3001):
        raw = rng.choice([b"", rng.randbytes(rng.randint(1, 30)),
                          _odd_text(rng).encode("utf-8", "surrogatepass")])
        headers: dict[Any, Any] = {
            _odd_text(rng, 5): _odd_text(rng) for _ in range(rng.randint(0, 4))}
        if rng.random() < 0.1:
            headers[rng.choice(["n", 1, None])] = rng.choice([5, 1.5, None, True])
        entry = Entry(
            seq=seq, time=rng.choice([1.0, 0.1 + 0.2, rng.uniform(0, 2e9), float("nan")]),
            protocol="lwm2m", direction=rng.choice(["device->lab", "lab->device", "note"]),
            summary=_odd_text(rng, 30), device=_odd_text(rng), peer=_odd_text(rng),
            session=_odd_text(rng), content_type=_odd_text(rng), raw=raw,
            decoded=_odd_text(rng, 40), headers=headers,
            error=rng.choice([None, _odd_text(rng)]),
        )
        text = _strict_text(raw) if raw else None
        expected = transcript_module._encoded_line(entry, text)
        assert transcript_module.store_line(entry) == expected
        try:
            assert transcript_module._plain_line(entry, text) == expected
            plain += 1
        except TypeError:
            pass
    assert plain > 2000  # most entries took the field-by-field path


def _strict_text(raw: bytes) -> str | None:
    with contextlib.suppress(UnicodeDecodeError):
        return raw.decode("utf-8")
    return None


def test_an_entry_without_secrets_known_is_stored_as_the_redacting_path_stores_it(
    tmp_path: Path,
) -> None:
    """Nothing to mask skips the redactor's passes; a redactor whose secrets never match
    gives the same entries and lines."""
    lines = []
    for n, secret in enumerate([None, "never-in-any-value"]):
        redactor = Redactor()
        redactor.add(secret)
        t = Transcript(redactor, tmp_path / f"t{n}.jsonl")
        for k in range(50):
            t.record("lwm2m", "note", f"s{k}\udfff", raw=bytes([k, 0xFF]) if k % 2 else b"<x/>",
                     headers={"MID": str(k)} if k % 3 else None, error="" if k % 5 else "e")
        t.close()
        lines.append([{**json.loads(x), "time": 0} for x in
                      (tmp_path / f"t{n}.jsonl").read_text().splitlines()])
    assert lines[0] == lines[1] and len(lines[0]) == 50


def test_raw_bytes_are_text_exactly_when_they_decode_as_utf8() -> None:
    """The store tells UTF-8 from binary without an exception per binary message; it must
    agree with a strict decode, a U+FFFD of the bytes' own next to an invalid byte too."""
    rng = random.Random(8)
    pieces = [b"\xef\xbf\xbd", b"\xed\xa0\x80", b"\xc3\xa9", b"\xf0\x9f\x98\x80", b"\xff",
              b"\x80", b"a", b"\x00", b"\xe2\x82", b"\xc3"]
    for _ in range(20000):
        raw = b"".join(rng.choice(pieces) if rng.random() < 0.6 else rng.randbytes(1)
                       for _ in range(rng.randint(1, 10)))
        expected = _strict_text(raw)
        assert transcript_module._utf8(raw) == expected, raw
        assert transcript_module._utf8(bytearray(raw)) == expected


def test_a_hold_writes_its_entries_together_and_readers_see_them_meanwhile(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.jsonl"
    t = Transcript(path=path)
    t.record("lwm2m", "note", "before")
    assert len(path.read_text().splitlines()) == 1  # flushed per entry outside a hold
    with t.held():
        t.record("lwm2m", "device->lab", "request")
        t.record("lwm2m", "note", "a note")
        assert len(path.read_text().splitlines()) == 1  # kept back
        assert [e.summary for e in t.since(1)] == ["request", "a note"]  # the tail
        assert [e.summary for e in t] == ["before", "request", "a note"]
        t.flush()  # what an outgoing message does before it is sent
        assert len(path.read_text().splitlines()) == 3
        t.record("lwm2m", "lab->device", "answer")
    assert [json.loads(x)["summary"] for x in path.read_text().splitlines()] == [
        "before", "request", "a note", "answer"]


def test_entries_held_beyond_the_tail_are_read_back_from_the_file(tmp_path: Path) -> None:
    """A reader that needs the file gets what a hold kept back too."""
    t = Transcript(path=tmp_path / "t.jsonl")
    with t.held():
        for n in range(TAIL + 10):
            t.record("lwm2m", "note", f"n{n}")
        assert [e.summary for e in t.since(0)][:2] == ["n0", "n1"]
        assert len(t.since(0)) == TAIL + 10


def test_a_temporary_store_closed_within_a_hold_keeps_what_was_held() -> None:
    t = Transcript()
    with t.held():
        t.record("lwm2m", "note", "held")
        t.close()
    assert [e.summary for e in t] == ["held"]


def test_a_recorded_entry_is_the_dataclass_entry_field_for_field() -> None:
    """record() builds its Entry without the dataclass __init__: the same fields, in the
    declared order (to_json follows it), equal to the Entry the constructor makes."""
    t = Transcript()
    entry = t.record("lwm2m", "note", "s", device="d", raw=b"\x00", headers={"h": "v"})
    assert list(vars(entry)) == [f.name for f in dataclasses.fields(Entry)]
    assert entry == Entry(**vars(entry)) and hash(entry.seq) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.summary = "changed"  # type: ignore[misc]


def test_holds_nest_and_the_outermost_one_flushes(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    t = Transcript(path=path)
    with t.held():
        with t.held():
            t.record("lwm2m", "note", "inner")
        assert path.read_text() == ""  # the outer hold still holds
    assert len(path.read_text().splitlines()) == 1
