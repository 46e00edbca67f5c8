"""Queue mode, the lab's side: when a device can be reached, and waiting until it can.

A client in queue mode (Register with ``Q`` in LwM2M 1.1, ``b=UQ`` in 1.0) keeps its receiver
on only for a while after its last message and then sleeps until it next sends something (an
Update, a notification, a Send). The server must not send it requests meanwhile: it holds them
until the client is heard again, then sends them one at a time (TS Queue Mode). The lab
counts a "contact" when an exchange with the device completes on its side: a response or a
non-confirmable message from the device, or the lab's own acknowledgement of a device's
confirmable message (so a held request goes out after the answer to the Update that woke the
device, not before it).

Runs on the lab loop only (no locks). Waiters are keyed by endpoint and exist only while a
request is held, so a flood of datagrams costs one dict lookup each.
"""

from __future__ import annotations

import asyncio
import time

from conformance.lwm2m.registrations import Registration, RegistrationStore

# How long after its last message the TS lets the server count on a queue-mode client
# listening: LwM2M 1.1, MAX_TRANSMIT_WAIT with the default CoAP transmission parameters
# (RFC 7252 §4.8.2: 93 s); LwM2M 1.0, ACK_TIMEOUT (2 s).
AWAKE_1_1 = 93.0
AWAKE_1_0 = 2.0


def awake_window(lwm2m_version: str) -> float:
    """Seconds a queue-mode client of this LwM2M version listens after its last message."""
    return AWAKE_1_0 if lwm2m_version in ("", "1.0") else AWAKE_1_1


class ContactWatch:
    """When the lab last completed an exchange with each registered device; wait for the next."""

    def __init__(self, store: RegistrationStore) -> None:
        self._store = store
        self._waiters: dict[str, list[asyncio.Future[float]]] = {}

    def contact(self, peer: str) -> None:
        """An exchange with ``peer`` completed now (the tap calls this)."""
        reg = self._store.by_peer(peer)
        if reg is None:
            return
        now = time.time()
        reg.last_contact = now
        for waiter in self._waiters.pop(reg.endpoint, ()):
            if not waiter.done():
                waiter.set_result(now)

    async def next_contact(self, endpoint: str) -> float:
        """The time of the next contact with ``endpoint`` (the caller bounds the wait)."""
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(endpoint, [])
        waiters.append(waiter)
        try:
            return await waiter
        finally:
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters and self._waiters.get(endpoint) is waiters:
                del self._waiters[endpoint]

    async def contact_after(self, endpoint: str, moment: float) -> float:
        """The first contact with ``endpoint`` at or after ``moment`` (wall clock)."""
        reg = self._store.get(endpoint)
        if reg is not None and reg.last_contact >= moment:
            return reg.last_contact
        return await self.next_contact(endpoint)


def asleep_for(reg: Registration) -> float | None:
    """How long a queue-mode device has been quiet, when that is longer than its listening
    window; None when the lab may send to it now (not in queue mode, or heard recently)."""
    if not reg.queue:
        return None
    quiet = time.time() - reg.last_contact
    return quiet if quiet > awake_window(reg.lwm2m) else None


def hold_bound(reg: Registration, request_timeout: float) -> float:
    """The longest a request may wait for a sleeping device: until its registration would
    expire (it must send an Update before), plus one request timeout."""
    remaining = reg.updated_at + reg.lifetime - time.time()
    return max(remaining, 0.0) + request_timeout
