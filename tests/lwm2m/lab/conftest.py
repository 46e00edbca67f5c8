"""Fixtures: a started Lwm2mLab and small aiocoap "devices" that talk to it over real sockets.

The fake device is deliberately dumb (a dict of payloads served per path) so the tests check
the lab, not a device model; the reference device has its own end-to-end tests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path as FsPath
from typing import Any

import pytest
from aiocoap import CON, Code, Context, Message
from aiocoap.resource import ObservableResource

from conformance.declaration import Declaration, Timeouts, builtin_declaration
from conformance.evidence.transcript import Entry, Transcript
from conformance.lwm2m.lab import Lwm2mLab
from conformance.runtime import LabLoop

IDENTITY = "ref-lwm2m-identity"
KEY = bytes.fromhex("73656372657450534b6b6579")  # the built-in declaration's psk_key


def declaration(security: str = "nosec", **timeouts: float) -> Declaration:
    """The built-in LwM2M declaration with short timeouts; the PSK stays known to the lab."""
    base = builtin_declaration("lwm2m")
    values = {"request": 3.0, "session": 5.0, "post_update_window": 5.0, "fota": 10.0}
    values.update(timeouts)
    assert base.lwm2m is not None
    lwm2m = base.lwm2m.model_copy(update={"security": security})
    return base.model_copy(update={"timeouts": Timeouts(**values), "lwm2m": lwm2m})


@pytest.fixture(scope="module")
def lab_loop() -> Iterator[LabLoop]:
    loop = LabLoop("lab-under-test")
    yield loop
    loop.stop()


@pytest.fixture(scope="module")
def device_loop() -> Iterator[LabLoop]:
    loop = LabLoop("fake-devices")
    yield loop
    loop.stop()


@pytest.fixture()
def transcript(tmp_path: FsPath) -> Iterator[Transcript]:
    t = Transcript(path=tmp_path / "transcript.jsonl")
    yield t
    for entry in t:  # shown by pytest only when the test failed
        print(f"{entry.time:.3f} {entry.direction} {entry.peer} {entry.summary}", entry.error or "")
    t.close()


@pytest.fixture()
def lab(lab_loop: LabLoop, transcript: Transcript, tmp_path: FsPath) -> Iterator[Lwm2mLab]:
    the_lab = Lwm2mLab(lab_loop, declaration(), transcript, tmp_path)
    the_lab.start()
    yield the_lab
    the_lab.stop()


class DeviceSite(ObservableResource):
    """Serves ``values[path] = (content_format, payload)``; records writes and executes."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, tuple[int, bytes]] = {}
        self.received: list[Message] = []
        self.observers: dict[str, list[Any]] = {}
        self.fixed: dict[str, Message] = {}  # path -> canned answer (for odd responses)
        self.relation_ended = asyncio.Event()  # set when an observation ends on this device

    async def needs_blockwise_assembly(self, request: Message) -> bool:
        return True

    async def add_observation(self, request: Message, serverobservation: Any) -> None:
        path = "/" + "/".join(request.opt.uri_path)
        self.observers.setdefault(path, []).append(serverobservation)

        def cancelled(path: str = path, obs: Any = serverobservation) -> None:
            self.observers[path].remove(obs)
            self.relation_ended.set()

        serverobservation.accept(cancelled)

    def notify(self, path: str) -> None:
        for obs in list(self.observers.get(path, [])):
            obs.trigger()

    async def render(self, request: Message) -> Message:
        path = "/" + "/".join(request.opt.uri_path)
        if request.code != Code.GET or request.opt.observe is None:
            self.received.append(request)
        if path in self.fixed:
            return self.fixed[path]
        if request.code == Code.GET:
            if path not in self.values:
                return Message(code=Code.NOT_FOUND)
            fmt, payload = self.values[path]
            if request.opt.accept is not None and request.opt.accept != fmt:
                return Message(code=Code.NOT_ACCEPTABLE)
            return Message(code=Code.CONTENT, payload=payload, content_format=fmt)
        if request.code == Code.PUT:
            if request.opt.uri_query:
                return Message(code=Code.CHANGED)  # Write-Attributes
            fmt = int(request.opt.content_format) if request.opt.content_format is not None else 0
            self.values[path] = (fmt, request.payload)
            return Message(code=Code.CHANGED)
        if request.code == Code.POST:
            return Message(code=Code.CHANGED)
        if request.code == Code.DELETE:
            self.values.pop(path, None)
            return Message(code=Code.DELETED)
        return Message(code=Code.METHOD_NOT_ALLOWED)


class FakeDevice:
    """An aiocoap endpoint acting as an LwM2M client (UDP, or DTLS PSK as the DTLS client)."""

    def __init__(self, loop: LabLoop, *, psk: tuple[str, bytes] | None = None) -> None:
        self.loop = loop
        self.psk = psk
        self.site = DeviceSite()
        self.context: Context | None = None
        self.location: str | None = None
        self.remotes: list[Any] = []

    def start(self, lab_uri: str) -> FakeDevice:
        async def create() -> Context:
            if self.psk is None:
                return await Context.create_server_context(
                    self.site, bind=("127.0.0.1", 0), transports=["simplesocketserver"]
                )
            ctx = await Context.create_server_context(self.site, transports=["tinydtls"])
            identity, key = self.psk
            ctx.client_credentials.load_from_dict(
                {lab_uri + "/*": {"dtls": {"psk": key, "client-identity": identity.encode()}}}
            )
            return ctx

        self.context = self.loop.call(create(), 10)
        self.lab_uri = lab_uri
        return self

    def stop(self) -> None:
        if self.context is not None:
            self.loop.call(self.context.shutdown(), 10)
            self.context = None

    def request(
        self,
        code: Code,
        path: str,
        *,
        payload: bytes = b"",
        content_format: int | None = None,
        timeout: float = 10,
        blockwise: bool = True,
        **options: Any,
    ) -> Message:
        async def send() -> Message:
            assert self.context is not None
            msg = Message(code=code, uri=self.lab_uri + path, payload=payload, **options)
            if content_format is not None:
                msg.opt.content_format = content_format
            request = self.context.request(msg, handle_blockwise=blockwise)
            response = await asyncio.wait_for(request.response, timeout)
            # aiocoap's DTLS client drops a session nobody references any more; a device
            # keeps it, since the lab sends its own requests over it.
            self.remotes.append(response.remote)
            return response

        return self.loop.call(send(), timeout + 5)

    def request_later(self, code: Code, path: str, **kw: Any) -> concurrent.futures.Future[Any]:
        """Start a request without waiting (for exchanges that are meant to fail)."""

        async def send() -> Message:
            assert self.context is not None
            msg = Message(code=code, uri=self.lab_uri + path, **kw)
            return await self.context.request(msg).response

        return self.loop.submit(send())

    def register(
        self, query: str = "ep=dev1&lt=60&lwm2m=1.1&b=U", links: str = "</1/0>,</3/0>,</10241/0>"
    ) -> Message:
        response = self.request(
            Code.POST, "/rd?" + query, payload=links.encode(), content_format=40
        )
        if response.code == Code.CREATED:
            self.location = "/" + "/".join(response.opt.location_path)
        return response


@pytest.fixture()
def make_device(device_loop: LabLoop, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # aiocoap's SO_REUSEPORT lets two port-0 sockets share a port; fake devices must not.
    monkeypatch.setenv("AIOCOAP_REUSE_PORT", "0")
    devices: list[FakeDevice] = []

    def make(lab_uri: str, *, psk: tuple[str, bytes] | None = None) -> FakeDevice:
        device = FakeDevice(device_loop, psk=psk).start(lab_uri)
        devices.append(device)
        return device

    yield make
    for device in devices:
        device.stop()


def wait_entry(
    transcript: Transcript, predicate: Callable[[Entry], bool], timeout: float = 5
) -> Entry:
    """The first transcript entry matching ``predicate``, waiting for it if need be."""
    found: list[Entry] = []
    event = threading.Event()

    def listener(entry: Entry) -> None:
        if not event.is_set() and predicate(entry):
            found.append(entry)
            event.set()

    transcript.subscribe(listener)
    for entry in transcript:
        listener(entry)
    assert event.wait(timeout), "no matching transcript entry"
    return found[0]


def raw_register(lab: Lwm2mLab, sock: socket.socket, ep: str) -> tuple[str, int]:
    """Register ``ep`` with the lab from a plain UDP socket (no CoAP stack behind it: every
    datagram the lab sends it is seen as it is); the lab's address."""
    lab_address = ("127.0.0.1", int(lab.addresses()["LAB_LWM2M_URI"].rsplit(":", 1)[1]))
    register = Message(_mtype=CON, _mid=0x5151, _token=b"\x51", code=Code.POST,
                       uri_path=["rd"], uri_query=[f"ep={ep}", "lt=60", "b=U"],
                       content_format=40, payload=b"</3/0>")
    sock.sendto(register.encode(), lab_address)
    assert Message.decode(sock.recvfrom(512)[0]).code == Code.CREATED
    lab.wait_registration(ep, timeout=5)
    return lab_address
