"""The lab's CoAP endpoints: one aiocoap context per listening socket, tapped at the message layer.

Each context carries exactly one message interface (plain UDP or DTLS) bound to the address
the declaration asks for. The interfaces call :class:`TapHooks` for every datagram in and every
message out, below aiocoap's message manager, so the transcript sees retransmissions,
duplicates, empty ACKs, RSTs, notifications and each block.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiocoap import Context, Message
from aiocoap.transports import simplesocketserver

from conformance.lwm2m.coaplog import peer_text
from conformance.lwm2m.ping import PingWatch
from conformance.lwm2m.sockets import (
    BoundPort,
    QuickAnswers,
    TapHooks,
    bind_exclusive,
    deliver,
    send_tapped,
)

if TYPE_CHECKING:
    from conformance.lwm2m.dtls import PskStore


# Datagrams handled per wake-up of the loop. asyncio's transport reads one and the loop polls
# again: under a burst each datagram cost an epoll call and a loop turn of its own. Bounded, so
# that timers and tasks still get their turn between batches. A look that finds nothing costs
# a system call and an exception, so after one the next LOOKS_SKIPPED wake-ups do not look.
READS_PER_WAKEUP = 16
LOOKS_SKIPPED = 7


class _LabUdpSocket(simplesocketserver._DatagramServerSocketSimple):
    # A second handle on the socket (dup), for reading what else is waiting; closed with it.
    _backlog: socket.socket | None = None
    _skip = 0  # wake-ups left that do not look for more

    def datagram_received(self, data: bytes, sockaddr: tuple[Any, ...]) -> None:
        self._one(data, sockaddr)
        reader = self._backlog
        if reader is None:
            return
        if self._skip:
            self._skip -= 1
            return
        for n in range(READS_PER_WAKEUP - 1):
            if self._transport.is_closing():
                return
            try:
                data, sockaddr = reader.recvfrom(self._transport.max_size)
            except (BlockingIOError, InterruptedError):
                if not n:  # nothing was waiting: no backlog to read for a while
                    self._skip = LOOKS_SKIPPED
                return
            except OSError as exc:  # as asyncio's transport reports it
                self.error_received(exc)
                return
            self._one(data, sockaddr)

    def _one(self, data: bytes, sockaddr: tuple[Any, ...]) -> None:
        # Whatever a device sends, nothing may raise into asyncio's transport callback.
        try:
            super().datagram_received(data, sockaddr)
        except Exception as exc:
            hooks: TapHooks = self._message_interface.hooks
            hooks.note(f"harness: datagram dropped, {type(exc).__name__}: {exc}", sockaddr)

    def connection_lost(self, exception: Exception | None) -> None:
        if self._backlog is not None:
            self._backlog.close()  # the port is free once asyncio closes its handle too
            self._backlog = None
        super().connection_lost(exception)

    @classmethod
    async def create(
        cls, bind: tuple[str, int], log: logging.Logger, loop: Any, message_interface: Any
    ) -> Any:
        self = await bind_exclusive(cls, bind, log, message_interface)
        self._backlog = self._transport.get_extra_info("socket").dup()  # non-blocking too
        return self


class TappedUdpServer(simplesocketserver.MessageInterfaceSimpleServer):
    """aiocoap's single-address UDP server interface, with the lab's tap and exact binding."""

    _serversocket = _LabUdpSocket
    hooks: TapHooks

    @classmethod
    async def create_lab_server(
        cls,
        bind: tuple[str, int],
        mman: Any,
        *,
        log: logging.Logger,
        loop: asyncio.AbstractEventLoop,
        hooks: TapHooks,
    ) -> TappedUdpServer:
        self = cls(mman, log, loop)
        self.hooks = hooks
        self._pool = await self._serversocket.create(bind, log, loop, self)
        return self

    @property
    def bound(self) -> BoundPort:
        host, port = self._pool._transport.get_extra_info("socket").getsockname()[:2]
        return BoundPort(host, port)

    quick: QuickAnswers | None = None
    pings: PingWatch | None = None

    def _received_datagram(self, address: Any, datagram: bytes) -> None:
        with self.hooks.held():
            taken = self.hooks.incoming(address, datagram, secure=False)
            if isinstance(taken, Message) and self._mman is not None:
                deliver(self, taken)  # decoded once, by the tap
            elif taken:
                super()._received_datagram(address, datagram)

    def send(self, message: Any) -> None:
        if not send_tapped(self, message, secure=False):
            super().send(message)


@dataclass
class Endpoint:
    """One listening CoAP endpoint of the lab."""

    context: Context
    interface: Any  # TappedUdpServer | LabDtlsServer
    secure: bool

    @property
    def bound(self) -> BoundPort:
        bound: BoundPort = self.interface.bound
        return bound

    @property
    def receive_buffer(self) -> int:
        """SO_RCVBUF as the kernel granted it (bytes, as getsockopt reports them)."""
        sock = self.interface._pool._transport.get_extra_info("socket")
        return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))

    @property
    def uri(self) -> str:
        host, port = self.bound
        return f"{'coaps' if self.secure else 'coap'}://{host}:{port}"


async def open_endpoint(
    site: Any,
    bind: tuple[str, int],
    hooks: TapHooks,
    *,
    psk: PskStore | None = None,
    name: str = "lwm2m",
) -> Endpoint:
    """A server context on ``bind`` (UDP, or DTLS PSK when ``psk`` is given)."""
    loop = asyncio.get_running_loop()
    ctx = Context(loop=loop, serversite=site, loggername=f"coap-lab-{name}")
    holder: list[Any] = []

    async def build(mman: Any) -> Any:
        if psk is None:
            iface: Any = await TappedUdpServer.create_lab_server(
                bind, mman, log=ctx.log, loop=loop, hooks=hooks
            )
        else:
            from conformance.lwm2m.dtls import LabDtlsServer

            iface = await LabDtlsServer.create_lab_server(
                bind, mman, log=ctx.log, loop=loop, credentials=psk, hooks=hooks
            )
        iface.quick = getattr(site, "quick_registrations", None)
        iface.pings = PingWatch(peer_text)
        holder.append(iface)
        return iface

    # The same assembly aiocoap's create_server_context does for each transport; done here
    # because we need our own interface classes and one bind address per context.
    await ctx._append_tokenmanaged_messagemanaged_transport(build)
    return Endpoint(ctx, holder[0], psk is not None)
