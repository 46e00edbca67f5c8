"""The registration store: who is registered, from where, since when, and what happened.

Lives on the lab loop (no locks). Keyed by endpoint name; each Register gets a fresh location
``rd/<n>`` so an Update or De-register to a stale location is answered 4.04. Every change is
an :class:`Event` with a sequence number; the facade waits on events, never on sleeps. A
Register of an endpoint already registered from another address or DTLS session is recorded
as a conflict: the newest registration wins.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

# Events kept for the facade's waits (the newest; a device churning registrations must not
# grow the lab without bound, issue 15).
MAX_EVENTS = 4096
EventKind = Literal["register", "update", "deregister", "expire", "conflict", "replace"]


@dataclass
class Registration:
    endpoint: str
    location: str  # "rd/3"
    lifetime: int
    lwm2m: str
    binding: str
    sms: str | None
    queue: bool
    links: list[Any]  # linkformat.Link
    objects: dict[int, list[int | None]]
    peer: str
    secure: bool
    query: str
    registered_at: float
    updated_at: float
    deviations: list[str] = field(default_factory=list)
    root: str = ""  # alternate root path ("" or "/lwm2m")
    content_format: int | None = None  # preferred format from the root link's ct=
    psk_identity: str | None = None
    # When the lab last completed an exchange with the device (queue mode: lwm2m/queuemode.py).
    last_contact: float = 0.0
    remote: Any = field(default=None, repr=False, compare=False)  # where requests go

    def path(self, lwm2m_path: str) -> list[str]:
        """Uri-Path segments for an LwM2M path under the client's root."""
        full = (self.root.rstrip("/") + "/" + lwm2m_path.strip("/")).strip("/")
        return [p for p in full.split("/") if p] if full else []


@dataclass(frozen=True)
class UpdateParams:
    """What one Update carried itself; None where it left a parameter out (TS 1.1 §6.2.2:
    an Update sends only what changed), unlike the registration's stored values."""

    lifetime: int | None = None
    binding: str | None = None
    sms: str | None = None
    object_links: bool = False


@dataclass(frozen=True)
class Event:
    seq: int
    kind: EventKind
    endpoint: str
    registration: Registration
    time: float
    detail: str = ""
    carried: UpdateParams | None = None  # an "update" event: the Update's own parameters


class RegistrationStore:
    def __init__(self, *, on_event: Callable[[Event], None] | None = None) -> None:
        self._by_endpoint: dict[str, Registration] = {}
        self._by_location: dict[str, Registration] = {}
        # Every datagram is attributed to its device by peer: a dict, not a scan (the scan was
        # 11 % of lab time with 1000 devices registered, bench/bench_lwm2m_lab.py).
        self._by_peer: dict[str, Registration] = {}
        self._peer_of: dict[str, str] = {}  # location -> the peer it is indexed under
        # peer -> registrations indexed under it (count_from: a scan made a burst quadratic)
        self._from_peer: collections.Counter[str] = collections.Counter()
        self._expiry: dict[str, asyncio.TimerHandle] = {}
        # location -> loop time its lifetime ends; the timer may be due earlier (see _arm_expiry)
        self._deadline: dict[str, float] = {}
        self._next_id = 1
        self._seq = 0
        self.events: collections.deque[Event] = collections.deque(maxlen=MAX_EVENTS)
        # Set (and dropped) at the next event; exists only while someone waits, so an event
        # costs no task or lock when nobody does (issue 19: a task per Update was ~9 %).
        self._changed: asyncio.Future[None] | None = None
        self.on_event = on_event

    # -- queries -------------------------------------------------------------------------------

    def get(self, endpoint: str) -> Registration | None:
        return self._by_endpoint.get(endpoint)

    def by_location(self, location: str) -> Registration | None:
        return self._by_location.get(location)

    def by_peer(self, peer: str) -> Registration | None:
        return self._by_peer.get(peer)

    def all(self) -> list[Registration]:
        return list(self._by_endpoint.values())

    def count(self) -> int:
        return len(self._by_endpoint)

    def count_from(self, peer: str) -> int:
        """Endpoints currently registered from ``peer``."""
        return self._from_peer[peer]

    # -- changes -------------------------------------------------------------------------------

    def new_location(self) -> str:
        location = f"rd/{self._next_id}"
        self._next_id += 1
        return location

    def register(self, reg: Registration) -> None:
        old = self._by_endpoint.get(reg.endpoint)
        if old is not None:
            self._drop(old)
            if old.peer != reg.peer or old.remote is not reg.remote:
                what = "DTLS session" if reg.secure or old.secure else "address"
                self._emit(
                    "conflict",
                    reg,
                    f"endpoint {reg.endpoint} registered again from {reg.peer} ({what}) while "
                    f"registered from {old.peer} as {old.location}; the newest wins",
                )
            else:
                self._emit("replace", reg, f"re-registration replaces {old.location}")
        self._by_endpoint[reg.endpoint] = reg
        self._by_location[reg.location] = reg
        self._index_peer(reg)
        self._arm_expiry(reg)
        self._emit("register", reg)

    def update(self, reg: Registration, detail: str = "",
               carried: UpdateParams | None = None) -> None:
        reg.updated_at = time.time()
        self._index_peer(reg)  # an Update may come from a new address (NAT rebinding)
        self._arm_expiry(reg)
        self._emit("update", reg, detail, carried or UpdateParams())

    def deregister(self, reg: Registration) -> None:
        self._drop(reg)
        self._emit("deregister", reg)

    def forget(self, reg: Registration) -> None:
        """Drop ``reg`` silently (no event): the lab playing a server that lost its state."""
        self._drop(reg)

    def clear(self) -> None:
        for handle in self._expiry.values():
            handle.cancel()
        self._expiry.clear()
        self._deadline.clear()

    def _index_peer(self, reg: Registration) -> None:
        old = self._peer_of.get(reg.location)
        if old is not None and old != reg.peer:
            self._unindex_peer(old, reg)
        if old != reg.peer:
            self._from_peer[reg.peer] += 1
            if old is not None:
                self._uncount(old)
        self._peer_of[reg.location] = reg.peer
        self._by_peer[reg.peer] = reg

    def _uncount(self, peer: str) -> None:
        self._from_peer[peer] -= 1
        if self._from_peer[peer] <= 0:
            del self._from_peer[peer]

    def _unindex_peer(self, peer: str, reg: Registration) -> None:
        if self._by_peer.get(peer) is not reg:
            return
        del self._by_peer[peer]
        # Rare: another endpoint registered from the same address takes the slot back.
        others = (r for r in self._by_endpoint.values() if r.peer == peer and r is not reg)
        other = next(others, None)
        if other is not None:
            self._by_peer[peer] = other

    def _drop(self, reg: Registration) -> None:
        peer = self._peer_of.pop(reg.location, None)
        if peer is not None:
            self._uncount(peer)
            self._unindex_peer(peer, reg)
        self._by_location.pop(reg.location, None)
        if self._by_endpoint.get(reg.endpoint) is reg:
            del self._by_endpoint[reg.endpoint]
        handle = self._expiry.pop(reg.location, None)
        if handle is not None:
            handle.cancel()
        self._deadline.pop(reg.location, None)

    def _arm_expiry(self, reg: Registration) -> None:
        # An Update moves the deadline later; the timer already set stays and, when due, sets
        # itself again for what is left (a cancel and a new timer per Update cost the lab more
        # than the rest of the store's work). A deadline earlier than the timer re-arms it.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + reg.lifetime
        self._deadline[reg.location] = deadline
        handle = self._expiry.get(reg.location)
        if handle is not None and not handle.cancelled() and handle.when() <= deadline:
            return
        if handle is not None:
            handle.cancel()
        self._expiry[reg.location] = loop.call_at(deadline, self._expire, reg)

    def _expire(self, reg: Registration) -> None:
        if self._by_location.get(reg.location) is not reg:
            return
        loop = asyncio.get_running_loop()
        deadline = self._deadline.get(reg.location, 0.0)
        if deadline > loop.time():  # renewed since the timer was set
            self._expiry[reg.location] = loop.call_at(deadline, self._expire, reg)
            return
        self._drop(reg)
        self._emit("expire", reg, f"lifetime {reg.lifetime} s passed without an Update")

    def _emit(self, kind: EventKind, reg: Registration, detail: str = "",
              carried: UpdateParams | None = None) -> None:
        self._seq += 1
        event = Event(self._seq, kind, reg.endpoint, reg, time.time(), detail, carried)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        changed, self._changed = self._changed, None
        if changed is not None and not changed.done():
            changed.set_result(None)

    # -- waiting -------------------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], Any]) -> Any:
        """Wait (no timeout here: the caller bounds it) until ``predicate()`` is truthy."""
        while True:
            result = predicate()
            if result:
                return result
            if self._changed is None:
                self._changed = asyncio.get_running_loop().create_future()
            # shielded: a waiter that times out must not cancel the others' future
            await asyncio.shield(self._changed)

    def last_seq(self) -> int:
        return self._seq
