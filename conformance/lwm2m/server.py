"""The lab's LwM2M server interfaces as aiocoap resources: Registration and Bootstrap.

- ``POST /rd?ep=&lt=&lwm2m=&b=&sms=&Q`` (link-format body) -> 2.01, Location-Path ``rd/<n>``;
  ``POST /rd/<n>`` Update -> 2.04; ``DELETE /rd/<n>`` De-register -> 2.02 (TS 1.1 §6.2).
- ``POST /bs?ep=`` Bootstrap-Request -> 2.04 (TS 1.1 §6.1); ``GET /bspack`` (TS 1.2) -> 4.04
  unless the lab has a bootstrap pack to serve.

Whatever a device sends, a handler answers per CoAP and records what was wrong; it never
raises past aiocoap (which would turn it into a 5.00 and a logged traceback).
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from aiocoap import Code, Message
from aiocoap.blockwise import Block1Spool, IncompleteException, _extract_block_key
from aiocoap.error import BadRequest
from aiocoap.numbers.types import ACK, CON
from aiocoap.resource import PathCapable, Resource, Site

from conformance.declaration import Limits
from conformance.errors import ProtocolError
from conformance.evidence.transcript import Transcript
from conformance.lwm2m import query as q
from conformance.lwm2m.coaplog import PROTOCOL, peer_text
from conformance.lwm2m.model import ContentFormat
from conformance.lwm2m.registrations import Registration, RegistrationStore, UpdateParams

# Largest request body (after block-wise assembly) the lab accepts by default (limits
# .coap_body_bytes); beyond it 4.13 + Size1.
MAX_BODY = Limits().coap_body_bytes


@dataclass
class BootstrapRequest:
    endpoint: str
    params: dict[str, str]
    peer: str
    secure: bool
    remote: Any
    time: float


@dataclass
class ServerState:
    """What the resources share with the facade (all touched on the lab loop only)."""

    transcript: Transcript
    store: RegistrationStore
    bootstrap_requests: list[BootstrapRequest] = field(default_factory=list)
    bootstrap_changed: asyncio.Event = field(default_factory=asyncio.Event)
    bootstrap_pack: bytes | None = None  # SenML CBOR served on GET /bspack, if set
    bootstrap_peers: dict[str, str] = field(default_factory=dict)  # peer -> endpoint
    psk_required: bool = False
    bootstraps: bool = True  # False: the declaration says no bootstrap; every request refused
    # Endpoints whose next Update the lab answers 4.04, dropping the registration: a server
    # that lost its state (ETS int-105); the time each rejection happened, once it did.
    forget_on_update: dict[str, float | None] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    # PSK identity -> the endpoint the lab gave it to: the declared identity, or one the lab's
    # bootstrap provisioned. Such an identity is that device's own, even when it registers
    # while a registration over its earlier identity lingers (it did not De-register).
    identity_owners: dict[str, str] = field(default_factory=dict)

    def device_of(self, peer: str) -> tuple[str, str]:
        reg = self.store.by_peer(peer)
        if reg is not None:
            return reg.endpoint, reg.location
        if peer in self.bootstrap_peers:
            return self.bootstrap_peers[peer], "bs"
        return peer, ""

    def problem(self, request: Message, summary: str, error: str) -> None:
        peer = peer_text(request.remote)
        device, session = self.device_of(peer)
        self.transcript.record(
            PROTOCOL, "note", summary, device=device, peer=peer, session=session, error=error
        )

    def event(self, request: Message, summary: str, **kw: str) -> None:
        peer = peer_text(request.remote)
        device, session = self.device_of(peer)
        kw.setdefault("device", device)
        kw.setdefault("session", session)
        self.transcript.record(PROTOCOL, "note", summary, peer=peer, **kw)  # type: ignore[arg-type]


def psk_identity_of(request: Message) -> str | None:
    """The PSK identity of the DTLS session a request came over (None: NoSec)."""
    claims = getattr(request.remote, "authenticated_claims", None) or []
    return next((str(c)[4:] for c in claims if isinstance(c, str) and c.startswith("psk:")), None)


def _context(secure: bool, identity: str | None) -> str:
    return f"DTLS PSK identity {identity!r}" if secure else "NoSec"


def error_response(code: Code, reason: str) -> Message:
    # Diagnostic payload (RFC 7252 §5.5.2): the reason, for the device's logs and the transcript.
    return Message(code=code, payload=reason.encode("utf-8")[:200])


def unknown_critical_options(request: Message) -> list[int]:
    """Critical option numbers (odd, RFC 7252 §5.4.1) aiocoap does not know, hence ignores."""
    return [
        int(opt.number)
        for opt in request.opt.option_list()
        if opt.number.is_critical() and not hasattr(opt.number, "name")
    ]


class LabSite(Site):
    """The lab's Site: a request with an unrecognised critical option gets 4.02 Bad Option."""

    def __init__(self, state: ServerState) -> None:
        super().__init__()
        self.state = state

    async def render_to_pipe(self, pipe: Any) -> None:
        request = pipe.request
        unknown = unknown_critical_options(request)
        if unknown and request.code.is_request():
            numbers = ", ".join(str(n) for n in unknown[:8])
            self.state.problem(
                request,
                f"request with unrecognised critical option {numbers} refused (4.02)",
                f"coap: unrecognised critical option {numbers} (RFC 7252 5.4.1: 4.02 Bad Option)",
            )
            response = error_response(Code.BAD_OPTION, f"unrecognised critical option {numbers}")
            pipe.add_response(response, is_last=True)
            return
        await super().render_to_pipe(pipe)


class LabBlock1Spool(Block1Spool):
    """aiocoap's Block1 assembly with RFC 7959 answers and a bound on transfers in progress.

    aiocoap 0.4.17 lets a gap or a misaligned block-size change escape as a bare ValueError
    (a 5.00 and a traceback) and takes SZX 7 (reserved over UDP) as BERT. Here: a block that
    does not continue the assembly is 4.08 Request Entity Incomplete (RFC 7959 §2.3), SZX 7
    is 4.00, a larger block size than the transfer started with is 4.08; each is recorded.
    """

    def __init__(self, state: ServerState) -> None:
        super().__init__()
        self.state = state

    def _refuse(
        self, req: Message, what: str, error: type[Exception] = IncompleteException
    ) -> NoReturn:
        code = "4.00" if error is BadRequest else "4.08"
        self.state.problem(req, f"Block1 {what} refused ({code})", f"coap: Block1 {what}")
        raise error(what)

    def feed_and_take(self, req: Message) -> Message:
        block1 = req.opt.block1
        if block1 is None:
            return req
        if block1.size_exponent == 7:
            self._refuse(req, "with SZX 7 (reserved, RFC 7959 2.2)", BadRequest)
        items = self._assemblies._items
        key = _extract_block_key(req)
        first = items.get(key)
        if block1.block_number == 0:
            limit = self.state.limits.coap_assemblies
            while key not in items and len(items) >= limit:
                del items[next(iter(items))]  # the oldest transfer in progress is dropped
        elif first is None:
            self._refuse(req, f"block {block1.block_number} of no transfer in progress")
        elif first.opt.block1 is not None and block1.size > first.opt.block1.size:
            self._refuse(
                req, f"block size grew from {first.opt.block1.size} to {block1.size} bytes"
            )
        elif block1.start != len(first.payload):
            self._refuse(
                req,
                f"block {block1.block_number} starts at byte {block1.start}, "
                f"{len(first.payload)} bytes received (gap or overlap)",
            )
        try:
            result: Message = super().feed_and_take(req)
        except ValueError:  # any other inconsistency aiocoap finds
            self._refuse(req, "does not continue the transfer")
        return result


class LabResource(Resource):
    """A resource that bounds request bodies and turns any handler failure into a recorded 5.00."""

    def __init__(self, state: ServerState) -> None:
        super().__init__()
        self.state = state
        self._block1 = LabBlock1Spool(state)

    async def render_to_pipe(self, pipe: Any) -> None:
        request = pipe.request
        block1 = request.opt.block1
        limit = self.state.limits.coap_body_bytes
        size = max(len(request.payload), block1.start + len(request.payload) if block1 else 0)
        if size > limit or (request.opt.size1 or 0) > limit:
            self.state.problem(
                request,
                f"request body over {limit} bytes refused (4.13)",
                f"coap: oversized request body ({max(size, request.opt.size1 or 0)} bytes, "
                f"limits.coap_body_bytes {limit})",
            )
            response = error_response(Code.REQUEST_ENTITY_TOO_LARGE, "body too large")
            response.opt.size1 = limit
            pipe.add_response(response, is_last=True)
            return
        await super().render_to_pipe(pipe)

    async def render(self, request: Message) -> Message:
        try:
            return await super().render(request)
        except Exception as exc:
            from aiocoap.error import RenderableError

            if isinstance(exc, RenderableError):
                raise
            # A lab bug must not look like a device fault: say so in the transcript.
            self.state.problem(
                request,
                "lab error while handling a request (answered 5.00)",
                f"harness: {type(exc).__name__}: {exc}",
            )
            return error_response(Code.INTERNAL_SERVER_ERROR, "lab error")


class RegistrationInterface(LabResource):
    """``/rd`` (Register); its :class:`RegistrationLocations` twin serves ``/rd/<n>``."""

    def __init__(
        self, state: ServerState, *, secure: bool, on_registered: Callable[[Registration], None]
    ) -> None:
        super().__init__(state)
        self.secure = secure
        self.on_registered = on_registered

    async def render_post(self, request: Message) -> Message:
        path = request.opt.uri_path
        if not path:
            return self._register(request)
        if len(path) == 1:
            return self._update(request, "rd/" + path[0])
        return error_response(Code.NOT_FOUND, "no such registration")

    async def render_delete(self, request: Message) -> Message:
        path = request.opt.uri_path
        reg = self.state.store.by_location("rd/" + path[0]) if len(path) == 1 else None
        if reg is None:
            self.state.problem(
                request, "De-register of an unknown location (4.04)", "unknown registration"
            )
            return error_response(Code.NOT_FOUND, "no such registration")
        refused = self._ownership(request, reg, "De-register")
        if refused is not None:
            return refused
        self.state.store.deregister(reg)
        return Message(code=Code.DELETED)

    # -- Register ------------------------------------------------------------------------------

    def _query_too_long(
        self, request: Message, what: str, query: tuple[str, ...] | None = None
    ) -> Message | None:
        size = sum(len(o.encode("utf-8")) for o in
                   (request.opt.uri_query if query is None else query))
        limit = self.state.limits.query_bytes
        if size <= limit:
            return None
        self.state.problem(
            request,
            f"{what} refused (4.00): Uri-Query of {size} bytes",
            f"coap: Uri-Query of {size} bytes exceeds limits.query_bytes {limit}",
        )
        return error_response(Code.BAD_REQUEST, f"Uri-Query over {limit} bytes")

    def _register(self, request: Message) -> Message:
        peer = peer_text(request.remote)
        options = request.opt.uri_query
        too_long = self._query_too_long(request, "Register", options)
        if too_long is not None:
            return too_long
        try:
            query = q.parse_query(list(options))
        except q.UnsupportedVersion as exc:
            self.state.problem(request, f"Register refused (4.12): {exc.message}", str(exc))
            return error_response(Code.PRECONDITION_FAILED, exc.message)
        except ProtocolError as exc:
            self.state.problem(request, f"Register refused (4.00): {exc.message}", str(exc))
            return error_response(Code.BAD_REQUEST, exc.message)
        assert query.endpoint is not None
        identity = psk_identity_of(request)
        refused = self._admit(request, query.endpoint, peer, identity)
        if refused is not None:
            return refused
        deviations = list(query.deviations)
        parsed = self._links(request, deviations)
        if isinstance(parsed, Message):
            return parsed
        links, objects, root, ct = parsed
        if self.state.psk_required and not self.secure:
            deviations.append("registered over NoSec although the declaration says psk")
        now = time.time()
        reg = Registration(
            endpoint=query.endpoint,
            location=self.state.store.new_location(),
            lifetime=query.lifetime or q.DEFAULT_LIFETIME,
            lwm2m=query.lwm2m or "1.0",
            binding=query.binding or "U",
            sms=query.sms,
            queue=query.queue or "Q" in (query.binding or ""),
            links=links,
            objects=objects,
            peer=peer,
            secure=self.secure,
            query=query.raw,
            registered_at=now,
            updated_at=now,
            last_contact=now,
            deviations=deviations,
            root=root,
            content_format=ct,
            psk_identity=identity,
            remote=request.remote,
        )
        self.state.store.register(reg)
        self.on_registered(reg)
        for deviation in deviations:
            self.state.event(request, f"accepted deviation: {deviation}")
        return Message(code=Code.CREATED, location_path=reg.location.split("/"))

    def _admit(
        self, request: Message, endpoint: str, peer: str, identity: str | None
    ) -> Message | None:
        """Bounds and ownership of a Register: None to go on, else the refusal (recorded)."""
        limits = self.state.limits
        store = self.state.store
        if len(endpoint) > limits.endpoint_length:
            self.state.problem(
                request,
                f"Register refused (4.00): endpoint name of {len(endpoint)} characters",
                f"lwm2m: endpoint name of {len(endpoint)} characters exceeds "
                f"limits.endpoint_length {limits.endpoint_length}",
            )
            return error_response(Code.BAD_REQUEST, "endpoint name too long")
        old = store.get(endpoint)
        if (old is not None and old.secure and (not self.secure or identity != old.psk_identity)
                and not self._given_to(identity, endpoint)):
            # A device registered over DTLS is not taken over by NoSec or another identity.
            code = Code.FORBIDDEN if self.secure else Code.UNAUTHORIZED
            finding = (
                f"Register of {endpoint} from {peer} over {_context(self.secure, identity)} "
                f"while it is registered as {old.location} over "
                f"{_context(old.secure, old.psk_identity)}"
            )
            self.state.problem(
                request, f"{finding}: refused ({code.dotted})", f"lwm2m: takeover: {finding}"
            )
            return error_response(code, "endpoint registered over another DTLS session")
        if old is None:
            if store.count() >= limits.registrations_total:
                why = f"limits.registrations_total {limits.registrations_total} reached"
            elif store.count_from(peer) >= limits.registrations_per_source:
                why = (f"limits.registrations_per_source {limits.registrations_per_source} "
                       f"reached for {peer}")
            else:
                return None
            self.state.problem(
                request, f"Register of {endpoint} refused (4.29): {why}", f"lwm2m: {why}"
            )
            return error_response(Code.TOO_MANY_REQUESTS, "too many registrations")
        return None

    def _given_to(self, identity: str | None, endpoint: str) -> bool:
        """Whether the lab gave PSK ``identity`` to ``endpoint`` (over DTLS only)."""
        return (self.secure and identity is not None
                and self.state.identity_owners.get(identity) == endpoint)

    def _ownership(self, request: Message, reg: Registration, what: str) -> Message | None:
        """An Update or De-register from someone other than the registration's owner.

        Always a recorded finding. Refused when the endpoint is declared (or registered) with
        DTLS: 4.01 without a DTLS session, 4.03 with another PSK identity. The same PSK
        identity from a new address (a new handshake after NAT rebinding) is the owner.
        """
        peer = peer_text(request.remote)
        identity = psk_identity_of(request)
        same_context = self.secure == reg.secure and identity == reg.psk_identity
        if same_context and (peer == reg.peer or reg.secure):
            return None
        finding = (
            f"{what} of {reg.location} ({reg.endpoint}) from {peer} over "
            f"{_context(self.secure, identity)}; registered from {reg.peer} over "
            f"{_context(reg.secure, reg.psk_identity)}"
        )
        if reg.secure or self.state.psk_required:
            code = Code.FORBIDDEN if self.secure else Code.UNAUTHORIZED
            self.state.problem(
                request, f"{finding}: refused ({code.dotted})", f"lwm2m: not the owner: {finding}"
            )
            return error_response(code, "not the owner of this registration")
        self.state.problem(
            request,
            f"{finding}: accepted (over NoSec a NAT rebinding and another device look alike)",
            f"lwm2m: not the owner: {finding}",
        )
        return None

    def _links(
        self, request: Message, deviations: list[str]
    ) -> Message | tuple[list[Any], dict[int, list[int | None]], str, int | None]:
        from conformance.lwm2m.codecs import linkformat

        ct = request.opt.content_format
        if ct is None:
            if request.payload:
                deviations.append("object links sent without Content-Format 40")
        elif int(ct) != ContentFormat.LINK_FORMAT:
            self.state.problem(
                request,
                f"Register/Update body in content format {int(ct)} refused (4.15)",
                f"coap: registration body must be link-format (40), got {int(ct)}",
            )
            return error_response(Code.UNSUPPORTED_CONTENT_FORMAT, "expected link-format")
        try:
            text = request.payload.decode("utf-8")
            links = linkformat.parse_links(text)
        except UnicodeDecodeError as exc:
            self.state.problem(request, "object links are not UTF-8 (4.00)", f"link-format: {exc}")
            return error_response(Code.BAD_REQUEST, "object links are not UTF-8")
        except ProtocolError as exc:
            self.state.problem(request, f"object links unparsable (4.00): {exc.message}", str(exc))
            return error_response(Code.BAD_REQUEST, exc.message)
        root_link = linkformat.root_link(links)
        root = ""
        preferred: int | None = None
        # No </>;rt="oma.lwm2m" link is no deviation: the TS makes it optional (only an
        # alternate root path needs it), so it is not noted per Register either.
        if root_link is not None:
            root = root_link.target.rstrip("/")
            cts = root_link.values("ct")
            # ASCII and short: "²".isdigit() is true too, and int() refuses 4300+ digits
            if cts and cts[0].isascii() and cts[0].isdigit() and len(cts[0]) <= 5:
                preferred = int(cts[0])
                if preferred == ContentFormat.SENML_CBOR:
                    deviations.append("SenML CBOR (112) announced as the default format")
        for link in links:
            if link.quoted("ver"):
                deviations.append(f"{link.target};ver={link.params['ver']} (quoted version)")
        return links, linkformat.object_links(links), root, preferred

    # -- Update --------------------------------------------------------------------------------

    def _update(self, request: Message, location: str) -> Message:
        reg = self.state.store.by_location(location)
        if reg is None:
            self.state.problem(request, f"Update of unknown {location} (4.04)", "unknown location")
            return error_response(Code.NOT_FOUND, "no such registration")
        options = request.opt.uri_query
        refused = self._query_too_long(request, "Update", options) or self._ownership(
            request, reg, "Update"
        )
        if refused is not None:
            return refused
        if self.state.forget_on_update.get(reg.endpoint, 0.0) is None:
            self.state.forget_on_update[reg.endpoint] = time.time()
            self.state.store.forget(reg)
            self.state.event(request, f"Update of {location} answered 4.04: the lab forgot "
                             "the registration on purpose (a server that lost its state)")
            return error_response(Code.NOT_FOUND, "no such registration")
        try:
            query = q.parse_query(list(options), update=True)
        except ProtocolError as exc:
            self.state.problem(request, f"Update refused (4.00): {exc.message}", str(exc))
            return error_response(Code.BAD_REQUEST, exc.message)
        changes: list[str] = []
        if request.payload:
            parsed = self._links(request, reg.deviations)
            if isinstance(parsed, Message):
                return parsed
            reg.links, reg.objects, reg.root, ct = parsed
            reg.content_format = ct if ct is not None else reg.content_format
            changes.append("object links")
        if query.lifetime is not None:
            reg.lifetime = query.lifetime
            changes.append(f"lt={query.lifetime}")
        if query.binding is not None:
            reg.binding = query.binding
            changes.append(f"b={query.binding}")
            if reg.lwm2m == "1.0":  # 1.0 says queue mode in the binding (1.1: Q at Register)
                reg.queue = "Q" in query.binding
        if query.sms is not None:
            reg.sms = query.sms
        peer = peer_text(request.remote)
        if peer != reg.peer:
            changes.append(f"address {reg.peer} -> {peer}")
            reg.peer = peer
            reg.remote = request.remote
        reg.deviations.extend(d for d in query.deviations if d not in reg.deviations)
        carried = UpdateParams(query.lifetime, query.binding, query.sms, bool(request.payload))
        self.state.store.update(reg, ", ".join(changes), carried)
        return Message(code=Code.CHANGED)


class RegistrationLocations(RegistrationInterface, PathCapable):
    """``/rd/<n>``: aiocoap routes paths below ``rd`` only to a PathCapable resource."""


# Options a Register or a plain Update carries: Uri-Path (11), Content-Format (12, the
# Register's link-format), Uri-Query (15); nothing else.
_REGISTRATION_OPTIONS = frozenset({11, 12, 15})
_URI_PATH = 11
# Recent quick answers, resent to a retransmitted request (RFC 7252 §4.5): 16,384 cover the
# first retransmission (2-3 s after the request) at 4,000 requests/s; bounded for floods.
ANSWERS_KEPT = 16384
# A MID is a duplicate only within EXCHANGE_LIFETIME (RFC 7252 §4.8.2, 247 s); a device that
# uses a MID again after that (its counter wrapped) sends a new request.
EXCHANGE_LIFETIME = 247.0


class QuickRegistrations:
    """Register and plain Update answered below aiocoap's resource machinery.

    They are most of what a fleet sends (the periodic Update above all); through aiocoap's
    pipes, Site path-stripping copy and Block2 cache each cost ~500 µs of lab CPU
    (bench/README.md). A confirmable ``POST /rd`` (Register, body within
    ``limits.coap_body_bytes``) or ``POST /rd/<n>`` with no body for a known location
    (Update), with no option but Uri-Path, Uri-Query and Content-Format, is handed to the
    same :meth:`_register` / :meth:`_update` the resource uses and answered piggybacked;
    anything else goes the ordinary way. A retransmission (within EXCHANGE_LIFETIME) gets the
    answer already given, as aiocoap's deduplication would give it.
    """

    def __init__(self, resource: RegistrationInterface) -> None:
        self._resource = resource
        # (peer, MID) -> (when answered, monotonic; the answer)
        self._answers: collections.OrderedDict[tuple[str, int], tuple[float, Message]] = (
            collections.OrderedDict())

    def answer(self, request: Message) -> Message | None:
        """The answer to send for ``request``, or None: let aiocoap handle it."""
        if request.mtype is not CON or request.code != Code.POST:
            return None
        path = []  # the options read in one pass (aiocoap's properties look each one up)
        for option in request.opt.option_list():
            number = option.number
            if number not in _REGISTRATION_OPTIONS:
                return None
            if number == _URI_PATH:
                path.append(option.value)
        if not path or path[0] != "rd" or len(path) > 2:
            return None
        key = (peer_text(request.remote), request.mid)
        given = self._answers.pop(key, None)
        if given is not None and time.monotonic() - given[0] <= EXCHANGE_LIFETIME:
            self._answers[key] = given
            return given[1]
        state = self._resource.state
        register = len(path) == 1
        location = "" if register else "rd/" + path[1]
        if register and len(request.payload) > state.limits.coap_body_bytes:
            return None  # the resource answers 4.13 and records it
        if not register and (request.payload or state.store.by_location(location) is None):
            return None
        try:
            response = (self._resource._register(request) if register
                        else self._resource._update(request, location))
        except Exception as exc:  # a lab bug must not look like a device fault
            state.problem(request, "lab error while handling a request (answered 5.00)",
                          f"harness: {type(exc).__name__}: {exc}")
            response = error_response(Code.INTERNAL_SERVER_ERROR, "lab error")
        response.mtype = ACK
        response.mid = request.mid
        response.token = request.token
        response.remote = request.remote
        self._answers[key] = (time.monotonic(), response)
        while len(self._answers) > ANSWERS_KEPT:
            self._answers.popitem(last=False)
        return response


class BootstrapInterface(LabResource):
    """``POST /bs?ep=…``: queue the request; the lab then drives the bootstrap."""

    def __init__(self, state: ServerState, *, secure: bool) -> None:
        super().__init__(state)
        self.secure = secure

    async def render_post(self, request: Message) -> Message:
        size = sum(len(o.encode("utf-8")) for o in request.opt.uri_query)
        if size > self.state.limits.query_bytes:
            self.state.problem(
                request,
                f"Bootstrap-Request refused (4.00): Uri-Query of {size} bytes",
                f"coap: Uri-Query of {size} bytes exceeds limits.query_bytes "
                f"{self.state.limits.query_bytes}",
            )
            return error_response(Code.BAD_REQUEST, "Uri-Query too long")
        try:
            endpoint, params = q.parse_bootstrap_query(list(request.opt.uri_query))
        except ProtocolError as exc:
            self.state.problem(
                request, f"Bootstrap-Request refused (4.00): {exc.message}", str(exc)
            )
            return error_response(Code.BAD_REQUEST, exc.message)
        peer = peer_text(request.remote)
        self.state.bootstrap_peers[peer] = endpoint
        if not self.state.bootstraps:
            # The lab is no Bootstrap-Server for this client: the TS answer to a Bootstrap-Request
            # from a client it does not know is 4.00 Bad Request, "Unknown Endpoint Client Name"
            # (TS 1.0 / TS 1.1 §8.2.5, Bootstrap Interface response codes), not a 2.04 after
            # which the client waits for a bootstrap that never comes.
            self.state.problem(
                request, "Bootstrap-Request refused (4.00): the declaration does not declare "
                "bootstrap (features.bootstrap is false), the lab bootstraps no client "
                "(TS 1.1 §8.2.5: Unknown Endpoint Client Name)", "bootstrap not declared",
            )
            return error_response(Code.BAD_REQUEST, "Unknown Endpoint Client Name")
        self.state.bootstrap_requests.append(
            BootstrapRequest(endpoint, params, peer, self.secure, request.remote, time.time())
        )
        self.state.bootstrap_changed.set()
        return Message(code=Code.CHANGED)


class BootstrapPackResource(LabResource):
    """``GET /bspack`` (LwM2M 1.2 Bootstrap-Pack-Request)."""

    async def render_get(self, request: Message) -> Message:
        query = list(request.opt.uri_query)
        self.state.event(request, f"Bootstrap-Pack-Request (1.2) {'&'.join(query)}".strip())
        if self.state.bootstrap_pack is None:
            return error_response(Code.NOT_FOUND, "no bootstrap pack; use POST /bs")
        return Message(
            code=Code.CONTENT,
            payload=self.state.bootstrap_pack,
            content_format=int(ContentFormat.SENML_CBOR),
        )


def dm_site(
    state: ServerState,
    *,
    secure: bool,
    on_registered: Callable[[Registration], None],
    extra: dict[tuple[str, ...], Resource] | None = None,
) -> Site:
    site = LabSite(state)
    locations = RegistrationLocations(state, secure=secure, on_registered=on_registered)
    site.add_resource(("rd",), RegistrationInterface(state, secure=secure,
                                                     on_registered=on_registered))
    site.add_resource(("rd",), locations)
    site.quick_registrations = QuickRegistrations(locations)  # the same resource's handlers
    for path, resource in (extra or {}).items():
        site.add_resource(path, resource)
    return site


def bootstrap_site(state: ServerState, *, secure: bool) -> Site:
    site = LabSite(state)
    site.add_resource(("bs",), BootstrapInterface(state, secure=secure))
    site.add_resource(("bspack",), BootstrapPackResource(state))
    return site
