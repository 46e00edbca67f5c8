"""Per-device nonce state of both authentication directions, persisted in the run folder.

Two nonces per device (REQUIREMENTS.md, "Nonce timing"):

- the **client nonce**: what the device must put in its digest. It starts as ``b"null"``
  (AAuthData ``bnVsbA==``) and changes when the lab sends a NextNonce in a Chal. The lab cannot
  know whether its HTTP response reached the device, so a nonce it has sent is kept *pending*
  next to the current one until the device proves it has it (it answered that response, or
  its digest verifies with it); until then either one is accepted. A nonce that has
  authenticated a session is *spent*: a digest over it is never accepted again (that would be
  a replay); a device that lost the lab's answer gets a 401 with a fresh nonce instead.
- the **server nonce**: what the lab puts in its own digest. It changes only when the lab
  actually receives a Status with a Chal from the device.

The state survives a lab restart: an SQLite database in the run folder (WAL mode), one row per
device. A change marks its device dirty; ``flush`` writes the dirty rows in one transaction —
the server calls it before it answers a message (the messages handled in one turn of its
event loop share the commit). (The previous whole-file JSON rewrite
on every change cost ~465 µs per POST and grew with the number of devices; the measurement
that picked SQLite over one file per device is in bench/README.md.)
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

NULL_NONCE = b"null"
FILE_NAME = "omadm-nonces.sqlite"
MAX_NONCE = 1024  # bytes: a longer value in the database is damage, not a nonce
_SCHEMA = """CREATE TABLE IF NOT EXISTS nonces (
    device TEXT PRIMARY KEY, client BLOB, client_pending BLOB, client_spent BLOB, server BLOB)"""
_UPSERT = "INSERT OR REPLACE INTO nonces VALUES (?, ?, ?, ?, ?)"
_FORGET = "DELETE FROM nonces WHERE device = ?"


@dataclass(frozen=True)
class ClientNonces:
    current: bytes
    pending: bytes | None = None
    spent: bytes | None = None  # the nonce of the last accepted authentication

    def candidates(self) -> list[tuple[str, bytes]]:
        """(label, nonce) pairs a digest may verify with, the newest first."""
        out: list[tuple[str, bytes]] = []
        if self.pending is not None and self.pending != self.spent:
            out.append(("pending", self.pending))
        if self.current != self.spent:
            out.append(("current", self.current))
        return out


@dataclass
class _DeviceNonces:
    client: bytes = NULL_NONCE
    client_pending: bytes | None = None
    client_spent: bytes | None = None
    server: bytes = NULL_NONCE


def _nonce(value: object) -> bytes | None:
    return value if isinstance(value, bytes) and len(value) <= MAX_NONCE else None


# Devices whose nonces are kept (the most recently changed): a flood of made-up DevIds must
# not grow the store, in memory or in the database, without bound (issue 15).
MAX_DEVICES = 1024


class NonceStore:
    def __init__(self, path: Path | None) -> None:
        """``path``: the database file (created if missing); None keeps the nonces in memory."""
        self._path = path
        self._lock = threading.Lock()
        self._devices: dict[str, _DeviceNonces] = {}
        self._dirty: set[str] = set()
        self._forgotten: set[str] = set()  # evicted beyond MAX_DEVICES: their rows go too
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._db = self._open(path)

    # ------------------------------------------------------------------ client direction

    def client(self, device: str) -> ClientNonces:
        with self._lock:
            state = self._devices.get(device, _DeviceNonces())
            return ClientNonces(state.client, state.client_pending, state.client_spent)

    def offer_client(self, device: str, nonce: bytes) -> None:
        """The lab sent ``nonce`` in a Chal; the device may or may not have received it."""
        with self._lock:
            self._touch(device).client_pending = nonce
            self._dirty.add(device)

    def confirm_client(self, device: str, nonce: bytes) -> None:
        """The device has ``nonce`` (it answered the message carrying it, or used it)."""
        with self._lock:
            state = self._touch(device)
            state.client = nonce
            if state.client_pending == nonce:
                state.client_pending = None
            self._dirty.add(device)

    def spend_client(self, device: str, nonce: bytes) -> None:
        """A digest over ``nonce`` was accepted: the same digest later would be a replay."""
        with self._lock:
            self._touch(device).client_spent = nonce
            self._dirty.add(device)

    # ------------------------------------------------------------------ server direction

    def server(self, device: str) -> bytes:
        with self._lock:
            return self._devices.get(device, _DeviceNonces()).server

    def set_server(self, device: str, nonce: bytes) -> None:
        """Store a NextNonce the device sent in a Status the lab actually received."""
        with self._lock:
            self._touch(device).server = nonce
            self._dirty.add(device)

    def reset(self, device: str) -> None:
        """Back to ``null`` both ways (e.g. after the device's factory reset)."""
        with self._lock:
            self._devices[device] = _DeviceNonces()
            self._dirty.add(device)
        self.flush()

    def _touch(self, device: str) -> _DeviceNonces:
        """The device's nonces, now the most recent; the least recent beyond the bound go."""
        state = self._devices.pop(device, None) or _DeviceNonces()
        self._devices[device] = state
        while len(self._devices) > MAX_DEVICES:
            oldest = next(iter(self._devices))
            del self._devices[oldest]
            self._dirty.discard(oldest)
            self._forgotten.add(oldest)
        self._forgotten.discard(device)
        return state

    # ------------------------------------------------------------------ persistence

    def flush(self) -> None:
        """Write the devices changed since the last flush (one transaction)."""
        with self._lock:
            if self._db is None or not (self._dirty or self._forgotten):
                self._dirty.clear()
                self._forgotten.clear()
                return
            rows = [(d, s.client, s.client_pending, s.client_spent, s.server)
                    for d in self._dirty if (s := self._devices.get(d)) is not None]
            gone = [(d,) for d in self._forgotten]
            self._dirty.clear()
            self._forgotten.clear()
            try:
                with self._db:
                    self._db.executemany(_UPSERT, rows)
                    self._db.executemany(_FORGET, gone)
            except sqlite3.Error as exc:  # the lab keeps running on its in-memory state
                log.warning("nonce database %s: %s", self._path, exc)

    def close(self) -> None:
        """Flush and close the database (its WAL is folded back into the one file)."""
        self.flush()
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            db.close()

    def reopen(self) -> None:
        """After ``close``: the database again (a lab started once more). No-op when open."""
        with self._lock:
            if self._path is not None and self._db is None:
                self._db = self._open(self._path)

    def _open(self, path: Path) -> sqlite3.Connection | None:
        path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in (1, 2):
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")  # durable across a crash of the lab
                db.execute(_SCHEMA)
                db.isolation_level = "DEFERRED"  # `with db:` is one transaction per flush
                self._load(db)
                return db
            except sqlite3.DatabaseError as exc:
                db.close()
                # A damaged file only costs one 401 round trip: keep it aside, start from null.
                self._devices.clear()
                aside = path.with_name(path.name + ".damaged")
                log.warning("nonce database %s unreadable (%s); moved to %s", path, exc, aside)
                if attempt == 2:
                    return None
                path.replace(aside)
        return None

    def _load(self, db: sqlite3.Connection) -> None:
        for device, client, pending, spent, server in db.execute("SELECT * FROM nonces"):
            if not isinstance(device, str):
                continue
            self._devices[device] = _DeviceNonces(
                client=_nonce(client) or NULL_NONCE,
                client_pending=_nonce(pending),
                client_spent=_nonce(spent),
                server=_nonce(server) or NULL_NONCE,
            )
