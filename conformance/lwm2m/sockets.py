"""What the lab's UDP and DTLS message interfaces share: the bound address, the tap hooks, and
binding a port exclusively. Both ``transports`` (plain UDP) and ``dtls`` import it, so neither
imports the other.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractContextManager
from typing import Any, NamedTuple, Protocol

from aiocoap import Message

from conformance.lwm2m.ping import PingWatch, is_ping_answer
from conformance.lwm2m.tuning import size_receive_buffer


class BoundPort(NamedTuple):
    host: str
    port: int


class TapHooks(Protocol):
    def incoming(self, remote: Any, datagram: bytes, *, secure: bool) -> bool | Message:
        """Record a datagram from a device; False: drop it (already answered/recorded).

        A Message is the datagram decoded (for ``remote``): aiocoap gets it as it is instead
        of decoding the datagram a second time.
        """

    def outgoing(self, message: Any, *, secure: bool, raw: bytes | None = None) -> None:
        """Record a message about to go to a device (``raw``: its encoding, when known)."""

    def note(self, text: str, sockaddr: Any, *, error: bool = False) -> None:
        """Record a transport event (DTLS handshake, alert…)."""

    def wire(self, data: bytes, sockaddr: Any, local: str, *, inbound: bool) -> None:
        """A datagram as it crossed the socket (DTLS records, encrypted): for the capture."""

    def held(self) -> AbstractContextManager[None]:
        """While a datagram is handled: its entries are flushed together (each outgoing
        message's before it is sent)."""


class QuickAnswers(Protocol):
    def answer(self, request: Message) -> Message | None:
        """The answer to send at once for ``request``, or None: aiocoap handles it."""


def deliver(interface: Any, message: Message) -> None:
    """A message the tap decoded, on a lab interface (its ``pings`` in flight, ``quick``
    answers, ``send``, ``_mman``): a ping's answer ends there; else the quick path's answer
    when it has one, else aiocoap's message manager."""
    pings: PingWatch | None = interface.pings
    if pings and is_ping_answer(message) and pings.answered(message):
        return  # the answer to a lab ping: aiocoap knows no exchange for it
    quick: QuickAnswers | None = interface.quick
    answer = quick.answer(message) if quick is not None else None
    if answer is not None:
        interface.send(answer)
    else:
        interface._mman.dispatch_message(message)


def send_tapped(interface: Any, message: Message, *, secure: bool) -> bool:
    """Encode ``message`` once, for the tap and the wire, and send it to its remote.

    False when the interface is shutting down (its message manager gone): the caller leaves
    the message to aiocoap's own path, which logs and drops it, unrecorded."""
    if interface._mman is None:
        return False
    raw = message.encode()
    interface.hooks.outgoing(message, secure=secure, raw=raw)
    message.remote.send(raw)
    return True


async def bind_exclusive(
    cls: Any, bind: tuple[str, int], log: logging.Logger, message_interface: Any
) -> Any:
    """aiocoap's ``_DatagramServerSocketSimple.create`` without SO_REUSEPORT.

    aiocoap sets SO_REUSEPORT where the platform has it; with port 0, Linux then hands out
    ports that another SO_REUSEPORT socket already holds (seen here: 173 repeats in 3000
    binds), and datagrams are split between the two sockets. A lab endpoint owns its port.
    """
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[Any] = loop.create_future()
    await loop.create_datagram_endpoint(
        lambda: cls(ready.set_result, message_interface, log), local_addr=bind
    )
    self = await ready
    self._loop = loop
    sock = self._transport.get_extra_info("socket")
    size_receive_buffer(sock)  # bursts wait in the buffer instead of being dropped
    host, port = sock.getsockname()[:2]
    self.hostinfo_local = f"{host}:{port}"
    return self
