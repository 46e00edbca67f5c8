"""Harness for the reference LwM2M device: a small aiocoap LwM2M server, the device in-process
or as its own process, all on loopback with port 0 and torn down by the fixtures."""

from __future__ import annotations

import asyncio
import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import pytest
from aiocoap import Code, Context, Message, resource

from conformance.declaration import Declaration, builtin_declaration
from conformance.runtime import LabLoop
from conformance.simulators.lwm2m_client import DeviceOptions, Lwm2mDevice
from conformance.simulators.lwm2m_faults import Faults

WAIT = 10.0  # seconds any single wait in these tests may take at most


@dataclass
class RdEvent:
    kind: str  # register | update | deregister | bootstrap
    query: list[str]
    payload: bytes
    remote: Any = field(repr=False)

    @property
    def params(self) -> dict[str, str]:
        return dict(q.split("=", 1) for q in self.query if "=" in q)


class _Collect(resource.Resource):
    def __init__(self, server: StubServer, kind: str, code: Code, **answer: Any) -> None:
        super().__init__()
        self._server, self._kind, self._code, self._answer = server, kind, code, answer

    async def _render(self, request: Message) -> Message:
        self._server.events.put(RdEvent(self._kind, list(request.opt.uri_query),
                                        bytes(request.payload), request.remote))
        return Message(code=self._code, **self._answer)


class _Rd(_Collect):
    async def render_post(self, request: Message) -> Message:
        self._server.registrations += 1
        location = ("rd", f"r{self._server.registrations}")
        self._server.site.add_resource(location, _Location(self._server))
        self._server.events.put(RdEvent("register", list(request.opt.uri_query),
                                        bytes(request.payload), request.remote))
        return Message(code=Code.CREATED, location_path=location)


class _Location(_Collect):
    def __init__(self, server: StubServer) -> None:
        super().__init__(server, "update", Code.CHANGED)

    async def render_post(self, request: Message) -> Message:
        return await self._render(request)

    async def render_delete(self, request: Message) -> Message:
        self._server.events.put(RdEvent("deregister", [], b"", request.remote))
        return Message(code=Code.DELETED)


class _Bs(_Collect):
    async def render_post(self, request: Message) -> Message:
        return await self._render(request)


class _Blob(resource.Resource):
    """A firmware package served with aiocoap's Block2 handling."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.data = data

    async def render_get(self, request: Message) -> Message:
        return Message(payload=self.data)


class StubServer:
    """An LwM2M server and bootstrap server in one, just enough to drive the device."""

    def __init__(self, loop: LabLoop) -> None:
        self.loop = loop
        self.events: queue.Queue[RdEvent] = queue.Queue()
        self.registrations = 0
        self.site = resource.Site()
        self.site.add_resource(("rd",), _Rd(self, "register", Code.CREATED))
        self.site.add_resource(("bs",), _Bs(self, "bootstrap", Code.CHANGED))
        self.context: Context | None = None
        self.port = 0

    async def start(self) -> None:
        self.context = await Context.create_server_context(
            self.site, bind=("127.0.0.1", 0), transports=["udp6"])
        mi = self.context.request_interfaces[0].token_interface.message_interface
        self.port = mi.transport.get_extra_info("socket").getsockname()[1]

    @property
    def uri(self) -> str:
        return f"coap://127.0.0.1:{self.port}"

    def publish(self, name: str, data: bytes) -> str:
        self.site.add_resource(("fw", name), _Blob(data))
        return f"{self.uri}/fw/{name}"

    def next_event(self, kind: str | None = None, timeout: float = WAIT) -> RdEvent:
        """The next registration-interface event (skipping none): its kind must match."""
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no {kind or 'event'} within {timeout} s") from None
        if kind is not None:
            assert event.kind == kind, f"expected {kind}, got {event}"
        return event

    def no_event(self, within: float) -> None:
        """Assert silence for ``within`` seconds (a negative check waits by its nature)."""
        try:
            event = self.events.get(timeout=within)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected {event}")

    def request(self, remote: Any, code: Code, path: str, *, timeout: float = WAIT,
                **options: Any) -> Message:
        async def go() -> Message:
            assert self.context is not None
            message = Message(code=code, uri_path=[p for p in path.split("/") if p], **options)
            message.remote = remote
            return await asyncio.wait_for(self.context.request(message).response, timeout)
        return self.loop.call(go(), timeout + 1)

    def observe(self, remote: Any, path: str, **options: Any) -> Observation:
        return Observation(self, remote, path, options)

    async def stop(self) -> None:
        if self.context is not None:
            await self.context.shutdown()
            self.context = None


class Observation:
    """A client-side observation whose notifications arrive in a thread-safe queue."""

    def __init__(self, server: StubServer, remote: Any, path: str, options: dict[str, Any]):
        self.server = server
        self.notes: queue.Queue[Message] = queue.Queue()
        self.token = b""

        async def start() -> tuple[Message, Any]:
            assert server.context is not None
            message = Message(code=Code.GET, uri_path=[p for p in path.split("/") if p],
                              observe=0, **options)
            message.remote = remote
            request = server.context.request(message)
            first = await asyncio.wait_for(request.response, WAIT)

            async def listen() -> None:
                try:
                    async for note in request.observation:
                        self.notes.put(note)
                except Exception:  # the observation ended: nothing more to collect
                    return

            asyncio.get_running_loop().create_task(listen())
            return first, request

        self.first, self._request = server.loop.call(start(), WAIT + 1)
        self.token = self.first.token

    def next(self, timeout: float = WAIT) -> Message:
        try:
            return self.notes.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no notification within {timeout} s") from None

    def none_within(self, seconds: float) -> None:
        try:
            note = self.notes.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected notification {note}")

    def cancel_by_forgetting(self) -> None:
        """aiocoap drops the observation; the device's next CON notification gets an RST."""
        async def go() -> None:
            self._request.observation.cancel()
        self.server.loop.call(go(), WAIT)


@pytest.fixture(autouse=True)
def _own_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SO_REUSEPORT: with port 0 two reuse-port sockets can be given one port."""
    monkeypatch.setenv("AIOCOAP_REUSE_PORT", "0")


@pytest.fixture
def lab_loop() -> Iterator[LabLoop]:
    loop = LabLoop("lwm2m-device-tests")
    yield loop
    loop.stop()


@pytest.fixture
def stub(lab_loop: LabLoop) -> Iterator[StubServer]:
    server = StubServer(lab_loop)
    lab_loop.call(server.start(), WAIT)
    yield server
    lab_loop.call(server.stop(), WAIT)


class DeviceRunner:
    """Starts :class:`Lwm2mDevice` objects on the loop and stops them at teardown."""

    def __init__(self, loop: LabLoop, tmp: FsPath) -> None:
        self.loop = loop
        self.tmp = tmp
        self.devices: list[Lwm2mDevice] = []

    def start(self, *faults: str, server: str | None = None, bootstrap: str | None = None,
              declaration: Declaration | None = None, **options: Any) -> Lwm2mDevice:
        declaration = declaration or nosec_declaration()
        opts = DeviceOptions(server=server, bootstrap=bootstrap,
                             state_dir=self.tmp / f"state{len(self.devices)}",
                             bind=("127.0.0.1", 0), **{"update_time": 0.05, **options})
        device = Lwm2mDevice(declaration, Faults(faults), opts)
        self.devices.append(device)
        self.loop.call(device.start(), WAIT)
        return device

    def call(self, coro: Any, timeout: float = WAIT) -> Any:
        return self.loop.call(coro, timeout)

    def stop_all(self) -> None:
        for device in self.devices:
            self.loop.call(device.stop(), WAIT)


@pytest.fixture
def devices(lab_loop: LabLoop, tmp_path: FsPath) -> Iterator[DeviceRunner]:
    runner = DeviceRunner(lab_loop, tmp_path)
    yield runner
    runner.stop_all()


def nosec_declaration(**lwm2m: Any) -> Declaration:
    """The built-in declaration with NoSec (plain UDP), a short request timeout."""
    base = builtin_declaration("lwm2m")
    assert base.lwm2m is not None
    return base.model_copy(update={
        "lwm2m": base.lwm2m.model_copy(update={"security": "nosec", **lwm2m}),
        "timeouts": base.timeouts.model_copy(update={"request": 5.0}),
    })


class DeviceProcess:
    """``python -m conformance.simulators.lwm2m_device`` with its control channel."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "conformance.simulators.lwm2m_device", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1,
        )
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self._next = 1

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))  # stdout must carry only JSON lines
        self.lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def line(self, timeout: float = WAIT) -> dict[str, Any] | None:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output within {timeout} s; stderr:\n"
                                 + "".join(self.stderr[-20:])) from None

    def send(self, action: str, params: dict[str, Any] | None = None) -> int:
        ident, self._next = self._next, self._next + 1
        self.write_raw(json.dumps({"id": ident, "action": action, "params": params or {}}))
        return ident

    def write_raw(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def call(self, action: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        ident = self.send(action, params)
        answer = self.line()
        assert answer is not None and answer.get("id") == ident, answer
        return answer

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(WAIT)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass


@pytest.fixture
def spawn() -> Iterator[Any]:
    started: list[DeviceProcess] = []

    def start(*args: str) -> DeviceProcess:
        process = DeviceProcess(list(args))
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


class RawCoap:
    """A bare UDP CoAP peer: exact control of MIDs, tokens, ACK and RST (Observe cancel)."""

    def __init__(self, address: str) -> None:
        import socket

        host, port = address.rsplit(":", 1)
        self.peer = (host, int(port))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self._mid = 0x1000

    def send(self, message: Message) -> None:
        if message.mid is None:
            self._mid += 1
            message.mid = self._mid
        self.sock.sendto(message.encode(), self.peer)

    def receive(self, timeout: float = WAIT) -> Message | None:
        """The next message, or None after ``timeout`` seconds of silence."""
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(65536)
        except TimeoutError:
            return None
        return Message.decode(data)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw() -> Iterator[Any]:
    opened: list[RawCoap] = []

    def open_(address: str) -> RawCoap:
        peer = RawCoap(address)
        opened.append(peer)
        return peer

    yield open_
    for peer in opened:
        peer.close()
