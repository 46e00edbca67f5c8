"""Requests the lab starts towards a device (DM, Information Reporting, Bootstrap), async side.

Each operation sends one CoAP request on the endpoint (UDP or DTLS session) the device used,
lets aiocoap do block-wise both ways, and returns a :class:`Response`: the code as the device
gave it, the payload, and the content decoded with the object model (or why it could not be
decoded). Silence becomes :class:`DeviceTimeout`; a RST becomes ``code="RST"``; a broken
block-wise exchange becomes ``code="protocol-error"``. Nothing here judges: test cases do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiocoap import CON, NON, Code, Message, error
from aiocoap.pipe import Pipe
from aiocoap.protocol import Request as CoapRequest

from conformance.errors import ProtocolError
from conformance.lwm2m.model import Content, ContentFormat, Path
from conformance.verdicts import DeviceTimeout, Inconclusive

BLOCK_BYTES = 1024  # aiocoap sends a request body over this in Block1 blocks of this size
MAX_CROSSED = 32  # notifications kept (and noted) that crossed one GET cancel
_BLOCKWISE_ERRORS = (
    error.UnexpectedBlock1Option,
    error.UnexpectedBlock2,
    error.MissingBlock2Option,
)


class LabError(RuntimeError):
    """The lab itself cannot do what was asked (no such registration, lab stopped…): ERROR."""


@dataclass
class Response:
    code: str  # "2.05", "4.04"…, or "RST" / "protocol-error"
    content_format: int | None = None
    payload: bytes = b""
    content: Content | None = None
    decode_error: str | None = None
    location: str | None = None
    observe: int | None = None
    options: dict[str, str] = field(default_factory=dict)
    # time.monotonic() when the lab's loop made it of what aiocoap delivered (the decoders
    # run there, on arrival). Timing checks measure between these, not when the case's thread
    # woke up: under load that thread can wake later than a pmax tolerance allows.
    received: float = field(default_factory=time.monotonic, compare=False)

    @property
    def ok(self) -> bool:
        return self.code.startswith("2.")


def code_of(code: Code) -> str:
    major, minor = divmod(int(code), 32)
    return f"{major}.{minor:02d}"


def decode_response(msg: Message, path: Path, registry: Any) -> Response:
    fmt = int(msg.opt.content_format) if msg.opt.content_format is not None else None
    response = Response(
        code=code_of(msg.code),
        content_format=fmt,
        payload=bytes(msg.payload),
        location="/".join(msg.opt.location_path) if msg.opt.location_path else None,
        observe=msg.opt.observe,
    )
    # An empty text/plain payload of one resource is a value: the empty string (a module
    # that lost its host values answers so).
    empty_text = fmt == ContentFormat.TEXT and path.resource_id is not None
    if msg.code.is_successful() and (msg.payload or empty_text) and fmt is not None:
        if fmt == ContentFormat.LINK_FORMAT:
            return response  # Discover: the caller parses links
        try:
            from conformance.lwm2m import codecs

            response.content = codecs.decode(fmt, path, bytes(msg.payload), registry)
        except ProtocolError as exc:
            response.decode_error = str(exc)
        except KeyError as exc:
            response.decode_error = f"unknown content format {fmt} ({exc})"
    elif msg.code.is_successful() and msg.payload and fmt is None:
        response.decode_error = "payload without Content-Format"
    return response


def encode_content(
    fmt: int, path: Path, content_or_value: Any, registry: Any
) -> bytes:
    """A Content mapping, or one value for ``path``, in content format ``fmt``."""
    from conformance.lwm2m import codecs

    if isinstance(content_or_value, dict):
        content: Content = {
            Path.parse(k) if isinstance(k, str) else k: v for k, v in content_or_value.items()
        }
    else:
        content = {path: content_or_value}
    return bytes(codecs.encode(fmt, path, content, registry))


class Requester:
    """Sends requests to one device remote through one lab endpoint's aiocoap context."""

    def __init__(self, context: Any, remote: Any, root: str, registry: Any, timeout: float):
        self.context = context
        self.remote = remote
        self.root = root.rstrip("/")
        self.registry = registry
        self.timeout = timeout

    def uri_path(self, path: Path | str) -> list[str]:
        text = str(path) if isinstance(path, Path) else path
        full = (self.root + "/" + text.strip("/")).strip("/")
        return [p for p in full.split("/") if p]

    def message(
        self,
        code: Code,
        path: Path | str,
        *,
        payload: bytes = b"",
        content_format: int | None = None,
        accept: int | None = None,
        query: list[str] | None = None,
        observe: int | None = None,
    ) -> Message:
        msg = Message(code=code, uri_path=self.uri_path(path), payload=payload)
        if len(payload) > BLOCK_BYTES:
            # Sent block-wise (Block1): Size1 tells the device the whole size at the first
            # block (RFC 7959 §4), so that it can refuse what it cannot store there (4.13).
            msg.opt.size1 = len(payload)
        if content_format is not None:
            msg.opt.content_format = content_format
        if accept is not None:
            msg.opt.accept = accept
        if query:
            msg.opt.uri_query = query
        if observe is not None:
            msg.opt.observe = observe
        msg.remote = self.remote
        return msg

    async def send(self, msg: Message, path: Path) -> Response:
        request = self.context.request(msg)
        return decode_response(await self.await_response(request.response), path, self.registry)

    async def await_response(self, future: Any) -> Message:
        try:
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            abandon_exchanges(self.context, self.remote)
            raise DeviceTimeout(f"no answer from the device within {self.timeout} s") from None
        except error.TimeoutError as exc:
            raise DeviceTimeout(f"no answer from the device: {exc}") from None
        except error.MessageError:
            return Message(code=Code.EMPTY, payload=b"")  # RST: mapped by the callers
        except _BLOCKWISE_ERRORS as e:
            raise BlockwiseBroken(str(e) or type(e).__name__) from None
        except (error.NoRequestInterface, error.LibraryShutdown, error.MissingRemoteError) as e:
            raise LabError(f"the lab cannot send to this device: {type(e).__name__}: {e}") from None
        except error.NetworkError as exc:
            raise Inconclusive(f"transport failure towards the device: {exc}") from None


def abandon_exchanges(context: Any, remote: Any) -> int:
    """Stop retransmitting the CONs to ``remote`` the lab has given up on; the number dropped.

    aiocoap keeps one exchange per peer in flight (NSTART = 1) and retransmits an unacknowledged
    CON for up to MAX_TRANSMIT_WAIT (93 s) after the case stopped waiting: every later request
    to that device queued behind it, so one silent request made the next cases' requests time
    out unsent (seen with coap-node and lwm2m-node-lib). Giving up on an exchange is the
    requester's right (RFC 7252 §4.2); a late ACK is then unmatched and logged. Uses the
    message manager's exchange table of the pinned aiocoap 0.4.17.
    """
    dropped = 0
    for interface in getattr(context, "request_interfaces", ()):
        manager = getattr(interface, "token_interface", None)
        active = getattr(manager, "_active_exchanges", None)
        if not active:
            continue
        for key in [k for k in active if k[0] == remote]:
            _monitor, retransmission = active.pop(key)
            retransmission.cancel()
            dropped += 1
        if remote in getattr(manager, "_backlogs", {}):
            manager._continue_backlog(remote)  # type: ignore[union-attr]
    return dropped


class BlockwiseBroken(Exception):
    """The device broke a block-wise exchange (RFC 7959)."""


async def perform(requester: Requester, msg: Message, path: Path) -> Response:
    try:
        response = await requester.send(msg, path)
    except BlockwiseBroken as exc:
        return Response(code="protocol-error", decode_error=f"block-wise: {exc}")
    if response.code == "0.00":
        response.code = "RST"
    return response


# --------------------------------------------------------------------------- observations


class ObservationCore:
    """One Observe relation on the lab loop: notifications queue up for :meth:`next`."""

    def __init__(
        self,
        requester: Requester,
        path: Path,
        fmt: int | None,
        reject_next: Callable[[Any, bytes, asyncio.Future[Message]], None],
    ) -> None:
        self.requester = requester
        self.path = path
        self.fmt = fmt
        self._reject_next = reject_next
        self.queue: asyncio.Queue[Response | BaseException] = asyncio.Queue()
        self.notifications: list[Response] = []
        self.request: Any = None
        self.token = b""
        self._pump: asyncio.Task[None] | None = None
        self.cancelled = False
        # notifications that crossed a GET cancel on the wire (not its answer)
        self.crossed: list[Response] = []

    def _message(self, observe: int) -> Message:
        """The Observe request (0) or its cancel (1); the composite relation overrides it."""
        return self.requester.message(Code.GET, self.path, accept=self.fmt, observe=observe)

    def _decode(self, msg: Message) -> Response:
        return decode_response(msg, self.path, self.requester.registry)

    async def start(self) -> Response:
        msg = self._message(0)
        self.request = self.requester.context.request(msg)
        first = await self.requester.await_response(self.request.response)
        self.token = bytes(first.token) if first.token else bytes(msg.token or b"")
        initial = self._decode(first)
        if initial.code == "0.00":
            initial.code = "RST"
        if initial.ok and first.opt.observe is not None and self.request.observation:
            self._pump = asyncio.get_running_loop().create_task(self._run())
        return initial

    async def _run(self) -> None:
        try:
            async for notification in self.request.observation:
                response = self._decode(notification)
                self.notifications.append(response)
                await self.queue.put(response)
        except Exception as exc:  # the relation ended (device error, RST, lab stop)
            await self.queue.put(exc)
        else:
            await self.queue.put(StopAsyncIteration("observation ended by the device"))

    async def next(self, timeout: float) -> Response:
        try:
            item = await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            raise DeviceTimeout(f"no notification within {timeout} s") from None
        if isinstance(item, BaseException):
            # Keep the terminal state visible to later calls too.
            self.queue.put_nowait(item)
            if isinstance(item, StopAsyncIteration | error.ObservationCancelled):
                raise Inconclusive(f"the observation has ended: {item}")
            raise Inconclusive(f"the observation failed: {type(item).__name__}: {item}")
        return item

    def _stop_local(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        obs = getattr(self.request, "observation", None)
        if obs is not None and not obs.cancelled:
            obs.cancel()

    async def cancel_rst(self, timeout: float) -> Response:
        """Reactive cancel (RFC 7641 §3.6): answer the next notification with a RST."""
        if self.cancelled:
            raise LabError("observation already cancelled")
        loop = asyncio.get_running_loop()
        rejected: asyncio.Future[Message] = loop.create_future()
        self._reject_next(self.requester.remote, self.token, rejected)
        self.cancelled = True
        try:
            msg = await asyncio.wait_for(rejected, timeout)
        except TimeoutError:
            raise DeviceTimeout(f"no notification to reject within {timeout} s") from None
        finally:
            self._stop_local()
        return self._decode(msg)

    async def cancel_get(self) -> Response:
        """Proactive cancel (RFC 7641 §3.6): GET with Observe=1 and the relation's token."""
        if self.cancelled:
            raise LabError("observation already cancelled")
        self.cancelled = True
        self._stop_local()
        msg = self._message(1)
        ctx = self.requester.context
        if not await ctx.find_remote_and_interface(msg):
            raise LabError("no interface for this device")
        tman = ctx.request_interfaces[0]

        def crossed(response: Message) -> bool:
            """A notification the device sent before it had our GET: not the answer."""
            if (response.opt.observe is None or response.mtype not in (CON, NON)
                    or not _awaits_ack(tman.token_interface, msg)):
                return False
            if tman.outgoing_requests is not None:  # it took this for the final answer
                tman.outgoing_requests[(msg.token, msg.remote)] = pipe
            if len(self.crossed) < MAX_CROSSED:  # a flood of them is bounded, not kept
                self.crossed.append(self._decode(response))
            return True

        pipe = _CancelPipe(msg, ctx.log, crossed)
        request = CoapRequest(pipe, ctx.loop, ctx.log)
        # aiocoap always picks a fresh token; the cancel must reuse the relation's token.
        token = self.token
        tman.next_token = lambda: token
        try:
            tman.request(pipe)
        finally:
            del tman.next_token
        reply = await self.requester.await_response(request.response)
        response = self._decode(reply)
        if response.code == "0.00":
            response.code = "RST"
        return response


class _CancelPipe(Pipe):
    """The cancelling GET's exchange. It carries the relation's token (RFC 7641 §3.6), so a
    notification the device sent before it took the GET arrives here as well; ``crossed``
    sets such a one aside (aiocoap still acknowledges it) and the answer is awaited on."""

    def __init__(self, request: Message, log: Any, crossed: Callable[[Message], bool]) -> None:
        super().__init__(request, log)
        self._crossed = crossed

    def add_response(self, response: Message, is_last: bool = False) -> None:
        if not self._crossed(response):
            super().add_response(response, is_last)


def _awaits_ack(messages: Any, msg: Message) -> bool:
    """Whether the device has not acknowledged the CON ``msg`` yet: it is still retransmitted,
    or still queued behind another exchange (aiocoap 0.4's message manager). Until then a
    CON/NON response with Observe on its token is a notification in flight: the answer comes
    piggy-backed on the ACK, or as a separate response after an Empty ACK (RFC 7252 §5.2).
    Without those internals: False, every response is the answer (as before)."""
    active = getattr(messages, "_active_exchanges", None)
    backlogs = getattr(messages, "_backlogs", None)
    if not isinstance(active, dict) or not isinstance(backlogs, dict):
        return False
    return ((msg.remote, msg.mid) in active
            or any(queued is msg for queued, _ in backlogs.get(msg.remote, ())))


# --------------------------------------------------------------------------- composite (1.1)


def composite_message(requester: Requester, code: Code, payload: bytes, fmt: int,
                      *, accept: int | None = None, observe: int | None = None) -> Message:
    """FETCH (Read-/Observe-Composite) or iPATCH (Write-Composite) on the device's root."""
    return requester.message(code, "/", payload=payload, content_format=fmt,
                             accept=accept, observe=observe)


async def perform_composite(requester: Requester, msg: Message) -> Response:
    try:
        reply = await requester.await_response(requester.context.request(msg).response)
    except BlockwiseBroken as exc:
        return Response(code="protocol-error", decode_error=f"block-wise: {exc}")
    from conformance.lwm2m.reporting import decode_composite  # reporting imports this module

    response = decode_composite(reply, requester.registry)
    if response.code == "0.00":
        response.code = "RST"
    return response
