"""The lab's OMA-DM server on aiohttp: HTTP and HTTPS, XML and WBXML, interactive sessions.

One POST is one SyncML message. The handler decodes it, finds the session (by RespURI token,
else by SessionID and Source LocURI), checks the device's credentials, feeds the message to
the session's :class:`~conformance.omadm.session.SessionState` and answers. When the device
has finished a package it is the lab's turn: the handler *holds the device's HTTP request*
until the test decides what to send next (``LiveSession.actions``), bounded by the declared
request timeout, so a test reads like the session: send, the device answers, decide.

Nothing a device sends may crash or hang the server: every message is recorded in the
transcript, raw, and a malformed one gets a clear answer (HTTP 400/413/415, or a SyncML
Status 400 when its header can still be read); the next device is served as usual.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from conformance import xmlsafe
from conformance.declaration import Declaration
from conformance.errors import ProtocolError
from conformance.evidence.transcript import Transcript
from conformance.httpguard import ConnectionGuard, GuardedSite
from conformance.omadm import auth, codec
from conformance.omadm.account import DmAccounts, secret_values
from conformance.omadm.labauth import AuthOutcome, ClientCheck, LabCredentials
from conformance.omadm.model import (
    AlertCode,
    Command,
    Status,
    StatusCode,
    SyncHdr,
    SyncML,
)
from conformance.omadm.nonces import NonceStore
from conformance.omadm.session import (
    DEFAULT_LAB_MAX_MSG_SIZE,
    CommandResult,
    SessionOptions,
    SessionState,
)

PROTOCOL = "omadm"
MAX_BODY = 1024 * 1024  # beyond this a message is refused with 413 (and recorded)
MAX_AUTH_ATTEMPTS = 3  # after this many refused credentials the lab ends the session
SHUTDOWN_GRACE = 0.25  # on stop: how long a held or half-read request may still finish
MAX_ENDED = 256  # ended sessions kept for their late messages (the oldest go first)
MAX_OPEN = 1024  # sessions open at once; beyond, the least recently active one is ended
_BODY_KEY = web.RequestKey("conformance.omadm.body", bytes)  # read bytes, for an error report
_CUT = {
    "stalled": "device sent {n} of {of} bytes, then nothing for {idle:g} s: message dropped",
    "too slow": "device sent {n} of {of} bytes within the whole-request deadline of "
    "{deadline:g} s (limits.request_deadline): message dropped",
    "disconnected": "device closed the connection after {n} of {of} bytes",
    "bad framing": "malformed HTTP body framing after {n} bytes",
}
_DS_TYPES = ("application/vnd.syncml+xml", "application/vnd.syncml+wbxml")
_SESSION_START = (AlertCode.CLIENT_INITIATED, AlertCode.SERVER_INITIATED)
log = logging.getLogger(__name__)

Encoding = Literal["xml", "wbxml"]


@dataclass
class DmMessage:
    """One SyncML message of a session, either direction, as decoded."""

    direction: Literal["device->lab", "lab->device"]
    msg: SyncML
    raw: bytes
    content_type: str
    time: float = field(default_factory=time.time)


@dataclass
class SendAction:
    commands: list[Command]
    done: asyncio.Future[list[CommandResult]]
    results: list[CommandResult] = field(default_factory=list)


@dataclass
class EndAction:
    abort: bool
    done: asyncio.Future[None]


Action = SendAction | EndAction


class LiveSession:
    """One device session on the lab loop: state, evidence and the test's action queue."""

    def __init__(
        self,
        *,
        key: tuple[str, str],
        token: str,
        state: SessionState,
        client: ClientCheck,
        creds: LabCredentials,
        outcome: AuthOutcome,
        options: SessionOptions,
        encoding: Encoding,
        content_type: str,
    ) -> None:
        self.key = key
        self.token = token
        self.state = state
        self.client = client
        self.creds = creds
        self.auth = outcome
        self.options = options
        self.encoding: Encoding = encoding
        self.content_type = content_type
        self.package1: SyncML | None = None
        self.messages: list[DmMessage] = []
        self.errors: list[str] = []
        self.actions: asyncio.Queue[Action] = asyncio.Queue()
        self.lock = asyncio.Lock()
        self.ready = asyncio.Event()  # pkg1 authenticated (or authentication given up)
        self.activity = asyncio.Event()  # pulses on every device message
        self.ended = asyncio.Event()
        self.pending: SendAction | None = None
        self.server_retry_done = False
        self.announced = False
        self.last_seen = time.monotonic()
        self.created = time.monotonic()
        self.on_end: Callable[[LiveSession], None] | None = None  # the server's bookkeeping

    @property
    def session_id(self) -> str:
        return self.key[0]

    @property
    def device(self) -> str:
        return self.key[1]

    def end(self, reason: str) -> None:
        self.state.ended = self.state.ended or reason
        self.state.results_closed = True  # handed over below: later messages change none
        self.ready.set()
        self.ended.set()
        if self.pending is not None and not self.pending.done.done():
            self.pending.done.set_result(self.pending.results)
        self.pending = None
        while not self.actions.empty():
            action = self.actions.get_nowait()
            if not action.done.done():
                if isinstance(action, SendAction):
                    action.done.set_result(action.results)
                else:
                    action.done.set_result(None)
        if self.on_end is not None:
            self.on_end(self)

    def pulse(self) -> None:
        self.last_seen = time.monotonic()
        self.activity.set()
        self.activity = asyncio.Event()


def _classify(content_type: str) -> tuple[Encoding | None, str | None]:
    """(encoding, deviation): the DS content types are read, and recorded as a deviation."""
    base = content_type.split(";", 1)[0].strip().lower()
    enc = codec.encoding_of(base)
    deviation = None
    if base in _DS_TYPES:
        deviation = f"content type {base} is SyncML DS, not DM (application/vnd.syncml.dm+…)"
    return enc, deviation


def _pretty(data: bytes, enc: str) -> str:
    try:
        return codec.pretty(data, enc)
    except Exception:  # a display aid only: never let it hide the message itself
        if enc == "xml":
            return data[:4000].decode("utf-8", "replace")
        return data[:2000].hex(" ")


def _summary(msg: SyncML) -> str:
    try:
        return codec.summary(msg)
    except Exception:
        return ", ".join(c.name for c in msg.body) + (", Final" if msg.final else "")


_HDR_FIELDS = {
    "session_id": re.compile(rb"<SessionID>\s*([^<]{1,64}?)\s*</SessionID>"),
    "msg_id": re.compile(rb"<MsgID>\s*([^<]{1,32}?)\s*</MsgID>"),
    "target": re.compile(rb"<Target>\s*<LocURI>\s*([^<]{1,512}?)\s*</LocURI>"),
    "source": re.compile(rb"<Source>\s*<LocURI>\s*([^<]{1,512}?)\s*</LocURI>"),
}


def salvage_header(data: bytes) -> SyncHdr | None:
    """The SyncHdr of an XML message the codec refused, read without parsing (no entities)."""
    head = data[:8192]
    found: dict[str, str] = {}
    for name, pattern in _HDR_FIELDS.items():
        m = pattern.search(head)
        if m is None:
            return None
        # Echoed in the lab's rejection: what XML cannot hold is dropped, or it could not be sent.
        found[name] = xmlsafe.xml_chars(m.group(1).decode("utf-8", "replace"))
    return SyncHdr(
        session_id=found["session_id"],
        msg_id=found["msg_id"],
        target=found["target"],
        source=found["source"],
    )


def rejection(hdr: SyncHdr, msg_id: str = "1") -> SyncML:
    """The lab's answer to a message it cannot serve: Status 400 on the device's SyncHdr."""
    return SyncML(
        SyncHdr(
            session_id=hdr.session_id,
            msg_id=msg_id,
            target=hdr.source,
            source=hdr.target,
            ver_dtd=hdr.ver_dtd or "1.2",
            ver_proto=hdr.ver_proto or "DM/1.2",
        ),
        [
            Status(
                cmd_id="1",
                msg_ref=hdr.msg_id,
                cmd_ref="0",
                cmd="SyncHdr",
                data=StatusCode.BAD_REQUEST,
                target_refs=[hdr.target],
                source_refs=[hdr.source],
            )
        ],
        final=True,
    )


def _has_credentials(msg: SyncML, headers: Mapping[str, str]) -> bool:
    return msg.header.cred is not None or any(k.lower() == auth.HMAC_HEADER for k in headers)


def _peer(request: web.Request) -> str:
    info = request.transport.get_extra_info("peername") if request.transport else None
    if isinstance(info, tuple) and len(info) >= 2:
        host = str(info[0])
        return f"[{host}]:{info[1]}" if ":" in host else f"{host}:{info[1]}"
    return request.remote or ""


class DmServer:
    """The aiohttp application and the registry of live sessions (runs on the lab loop)."""

    def __init__(
        self,
        *,
        declaration: Declaration,
        accounts: DmAccounts,
        transcript: Transcript,
        nonces: NonceStore,
        on_session: Callable[[LiveSession], None],
        path: str = "/oma",
    ) -> None:
        assert declaration.omadm is not None
        self._decl = declaration
        self._dm = declaration.omadm
        self._accounts = accounts
        self._asked: dict[str, str] = {}  # device -> the auth type its Chal asked of the lab
        self._transcript = transcript
        self._nonces = nonces
        self._on_session = on_session
        self.path = path.rstrip("/") or "/oma"
        self._by_key: dict[tuple[str, str], LiveSession] = {}
        self._by_token: dict[str, LiveSession] = {}
        # By RespURI token, the least recently active first (a device message moves its
        # session to the end): pruning looks at the front only, not at every session.
        self._open: dict[str, LiveSession] = {}
        self._ended: dict[str, LiveSession] = {}  # ended, kept for their late messages
        self.next_options: SessionOptions | None = None
        self.base_urls: dict[str, str] = {}  # scheme -> "http://host:port"
        self._runner: web.AppRunner | None = None
        self._nonce_waiters: list[asyncio.Future[None]] = []  # for the next nonce commit
        self._guard = ConnectionGuard(
            per_source=declaration.limits.connections_per_source,
            deadline=declaration.request_deadline(),
            on_event=self._connection_event,
        )

    # ------------------------------------------------------------------ life cycle

    async def start(
        self, bind: str, advertised: str, ports: dict[str, int], ssl_context: ssl.SSLContext
    ) -> None:
        """Serve on ``ports`` (scheme -> port, 0 picks a free one) on the ``bind`` address."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", self.path, self._handle)
        app.router.add_route("*", self.path + "/s/{token}", self._handle)
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE
        )
        await runner.setup()
        host = f"[{advertised}]" if ":" in advertised else advertised
        try:
            for scheme, port in ports.items():
                tls = ssl_context if scheme == "https" else None
                site = GuardedSite(runner, bind, port, ssl_context=tls, guard=self._guard)
                await site.start()
                self.base_urls[scheme] = f"{scheme}://{host}:{site.port}"
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        for live in list(self._by_key.values()):
            live.end("lab stopped")
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def url(self, scheme: str) -> str:
        return self.base_urls[scheme] + self.path

    def _connection_event(self, text: str, peer: str, error: bool) -> None:
        self._transcript.record(
            PROTOCOL, "note", text, device=peer, peer=peer, error=text if error else None
        )

    # ------------------------------------------------------------------ HTTP entry

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        peer = _peer(request)
        try:
            return await self._handle_message(request, peer)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a lab bug: say so, keep serving, never blame the device
            log.exception("OMA-DM handler failed")
            self._transcript.record(  # with the bytes received: nothing a device sent is lost
                PROTOCOL,
                "note",
                f"lab internal error: {type(exc).__name__}: {exc}",
                peer=peer,
                raw=request.get(_BODY_KEY, b""),
            )
            return web.Response(status=500, text="lab internal error\n")

    async def _read_body(self, request: web.Request) -> tuple[bytes, str | None]:
        """The body, or what came of it and why it is incomplete (a key of ``_CUT``).

        A slow sender may pace its message; one that stops sending for the request timeout
        is dropped, so that a half-open connection never holds a handler (or the lab's stop),
        and so is one that has not sent it all by the whole-request deadline (slowloris).
        """
        if request.content_length is not None and request.content_length > MAX_BODY:
            return b"", "too big"
        chunks: list[bytes] = []
        size = 0
        idle = self._decl.timeouts.request
        loop = asyncio.get_running_loop()
        started = self._guard.request_started(request.transport) or loop.time()
        deadline = started + self._decl.request_deadline()
        stream = request.content
        while True:
            left = deadline - loop.time()
            try:
                if left <= 0:
                    raise TimeoutError
                # What has arrived is taken without a wait (a message usually comes with its
                # headers); only an empty buffer is waited on, in a timeout scope (wait_for
                # would make a task per read).
                chunk = stream.read_nowait(65536)
                if not chunk and not stream.at_eof():
                    async with asyncio.timeout(min(idle, left)):
                        chunk = await stream.read(65536)
            except TimeoutError:
                late = loop.time() >= deadline - 0.001
                return b"".join(chunks), "too slow" if late else "stalled"
            except ConnectionError:  # aiohttp: "Connection lost" mid-body
                # Bytes that arrived with the hang-up stay in the stream's buffer: read()
                # raises before returning them. They were received, so they are recorded.
                skip = getattr(stream, "_buffer_offset", 0)  # of the first, partly read chunk
                for index, chunk in enumerate(getattr(stream, "_buffer", ())):
                    chunks.append(bytes(chunk)[skip if index == 0 else 0 :])
                return b"".join(chunks)[:MAX_BODY], "disconnected"
            except HttpProcessingError:  # e.g. broken chunked transfer encoding
                return b"".join(chunks), "bad framing"
            if not chunk:
                return b"".join(chunks), None
            size += len(chunk)
            if size > MAX_BODY:
                return b"".join(chunks)[:65536], "too big"
            chunks.append(chunk)

    async def _handle_message(self, request: web.Request, peer: str) -> web.StreamResponse:
        headers = dict(request.headers)
        ctype = request.headers.get("Content-Type", "")
        if request.method != "POST":
            self._guard.request_read(request.transport)
            self._record_in(
                f"{request.method} {request.path}",
                peer=peer,
                headers=headers,
                error="OMA-DM messages are POSTed",
            )
            return web.Response(status=405, headers={"Allow": "POST"})
        body, cut = await self._read_body(request)
        self._guard.request_read(request.transport)  # the lab may now hold it (its turn)
        request[_BODY_KEY] = body
        if cut is not None and cut != "too big":
            size = request.content_length
            self._record_in(
                f"POST {request.path} (incomplete)",
                peer=peer,
                headers=headers,
                raw=body,
                content_type=ctype,
                error=_CUT[cut].format(n=len(body), of=size if size is not None else "?",
                                       idle=self._decl.timeouts.request,
                                       deadline=self._decl.request_deadline()),
            )
            if cut == "disconnected":  # nobody to answer: no answer is recorded either
                return web.Response(status=400)
            status = 408 if cut in ("stalled", "too slow") else 400
            return self._http_error(status, f"incomplete message ({cut})", peer)
        if cut == "too big":
            self._record_in(
                f"POST {request.path} (over {MAX_BODY} bytes)",
                peer=peer,
                headers=headers,
                raw=body,
                content_type=ctype,
                error=f"message larger than {MAX_BODY} bytes refused",
            )
            return self._http_error(413, "message too large", peer)
        enc, deviation = _classify(ctype)
        if enc is None:
            self._record_in(
                f"POST {request.path}",
                peer=peer,
                headers=headers,
                raw=body,
                content_type=ctype,
                error=f"unsupported content type {ctype!r}",
            )
            return self._http_error(415, "expected application/vnd.syncml.dm+xml or +wbxml", peer)
        try:
            # Decoded and pretty-printed for the transcript from one parse.
            msg, shown = codec.decode_shown(body, enc, max_text=self._decl.decoded_bound())
        except ProtocolError as exc:
            return await self._malformed(request, peer, headers, body, enc, ctype, exc)
        self._protect(msg)  # before anything of it is recorded
        live, problem = self._route(msg, request, enc, ctype)
        if live is None:
            self._record_in(
                f"POST: {_summary(msg)}",
                peer=peer,
                headers=headers,
                raw=body,
                content_type=ctype,
                decoded=shown,
                session=msg.header.session_id,
                device=msg.header.source,
                error=problem,
            )
            return self._syncml_rejection(msg.header, enc, peer, problem or "unknown session")
        async with live.lock:
            return await self._serve(
                live, msg, body, headers, request, peer, deviation, problem, shown
            )

    # ------------------------------------------------------------------ routing

    def _route(
        self, msg: SyncML, request: web.Request, enc: Encoding, ctype: str
    ) -> tuple[LiveSession | None, str | None]:
        hdr = msg.header
        key = (hdr.session_id, hdr.source)
        token = request.match_info.get("token")
        if token is not None:
            live = self._by_token.get(token)
            if live is None:
                return None, f"RespURI token {token!r} names no session"
            if live.key != key:
                problem = (
                    f"SessionID {hdr.session_id!r} / Source {hdr.source!r} posted to the "
                    f"RespURI of session {live.session_id!r} of {live.device!r}"
                )
                live.errors.append(problem)
                return None, problem
            return live, None
        live = self._by_key.get(key)
        # A package 1 (MsgID 1, no Status) after a finished authentication starts a new
        # session even with a reused SessionID; before that it is the device's auth retry.
        first = hdr.msg_id.strip() == "1" and not msg.statuses()
        if live is not None:
            if first and (live.client.accepted or live.ended.is_set()):
                live.end("superseded by a new session with the same SessionID")
                return self._new_session(msg, request, enc, ctype), None
            if live.state.resp_uri and live.state.lab_msg_id > 0:
                return live, f"message posted to {request.path}, not to the RespURI"
            return live, None
        if not first:
            other = next((s for s in self._by_key.values() if s.device == hdr.source), None)
            problem = f"SessionID {hdr.session_id!r} belongs to no session of this device"
            if other is not None and not other.ended.is_set():
                other.errors.append(problem)
            return None, problem
        return self._new_session(msg, request, enc, ctype), None

    def _new_session(
        self, msg: SyncML, request: web.Request, enc: Encoding, ctype: str
    ) -> LiveSession:
        hdr = msg.header
        options = self.next_options or SessionOptions()
        self.next_options = None
        token = secrets.token_urlsafe(9)
        accounts = self._accounts
        outcome = AuthOutcome(expected=accounts.primary.client_auth)
        declared_size = self._dm.max_msg_size
        state = SessionState(
            session_id=hdr.session_id,
            device=hdr.source,
            server_uri=hdr.target,
            lab_max_msg_size=options.max_msg_size or DEFAULT_LAB_MAX_MSG_SIZE,
            device_max_msg_size=declared_size,
            lab_max_obj_size=self._decl.decoded_bound(),
            split_packages=options.split_packages,
            resp_uri=f"{self.base_urls.get(request.scheme, '')}{self.path}/s/{token}",
        )
        client = ClientCheck(
            accounts=accounts,
            store=self._nonces,
            device=hdr.source,
            outcome=outcome,
            force_challenge=options.challenge,
        )
        creds = LabCredentials(
            account=accounts.primary,
            store=self._nonces,
            device=hdr.source,
            outcome=outcome,
            wrong=options.wrong_server_credential,
        )
        if hdr.source in self._asked:
            creds.prefer(self._asked[hdr.source], "an earlier Chal of this device asked for it")
        live = LiveSession(
            key=(hdr.session_id, hdr.source),
            token=token,
            state=state,
            client=client,
            creds=creds,
            outcome=outcome,
            options=options,
            encoding=enc,
            content_type=ctype,
        )
        state.size_bound = lambda msg: codec.size_bound(msg, live.encoding)
        self._prune()
        self._by_key[live.key] = live
        self._by_token[token] = live
        self._open[token] = live
        live.on_end = self._session_ended
        self._transcript.note(
            PROTOCOL,
            f"session {hdr.session_id} of {hdr.source} starts",
            device=hdr.source,
            session=hdr.session_id,
        )
        return live

    def _prune(self) -> None:
        """End abandoned sessions; forget ended ones after the horizon and past ``MAX_ENDED``.

        A device that stops mid-session (no message for four session timeouts while it is
        its turn) has abandoned it: the session ends, recorded. An ended session is kept a
        while to answer a late message of it, but a stream of short or abandoned sessions
        must not keep each one with its messages (issue 15: the lab grew with each session).
        Runs for every new session: it looks at the least recently active sessions only (a
        sort of all of them made 800 sessions at once cost O(n² log n)).
        """
        now = time.monotonic()
        timeouts = self._decl.timeouts
        silent = now - 4 * max(timeouts.session, timeouts.request)
        stale = []
        for live in self._open.values():
            if live.last_seen >= silent:
                break
            if not live.lock.locked():
                stale.append(live)
        for live in stale:
            self._end_quietly(live, "abandoned by the device", f"no message from the "
                              f"device for {now - live.last_seen:.0f} s, ended as abandoned")
        if len(self._open) >= MAX_OPEN:
            idle = [s for s in self._open.values() if not s.lock.locked()]
            for live in idle[: max(0, len(idle) - MAX_OPEN + 1)]:
                self._end_quietly(live, f"dropped: more than {MAX_OPEN} sessions open",
                                  f"the least recently active of more than {MAX_OPEN} open "
                                  "sessions, ended")
        horizon = now - max(600.0, timeouts.session * 4)
        while self._ended:
            token, live = next(iter(self._ended.items()))
            if len(self._ended) <= MAX_ENDED and live.last_seen >= horizon:
                break
            del self._ended[token]
            self._by_token.pop(token, None)
            if self._by_key.get(live.key) is live:
                del self._by_key[live.key]

    def _session_ended(self, live: LiveSession) -> None:
        if self._open.pop(live.token, None) is not None:
            self._ended[live.token] = live

    def _touch(self, live: LiveSession) -> None:
        """A device message: the session becomes the most recently active one."""
        live.pulse()
        for order in (self._open, self._ended):
            if order.pop(live.token, None) is not None:
                order[live.token] = live

    def _end_quietly(self, live: LiveSession, reason: str, note: str) -> None:
        """End a session no device message will end, with a note saying why."""
        live.end(reason)
        self._transcript.note(
            PROTOCOL, f"session {live.session_id}: {note}", device=live.device,
            session=live.session_id,
        )

    # ------------------------------------------------------------------ one message

    async def _serve(
        self,
        live: LiveSession,
        msg: SyncML,
        body: bytes,
        headers: Mapping[str, str],
        request: web.Request,
        peer: str,
        deviation: str | None,
        route_problem: str | None,
        shown: str,
    ) -> web.StreamResponse:
        state = live.state
        before = len(state.problems)
        notes: list[str] = [p for p in (deviation, route_problem) if p]
        if self._dm.transport == "https" and request.scheme != "https" and _has_credentials(
            msg, headers
        ):
            # Caught whether or not they verify: the secret crossed the wire in clear.
            live.auth.plain_http = True
            notes.append("credentials sent over plain HTTP; the declaration says https")
        if len(body) > state.lab_max_msg_size:
            notes.append(f"{len(body)} bytes exceed the lab's MaxMsgSize {state.lab_max_msg_size}")
        was_ended = live.ended.is_set()
        if live.state.lab_msg_id > 0:
            live.client.delivered()
        first_accepted = not live.client.accepted
        answer = live.client.check(msg.header, body, headers)
        live.creds.use(live.client.account)
        accepted = answer.code in (StatusCode.OK, StatusCode.AUTH_ACCEPTED)
        if (accepted and first_accepted) or live.package1 is None:
            live.package1 = msg  # the package 1 that passed (or the first, as evidence)
        state.absorb(msg, answer)
        told = len(live.auth.notes)
        for status in state.header_statuses:
            problem = live.creds.on_status(status)
            if problem:
                notes.append(problem)
            if live.creds.switched:
                self._asked[live.device] = live.creds.kind
        state.header_statuses.clear()
        notes.extend(state.problems[before:])
        live.messages.append(
            DmMessage("device->lab", msg, body, request.headers.get("Content-Type", ""))
        )
        self._record_in(
            f"POST pkg{state.device_package}: {_summary(msg)}",
            peer=peer,
            headers=dict(headers),
            raw=body,
            content_type=request.headers.get("Content-Type", ""),
            decoded=shown,
            session=live.session_id,
            device=live.device,
            error="; ".join(notes) or None,
        )
        live.errors.extend(notes)
        for note in live.auth.notes[told:]:  # e.g. the lab follows the device's Chal
            self._transcript.note(PROTOCOL, note, device=live.device, session=live.session_id)
        # This message's nonce changes are on disk before the lab answers it. Awaited once the
        # message is recorded: a lab stopped meanwhile still has it in the transcript.
        await self._nonces_on_disk()
        self._touch(live)
        if not live.announced:
            live.announced = True
            self._on_session(live)  # after absorbing: package 1 and its alerts are known

        if was_ended:
            reply = state.compose_package(live.creds.cred(), close=True)
            return self._reply(live, reply, peer, "message after the session ended")
        if not accepted:
            reply = state.compose_package(live.creds.cred())
            if len(live.auth.attempts) >= MAX_AUTH_ATTEMPTS:
                reply = self._give_up_auth(live, reply)
            else:
                state.device_package -= 2  # the device sends package 1 again
            return self._reply(live, reply, peer)
        if not msg.final and not state.ended:
            if state.chunking:  # the device asks for the next chunk of the lab's object
                reply = state.compose_chunk(live.creds.cred(), size_of=self._size_of(live))
                return self._reply(live, reply, peer)
            if state.package_open and msg.alerts(AlertCode.NEXT_MESSAGE):
                # the device asks for the next message of the lab's package
                reply = state.compose_package(live.creds.cred(), size_of=self._size_of(live))
                return self._reply(live, reply, peer)
            return self._reply(live, state.compose_next_message(live.creds.cred()), peer)
        reply = await self._lab_turn(live)
        return self._reply(live, reply, peer)

    async def _nonces_on_disk(self) -> None:
        """Return once the nonce changes made so far are committed (group commit).

        The messages handled in the same turn of the loop share one SQLite commit (~40 us
        each on its own) instead of one each; each waits for it before the lab answers.
        """
        waiter = asyncio.get_running_loop().create_future()
        if not self._nonce_waiters:
            asyncio.get_running_loop().call_soon(self._commit_nonces)
        self._nonce_waiters.append(waiter)
        await waiter

    def _commit_nonces(self) -> None:
        waiters, self._nonce_waiters = self._nonce_waiters, []
        failure: Exception | None = None
        try:
            self._nonces.flush()
        except Exception as exc:  # a lab bug: each handler reports it (500), none hangs
            failure = exc
        for waiter in waiters:
            if waiter.done():  # a handler cancelled meanwhile (lab stopping)
                continue
            if failure is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(failure)

    def _give_up_auth(self, live: LiveSession, reply: SyncML) -> SyncML:
        live.state.ended = "authentication failed"
        live.end("authentication failed")
        self._transcript.note(
            PROTOCOL,
            f"session {live.session_id}: credentials refused {MAX_AUTH_ATTEMPTS} times, ended",
            device=live.device,
            session=live.session_id,
        )
        return reply

    async def _lab_turn(self, live: LiveSession) -> SyncML:
        """The device finished its package: resolve the test's wait, take its next action."""
        state = live.state
        size_of = self._size_of(live)
        while True:
            if state.ended:
                reply = state.compose_package(live.creds.cred(), close=True)
                live.end(state.ended)
                return reply
            if state.chunking:  # a device that did not ask still gets the rest of the object
                return state.compose_chunk(live.creds.cred(), size_of=size_of)
            if state.has_queued:
                return state.compose_package(live.creds.cred(), size_of=size_of)
            if live.pending is not None:
                if self._should_resend(live):
                    live.server_retry_done = True
                    state.requeue_last_package()
                    continue
                pending, live.pending = live.pending, None
                if not pending.done.done():
                    pending.done.set_result(pending.results)
            live.ready.set()
            hold = self._decl.timeouts.request
            try:
                if live.actions.empty():
                    async with asyncio.timeout(hold):  # no task per turn, unlike wait_for
                        action = await live.actions.get()
                else:
                    action = live.actions.get_nowait()
            except TimeoutError:
                self._transcript.note(
                    PROTOCOL,
                    f"session {live.session_id}: no command from the test for {hold:g} s, "
                    "lab closes the session",
                    device=live.device,
                    session=live.session_id,
                )
                reply = state.compose_package(live.creds.cred(), close=True)
                live.end("closed by the lab (test idle)")
                return reply
            if isinstance(action, SendAction):
                action.results = state.enqueue(action.commands)
                live.pending = action
                continue
            reply = state.compose_package(
                live.creds.cred(), abort=action.abort, close=not action.abort
            )
            live.end(state.ended or "closed by the lab")
            action.done.set_result(None)
            return reply

    def _should_resend(self, live: LiveSession) -> bool:
        statuses = live.auth.server_statuses
        return (
            not live.server_retry_done
            and not live.options.wrong_server_credential
            and bool(statuses)
            and statuses[-1] in ("401", "407")
            and (bool(live.auth.server_nonces) or live.creds.switched)
        )

    def _size_of(self, live: LiveSession) -> Callable[[SyncML], int]:
        def size_of(msg: SyncML) -> int:
            return len(codec.encode(msg, live.encoding))

        return size_of

    # ------------------------------------------------------------------ answers

    def _protect(self, msg: SyncML) -> None:
        """Register the values of secret nodes (AAuthSecret, AAuthData) before recording."""
        for value in secret_values(msg):
            self._transcript.redactor.add(value)

    def _reply(
        self, live: LiveSession, msg: SyncML, peer: str, error: str | None = None
    ) -> web.Response:
        self._protect(msg)
        data, shown = codec.encode_shown(msg, live.encoding)  # one tree for both
        ctype = codec.content_type_of(live.encoding)
        headers = {"Content-Type": ctype}
        mac = live.creds.hmac_header(data)
        if mac is not None:
            headers[auth.HMAC_HEADER] = mac
        live.messages.append(DmMessage("lab->device", msg, data, ctype))
        self._transcript.record(
            PROTOCOL,
            "lab->device",
            f"200 pkg{live.state.lab_package}: {_summary(msg)}",
            device=live.device,
            peer=peer,
            session=live.session_id,
            content_type=ctype,
            raw=data,
            decoded=shown,
            headers=headers,
            error=error,
        )
        return web.Response(body=data, headers=headers)

    def _record_in(self, summary: str, **kw: object) -> None:
        peer = str(kw.get("peer", ""))
        kw.setdefault("device", peer)
        self._transcript.record(PROTOCOL, "device->lab", summary, **kw)  # type: ignore[arg-type]

    def _http_error(self, status: int, text: str, peer: str) -> web.Response:
        self._transcript.record(PROTOCOL, "lab->device", f"{status} {text}", device=peer, peer=peer)
        return web.Response(status=status, text=text + "\n")

    async def _malformed(
        self,
        request: web.Request,
        peer: str,
        headers: dict[str, str],
        body: bytes,
        enc: Encoding,
        ctype: str,
        exc: ProtocolError,
    ) -> web.Response:
        hdr = salvage_header(body) if enc == "xml" else None
        live = self._by_key.get((hdr.session_id, hdr.source)) if hdr else None
        error = f"malformed message: {exc}"
        if live is not None:
            live.errors.append(error)
        self._record_in(
            "POST (malformed)",
            peer=peer,
            headers=headers,
            raw=body,
            content_type=ctype,
            decoded=_pretty(body, enc) if enc == "xml" and len(body) < 65536 else "",
            session=hdr.session_id if hdr else "",
            device=hdr.source if hdr else peer,
            error=error,
        )
        if hdr is None:
            return self._http_error(400, f"malformed SyncML: {exc}", peer)
        return self._syncml_rejection(hdr, enc, peer, error, live)

    def _syncml_rejection(
        self,
        hdr: SyncHdr,
        enc: Encoding,
        peer: str,
        why: str,
        live: LiveSession | None = None,
    ) -> web.Response:
        """A SyncML answer with Status 400 on the device's SyncHdr, and Final."""
        msg_id = str(live.state.lab_msg_id + 1) if live is not None else "1"
        if live is not None:
            live.state.lab_msg_id += 1
        reply = rejection(hdr, msg_id)
        try:
            data, shown = codec.encode_shown(reply, enc)
        except ProtocolError as exc:  # a header value no encoding can carry: plain HTTP then
            return self._http_error(400, f"malformed SyncML: {why} ({exc.message})", peer)
        ctype = codec.content_type_of(enc)
        self._transcript.record(
            PROTOCOL,
            "lab->device",
            f"200 (rejection): {_summary(reply)}",
            device=hdr.source,
            peer=peer,
            session=hdr.session_id,
            content_type=ctype,
            raw=data,
            decoded=shown,
            error=why,
        )
        return web.Response(body=data, headers={"Content-Type": ctype})
