"""The synchronous facade test cases use: ``lab.lwm2m.read("urn:…", "/10241/0/5905")``.

:class:`Lwm2mLab` starts four CoAP endpoints on the shared :class:`LabLoop` (DM server and
bootstrap server, each over UDP and DTLS PSK), keeps the registration store, and turns each
test-case call into a coroutine on the loop with the declaration's timeout. It never judges:
operations return :class:`Response` objects; a silent device raises ``DeviceTimeout``; asking
for a device that is not registered raises :class:`LabError` (a harness ERROR, not a FAIL).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import socket
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from aiocoap import Code

from conformance.declaration import Declaration
from conformance.evidence.transcript import Transcript
from conformance.fota.coap import Download, FirmwareResource, PackageStore
from conformance.lwm2m.bootstrap import BootstrapSessionCore, dm_server_config
from conformance.lwm2m.coaplog import PROTOCOL, CoapTap, peer_text
from conformance.lwm2m.dtls import PskStore
from conformance.lwm2m.model import Content, ContentFormat, Path, Value
from conformance.lwm2m.objects import ObjectRegistry
from conformance.lwm2m.operations import (
    LabError,
    ObservationCore,
    Requester,
    Response,
    composite_message,
    encode_content,
    perform,
    perform_composite,
)
from conformance.lwm2m.ping import PingAnswer
from conformance.lwm2m.queuemode import ContactWatch, asleep_for, awake_window, hold_bound
from conformance.lwm2m.registrations import Event, Registration, RegistrationStore, UpdateParams
from conformance.lwm2m.reporting import CompositeObservationCore, SendInterface, SendReport
from conformance.lwm2m.server import BootstrapRequest, ServerState, bootstrap_site, dm_site
from conformance.lwm2m.transports import Endpoint, open_endpoint
from conformance.runtime import LabLoop, tune_gc
from conformance.verdicts import DeviceTimeout

T = TypeVar("T")
# Extra seconds the sync bridge allows over a coroutine's own (device) timeout: if the bridge
# fires, the lab loop itself is stuck, which is a harness problem, not a device one.
_BRIDGE_MARGIN = 10.0
WRITE_ATTRIBUTES = ("pmin", "pmax", "gt", "lt", "st", "epmin", "epmax", "edge", "con", "hqmax")

__all__ = [
    "BootstrapSession",
    "LabError",
    "Lwm2mLab",
    "Observation",
    "Registration",
    "Response",
    "SendReport",
    "UpdateReport",
]


def _path(path: Path | str) -> Path:
    return Path.parse(path) if isinstance(path, str) else path


@dataclass(frozen=True)
class UpdateReport:
    """One registration Update: the registration after it, and what the Update itself carried
    (judge ``carried.lifetime``, not ``registration.lifetime``, the lab's stored value)."""

    registration: Registration
    carried: UpdateParams
    time: float


def _snapshot(reg: Registration) -> Registration:
    """A copy for the test thread; the lab loop keeps mutating the live one."""
    snap = copy.copy(reg)
    snap.links = list(reg.links)
    snap.objects = {k: list(v) for k, v in reg.objects.items()}
    snap.deviations = list(reg.deviations)
    return snap


@dataclass(frozen=True)
class HeldRead:
    """A Read the lab held for a queue-mode device until its next Update was answered."""

    update: Event  # the Update (or Register) that woke the device
    answered_at: float  # when the lab's answer to it went out (wall clock)
    sent_at: float  # when the held Read went out
    response: Response | None  # None: no answer within the request timeout


class Lwm2mLab:
    def __init__(
        self, loop: LabLoop, declaration: Declaration, transcript: Transcript, run_dir: FsPath
    ) -> None:
        self._loop = loop
        self.declaration = declaration
        self.transcript = transcript
        self.run_dir = run_dir
        self.registry = ObjectRegistry.builtin()
        if declaration.lwm2m is not None and declaration.lwm2m.object_ddfs:
            self.registry.add_files(declaration.lwm2m.object_ddfs)
        self.request_timeout = declaration.timeouts.request
        self.session_timeout = declaration.timeouts.session
        self.psk = PskStore()
        self._psk_owners: dict[str, str] = {}  # identity -> endpoint (ServerState.identity_owners)
        lw = declaration.lwm2m
        if lw is not None and lw.psk_identity and lw.psk_key is not None:
            key = bytes.fromhex(lw.psk_key.get_secret_value())
            self.add_psk(lw.psk_identity, key, endpoint=lw.endpoint)
        self._state: ServerState | None = None
        self._store: RegistrationStore | None = None
        self._endpoints: dict[str, Endpoint] = {}
        self._packages: PackageStore | None = None
        self._consumed_updates: dict[str, int] = {}
        self._consumed_bootstrap: dict[str, int] = {}
        self._tap: CoapTap | None = None
        self._contacts: ContactWatch | None = None
        self._sends: SendInterface | None = None
        self._refusing: dict[str, socket.socket] = {}  # host -> the port refusing_uri holds

    # -- lifecycle -----------------------------------------------------------------------------

    def add_psk(self, identity: str, key: bytes, *, endpoint: str | None = None) -> None:
        """Accept another PSK identity (the key is registered with the redactor first).
        ``endpoint``: the device the lab gives it to (its bootstrap provisions it there), whose
        Register over it is the device's own even while it is registered over another."""
        self.transcript.redactor.add(key)
        self.transcript.redactor.add(key.hex())
        self.psk.add(identity.encode(), key)
        if endpoint is not None:
            self._psk_owners[identity] = endpoint

    def start(self) -> None:
        if not self._endpoints:
            self._call(self._start(), 30)

    def stop(self) -> None:
        if self._endpoints:
            self._call(self._stop(), 30)
        for sock in self._refusing.values():
            sock.close()
        self._refusing.clear()

    def refusing_uri(self, uri: str) -> str:
        """``uri`` with its port replaced by one of its host's where every datagram is refused
        (ICMP port unreachable) while the lab runs: a server that cannot be reached.

        A port only found free could be taken meanwhile by any socket of a run side by side
        (parts and their devices bind ephemeral ports all the time): a device sending there
        then waits out its request timeouts instead of being refused, and may not fall back
        within the case's window. The lab holds the port with a UDP socket connected to
        itself, which takes no datagram from anyone else."""
        parts = urlsplit(uri)
        host = parts.hostname or self.declaration.lab.host
        sock = self._refusing.get(host)
        if sock is None:
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                                 socket.SOCK_DGRAM)
            try:
                sock.bind((host, 0))
                sock.connect(sock.getsockname())
            except OSError as exc:
                sock.close()
                raise LabError(f"no refusing port on {host}: {exc}") from None
            self._refusing[host] = sock
        port = sock.getsockname()[1]
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return urlunsplit(parts._replace(netloc=netloc))

    async def _start(self) -> None:
        store = RegistrationStore(on_event=self._on_event)
        lw = self.declaration.lwm2m
        psk_required = lw is not None and lw.security == "psk"
        state = ServerState(
            self.transcript, store, psk_required=psk_required,
            bootstraps=self.declaration.features.bootstrap, limits=self.declaration.limits,
            identity_owners=self._psk_owners,
        )
        self._state, self._store = state, store
        self._packages = PackageStore(self.transcript)
        self._contacts = contacts = ContactWatch(store)
        self._tap = tap = CoapTap(
            self.transcript, device_of=state.device_of, registry=lambda: self.registry,
            on_contact=contacts.contact,
        )
        lab = self.declaration.lab
        host = lab.host
        fw = FirmwareResource(self._packages, peer_text)
        self._sends = sends = SendInterface(state, self.registry)
        try:
            for name, port, secure, bootstrap in (
                ("dm", lab.lwm2m_port, False, False),
                ("dm-dtls", lab.lwm2m_dtls_port, True, False),
                ("bs", lab.bootstrap_port, False, True),
                ("bs-dtls", 0, True, True),
            ):
                site = (
                    bootstrap_site(state, secure=secure)
                    if bootstrap
                    else dm_site(
                        state, secure=secure, on_registered=self._on_registered,
                        extra={("fw",): fw, ("dp",): sends},
                    )
                )
                self._endpoints[name] = await open_endpoint(
                    site, (host, port), tap, psk=self.psk if secure else None, name=name
                )
        except BaseException:
            await self._stop()
            raise
        buffer = self._endpoints["dm"].receive_buffer
        self.transcript.note(
            PROTOCOL, "LwM2M lab listening: " + ", ".join(
                f"{k}={v}" for k, v in self.addresses().items() if k != "LAB_HOST"
            ) + f" (socket receive buffer {buffer // 1024} KiB granted)"
        )
        tune_gc()  # after start-up: what exists now is what the lab keeps

    async def _stop(self) -> None:
        if self._store is not None:
            self._store.clear()
        endpoints, self._endpoints = list(self._endpoints.values()), {}
        for endpoint in endpoints:
            try:
                await endpoint.context.shutdown()
            except Exception as exc:  # keep shutting the others down; say what went wrong
                self.transcript.note(PROTOCOL, f"lab endpoint shutdown problem: {exc}")

    def addresses(self) -> dict[str, str]:
        host = self.declaration.lab.advertised_host or self.declaration.lab.host

        def uri(name: str) -> str:
            endpoint = self._endpoints[name]
            return f"{'coaps' if endpoint.secure else 'coap'}://{host}:{endpoint.bound.port}"

        if not self._endpoints:
            return {"LAB_HOST": host}
        return {
            "LAB_HOST": host,
            "LAB_LWM2M_URI": uri("dm"),
            "LAB_LWM2M_DTLS_URI": uri("dm-dtls"),
            "LAB_BOOTSTRAP_URI": uri("bs"),
            "LAB_BOOTSTRAP_DTLS_URI": uri("bs-dtls"),
        }

    # -- the bridge ----------------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        try:
            return self._loop.call(coro, timeout + _BRIDGE_MARGIN)
        except TimeoutError as exc:
            raise LabError(f"the lab loop did not answer in time: {exc}") from None

    def _require(self) -> tuple[ServerState, RegistrationStore]:
        if self._state is None or self._store is None or not self._endpoints:
            raise LabError("the LwM2M lab is not started")
        return self._state, self._store

    def _on_event(self, event: Event) -> None:
        reg = event.registration
        if event.kind == "update" and not event.detail:
            return  # a plain keep-alive: its CON POST and the lab's 2.04 say all (issue 19)
        text = {
            "register": f"registered {reg.endpoint} as {reg.location} (lt={reg.lifetime}, "
            f"lwm2m={reg.lwm2m}, b={reg.binding}{', Q' if reg.queue else ''}"
            f"{', DTLS' if reg.secure else ''})",
            "update": f"registration update {reg.location}" + (
                f": {event.detail}" if event.detail else ""),
            "deregister": f"de-registered {reg.endpoint} ({reg.location})",
            "expire": f"registration {reg.location} of {reg.endpoint} expired: {event.detail}",
            "conflict": f"registration conflict: {event.detail}",
            "replace": event.detail,
        }[event.kind]
        self.transcript.record(
            PROTOCOL, "note", text, device=reg.endpoint, peer=reg.peer, session=reg.location,
            error=None,
        )

    def _on_registered(self, reg: Registration) -> None:
        pass  # hook point: the store's events already reach the transcript

    # -- registrations -------------------------------------------------------------------------

    def registration(self, ep: str) -> Registration | None:
        _, store = self._require()

        async def get() -> Registration | None:
            reg = store.get(ep)
            return _snapshot(reg) if reg else None

        return self._call(get(), self.request_timeout)

    def wait_registration(
        self, ep: str, timeout: float | None = None, *, newer_than: float | None = None
    ) -> Registration:
        _, store = self._require()
        limit = self.session_timeout if timeout is None else timeout

        def found() -> Registration | None:
            reg = store.get(ep)
            if reg is None or (newer_than is not None and reg.registered_at <= newer_than):
                return None
            return reg

        async def wait() -> Registration:
            reg: Registration = await self._bounded(
                store.wait_for(found), limit, f"no registration of {ep}"
            )
            register_seq = max(
                (e.seq for e in store.events if e.kind == "register" and e.registration is reg),
                default=0,
            )
            self._consumed_updates[ep] = max(self._consumed_updates.get(ep, 0), register_seq)
            return _snapshot(reg)

        return self._call(wait(), limit)

    def wait_update(self, ep: str, timeout: float | None = None) -> Registration:
        """The next Update of ``ep`` not returned before (updates are never missed)."""
        return self.next_update(ep, timeout).registration

    def next_update(self, ep: str, timeout: float | None = None) -> UpdateReport:
        """The next Update of ``ep`` not returned before, with its own parameters."""
        _, store = self._require()
        limit = self.session_timeout if timeout is None else timeout

        def found() -> Event | None:
            after = self._consumed_updates.get(ep, 0)
            return next(
                (e for e in store.events if e.kind == "update" and e.endpoint == ep
                 and e.seq > after),
                None,
            )

        async def wait() -> UpdateReport:
            event: Event = await self._bounded(
                store.wait_for(found), limit, f"no registration update of {ep}"
            )
            self._consumed_updates[ep] = event.seq
            return UpdateReport(_snapshot(event.registration), event.carried or UpdateParams(),
                                event.time)

        return self._call(wait(), limit)

    def wait_deregistration(self, ep: str, timeout: float | None = None, *,
                            since: float | None = None) -> Event:
        """Wait until ``ep`` has no registration; the De-register (or expiry) event.

        ``since`` (wall clock, taken before the request that should end the registration):
        the first De-register or expiry at or after it, even when the device has already
        registered again by the time this is called (a client that comes straight back)."""
        _, store = self._require()
        limit = self.session_timeout if timeout is None else timeout

        def gone() -> Event | None:
            if since is not None:
                return next((e for e in store.events if e.endpoint == ep and e.time >= since
                             and e.kind in ("deregister", "expire")), None)
            if store.get(ep) is not None:
                return None
            return next(
                (e for e in reversed(store.events) if e.endpoint == ep
                 and e.kind in ("deregister", "expire")),
                None,
            )

        return self._call(
            self._bounded(store.wait_for(gone), limit, f"{ep} did not de-register"), limit
        )

    def wait_first_contact(self, ep: str, timeout: float | None = None, *,
                           since: float = 0.0) -> str:
        """``"bootstrap"`` or ``"register"``: whichever ``ep`` sent first since the lab started,
        or since ``since`` (wall clock; a Bootstrap-Request or a Register already received
        counts)."""
        state, store = self._require()
        limit = self.session_timeout if timeout is None else timeout

        def first() -> str | None:
            asked = next((r.time for r in state.bootstrap_requests
                          if r.endpoint == ep and r.time >= since), None)
            registered = next(
                (e.time for e in store.events
                 if e.kind == "register" and e.endpoint == ep and e.time >= since), None
            )
            if asked is None and registered is None:
                return None
            if registered is None or (asked is not None and asked <= registered):
                return "bootstrap"
            return "register"

        async def wait() -> str:
            while (kind := first()) is None:
                # Either kind of contact wakes one of the two waits; re-check on both.
                state.bootstrap_changed.clear()
                changed = asyncio.ensure_future(state.bootstrap_changed.wait())
                registered = asyncio.ensure_future(store.wait_for(first))
                _, pending = await asyncio.wait(
                    {changed, registered}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in pending:
                    task.cancel()
            return kind

        return self._call(
            self._bounded(wait(), limit, f"neither a Bootstrap-Request nor a Register of {ep}"),
            limit,
        )

    def wait_report(self, ep: str, since: float, timeout: float) -> Registration | None:
        """The registration as ``ep`` reported it in a Register or an Update received at or
        after ``since`` (wall clock); None when neither came within ``timeout`` s."""
        _, store = self._require()

        def told() -> Event | None:
            return next(
                (e for e in store.events if e.endpoint == ep and e.time >= since
                 and e.kind in ("register", "update")),
                None,
            )

        async def wait() -> Registration | None:
            try:
                event: Event = await asyncio.wait_for(store.wait_for(told), timeout)
            except TimeoutError:
                return None
            return _snapshot(event.registration)

        return self._call(wait(), timeout)

    def wait_event(self, ep: str, kinds: tuple[str, ...], since: float,
                   timeout: float) -> Event | None:
        """The first registration event of ``ep`` of one of ``kinds`` at or after ``since``
        (wall clock), in the order the lab saw them; None when none came within ``timeout``."""
        _, store = self._require()

        def seen() -> Event | None:
            return next((e for e in store.events if e.endpoint == ep and e.time >= since
                         and e.kind in kinds), None)

        async def wait() -> Event | None:
            try:
                event: Event = await asyncio.wait_for(store.wait_for(seen), timeout)
            except TimeoutError:
                return None
            return event

        return self._call(wait(), timeout)

    def forget_on_next_update(self, ep: str, armed: bool = True) -> float | None:
        """Arm (or disarm): ``ep``'s next Update is answered 4.04 and its registration dropped,
        as by a server that lost its state (TS 1.1 §6.2.2). Returns when the armed rejection
        happened (wall clock), None while it has not."""
        state, _ = self._require()

        async def arm() -> float | None:
            done = state.forget_on_update.pop(ep, None)
            if armed:
                state.forget_on_update[ep] = None
            return done

        return self._call(arm(), self.request_timeout)

    def wait_psk_lookup(self, identity: str, since: float, timeout: float) -> bool | None:
        """Whether the PSK ``identity`` a DTLS peer offered at or after ``since`` (wall clock)
        was known to the lab; None when no peer offered it within ``timeout`` s."""
        self._require()
        wanted = identity.encode()

        async def wait() -> bool | None:
            try:
                return await asyncio.wait_for(self.psk.wait_lookup(wanted, since), timeout)
            except TimeoutError:
                return None

        return self._call(wait(), timeout)

    def events(self, ep: str | None = None) -> list[Event]:
        _, store = self._require()

        async def get() -> list[Event]:
            return [e for e in store.events if ep is None or e.endpoint == ep]

        return self._call(get(), self.request_timeout)

    @staticmethod
    async def _bounded(aw: Coroutine[Any, Any, T], timeout: float, what: str) -> T:
        try:
            return await asyncio.wait_for(aw, timeout)
        except TimeoutError:
            raise DeviceTimeout(f"{what} within {timeout} s") from None

    # -- Device Management ---------------------------------------------------------------------

    def _requester(self, ep: str, timeout: float | None = None) -> Requester:
        _, store = self._require()
        reg = store.get(ep)
        if reg is None:
            raise LabError(f"{ep} is not registered with the lab (no requests can reach it)")
        endpoint = self._dm_endpoint(reg)
        limit = self.request_timeout if timeout is None else timeout
        return Requester(endpoint.context, reg.remote, reg.root, self.registry, limit)

    def _dm_endpoint(self, reg: Registration) -> Endpoint:
        """The DM endpoint the device registered through (DTLS or plain UDP): the lab reaches
        it there."""
        return self._endpoints["dm-dtls" if reg.secure else "dm"]

    def ping(self, ep: str, timeout: float | None = None) -> PingAnswer | None:
        """CoAP ping (RFC 7252 §4.3) to the registered ``ep`` at its address now: the answer,
        or None when it was not answered within ``timeout`` s (default: the request timeout)
        or ``ep`` is not registered. Not held for a sleeping queue-mode device: the question
        is whether it hears the lab now."""
        _, store = self._require()
        reg = store.get(ep)
        if reg is None:
            return None
        interface = self._dm_endpoint(reg).interface
        limit = self.request_timeout if timeout is None else timeout
        return self._call(interface.pings.ping(interface, reg.remote, limit), limit)

    async def _reach(self, ep: str, timeout: float | None = None) -> Requester:
        """The requester for ``ep`` once the lab may send to it: a queue-mode device quiet
        for longer than it must listen is waited for until it is heard again (TS Queue Mode:
        the server holds requests meanwhile), at most until its registration would expire."""
        _, store = self._require()
        reg = store.get(ep)
        quiet = asleep_for(reg) if reg is not None else None
        if reg is not None and quiet is not None:
            assert self._contacts is not None
            bound = hold_bound(reg, self.request_timeout)
            self.transcript.record(
                PROTOCOL, "note", f"queue mode: {ep} last heard {quiet:.0f} s ago (a "
                f"queue-mode client listens {awake_window(reg.lwm2m):.0f} s): the request "
                f"waits until it is heard again, at most {bound:.0f} s",
                device=ep, peer=reg.peer, session=reg.location)
            await self._bounded(self._contacts.next_contact(ep), bound,
                                f"queue mode: {ep} was not heard again")
        return self._requester(ep, timeout)

    def _hold_allowance(self, ep: str) -> float:
        """Extra seconds a request may spend held for a sleeping queue-mode device."""
        reg = self._store.get(ep) if self._store is not None else None
        if reg is None or asleep_for(reg) is None:
            return 0.0
        return hold_bound(reg, self.request_timeout)

    def _op(self, ep: str, build: Any, path: Path, timeout: float | None = None) -> Response:
        async def run() -> Response:
            requester = await self._reach(ep, timeout)
            return await perform(requester, build(requester), path)

        limit = self.request_timeout if timeout is None else timeout
        return self._call(run(), limit * 2 + self._hold_allowance(ep))

    def read_after_next_update(self, ep: str, path: Path | str, since: float,
                               timeout: float) -> concurrent.futures.Future[HeldRead]:
        """Queue a Read of ``path`` as a server in queue mode does: it goes out once the lab
        has answered the device's next Update (received at or after ``since``, within
        ``timeout`` s). Returns at once; the future gives what happened, or raises
        DeviceTimeout when no Update came. Cancel it when the case ends early."""
        p = _path(path)
        _, store = self._require()
        contacts = self._contacts
        assert contacts is not None

        def updated() -> Event | None:
            return next((e for e in reversed(store.events) if e.endpoint == ep
                         and e.kind in ("update", "register") and e.time >= since), None)

        async def held() -> HeldRead:
            event = await self._bounded(store.wait_for(updated), timeout,
                                        f"no Update or Register from {ep}")
            answered = await self._bounded(contacts.contact_after(ep, event.time),
                                           self.request_timeout,
                                           f"the lab's answer to the {event.kind} of {ep}")
            requester = self._requester(ep)
            sent = time.time()
            try:
                response: Response | None = await perform(
                    requester, requester.message(Code.GET, p), p)
            except DeviceTimeout:
                response = None
            return HeldRead(event, answered, sent, response)

        return self._loop.submit(held())

    def read(self, ep: str, path: Path | str, fmt: int | None = None) -> Response:
        p = _path(path)
        return self._op(ep, lambda r: r.message(
            Code.GET, p, accept=int(fmt) if fmt is not None else None), p)

    def write(
        self,
        ep: str,
        path: Path | str,
        content_or_value: Content | Value | dict[str, Value],
        fmt: int = ContentFormat.TLV,
        partial: bool = False,
        timeout: float | None = None,
    ) -> Response:
        """Write-Replace (PUT) or, with ``partial``, Write-Partial-Update (POST); ``timeout``
        bounds the whole exchange, all its blocks (default: the request timeout)."""
        p = _path(path)
        payload = encode_content(int(fmt), p, content_or_value, self.registry)
        code = Code.POST if partial else Code.PUT
        return self._op(
            ep, lambda r: r.message(code, p, payload=payload, content_format=int(fmt)), p,
            timeout,
        )

    def write_raw(
        self, ep: str, path: Path | str, payload: bytes, fmt: int | None, *, partial: bool = False
    ) -> Response:
        """Write bytes as given (for negative cases and vendor formats)."""
        p = _path(path)
        code = Code.POST if partial else Code.PUT
        return self._op(ep, lambda r: r.message(code, p, payload=payload, content_format=fmt), p)

    def execute(self, ep: str, path: Path | str, args: str | None = None) -> Response:
        p = _path(path)
        payload = args.encode() if args else b""
        return self._op(ep, lambda r: r.message(Code.POST, p, payload=payload), p)

    def create(
        self, ep: str, path: Path | str, content: Content, fmt: int = ContentFormat.TLV
    ) -> Response:
        p = _path(path)
        payload = encode_content(int(fmt), p, content, self.registry)
        return self._op(
            ep, lambda r: r.message(Code.POST, p, payload=payload, content_format=int(fmt)), p
        )

    def delete(self, ep: str, path: Path | str) -> Response:
        p = _path(path)
        return self._op(ep, lambda r: r.message(Code.DELETE, p), p)

    def discover(self, ep: str, path: Path | str) -> Response:
        p = _path(path)
        return self._op(
            ep, lambda r: r.message(Code.GET, p, accept=int(ContentFormat.LINK_FORMAT)), p
        )

    def write_attributes(self, ep: str, path: Path | str, **attrs: float | int | None) -> Response:
        """Write-Attributes (PUT with query only); ``name=None`` removes an attribute."""
        unknown = set(attrs) - set(WRITE_ATTRIBUTES)
        if unknown:
            raise LabError(f"not LwM2M attributes: {sorted(unknown)}")
        query = [k if v is None else f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                 for k, v in attrs.items()]
        p = _path(path)
        return self._op(ep, lambda r: r.message(Code.PUT, p, query=query), p)

    def read_composite(self, ep: str, paths: list[Path | str | None], fmt: int,
                       accept: int | None = None) -> Response:
        """Read-Composite (FETCH on the root, TS 1.1 §5.4.3): ``paths`` in format ``fmt``
        (SenML JSON/CBOR, None = the root ``/``); the answer in ``accept`` (default ``fmt``)."""
        from conformance.lwm2m.codecs import composite

        payload = composite.encode_paths(fmt, [_path(p) if p is not None else None
                                               for p in paths])
        wanted = int(fmt) if accept is None else int(accept)
        return self._composite(ep, lambda r: composite_message(
            r, Code.FETCH, payload, int(fmt), accept=wanted))

    def write_composite(self, ep: str, content: Content | dict[str, Value], fmt: int) -> Response:
        """Write-Composite (iPATCH on the root, TS 1.1 §5.4.4) of values in several objects."""
        from conformance.lwm2m.codecs import composite

        typed: Content = {_path(k): v for k, v in content.items()}
        payload = composite.encode(int(fmt), typed, self.registry)
        return self._composite(ep, lambda r: composite_message(
            r, Code.iPATCH, payload, int(fmt)))

    def _composite(self, ep: str, build: Any) -> Response:
        async def run() -> Response:
            requester = await self._reach(ep)
            return await perform_composite(requester, build(requester))

        return self._call(run(), self.request_timeout * 2 + self._hold_allowance(ep))

    # -- Information Reporting -----------------------------------------------------------------

    def observe(self, ep: str, path: Path | str, fmt: int | None = None) -> Observation:
        p = _path(path)

        async def start() -> tuple[ObservationCore, Response]:
            assert self._tap is not None
            core = ObservationCore(
                await self._reach(ep), p, int(fmt) if fmt is not None else None,
                self._tap.reject_next,
            )
            return core, await core.start()

        core, initial = self._call(start(), self.request_timeout + self._hold_allowance(ep))
        return Observation(self, core, initial, ep)

    def observe_composite(self, ep: str, paths: Sequence[Path | str], fmt: int,
                          body_fmt: int | None = None) -> Observation:
        """Observe-Composite (TS 1.1 §6.4.3): FETCH / with Observe 0 and the SenML path list
        in ``body_fmt`` (default: ``fmt``); answers and notifications in ``fmt``."""
        targets = [_path(p) for p in paths]

        async def start() -> tuple[ObservationCore, Response]:
            assert self._tap is not None
            core = CompositeObservationCore(
                await self._reach(ep), int(fmt), self._tap.reject_next,
                paths=targets, body_fmt=int(body_fmt if body_fmt is not None else fmt),
            )
            return core, await core.start()

        core, initial = self._call(start(), self.request_timeout + self._hold_allowance(ep))
        return Observation(self, core, initial, ep)

    def wait_send(self, ep: str, since: float, timeout: float) -> SendReport | None:
        """The first Send (``POST /dp``) of ``ep`` received at or after ``since`` (wall clock);
        None when none came within ``timeout`` s."""
        self._require()
        sends = self._sends
        assert sends is not None
        return self._call(sends.wait(ep, since, timeout), timeout)

    # -- Bootstrap -----------------------------------------------------------------------------

    def wait_bootstrap_request(self, ep: str, timeout: float | None = None, *,
                               newer_than: float = 0.0) -> BootstrapRequest:
        """The next Bootstrap-Request of ``ep`` not returned before; with ``newer_than`` (wall
        clock) older ones are passed over (a request a reset made obsolete)."""
        state, _ = self._require()
        limit = self.session_timeout if timeout is None else timeout

        def found() -> BootstrapRequest | None:
            seen = self._consumed_bootstrap.get(ep, 0)
            for index, request in enumerate(state.bootstrap_requests):
                if request.endpoint == ep and index + 1 > seen:
                    self._consumed_bootstrap[ep] = index + 1
                    if request.time >= newer_than:
                        return request
            return None

        async def wait() -> BootstrapRequest:
            while (request := found()) is None:
                state.bootstrap_changed.clear()
                await state.bootstrap_changed.wait()
            return request

        return self._call(self._bounded(wait(), limit, f"no Bootstrap-Request from {ep}"), limit)

    def bootstrap(
        self, ep: str, *, server_initiated: bool = False, address: str | None = None
    ) -> BootstrapSession:
        """A session towards ``ep``: after its Bootstrap-Request (client-initiated), or
        server-initiated: over its current registration, or to ``address`` (host:port, UDP)."""
        state, store = self._require()

        async def open_session() -> BootstrapSessionCore:
            if not server_initiated:
                request = next(
                    (r for r in reversed(state.bootstrap_requests) if r.endpoint == ep), None
                )
                if request is None:
                    raise LabError(f"no Bootstrap-Request from {ep}; wait_bootstrap_request first")
                endpoint = self._endpoints["bs-dtls" if request.secure else "bs"]
                remote = request.remote
            elif address is not None:
                endpoint = self._endpoints["bs"]
                host, _, port = address.rpartition(":")
                remote = await endpoint.interface._pool.connect((host, int(port)))
                state.bootstrap_peers[f"{host}:{port}"] = ep
            else:
                reg = store.get(ep)
                if reg is None:
                    raise LabError(f"{ep} is neither registered nor given an address")
                endpoint = self._dm_endpoint(reg)
                remote = reg.remote
            requester = Requester(endpoint.context, remote, "", self.registry, self.request_timeout)
            self.transcript.note(
                PROTOCOL,
                f"bootstrap of {ep} ({'server' if server_initiated else 'client'}-initiated)",
                device=ep,
            )
            return BootstrapSessionCore(requester, ep, server_initiated)

        return BootstrapSession(self, self._call(open_session(), self.request_timeout))

    def bootstrap_config(self) -> list[Content]:
        """The Security and Server instances the declaration asks for (lab URIs filled in)."""
        addresses = self.addresses()
        return dm_server_config(
            self.declaration, addresses["LAB_LWM2M_URI"], addresses["LAB_LWM2M_DTLS_URI"]
        )

    def set_bootstrap_pack(self, payload: bytes | None) -> None:
        """Serve ``payload`` (SenML CBOR) on ``GET /bspack``; None: answer 4.04."""
        state, _ = self._require()

        async def put() -> None:
            state.bootstrap_pack = payload

        self._call(put(), self.request_timeout)

    # -- firmware over CoAP --------------------------------------------------------------------

    def publish_package(self, name: str, data: bytes) -> str:
        """Serve ``data`` at ``coap(s)://lab/fw/<name>``; the URI for the declared security."""
        self._require()
        packages = self._packages
        assert packages is not None

        async def put() -> None:
            packages.publish(name, data)

        self._call(put(), self.request_timeout)
        lw = self.declaration.lwm2m
        pulls = self.declaration.features.fota_protocols
        # coaps for a PSK device, unless it declares plain coap pull only (then coap).
        secure = lw is not None and lw.security == "psk" and (
            "coaps" in pulls or "coap" not in pulls
        )
        return self.package_uri(name, secure=secure)

    def package_uri(self, name: str, *, secure: bool) -> str:
        base = self.addresses()["LAB_LWM2M_DTLS_URI" if secure else "LAB_LWM2M_URI"]
        return f"{base}/fw/{name}"

    def downloads(self, name: str | None = None) -> list[Download]:
        self._require()
        packages = self._packages
        assert packages is not None

        async def get() -> list[Download]:
            return [copy.copy(d) for d in packages.downloads if name is None or d.name == name]

        return self._call(get(), self.request_timeout)


class Observation:
    """An Observe relation; ``initial`` is the first answer, ``next()`` each notification.
    ``on_get_cancel``, when set, is told the answer to each GET cancel (the device-under-test
    layer restores a device that answers it as a notification)."""

    def __init__(self, lab: Lwm2mLab, core: ObservationCore, initial: Response,
                 ep: str) -> None:
        self._lab = lab
        self._core = core
        self.initial = initial
        self.ep = ep
        self.on_get_cancel: Callable[[Response], None] | None = None

    @property
    def notifications(self) -> list[Response]:
        return list(self._core.notifications)

    @property
    def token(self) -> str:
        """The relation's CoAP token in hex, as the transcript's ``Token`` header shows it."""
        return self._core.token.hex()

    def next(self, timeout: float | None = None) -> Response:
        limit = self._lab.request_timeout if timeout is None else timeout
        return self._lab._call(self._core.next(limit), limit)

    def cancel(self, mode: str = "rst", timeout: float | None = None) -> Response:
        """``rst``: RST the next notification (returns it); ``get``: GET with Observe=1."""
        limit = self._lab.request_timeout if timeout is None else timeout
        if mode == "rst":
            return self._lab._call(self._core.cancel_rst(limit), limit)
        if mode == "get":
            answer = self._lab._call(self._core.cancel_get(), limit)
            for crossed in self._core.crossed:
                self._lab.transcript.note(
                    PROTOCOL, f"notification Observe={crossed.observe} crossed the cancel (sent "
                    "before the device acknowledged the GET): taken as a notification, not as "
                    "the answer", device=self.ep)
            self._core.crossed.clear()
            if self.on_get_cancel is not None:
                self.on_get_cancel(answer)
            return answer
        raise LabError(f"cancel mode must be 'rst' or 'get', not {mode!r}")


class BootstrapSession:
    def __init__(self, lab: Lwm2mLab, core: BootstrapSessionCore) -> None:
        self._lab = lab
        self._core = core
        self.endpoint = core.endpoint
        self.server_initiated = core.server_initiated

    @property
    def responses(self) -> list[tuple[str, Response]]:
        return list(self._core.responses)

    def _run(self, coro: Coroutine[Any, Any, Response]) -> Response:
        return self._lab._call(coro, self._lab.request_timeout * 2)

    def write(
        self, path: Path | str, content: Content | Value, fmt: int = ContentFormat.TLV
    ) -> Response:
        return self._run(self._core.write(path, content, fmt))

    def delete(self, path: Path | str = "/") -> Response:
        return self._run(self._core.delete(path))

    def discover(self, path: Path | str = "/") -> Response:
        return self._run(self._core.discover(path))

    def read(self, path: Path | str, fmt: int) -> Response:
        return self._run(self._core.read(path, fmt))

    def finish(self) -> Response:
        return self._run(self._core.finish())

    def provision(self, fmt: int = ContentFormat.TLV) -> list[Response]:
        """The usual sequence: Delete /0 and /1, write the declared config, Finish."""
        results = [self.delete("/0"), self.delete("/1")]
        for content in self._lab.bootstrap_config():
            instance = min(content).resource_path
            results.append(self.write(Path(instance.object_id, instance.instance_id), content, fmt))
        results.append(self.finish())
        return results



