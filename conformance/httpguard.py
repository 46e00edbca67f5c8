"""Connection limits for the lab's aiohttp servers: a cap per source and a whole-request deadline.

aiohttp bounds neither how many connections one address keeps open nor how long a request may
take to arrive: its timeouts are per read, so a device trickling one byte every few seconds
(slowloris) holds a handler forever, and 300 such connections were all kept (issue 15).
:class:`ConnectionGuard` sits between the listening socket and aiohttp's protocol:

- a connection from an address that already has ``per_source`` open is answered
  ``429 Too Many Requests`` and closed before aiohttp sees it;
- from its first byte (or from the connection, before any), a request has ``deadline``
  seconds to arrive whole; the handler says when it has (:meth:`ConnectionGuard.request_read`).
  Past the deadline plus a short grace (the handler's own deadline answers first where it has
  one) the connection is closed.

Each refusal and each expiry is reported through ``on_event`` (the server records it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

TOO_MANY = (
    b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nContent-Length: 41\r\n"
    b"Connection: close\r\n\r\ntoo many connections from this address\r\n\r\n"
)
GRACE = 1.0  # seconds after the deadline: a handler's own 408 goes out before the close

# on_event(text, peer, is_error)
EventSink = Callable[[str, str, bool], None]


def _peer(transport: asyncio.BaseTransport) -> tuple[str, str]:
    info = transport.get_extra_info("peername")
    if isinstance(info, tuple) and len(info) >= 2:
        host = str(info[0])
        return host, (f"[{host}]:{info[1]}" if ":" in host else f"{host}:{info[1]}")
    return "?", "?"


class ConnectionGuard:
    """Counts connections per source address and arms a deadline per request."""

    def __init__(self, *, per_source: int, deadline: float, on_event: EventSink) -> None:
        self.per_source = per_source
        self.deadline = deadline
        self.on_event = on_event
        self._open: dict[str, int] = {}
        self._refusing: set[str] = set()  # sources refused since they were last under the cap
        self._connections: dict[Any, _Guarded] = {}  # transport -> its guard

    def wrap(self, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: _Guarded(factory(), self)

    def request_read(self, transport: Any) -> None:
        """The handler holds the whole request: its deadline no longer applies."""
        conn = self._connections.get(transport)
        if conn is not None:
            conn.disarm()

    def request_started(self, transport: Any) -> float | None:
        """Loop time the current request's deadline started from (None: not guarded)."""
        conn = self._connections.get(transport)
        return conn.started if conn is not None else None

    def open_from(self, host: str) -> int:
        return self._open.get(host, 0)

    # -- bookkeeping for _Guarded --------------------------------------------------------------

    def _admit(self, conn: _Guarded, transport: asyncio.BaseTransport) -> bool:
        host, peer = _peer(transport)
        conn.host, conn.peer = host, peer
        count = self._open.get(host, 0)
        if count >= self.per_source:
            if host not in self._refusing:  # one note per burst, not one per connection
                self._refusing.add(host)
                self.on_event(
                    f"connection refused (429): {count} connections already open from {host} "
                    f"(limits.connections_per_source {self.per_source})",
                    peer,
                    True,
                )
            return False
        self._open[host] = count + 1
        self._connections[transport] = conn
        return True

    def _release(self, conn: _Guarded, transport: Any) -> None:
        self._connections.pop(transport, None)
        left = self._open.get(conn.host, 1) - 1
        if left > 0:
            self._open[conn.host] = left
        else:
            self._open.pop(conn.host, None)
        if left < self.per_source:
            self._refusing.discard(conn.host)


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind the guard."""

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard) -> None:
        self.inner = inner
        self.guard = guard
        self.admitted = False
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.started: float | None = None
        self.host = self.peer = "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if not self.guard._admit(self, transport):
            transport.write(TOO_MANY)
            transport.close()
            return
        self.admitted = True
        self.inner.connection_made(transport)
        self.arm()  # a connection that sends nothing holds a slot too

    def arm(self) -> None:
        if self.timer is None:
            loop = asyncio.get_running_loop()
            self.started = loop.time()
            self.timer = loop.call_later(self.guard.deadline + GRACE, self._expire)

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expire(self) -> None:
        self.timer = None
        self.guard.on_event(
            f"connection closed: no whole request within {self.guard.deadline:g} s "
            "(limits.request_deadline)",
            self.peer,
            True,
        )
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if not self.admitted:
            return
        self.arm()  # no-op while a request is already timed
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.admitted else None

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        if self.admitted:
            self.admitted = False
            self.guard._release(self, self.transport)
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.admitted:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.admitted:
            self.inner.resume_writing()


# Connections the kernel completes before the lab accepts them (capped by net.core.somaxconn).
# aiohttp's 128 made a burst of devices connecting at once (800 in bench_omadm_lab.py) lose
# SYNs and wait a second for their retransmission; the guard still caps what is accepted.
LISTEN_BACKLOG = 1024


class GuardedSite(web.TCPSite):
    """``web.TCPSite`` whose connections go through a :class:`ConnectionGuard`."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *,
                 ssl_context: Any = None, guard: ConnectionGuard) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context, backlog=LISTEN_BACKLOG)
        self._guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self._guard.wrap(server),
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port
