"""CoAP ping (RFC 7252 §4.3): the lab shows, at the moment a request went unanswered, that the
device is still there.

An Empty Confirmable message carries no request: the device cannot act on it, only answer it,
with a Reset (its CoAP layer has no context for it) or, as some stacks do, an Acknowledgement.
Either, matched by Message ID from the device's address, proves the device heard the lab just
now. The silence rule (``conformance.dut.liveness``) asks for it when its other proof, an answer
a moment before, is too old: so a request the device never answers FAILs whatever the case
before it did, instead of FAILing after an answered case and staying INCONCLUSIVE after a silent
one (seen with lwm2m-node-lib in random case orders).

The ping goes out through the lab interface (tapped into the transcript like any message) and
its answer is taken before aiocoap's message manager, which knows no exchange for it
(:func:`conformance.lwm2m.sockets.deliver` asks :class:`PingWatch` first).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiocoap import Code, Message
from aiocoap.numbers.types import ACK, CON, RST

# RFC 7252 §4.8: the first retransmission after ACK_TIMEOUT, each next one twice as late.
ACK_TIMEOUT = 2.0


@dataclass(frozen=True)
class PingAnswer:
    """What answered a ping and how long after it was first sent."""

    kind: str  # "RST", or "ACK 4.05" for a stack that acknowledges the Empty message
    seconds: float

    def __str__(self) -> str:
        return f"{self.kind} after {self.seconds * 1000:.0f} ms"


class PingWatch:
    """The pings in flight on one lab interface: (peer, Message ID) -> future; ``peer`` names a
    remote (``host:port``) as the tap does, for the ping's remote and its answer's alike."""

    __slots__ = ("_peer", "_waiting")

    def __init__(self, peer: Callable[[Any], str]) -> None:
        self._peer = peer
        self._waiting: dict[tuple[str, int], asyncio.Future[Message]] = {}

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def answered(self, message: Message) -> bool:
        """Whether ``message`` (an ACK or RST) answers a ping; it then resolves it."""
        future = self._waiting.pop((self._peer(message.remote), message.mid), None)
        if future is None:
            return False
        if not future.done():
            future.set_result(message)
        return True

    async def ping(self, interface: Any, remote: Any, timeout: float) -> PingAnswer | None:
        """Ping ``remote`` through ``interface``; the answer, or None when none came within
        ``timeout`` s (the Empty CON retransmitted meanwhile, RFC 7252 §4.2)."""
        manager = interface._mman  # aiocoap 0.4.17's message manager: its MID counter
        if manager is None:
            return None
        mid = manager._next_message_id()
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        key = (self._peer(remote), mid)
        self._waiting[key] = future
        started = time.monotonic()
        deadline = started + timeout
        wait = ACK_TIMEOUT
        try:
            while (left := deadline - time.monotonic()) > 0:
                ping = Message(_mtype=CON, _mid=mid, code=Code.EMPTY)
                ping.remote = remote
                try:
                    interface.send(ping)
                except Exception:  # e.g. a DTLS session gone: nothing reached the device
                    return None
                try:
                    answer = await asyncio.wait_for(asyncio.shield(future), min(wait, left))
                except TimeoutError:
                    wait *= 2
                    continue
                kind = "RST" if answer.mtype is RST else f"ACK {answer.code.dotted}"
                return PingAnswer(kind, time.monotonic() - started)
            return None
        finally:
            self._waiting.pop(key, None)
            if not future.done():
                future.cancel()


def is_ping_answer(message: Message) -> bool:
    """ACK or RST: the only kinds of message that can answer a ping."""
    return message.mtype is ACK or message.mtype is RST


__all__ = ["ACK_TIMEOUT", "PingAnswer", "PingWatch", "is_ping_answer"]
