"""The lab's firmware package server: HTTP and HTTPS (lab PKI), with Range requests.

FOTA cases :meth:`PackageServer.publish` an image (or a broken variant of it) and hand the
URL to the device; afterwards :meth:`PackageServer.downloads` says who fetched what and
whether the transfer completed, which separates "the device never tried" from "the device
got it and rejected it". Each transfer is recorded in the transcript (protocol ``fota``);
the body itself is not copied into the transcript, only its size and digest.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from conformance.declaration import Declaration
from conformance.evidence.transcript import Transcript
from conformance.httpguard import ConnectionGuard, GuardedSite
from conformance.runtime import LabLoop
from conformance.tls import LabPki

PROTOCOL = "fota"
PREFIX = "/fw/"
_CHUNK = 16 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class PackageUrls:
    http: str
    https: str


@dataclass(frozen=True)
class Download:
    name: str
    peer: str
    scheme: str  # "http" | "https"
    status: int  # HTTP status answered (200, 206, 404, 416)
    range: tuple[int, int] | None  # inclusive byte range asked for, if any
    size: int  # bytes the response promised
    sent: int  # bytes handed to the transport before the transfer ended
    complete: bool  # every promised byte was sent
    whole: bool  # the response covered the whole package
    time: float


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def advertised_host(declaration: Declaration) -> str:
    host = declaration.lab.advertised_host or declaration.lab.host
    return "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)


SHUTDOWN_GRACE = 0.25  # on stop: how long a download in flight may still finish
MAX_DOWNLOADS = 10_000  # download records kept


class PackageServer:
    def __init__(
        self, loop: LabLoop, declaration: Declaration, transcript: Transcript, run_dir: Path
    ) -> None:
        self._loop = loop
        self._declaration = declaration
        self._transcript = transcript
        self._run_dir = Path(run_dir)
        self._host = advertised_host(declaration)
        self._packages: dict[str, bytes] = {}
        self._cuts: dict[str, int] = {}  # package -> byte offset where transfers break off
        # The newest downloads (a device fetching in a loop must not grow the lab forever).
        self._downloads: collections.deque[Download] = collections.deque(maxlen=MAX_DOWNLOADS)
        self._lock = threading.Lock()
        # Notified when a download is logged: the device may hold the whole body before the
        # server's handler has recorded it, so readers wait on this instead of racing.
        self._logged = threading.Condition(self._lock)
        self._runner: web.AppRunner | None = None
        self._ports: dict[str, int] = {}
        self._dead_socket: socket.socket | None = None
        self.pki: LabPki | None = None
        # A request is its head (GETs carry no body): slowloris heads are cut at the deadline.
        self._guard = ConnectionGuard(
            per_source=declaration.limits.connections_per_source,
            deadline=declaration.request_deadline(),
            on_event=self._connection_event,
        )

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        if self._runner is not None:
            return
        self.pki = LabPki(self._run_dir, [self._host])
        self._loop.call(self._start(), self._declaration.timeouts.request)

    def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            self._loop.call(runner.cleanup(), self._declaration.timeouts.request)
        if self._dead_socket is not None:
            self._dead_socket.close()
            self._dead_socket = None

    async def _start(self) -> None:
        assert self.pki is not None
        app = web.Application()
        app.router.add_route("GET", PREFIX + "{name}", self._serve)
        app.router.add_route("HEAD", PREFIX + "{name}", self._serve)
        # A short shutdown grace, as the OMA-DM server: a device that stops reading a download
        # must not hold stop() for aiohttp's default 60 s.
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE
        )
        await runner.setup()
        bind = self._declaration.lab.host
        # The declared port goes to HTTP, or to HTTPS when that is the only declared scheme.
        wanted = self._declaration.features.fota_protocols
        declared = "https" if "https" in wanted and "http" not in wanted else "http"
        ports = {"http": 0, "https": 0, declared: self._declaration.lab.package_port}
        try:
            for scheme, port in ports.items():
                tls = self.pki.server_context() if scheme == "https" else None
                site = GuardedSite(runner, bind, port, ssl_context=tls, guard=self._guard)
                await site.start()
                self._ports[scheme] = site.port
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    def _connection_event(self, text: str, peer: str, error: bool) -> None:
        self._transcript.record(
            PROTOCOL, "note", text, device=peer, peer=peer, error=text if error else None
        )

    def addresses(self) -> dict[str, str]:
        out = {
            "LAB_HOST": self._host,
            "LAB_PACKAGE_URL": self._base("http"),
            "LAB_PACKAGE_HTTPS_URL": self._base("https"),
        }
        if self.pki is not None:
            out["LAB_CA_FILE"] = str(self.pki.ca_path)
        return out

    def _base(self, scheme: str) -> str:
        if scheme not in self._ports:
            raise RuntimeError("PackageServer is not started")
        return f"{scheme}://{url_host(self._host)}:{self._ports[scheme]}{PREFIX}"

    # ------------------------------------------------------------------ the test's API

    def publish(self, name: str, data: bytes, *, cut_at: int | None = None) -> PackageUrls:
        """Serve ``data`` as ``name`` (replacing an earlier package of that name). ``cut_at``:
        every transfer promises the whole package but the lab drops the connection once it
        has sent the bytes before that offset (a connection lost mid-download)."""
        with self._lock:
            self._packages[name] = bytes(data)
            if cut_at is None:
                self._cuts.pop(name, None)
            else:
                self._cuts[name] = cut_at
        path = quote(name, safe="")
        self._transcript.note(
            PROTOCOL,
            f"publish {name} ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}…)",
        )
        return PackageUrls(self._base("http") + path, self._base("https") + path)

    def unreachable_url(self) -> str:
        """An http URL on the lab host where nothing listens (connection refused)."""
        if self._dead_socket is None:
            # Bound but never listening: the port stays ours, and connecting is refused.
            family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.bind((self._host, 0))
            self._dead_socket = sock
        port = self._dead_socket.getsockname()[1]
        return f"http://{url_host(self._host)}:{port}{PREFIX}unreachable.bin"

    def downloads(self, name: str | None = None) -> list[Download]:
        with self._lock:
            return [d for d in self._downloads if name is None or d.name == name]

    def wait_downloads(self, name: str, count: int, timeout: float) -> list[Download]:
        """The downloads of ``name`` once ``count`` are logged (or what there is at timeout)."""

        def logged() -> list[Download]:
            return [d for d in self._downloads if d.name == name]

        with self._logged:
            self._logged.wait_for(lambda: len(logged()) >= count, timeout)
            return logged()

    # ------------------------------------------------------------------ serving

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        self._guard.request_read(request.transport)  # the head is in; a download may take long
        name = request.match_info["name"]
        peer = _peer(request)
        scheme = request.scheme  # aiohttp derives it from the TLS transport
        asked = request.headers.get("Range")
        self._transcript.record(
            PROTOCOL,
            "device->lab",
            f"{request.method} {PREFIX}{name}" + (f" Range {asked}" if asked else ""),
            device=peer,
            peer=peer,
            headers=dict(request.headers),
        )
        with self._lock:
            data = self._packages.get(name)
            cut = self._cuts.get(name)
        if data is None:
            self._log(name, peer, scheme, 404, None, 0, 0, 0, None)
            return web.Response(status=404, text=f"no package {name}\n")
        span: tuple[int, int] | None = None
        if asked is not None:
            span = _parse_range(asked, len(data))
            if span is None:
                self._log(name, peer, scheme, 416, None, 0, 0, len(data), None)
                return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
        start, end = span if span else (0, len(data) - 1)
        body = data[start : end + 1]
        status = 206 if span else 200
        resp = web.StreamResponse(status=status)
        resp.content_type = "application/octet-stream"
        resp.content_length = len(body)
        resp.headers["Accept-Ranges"] = "bytes"
        if span:
            resp.headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        sent = 0
        try:
            await resp.prepare(request)
            if request.method == "GET":
                allowed = len(body) if cut is None else max(0, cut - start)
                for offset in range(0, min(len(body), allowed), _CHUNK):
                    chunk = body[offset : min(offset + _CHUNK, allowed)]
                    await resp.write(chunk)
                    sent += len(chunk)
                if sent < len(body):  # the lab breaks the connection off on purpose
                    self._log(name, peer, scheme, status, span, len(body), sent, len(data), body)
                    if request.transport is not None:
                        request.transport.abort()
                    return resp
                await resp.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            # The device hung up mid-transfer: that is evidence, not a lab failure.
            self._log(name, peer, scheme, status, span, len(body), sent, len(data), body)
            raise
        self._log(
            name,
            peer,
            scheme,
            status,
            span,
            len(body),
            sent,
            len(data),
            body,
            head=request.method == "HEAD",
        )
        return resp

    def _log(
        self,
        name: str,
        peer: str,
        scheme: str,
        status: int,
        span: tuple[int, int] | None,
        size: int,
        sent: int,
        total: int,
        body: bytes | None,
        *,
        head: bool = False,
    ) -> None:
        complete = status in (200, 206) and (head or sent == size)
        whole = complete and not head and size == total
        record = Download(
            name, peer, scheme, status, span, size, sent, complete, whole, time.time()
        )
        with self._logged:
            self._downloads.append(record)
            self._logged.notify_all()
        digest = f", sha256 {hashlib.sha256(body).hexdigest()[:16]}…" if body else ""
        what = "HEAD" if head else f"{sent}/{size} bytes{digest}"
        self._transcript.record(
            PROTOCOL,
            "lab->device",
            f"{status} {name} {what}",
            device=peer,
            peer=peer,
            error=None if complete or status >= 400 else "transfer ended early",
        )


def _parse_range(header: str, total: int) -> tuple[int, int] | None:
    """One ``bytes=`` range as an inclusive span, or None when unsatisfiable/unsupported."""
    m = _RANGE.match(header.strip())
    # 64 characters hold any real byte range; int() would refuse the 4300+ digits of a hostile one
    if not m or total == 0 or len(header) > 64:
        return None
    first, last = m.group(1), m.group(2)
    if first == "" and last == "":
        return None
    if first == "":  # suffix: the last N bytes
        n = int(last)
        return (max(0, total - n), total - 1) if n > 0 else None
    start = int(first)
    end = min(int(last), total - 1) if last else total - 1
    if start >= total or end < start:
        return None
    return start, end


def _peer(request: web.Request) -> str:
    info = request.transport.get_extra_info("peername") if request.transport else None
    if isinstance(info, tuple) and len(info) >= 2:
        return f"{url_host(str(info[0]))}:{info[1]}"
    return request.remote or ""
