"""The OMA-DM lab as test cases use it: a synchronous facade over the aiohttp server.

A case triggers the device (controller or :meth:`OmaDmLab.notify`), takes the session with
:meth:`OmaDmLab.wait_session` and then talks to the device one package at a time::

    session = lab.wait_session()
    man = session.get("./DevInfo/Man")          # blocks until the device's Status/Results
    session.replace("./FUMO/1/PkgURL", url)
    session.close()

Every wait is bounded by ``declaration.timeouts`` and raises :class:`DeviceTimeout`
(INCONCLUSIVE) when the device stays silent. Nothing here asserts: results are returned as
the device gave them and the case judges.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from conformance.declaration import Declaration
from conformance.evidence.transcript import Transcript
from conformance.fota.server import advertised_host
from conformance.omadm import notification
from conformance.omadm.account import DmAccounts
from conformance.omadm.delivery import (
    Package0Channel,
    UdpChannel,
    describe,
    shell_package0_channel,
)
from conformance.omadm.labauth import AuthOutcome
from conformance.omadm.model import (
    Add,
    Alert,
    Atomic,
    Command,
    Copy,
    Delete,
    Exec,
    Get,
    Item,
    Meta,
    Replace,
    Sequence,
    SyncML,
)
from conformance.omadm.nonces import FILE_NAME as NONCE_FILE
from conformance.omadm.nonces import NonceStore
from conformance.omadm.server import DmMessage, DmServer, EndAction, LiveSession, SendAction
from conformance.omadm.session import CommandResult, SessionOptions
from conformance.runtime import LabLoop, tune_gc
from conformance.tls import LabPki
from conformance.verdicts import DeviceTimeout, Inconclusive, NotApplicable

T = TypeVar("T")
PROTOCOL = "package0"
_MARGIN = 5.0  # LabLoop.call's own bound on top of the waits inside, which fire first


class SessionEnded(Inconclusive):
    """A command was given to a session that has already ended (says why)."""


def _item(
    uri: str, data: str | bytes | None = None, fmt: str | None = None, mime: str | None = None
) -> Item:
    meta = Meta(format=fmt, type=mime) if fmt or mime else None
    return Item(target=uri, meta=meta, data=data)


class DmSession:
    """One device session, driven from the test thread."""

    def __init__(self, lab: OmaDmLab, live: LiveSession) -> None:
        self._lab = lab
        self._live = live
        self._alerts_seen = 0
        self.alert_session: DmSession | None = None  # set by wait_alert when a later one had it

    # ------------------------------------------------------------------ what happened

    @property
    def session_id(self) -> str:
        return self._live.session_id

    @property
    def dev_id(self) -> str:
        return self._live.device

    @property
    def package1(self) -> SyncML:
        msg = self._live.package1
        if msg is None:  # never: a session is announced after its first message
            raise RuntimeError("session without a package 1")
        return msg

    @property
    def content_type(self) -> str:
        return self._live.content_type

    @property
    def encoding(self) -> str:
        return self._live.encoding

    @property
    def auth(self) -> AuthOutcome:
        return self._live.auth

    @property
    def messages(self) -> list[DmMessage]:
        return list(self._live.messages)

    @property
    def errors(self) -> list[str]:
        """Protocol deviations the lab noticed in this session's messages."""
        return list(self._live.errors)

    @property
    def ended(self) -> str | None:
        """Why the session ended, or None while it runs."""
        return self._live.state.ended if self._live.ended.is_set() else None

    @property
    def device_max_msg_size(self) -> int:
        return self._live.state.device_max_msg_size

    def alerts(self, code: str | None = None) -> list[Alert]:
        return [a for a in self._live.state.alerts if code is None or a.data == code]

    def device_commands(self) -> list[Command]:
        """The device's own Replace/Add/… commands (./DevInfo in package 1, …)."""
        return list(self._live.state.device_commands)

    # ------------------------------------------------------------------ commands

    def get(self, uri: str) -> CommandResult:
        return self._one(Get(cmd_id="", items=[_item(uri)]))

    def replace(
        self, uri: str, data: str | bytes, format: str = "chr", type: str | None = None
    ) -> CommandResult:
        return self._one(Replace(cmd_id="", items=[_item(uri, data, format, type)]))

    def add(
        self,
        uri: str,
        data: str | bytes | None = None,
        format: str | None = None,
        type: str | None = None,
    ) -> CommandResult:
        return self._one(Add(cmd_id="", items=[_item(uri, data, format, type)]))

    def delete(self, uri: str) -> CommandResult:
        return self._one(Delete(cmd_id="", items=[_item(uri)]))

    def exec(
        self, uri: str, data: str | None = None, correlator: str | None = None
    ) -> CommandResult:
        cmd = Exec(cmd_id="", items=[_item(uri, data)], correlator=correlator)
        return self._one(cmd)

    def copy(self, target: str, source: str) -> CommandResult:
        return self._one(Copy(cmd_id="", items=[Item(target=target, source=source)]))

    def atomic(self, cmds: list[Command]) -> CommandResult:
        return self._one(Atomic(cmd_id="", commands=list(cmds)))

    def sequence(self, cmds: list[Command]) -> CommandResult:
        return self._one(Sequence(cmd_id="", commands=list(cmds)))

    def send(self, cmds: list[Command]) -> list[CommandResult]:
        """Send ``cmds`` as the lab's next package (split over packages if the device's
        MaxMsgSize needs it) and return the device's answers, in order."""
        live = self._live
        timeout = self._lab.timeouts.request

        async def run() -> list[CommandResult]:
            if live.ended.is_set():
                raise SessionEnded(f"session {live.session_id} has ended: {live.state.ended}")
            done: asyncio.Future[list[CommandResult]] = asyncio.get_running_loop().create_future()
            live.actions.put_nowait(SendAction(list(cmds), done))
            return await _progress_wait(live, done, timeout)

        return self._lab._call(run(), None)

    def _one(self, cmd: Command) -> CommandResult:
        """The device's answer to one command. A session that ends before it comes (the
        device opened a new one over it, say) hands over no result: SessionEnded, never an
        empty list for a case to index."""
        results = self.send([cmd])
        if not results:
            raise SessionEnded(f"session {self._live.session_id} ended before the device "
                               f"answered {type(cmd).__name__}: {self._live.state.ended}")
        return results[0]

    def close(self) -> None:
        """Send a package with only Status and Final: the device ends the session."""
        self._end(abort=False)

    def abort(self) -> None:
        """Send Alert 1223 (session abort)."""
        self._end(abort=True)

    def _end(self, *, abort: bool) -> None:
        live = self._live
        timeout = self._lab.timeouts.request

        async def run() -> None:
            if live.ended.is_set():
                return
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            live.actions.put_nowait(EndAction(abort, done))
            await _progress_wait(live, done, timeout)

        self._lab._call(run(), None)

    # ------------------------------------------------------------------ alerts

    def wait_alert(self, code: str, timeout: float | None = None) -> Alert:
        """The next Alert ``code`` (e.g. Generic Alert 1226) from this device.

        One already received in this session is returned first. Otherwise this session is
        closed (the device only speaks in its own turn) and the alert is awaited in the
        device's later sessions; the session that carried it is in :attr:`alert_session`.
        """
        mine = self.alerts(code)
        if self._alerts_seen < len(mine):
            self._alerts_seen += 1
            return mine[self._alerts_seen - 1]
        if not self._live.ended.is_set():
            self.close()
        later = self._lab._wait_session_with(timeout, alert=code, after=self._live, take=False)
        self.alert_session = later
        return later.alerts(code)[0]


async def _progress_wait(live: LiveSession, fut: asyncio.Future[T], timeout: float) -> T:
    """Wait for ``fut`` as long as the device keeps sending within ``timeout`` seconds."""
    while True:
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            if time.monotonic() - live.last_seen < timeout and not live.ended.is_set():
                continue  # the device is still sending (several messages): keep waiting
            if fut.done():
                return fut.result()
            live.end("device silent")
            raise DeviceTimeout(
                f"OMA-DM device {live.device} sent nothing for {timeout:g} s "
                f"in session {live.session_id}"
            ) from None


class OmaDmLab:
    """The lab's OMA-DM server: HTTP and HTTPS, sessions, Package 0."""

    def __init__(
        self, loop: LabLoop, declaration: Declaration, transcript: Transcript, run_dir: Path
    ) -> None:
        if declaration.omadm is None:
            raise ValueError("OmaDmLab needs a declaration with an 'omadm:' section")
        self._loop = loop
        self.declaration = declaration
        self._dm = declaration.omadm
        self.accounts = DmAccounts.of(declaration.omadm)  # the one holder of the DM secrets
        self.timeouts = declaration.timeouts
        self._transcript = transcript
        self._run_dir = Path(run_dir)
        self._host = advertised_host(declaration)
        self._server: DmServer | None = None
        self._channel: Package0Channel | None = None
        self._lock = threading.Lock()
        self._arrivals: list[LiveSession] = []
        self._taken: set[int] = set()
        self._mark = 0
        self._arrival = asyncio.Event()  # replaced on each arrival (a pulse); loop side only
        self.pki: LabPki | None = None
        self.nonces = NonceStore(self._run_dir / NONCE_FILE)

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        if self._server is not None:
            return
        self._register_secrets()
        self.pki = LabPki(self._run_dir, [self._host])
        self.nonces.reopen()
        server = DmServer(
            declaration=self.declaration,
            accounts=self.accounts,
            transcript=self._transcript,
            nonces=self.nonces,
            on_session=self._announce,
        )
        # The declared port is for the declared transport; the other scheme takes a free one.
        declared = self._dm.transport
        other = "http" if declared == "https" else "https"
        ports = {declared: self.declaration.lab.omadm_port, other: 0}
        self._loop.call(
            server.start(self.declaration.lab.host, self._host, ports, self.pki.server_context()),
            self.timeouts.request,
        )
        self._server = server
        self._arrival = self._loop.call(_new_event(), self.timeouts.request)
        # After start-up, once per process (shared with the LwM2M lab): the collector's
        # generation-2 pauses (~240 ms with 800 sessions open) cost ~0.4 ms per POST.
        tune_gc()

    def _register_secrets(self) -> None:
        redactor = self._transcript.redactor
        for secret in (*self.declaration.secrets(), *self.accounts.redactions()):
            redactor.add(secret)

    def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            self._loop.call(server.stop(), self.timeouts.request)
        self.nonces.close()

    def _running(self) -> DmServer:
        if self._server is None:
            raise RuntimeError("OmaDmLab is not started")
        return self._server

    @property
    def http_url(self) -> str:
        return self._running().url("http")

    @property
    def https_url(self) -> str:
        return self._running().url("https")

    @property
    def url(self) -> str:
        """The URL the device should use: per the declared transport."""
        return self.https_url if self._dm.transport == "https" else self.http_url

    def addresses(self) -> dict[str, str]:
        out = {"LAB_HOST": self._host}
        if self._server is not None:
            out.update(
                LAB_OMADM_URL=self.url,
                LAB_OMADM_HTTP_URL=self.http_url,
                LAB_OMADM_HTTPS_URL=self.https_url,
            )
        if self.pki is not None:
            out["LAB_CA_FILE"] = str(self.pki.ca_path)
        return out

    # ------------------------------------------------------------------ Package 0

    def set_package0_channel(self, channel: Package0Channel) -> None:
        self._channel = channel

    def _default_channel(self) -> Package0Channel:
        n = self._dm.notification
        if n.channel == "none":
            raise NotApplicable("the declaration says the device takes no Package 0")
        if n.channel == "udp" and n.address:
            return UdpChannel.parse(n.address)
        if n.channel == "shell" and n.command:
            return shell_package0_channel(self.declaration, self.addresses(), self._run_dir)
        raise Inconclusive(
            f"no Package 0 channel: declared {n.channel!r} without an address/command, "
            "and no controller set one"
        )

    def notify(self, session_id: int | None = None, *, wrong_digest: bool = False) -> int:
        """Build a Package 0 from the declaration and deliver it; returns its session id."""
        channel = self._channel or self._default_channel()
        sid = session_id if session_id is not None else random.randint(1, 0xFFFF)
        n = self._dm.notification
        device = self._device_key()
        nonce = self.nonces.server(device)
        account = self.accounts.primary  # both accounts name the lab's server: the first
        data = notification.build(
            account.server_id, account.lab_secret(wrong=wrong_digest), nonce, sid,
            version=n.version, ui_mode=n.ui_mode,
        )
        label = describe(channel)
        self._transcript.record(
            PROTOCOL,
            "lab->device",
            f"Package 0 session {sid} via {label}" + (" (wrong digest)" if wrong_digest else ""),
            device=device,
            session=str(sid),
            content_type="application/vnd.syncml.notification",
            raw=data,
            decoded=_describe_package0(data, wrong_digest, nonce),
        )
        try:
            channel.deliver(data)
        except Inconclusive as exc:
            self._transcript.note(PROTOCOL, f"delivery failed: {exc}", device=device)
            raise
        return sid

    def _device_key(self) -> str:
        with self._lock:
            seen = [s.device for s in self._arrivals]
        imei = self.declaration.device.imei
        return next((d for d in reversed(seen) if imei in d), f"IMEI:{imei}")

    # ------------------------------------------------------------------ sessions

    def _announce(self, live: LiveSession) -> None:
        """Called on the loop when a session's first message has been absorbed."""
        with self._lock:
            self._arrivals.append(live)
        event, self._arrival = self._arrival, asyncio.Event()
        event.set()

    def expect_session(self, options: SessionOptions | None = None, **kw: Any) -> None:
        """Forget earlier sessions and set the options of the next one (see SessionOptions)."""
        opts = options or SessionOptions(**kw)
        server = self._running()

        async def arm() -> None:
            server.next_options = opts

        self._loop.call(arm(), self.timeouts.request)
        with self._lock:
            self._mark = len(self._arrivals)

    def wait_session(self, timeout: float | None = None, *, alert: str | None = None) -> DmSession:
        """The next session (since :meth:`expect_session`), optionally one carrying ``alert``."""
        return self._wait_session_with(timeout, alert=alert, after=None, take=True)

    def wait_alert(self, code: str, timeout: float | None = None) -> Alert:
        """The next session's Alert ``code`` (the session stays for :meth:`wait_session`)."""
        session = self._wait_session_with(timeout, alert=code, after=None, take=False)
        return session.alerts(code)[0]

    def _wait_session_with(
        self, timeout: float | None, *, alert: str | None, after: LiveSession | None, take: bool
    ) -> DmSession:
        limit = timeout if timeout is not None else self.timeouts.session

        def pick() -> LiveSession | None:
            with self._lock:
                start = self._mark
                if after is not None and after in self._arrivals:
                    start = self._arrivals.index(after) + 1
                for live in self._arrivals[start:]:
                    if take and id(live) in self._taken:
                        continue
                    if alert is None or _carries(live, alert):
                        if take:
                            self._taken.add(id(live))
                        return live
            return None

        async def run() -> LiveSession:
            deadline = time.monotonic() + limit
            while True:
                event = self._arrival
                found = pick()
                if found is not None:
                    # Let authentication settle (a 401 round trip) before handing it over.
                    wait = max(0.1, min(deadline - time.monotonic(), self.timeouts.request))
                    try:
                        await asyncio.wait_for(found.ready.wait(), wait)
                    except TimeoutError:
                        pass  # the device stopped answering: the auth outcome says so
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    what = f" with Alert {alert}" if alert else ""
                    raise DeviceTimeout(f"no OMA-DM session{what} within {limit:g} s")
                try:
                    await asyncio.wait_for(event.wait(), left)
                except TimeoutError:
                    pass

        live = self._call(run(), limit + self.timeouts.request)
        return DmSession(self, live)

    # ------------------------------------------------------------------ plumbing

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        # The waits inside the coroutines raise DeviceTimeout first; this outer bound is the
        # lab's own safety net and means a harness problem, never a device fault.
        bound = (timeout or self.timeouts.request * 20) + _MARGIN
        return self._loop.call(coro, bound)


def _describe_package0(data: bytes, wrong_digest: bool, nonce: bytes) -> str:
    fields = notification.parse(data)  # the lab's own bytes: parsed for the reader only
    digest = "over a wrong server secret" if wrong_digest else f"with server nonce {nonce!r}"
    return f"{fields}\ndigest {digest}"


def _carries(live: LiveSession, code: str) -> bool:
    if any(a.data == code for a in live.state.alerts):
        return True
    return live.package1 is not None and bool(live.package1.alerts(code))


async def _new_event() -> asyncio.Event:
    return asyncio.Event()
