"""The transcript: every message between the lab and a device, in order, nothing lost.

Both lab servers append one :class:`Entry` per message (and per protocol error or lab note).
Entries are redacted *before* they are stored, and written to a JSON-lines file as they come
(flushed per entry), so an interrupted run still leaves everything that happened on disk.
Test cases and reports take slices: ``transcript.since(mark)`` or ``for_device(...)``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

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


class Transcript:
    def __init__(self, redactor: Redactor | None = None, path: Path | None = None) -> None:
        self.redactor = redactor or Redactor()
        self._lock = threading.Lock()
        self._entries: list[Entry] = []
        self._listeners: list[Callable[[Entry], None]] = []
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

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
        with self._lock:
            entry = Entry(
                seq=len(self._entries) + 1,
                time=time.time(),
                protocol=protocol,
                direction=direction,
                summary=r.text(summary),
                device=device,
                peer=peer,
                session=session,
                content_type=content_type,
                raw=r.raw(raw),
                decoded=r.text(decoded),
                headers={k: r.text(v) for k, v in (headers or {}).items()},
                error=r.text(error) if error else None,
            )
            self._entries.append(entry)
            if self._file is not None:
                self._file.write(json.dumps(entry.to_json()) + "\n")
                self._file.flush()
            listeners = list(self._listeners)
        for listener in listeners:
            listener(entry)
        return entry

    def note(self, protocol: str, summary: str, **kw: str) -> Entry:
        """A lab-side event worth seeing in the evidence (timeouts, triggers, decisions)."""
        return self.record(protocol, "note", summary, **kw)  # type: ignore[arg-type]

    def mark(self) -> int:
        """The sequence number of the last entry so far; pass it to :meth:`since`."""
        with self._lock:
            return len(self._entries)

    def since(self, mark: int) -> list[Entry]:
        with self._lock:
            return self._entries[mark:]

    def for_device(self, device: str) -> list[Entry]:
        with self._lock:
            return [e for e in self._entries if e.device == device]

    def __iter__(self) -> Iterator[Entry]:
        with self._lock:
            return iter(list(self._entries))

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def subscribe(self, listener: Callable[[Entry], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
