"""The transcript: every message between the lab and a device, in order, nothing lost.

Both lab servers append one :class:`Entry` per message (and per protocol error or lab note).
Entries are redacted *before* they are stored, and written to a JSON-lines file as they come
(flushed per entry; the entries of one datagram together, under :meth:`Transcript.held`, and
each before the lab sends the message it records), so an interrupted run still leaves
everything that happened on disk.
Test cases and reports take slices: ``transcript.since(mark)`` or ``for_device(...)``.

The file is the store: each message is kept once, there, and read back from it. Memory stays
bounded whatever the number of messages: the last :data:`TAIL` entries are kept for the
slices a running case takes, and older ones are read from the file, found through one file
offset per :data:`STRIDE` entries. Without a path the store is an anonymous temporary file.
DTLS datagrams as they crossed the socket go to the :meth:`Transcript.datagram` listeners
(the packet capture), not into the store: the store holds what the lab decrypted.
"""

from __future__ import annotations

import bisect
import json
import math
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from conformance.evidence.redact import Redactor

Direction = Literal["device->lab", "lab->device", "note"]


@dataclass(frozen=True)
class Entry:
    seq: int
    time: float  # seconds since the epoch
    protocol: str  # "omadm", "lwm2m", "package0", "fota", "control"
    direction: Direction
    summary: str  # one line, the arrow label of the ladder diagram: "POST pkg1 Alert 1201"
    device: str = ""  # DevId / LwM2M endpoint / peer when not yet known: filters per device
    peer: str = ""  # "127.0.0.1:40312"
    session: str = ""  # DM SessionID / LwM2M registration location
    content_type: str = ""
    raw: bytes = b""  # the bytes on the wire (decrypted for DTLS), secrets masked
    decoded: str = ""  # pretty XML / decoded CoAP, secrets masked
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # protocol error found in this message, if any

    def to_json(self) -> dict[str, object]:
        # A shallow copy: dataclasses.asdict deep-copies every field, a cost paid per message.
        data = dict(vars(self))
        data["raw"] = self.raw.hex()
        data["headers"] = dict(self.headers)
        return data


def _new_entry(fields: dict[str, Any]) -> Entry:
    """An :class:`Entry` of every field, in their declared order, without the frozen
    dataclass's ``__init__`` (an ``object.__setattr__`` per field: ~3 us, for each message)."""
    entry: Entry = object.__new__(Entry)
    entry.__dict__.update(fields)
    return entry


TAIL = 512  # entries kept in memory for recent slices
STRIDE = 256  # one file offset kept per STRIDE entries


def entry_from_json(data: dict[str, Any]) -> Entry:
    """The inverse of :meth:`Entry.to_json` (one line of the store)."""
    fields = dict(data)
    text = fields.pop("raw_text", None)
    fields["raw"] = text.encode() if text is not None else bytes.fromhex(fields.get("raw", ""))
    return Entry(**fields)


_encode_json = json.JSONEncoder(check_circular=False).encode  # an entry holds no cycles
# The encoder's own string escaping (ensure_ascii): a line built from it is the encoder's line.
_json_str = json.encoder.encode_basestring_ascii


def store_line(entry: Entry) -> str:
    """One line of the store: raw bytes as text when they are UTF-8 (XML, JSON), else hex.

    The fields in :meth:`Entry.to_json`'s order, ``raw_text`` (when it replaces ``raw``) last,
    as ``json`` writes them (ASCII: any str, lone surrogates too, can be written). Every
    message of a run passes here, so the usual entry (str fields, str headers) is written
    field by field; anything else goes through the encoder (tests/evidence: the two agree)."""
    text = _utf8(entry.raw) if entry.raw else None
    try:
        return _plain_line(entry, text)
    except TypeError:  # a field that is not a str: the encoder says how it is written
        return _encoded_line(entry, text)


def _utf8(raw: bytes) -> str | None:
    """``raw`` as UTF-8 text, None when it is not UTF-8 (binary CoAP mostly is not: an
    exception per message was a good part of a line's cost)."""
    if raw.isascii():
        return raw.decode("ascii")
    text = raw.decode("utf-8", "replace")
    if "\ufffd" not in text:
        return text  # nothing replaced
    if b"\xef\xbf\xbd" not in raw:
        return None  # replaced: not UTF-8
    try:  # a U+FFFD of its own, and perhaps something replaced too
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _plain_line(entry: Entry, text: str | None) -> str:
    seq, when, headers, error = entry.seq, entry.time, entry.headers, entry.error
    if type(seq) is not int or type(when) is not float or not math.isfinite(when):
        raise TypeError("not a plain entry")
    if type(headers) is not dict:
        raise TypeError("not a plain entry")
    s = _json_str  # raises TypeError for anything but a str
    fields = (
        f'{{"seq": {seq!r}, "time": {when!r}, "protocol": {s(entry.protocol)}, '
        f'"direction": {s(entry.direction)}, "summary": {s(entry.summary)}, '
        f'"device": {s(entry.device)}, "peer": {s(entry.peer)}, "session": {s(entry.session)}, '
        f'"content_type": {s(entry.content_type)}, '
    )
    raw_hex = f'"raw": "{entry.raw.hex()}", ' if text is None else ""
    head = ", ".join([f"{s(k)}: {s(v)}" for k, v in headers.items()])
    tail = "null" if error is None else s(error)
    if text is not None:
        tail += ', "raw_text": ' + s(text)
    decoded = s(entry.decoded)
    return f'{fields}{raw_hex}"decoded": {decoded}, "headers": {{{head}}}, "error": {tail}}}\n'


def _encoded_line(entry: Entry, text: str | None) -> str:
    data: dict[str, object] = {
        "seq": entry.seq, "time": entry.time, "protocol": entry.protocol,
        "direction": entry.direction, "summary": entry.summary, "device": entry.device,
        "peer": entry.peer, "session": entry.session, "content_type": entry.content_type,
    }
    if text is None:
        data["raw"] = entry.raw.hex()
    data["decoded"] = entry.decoded
    data["headers"] = entry.headers
    data["error"] = entry.error
    if text is not None:
        data["raw_text"] = text
    return _encode_json(data) + "\n"


class _Hold:
    """What :meth:`Transcript.held` returns: a count of holds in progress."""

    __slots__ = ("_transcript",)

    def __init__(self, transcript: Transcript) -> None:
        self._transcript = transcript

    def __enter__(self) -> None:
        t = self._transcript
        with t._lock:
            t._holds += 1

    def __exit__(self, *exc: object) -> None:
        t = self._transcript
        with t._lock:
            t._holds -= 1
            if not t._holds:
                t._flush()


DatagramListener = Callable[[str, bool, str, str, bytes, float], None]


class Transcript:
    def __init__(self, redactor: Redactor | None = None, path: Path | None = None) -> None:
        self.redactor = redactor or Redactor()
        self._lock = threading.Lock()
        self._tail: deque[Entry] = deque(maxlen=TAIL)
        self._count = 0
        self._offsets: list[int] = []  # file offset of entry k*STRIDE+1, for k = 0, 1, …
        self._block_times: list[float] = []  # and that entry's time
        self._listeners: list[Callable[[Entry], None]] = []
        self._datagram_listeners: list[DatagramListener] = []
        self.path = path
        self._file: IO[bytes] | None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("ab")
        else:  # a named one: readers open it apart, with their own file position
            # closed (and deleted) with the Transcript object
            self._temp = tempfile.NamedTemporaryFile(  # noqa: SIM115
                prefix="transcript-", suffix=".jsonl"
            )
            self._file = self._temp.file
        self._size = self._file.tell()
        self._closed = False
        self._holds = 0  # > 0: lines are written as they come, flushed when the hold ends
        self._unflushed = False
        self._hold = _Hold(self)

    def record(
        self,
        protocol: str,
        direction: Direction,
        summary: str,
        *,
        device: str = "",
        peer: str = "",
        session: str = "",
        content_type: str = "",
        raw: bytes = b"",
        decoded: str = "",
        headers: dict[str, str] | None = None,
        error: str | None = None,
    ) -> Entry:
        r = self.redactor
        if r.active:
            summary, raw, decoded = r.text(summary), r.raw(raw), r.text(decoded)
            headers = {k: r.text(v) for k, v in (headers or {}).items()}
            error = r.text(error) if error else None
        else:  # nothing to mask (most runs, until a key is learnt): the values as they are
            headers = dict(headers) if headers else {}
            error = error or None
        with self._lock:
            entry = _new_entry({
                "seq": self._count + 1,
                "time": time.time(),
                "protocol": protocol,
                "direction": direction,
                "summary": summary,
                "device": device,
                "peer": peer,
                "session": session,
                "content_type": content_type,
                "raw": raw,
                "decoded": decoded,
                "headers": headers,
                "error": error,
            })
            self._store(entry)
            listeners = list(self._listeners) if self._listeners else ()
        for listener in listeners:
            listener(entry)
        return entry

    def _store(self, entry: Entry) -> None:
        if self._count % STRIDE == 0:
            self._offsets.append(self._size)
            self._block_times.append(entry.time)
        self._count += 1
        self._tail.append(entry)
        if self._file is not None and not self._closed:
            line = store_line(entry).encode("utf-8")
            self._file.write(line)
            if self._holds:
                self._unflushed = True
            else:
                self._file.flush()
            self._size += len(line)

    def held(self) -> AbstractContextManager[None]:
        """Entries recorded meanwhile reach the file in one write, when the hold ends or at
        :meth:`flush`: a datagram's entries (what came in, the lab's notes, its answer) cost
        one system call, not one each (issue 19). Readers see them at once either way.
        Holds nest; one object serves them all (a generator-based one per datagram cost more)."""
        return self._hold

    def flush(self) -> None:
        """Write out what a hold keeps back (before a message leaves the lab: its entry and
        everything before it are on disk first)."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self._unflushed and self._file is not None and not self._closed:
            self._file.flush()
        self._unflushed = False

    def note(self, protocol: str, summary: str, **kw: str) -> Entry:
        """A lab-side event worth seeing in the evidence (timeouts, triggers, decisions)."""
        return self.record(protocol, "note", summary, **kw)  # type: ignore[arg-type]

    def datagram(
        self, protocol: str, inbound: bool, peer: str, data: bytes, local: str = ""
    ) -> None:
        """A datagram as it crossed the socket (DTLS records, encrypted): for the capture.

        ``peer`` and ``local`` are ``host:port`` of the device's and the lab's end."""
        with self._lock:
            listeners = list(self._datagram_listeners)
        if not listeners:
            return
        masked, when = self.redactor.raw(data), time.time()
        for listener in listeners:
            listener(protocol, inbound, peer, local, masked, when)

    def mark(self) -> int:
        """The sequence number of the last entry so far; pass it to :meth:`since`."""
        with self._lock:
            return self._count

    def since(self, mark: int) -> list[Entry]:
        return list(self._from(mark + 1))

    def since_time(self, when: float) -> Iterator[Entry]:
        """The entries recorded at ``when`` (``time.time()``) or later, read as it goes: a
        window of a long run without decoding the run from its start. Entries are stored in
        the order they were timed; a block more is read in case the clock stepped back."""
        with self._lock:
            block = max(bisect.bisect_right(self._block_times, when) - 2, 0)
        return (e for e in self._from(block * STRIDE + 1) if e.time >= when)

    def for_device(self, device: str) -> list[Entry]:
        return [e for e in self._from(1) if e.device == device]

    def __iter__(self) -> Iterator[Entry]:
        return self._from(1)  # read as it goes: the entries recorded up to now

    def __len__(self) -> int:
        with self._lock:
            return self._count

    def _from(self, first: int) -> Iterator[Entry]:
        """Entries with seq >= first, up to the last one recorded now (the tail or the file)."""
        with self._lock:
            last = self._count
            first = max(first, 1)
            if first > last:
                return iter(())
            tail_start = last - len(self._tail) + 1
            if first >= tail_start:
                return iter(list(self._tail)[first - tail_start :])
            block = (first - 1) // STRIDE
            offset, size = self._offsets[block], self._size
            self._flush()  # the reader opens the file apart
        return self._read(offset, size, block * STRIDE + 1, first, last)

    def _read(self, offset: int, size: int, seq: int, first: int, last: int) -> Iterator[Entry]:
        reader = self._reader()
        try:
            reader.seek(offset)
            while seq <= last and reader.tell() < size:
                line = reader.readline()
                if seq >= first:
                    yield entry_from_json(json.loads(line))
                seq += 1
        finally:
            reader.close()

    def _reader(self) -> IO[bytes]:
        return (self.path or Path(self._temp.name)).open("rb")

    def subscribe(self, listener: Callable[[Entry], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[Entry], None]) -> None:
        """Stop calling ``listener`` (a waiter that is done): listeners are not kept forever."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def subscribe_datagrams(self, listener: DatagramListener) -> None:
        with self._lock:
            self._datagram_listeners.append(listener)

    def close(self) -> None:
        """Stop writing; what was recorded stays readable (a temporary store until collected)."""
        with self._lock:
            self._flush()
            if self._file is not None and self.path is not None:
                self._file.close()
                self._file = None
            self._closed = True
