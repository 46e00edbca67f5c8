"""The CoAP face of the reference LwM2M device: LwM2M operations mapped onto the object store.

One aiocoap resource takes every request the device receives, on whatever transport (UDP or
the DTLS session the device opened). It maps method, path, Accept, Content-Format and query
onto Read / Discover / Observe / Write / Write-Attributes / Execute / Create / Delete and the
bootstrap interface, and every refusal onto the response code the TS gives. Nothing a server
sends can crash it: unexpected exceptions are logged to stderr and answered 5.00.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiocoap import CHANGED, CONTENT, CREATED, DELETED, NON, Code, Context, Message, interfaces
from aiocoap.blockwise import Block1Spool, Block2Cache
from aiocoap.error import RenderableError

from conformance.errors import ProtocolError
from conformance.lwm2m import codecs
from conformance.lwm2m.codecs import composite
from conformance.lwm2m.model import Content, ContentFormat, Path, ResourceType
from conformance.simulators import lwm2m_composite
from conformance.simulators.lwm2m_dm_faults import DmFaults
from conformance.simulators.lwm2m_faults import Faults, break_senml_cbor, mangle_tlv_length
from conformance.simulators.lwm2m_observe import (
    Attributes,
    CompositeNotifier,
    Notifier,
    next_sequence,
)
from conformance.simulators.lwm2m_store import ObjectStore, OperationError, Role

log = logging.getLogger("lwm2m-device.site")

MAX_BODY = 8 * 1024 * 1024  # largest request body (a pushed image) the device reassembles
# Faults that make the device ignore a change attribute (TS 1.1 §5.1.2) when notifying
# Faults that keep notifying after a cancel: of either kind, an RST only, an Observe 1 only
MAX_HELD = 32  # notifications stored while disabled (bounded: the timeout may be a day)
IGNORED_CANCELS = {"ignores-observe-cancel": "any", "ignores-reset-cancel": "rst",
                   "ignores-observe-1-cancel": "request"}
IGNORED_ATTRIBUTES = {"st": "ignores-step", "gt": "ignores-greater-than",
                      "lt": "ignores-less-than"}
NUMERIC = (ResourceType.INTEGER, ResourceType.UNSIGNED, ResourceType.FLOAT, ResourceType.TIME)
# Faults whose observations get their first answer and no notification: (fault, object,
# resource or None for any path in the object)
SILENT_OBSERVATIONS = (("conn-mon-not-notified", 4, None), ("fota-state-not-notified", 5, 3))


class DeviceSite(interfaces.Resource):
    def __init__(
        self,
        store: ObjectStore,
        *,
        formats: list[ContentFormat],
        default_format: ContentFormat,
        faults: Faults,
        role_of: Callable[[Any], Role],
        bootstrap_finish: Callable[[], None],
        default_periods: Callable[[], tuple[int, int]],
    ) -> None:
        self.store = store
        self.formats = formats
        self.default_format = default_format
        self.faults = faults
        self.dm = DmFaults(faults, store)  # the DM interface's faults (ETS int-2xx)
        self.attributes = Attributes()
        self.context: Context | None = None  # set once the context exists (out-of-band sends)
        self._role_of = role_of
        self._bootstrap_finish = bootstrap_finish
        self._default_periods = default_periods
        self._block1 = Block1Spool()
        self._block2 = Block2Cache()
        self._zombies: set[asyncio.Task[None]] = set()
        # Tokens a cancelling request (Observe 1) came on: tells an RST cancel from it
        self._cancel_tokens: set[bytes] = set()
        # Told when a Block1 transfer starts on a path (the firmware push shows Downloading)
        self.on_block1_start: Callable[[Path], None] = lambda _path: None
        # The most a Block1 transfer to a path may carry (a pushed image: the storage), and
        # what the device does when it refuses one for that (Update Result 2 for /5/0/0)
        self.block1_limit: Callable[[Path | None], int] = lambda _path: MAX_BODY
        self.on_block1_refused: Callable[[Path], None] = lambda _path: None
        self._observations: set[asyncio.Task[Any]] = set()
        # While the server account is disabled (/1/x/4): None when notifications flow, else
        # whether to store them (/1/x/6) for after the next Register; ``_held`` keeps them.
        self._storing: Callable[[], bool] | None = None
        self._held: list[tuple[Any, Message]] = []
        self._stopped = asyncio.Event()  # unanswered requests (a fault) end with the device

    # aiocoap's Resource interface; render_to_pipe below is what aiocoap actually calls
    async def needs_blockwise_assembly(self, request: Message) -> bool:
        return True

    async def render(self, request: Message) -> Message:
        return await self._answer(request)

    async def render_to_pipe(self, pipe: Any) -> None:
        request = pipe.request
        if request.opt.observe == 1:
            if len(self._cancel_tokens) > 256:
                self._cancel_tokens.clear()
            self._cancel_tokens.add(bytes(request.token))
        try:
            if request.code == Code.GET and request.opt.observe == 0:
                await self._observe(pipe)
                return
            if request.code == Code.FETCH and request.opt.observe == 0:
                await self._observe_composite(pipe)
                return
            block1 = request.opt.block1
            limit = self._refused(request, block1.start) if block1 is not None else None
            if limit is not None:  # RFC 7959 §2.9.3: refused, saying how much the device takes
                pipe.add_response(Message(code=Code.REQUEST_ENTITY_TOO_LARGE, size1=limit),
                                  is_last=True)
                return
            if block1 is not None and block1.block_number == 0 and block1.more:
                self.block1_started(request)
            assembled = self._block1.feed_and_take(request)
            response = await self._block2.extract_or_insert(
                assembled, lambda: self._answer(assembled)
            )
            response.opt.block1 = assembled.opt.block1
            if (request.opt.observe == 1 and request.code in (Code.GET, Code.FETCH)
                    and "cancel-answer-observes" in self.faults):
                response.opt.observe = 2  # a fault: as if the lab were still an observer
        except RenderableError as exc:  # Block1 Continue / Request Entity Incomplete
            response = exc.to_message()
        pipe.add_response(response, is_last=True)

    def _refused(self, request: Message, start: int) -> int | None:
        """The most the device takes, when this block of a Block1 transfer is over it (the
        transfer is refused): at its first block when the request's Size1 (RFC 7959 §4)
        already says so, else at the block that goes past it. None: the block is taken."""
        path = _path_or_none(request)
        limit = min(MAX_BODY, self.block1_limit(path))
        declared = request.opt.size1
        if start + len(request.payload) <= limit and (declared is None or declared <= limit):
            return None
        if path is not None:
            self.on_block1_refused(path)
        return limit

    def block1_started(self, request: Message) -> None:
        path = _path_or_none(request)
        if path is not None and request.code == Code.PUT:
            self.on_block1_start(path)

    # ------------------------------------------------------------------ dispatch

    async def _answer(self, request: Message) -> Message:
        if "update-trigger-unanswered" in self.faults and _is_update_trigger(request):
            log.info("fault update-trigger-unanswered: never answering %s", _uri(request))
            await self._stopped.wait()  # aiocoap acknowledged it; no response ever follows
        try:
            return self._dispatch(request)
        except OperationError as exc:
            log.info("%s %s -> %s (%s)", request.code, _uri(request), exc.code, exc.reason)
            return Message(code=exc.code, payload=exc.reason.encode())
        except ProtocolError as exc:
            log.info("%s %s -> 4.00 (%s)", request.code, _uri(request), exc)
            return Message(code=Code.BAD_REQUEST, payload=str(exc).encode())
        except Exception:  # bad lab input must never take the device down
            log.exception("internal error on %s %s", request.code, _uri(request))
            return Message(code=Code.INTERNAL_SERVER_ERROR)

    def _dispatch(self, request: Message) -> Message:
        segments = tuple(request.opt.uri_path)
        role = self._role_of(request.remote)
        if request.code == Code.FETCH and request.opt.observe in (0, 1) and not _path(segments):
            return self._observe_composite_answer(request, role)  # Observe-Composite, cancel
        if segments == ("bs",) and request.code == Code.POST:
            if role is not Role.BOOTSTRAP:
                raise OperationError(Code.METHOD_NOT_ALLOWED, "Bootstrap-Finish from a DM server")
            self._bootstrap_finish()
            return Message(code=CHANGED)
        path = _path(segments)
        code = request.code
        faulty = self._object_fault(request, path)
        if faulty is not None:
            return faulty
        if code == Code.GET:
            if request.opt.accept == ContentFormat.LINK_FORMAT:
                return self._discover(path, role)
            if path is None:
                raise OperationError(Code.METHOD_NOT_ALLOWED, "Read of /")
            return self._read(path, request, role)
        if code == Code.DELETE:
            if role is Role.BOOTSTRAP and "bootstrap-delete-ignored" in self.faults:
                log.info("fault bootstrap-delete-ignored: keeping %s", _uri(request))
                return Message(code=DELETED)
            if path is None and role is Role.BOOTSTRAP:
                self.store.bootstrap_delete_all()
                return Message(code=DELETED)
            if not self.dm.keeps_deleted(_need(path), role):
                self.store.delete(_need(path), role)
                self.attributes.forget(_need(path))
            return Message(code=DELETED)
        if path is None and code in (Code.FETCH, Code.iPATCH):
            if code == Code.FETCH:
                return self._read_composite(request, role)
            content = self.dm.before_write_composite(self._decode_composite(request))
            self.store.write_composite(content, role)
            return Message(code=CHANGED)
        path = _need(path)
        if code == Code.PUT:
            if not request.payload and request.opt.content_format is None:
                return self._write_attributes(path, request, role)
            self._write(path, request, role, replace=True)
            return Message(code=CHANGED)
        if code == Code.POST:
            if path.depth == 1:
                content = self._decode(path, request) if request.payload else {}
                iid = self.store.create(path, self.dm.before_create(content), role)
                return Message(code=CREATED, location_path=(str(path.object_id), str(iid)))
            if path.depth == 2:
                self._write(path, request, role, replace=False)
                return Message(code=CHANGED)
            if path.depth == 3:
                self.store.execute(path, bytes(request.payload), role)
                return Message(code=CHANGED)
            raise OperationError(Code.METHOD_NOT_ALLOWED, f"POST on {path}")
        raise OperationError(Code.METHOD_NOT_ALLOWED, f"{code} is not an LwM2M operation")

    def _write(self, path: Path, request: Message, role: Role, *, replace: bool) -> None:
        decoded = self._decode(path, request)  # checks the Content-Format first (4.15)
        fmt = ContentFormat(int(request.opt.content_format))
        content = self.dm.before_write(path, fmt, decoded, role)
        if content is None:
            return
        with self.dm.writing(path, partial=not replace):
            self.store.write(path, content, replace=replace, role=role)

    def _object_fault(self, request: Message, path: Path | None) -> Message | None:
        """The wrong answers of the Server/Device object faults (ETS int-551…685), if any."""
        faults, code = self.faults, request.code
        if path is None:
            return None
        if ("firmware-version-needs-accept" in faults and code == Code.GET
                and path == Path(3, 0, 3) and request.opt.accept is None):
            log.info("fault firmware-version-needs-accept: refusing a Read of %s", path)
            return Message(code=Code.NOT_ACCEPTABLE)
        if "device-create-acknowledged" in faults and code == Code.POST and path == Path(3):
            log.info("fault device-create-acknowledged: answering 2.01 to a Create on /3")
            return Message(code=CREATED, location_path=("3", "1"))
        if "device-delete-acknowledged" in faults and code == Code.DELETE and path == Path(3, 0):
            log.info("fault device-delete-acknowledged: answering 2.02 to Delete /3/0")
            return Message(code=DELETED)
        return None

    def _silenced(self, path: Path) -> bool:
        """Faults multiple-resource-observe-silent / instance-observe-silent: never notify."""
        if "instance-observe-silent" in self.faults and path == Path(3, 0):
            return True
        rdef = self.store.registry.resource(path) if path.depth == 3 else None
        return ("multiple-resource-observe-silent" in self.faults and rdef is not None
                and rdef.multiple)

    # ------------------------------------------------------------------ content formats

    def _accept(self, path: Path, request: Message) -> ContentFormat:
        accept = request.opt.accept
        if accept is None:
            fmt = self.default_format
            if not codecs.supports(fmt, path, self.store.registry):
                fallback = next(
                    (f for f in self.formats if codecs.supports(f, path, self.store.registry)),
                    None)
                if fallback is None:
                    raise OperationError(Code.NOT_ACCEPTABLE, f"no declared format for {path}")
                fmt = fallback
            return fmt
        try:
            fmt = ContentFormat(int(accept))
        except ValueError:
            raise OperationError(Code.NOT_ACCEPTABLE, f"unknown format {int(accept)}") from None
        if fmt not in self.formats or not codecs.supports(fmt, path, self.store.registry):
            raise OperationError(Code.NOT_ACCEPTABLE, f"{fmt.name} is not offered for {path}")
        return fmt

    def _encode(self, fmt: ContentFormat, path: Path, content: Content) -> bytes:
        payload = codecs.encode(fmt, path, content, self.store.registry)
        if fmt is ContentFormat.TLV and "tlv-length-bug" in self.faults:
            payload = mangle_tlv_length(payload)
        if fmt is ContentFormat.SENML_CBOR and "senml-cbor-broken" in self.faults:
            payload = break_senml_cbor(payload)
        return payload

    def _decode(self, path: Path, request: Message) -> Content:
        fmt_number = request.opt.content_format
        if fmt_number is None:
            raise OperationError(Code.BAD_REQUEST, "no Content-Format")
        try:
            fmt = ContentFormat(int(fmt_number))
        except ValueError:
            raise OperationError(Code.UNSUPPORTED_CONTENT_FORMAT,
                                 f"unknown format {int(fmt_number)}") from None
        if fmt not in self.formats:
            raise OperationError(Code.UNSUPPORTED_CONTENT_FORMAT, f"{fmt.name} not supported")
        if not codecs.supports(fmt, path, self.store.registry):
            raise OperationError(Code.BAD_REQUEST, f"{fmt.name} cannot carry {path}")
        try:
            return codecs.decode(fmt, path, bytes(request.payload), self.store.registry)
        except ProtocolError as exc:
            if exc.protocol == codecs.PROTOCOL:
                raise OperationError(Code.UNSUPPORTED_CONTENT_FORMAT, exc.message) from None
            raise OperationError(Code.BAD_REQUEST, str(exc)) from None

    # ------------------------------------------------------------------ operations

    def _read(self, path: Path, request: Message, role: Role) -> Message:
        if role is Role.BOOTSTRAP and "bootstrap-read-refused" in self.faults:
            raise OperationError(Code.METHOD_NOT_ALLOWED, "fault bootstrap-read-refused")
        content = self.store.read(path, role)
        fmt = self._accept(path, request)
        observe = request.opt.observe is not None
        content = self.dm.read(path, fmt, content, observe=observe)
        payload = self.dm.payload(path, fmt, content, self._encode(fmt, path, content),
                                  observe=observe)
        if self.dm.hides_content_format(path, request.opt.accept):
            return Message(code=CONTENT, payload=payload)
        return Message(code=CONTENT, payload=payload, content_format=int(fmt))

    # ------------------------------------------------------------------ composite (TS 1.1)

    def _composite_format(self, number: int | None, refusal: Code) -> ContentFormat:
        """A SenML format the device offers for a composite, else ``refusal`` (4.15/4.06)."""
        if number is not None and int(number) in [int(f) for f in composite.FORMATS] and (
                ContentFormat(int(number)) in self.formats):
            return ContentFormat(int(number))
        raise OperationError(refusal, f"no composite in format {number}")

    def _decode_composite(self, request: Message) -> Content:
        fmt = self._composite_format(request.opt.content_format, Code.UNSUPPORTED_CONTENT_FORMAT)
        try:
            return composite.decode(fmt, bytes(request.payload), self.store.registry)
        except ProtocolError as exc:
            raise OperationError(Code.BAD_REQUEST, str(exc)) from None

    def composite_content(self, paths: list[Path | None], role: Role) -> Content:
        """Read-Composite is best effort (TS 1.1 §6.3.8): paths that do not exist or cannot
        be read are left out; the root ``/`` (None) is every object but Security."""
        content: Content = {}
        for path in self.dm.composite_paths(paths):
            if path is None:
                for oid in self.dm.root_objects(self.store.object_ids()):
                    content.update(self.store.read(Path(oid), Role.BOOTSTRAP if oid == 0 else role))
                continue
            try:
                content.update(self.store.read(path, role))
            except OperationError as exc:
                if self.dm.composite_refusal(exc):
                    raise
        return content

    def _read_composite(self, request: Message, role: Role) -> Message:
        fmt = self._composite_format(request.opt.content_format, Code.UNSUPPORTED_CONTENT_FORMAT)
        answer = fmt if request.opt.accept is None else self._composite_format(
            request.opt.accept, Code.NOT_ACCEPTABLE)
        try:
            paths = composite.decode_paths(fmt, bytes(request.payload))
        except ProtocolError as exc:
            raise OperationError(Code.BAD_REQUEST, str(exc)) from None
        content = self.composite_content(paths, role)
        answer = self.dm.composite_answer(fmt, answer)
        payload = composite.encode(answer, content, self.store.registry)
        return Message(code=CONTENT, payload=payload, content_format=int(answer))

    def _discover(self, path: Path | None, role: Role) -> Message:
        if path is None:
            if role is not Role.BOOTSTRAP:
                raise OperationError(Code.METHOD_NOT_ALLOWED, "Discover of / is bootstrap only")
            text = self._bootstrap_discover(None)
        elif role is Role.BOOTSTRAP:
            text = self._bootstrap_discover(path.object_id)
        else:
            present = self.store.present(path, role)
            try:
                text = codecs.discover_links(path, self.store.registry, present,
                                             self.dm.discover_attributes(self.attributes.by_path))
            except ProtocolError as exc:
                raise OperationError(Code.NOT_FOUND, str(exc)) from None
        return Message(code=CONTENT, payload=text.encode(),
                       content_format=int(ContentFormat.LINK_FORMAT))

    def _bootstrap_discover(self, object_id: int | None) -> str:
        """Bootstrap-Discover (TS 1.1 §5.2.7.3): objects and instances, with ssid/uri on 0/1."""
        links = ['</>;lwm2m=1.1'] if object_id is None else []
        ids = self.store.object_ids() if object_id is None else [object_id]
        for oid in ids:
            if oid not in self.store.object_ids():
                raise OperationError(Code.NOT_FOUND, f"no object {oid}")
            definition = self.store.registry.get(oid)
            instances = self.store.instance_ids(oid)
            version = definition.version if definition is not None else "1.0"
            if not instances or version != "1.0":
                links.append(f"</{oid}>" + (f";ver={version}" if version != "1.0" else ""))
            for iid in instances:
                inst = self.store.instance(oid, iid)
                extra = ""
                if oid == 0 and inst.get(1) is not True:
                    extra = f";ssid={inst.get(10)!s};uri=\"{inst.get(0)!s}\""
                elif oid == 1:
                    extra = f";ssid={inst.get(0)!s}"
                links.append(f"</{oid}/{iid}>{extra}")
        return ",".join(links)

    def _write_attributes(self, path: Path, request: Message, role: Role) -> Message:
        if self.dm.attributes_skipped(path):
            return Message(code=CHANGED)
        if not self.dm.security_attributes_accepted(path):
            self.store.present(path, role)  # 4.04 / 4.01 as for any access
        rdef = self.store.registry.resource(path)
        numeric = rdef is not None and rdef.type in NUMERIC
        self.attributes.write(path, list(request.opt.uri_query), numeric=numeric)
        return Message(code=CHANGED)

    def _observe_composite_answer(self, request: Message, role: Role) -> Message:
        """The values an Observe-Composite (or its cancel) answers (TS 1.1 §6.4.3)."""
        paths = lwm2m_composite.request_paths(request)
        fmt = lwm2m_composite.answer_format(request, self.formats)
        content = lwm2m_composite.read_paths(self.store, paths, role)
        payload = composite.encode(fmt, content, self.store.registry)
        return Message(code=CONTENT, payload=payload, content_format=int(fmt))

    # ------------------------------------------------------------------ Observe

    async def _observe(self, pipe: Any) -> None:
        request = pipe.request
        response = await self._answer(request)
        if not response.code.is_successful() or request.opt.accept == ContentFormat.LINK_FORMAT:
            pipe.add_response(response, is_last=True)  # errors and Discover are not observed
            return
        path = _need(_path(tuple(request.opt.uri_path)))
        if path.depth == 2 and "no-instance-observe" in self.faults:
            log.info("fault no-instance-observe: answering Observe %s without observing", path)
            pipe.add_response(response, is_last=True)
            return
        role = self._role_of(request.remote)
        fmt = ContentFormat(response.opt.content_format)
        response.opt.observe = next_sequence()
        pipe.add_response(response, is_last=False)
        first = self.store.read(path, role)

        async def send() -> None:
            self._deliver(pipe, self._notification(path, role, fmt))

        notifier = self._notifier(path, role, send)
        task = asyncio.current_task()
        assert task is not None
        self._observations.add(task)
        try:
            if self._silenced(path):
                log.info("fault: observing %s without ever notifying", path)
                await self._stopped.wait()
            await notifier.run(first)
        except OperationError:
            # The observed thing was deleted: the last notification says so (RFC 7641 §3.2).
            pipe.add_response(self._notification(path, role, fmt), is_last=True)
        except asyncio.CancelledError:
            # The server cancelled (RST, or GET with Observe=1 on the token).
            ignored = [mode for fault, mode in IGNORED_CANCELS.items() if fault in self.faults]
            if ignored and task in self._observations:
                self._keep_notifying(request, lambda: self._notification(path, role, fmt),
                                     lambda send: self._notifier(path, role, send),
                                     notifier.last, only=ignored[0])
            raise
        finally:
            self._observations.discard(task)

    def _notifier(self, path: Path, role: Role, send: Callable[[], Any]) -> Notifier:
        if any(fault in self.faults and path.object_id == oid and (rid is None or (
                path.resource_id == rid)) for fault, oid, rid in SILENT_OBSERVATIONS):
            log.info("fault: observation of %s answered, never notified", path)
            send = _silent
        ignored = frozenset(name for name, fault in IGNORED_ATTRIBUTES.items()
                            if fault in self.faults)
        return Notifier(self.store, self.attributes, path, lambda: self.store.read(path, role),
                        send, default_periods=self._default_periods, ignored=ignored)

    async def _observe_composite(self, pipe: Any) -> None:
        """Observe-Composite (TS 1.1 §6.4.3): one relation, one SenML pack per notification."""
        request = pipe.request
        response = await self._answer(request)
        if not response.code.is_successful():
            pipe.add_response(response, is_last=True)
            return
        role = self._role_of(request.remote)
        paths = lwm2m_composite.request_paths(request)
        fmt = ContentFormat(response.opt.content_format)
        response.opt.observe = next_sequence()
        pipe.add_response(response, is_last=False)

        def read() -> Content:
            return lwm2m_composite.read_paths(self.store, paths, role)

        start = read()

        def note() -> Message:
            content = lwm2m_composite.stale_instances(read(), start, self.faults)
            if "composite-notify-partial" in self.faults:
                content = {p: v for p, v in content.items() if paths[0].contains(p)}
            message = Message(code=CONTENT, content_format=int(fmt),
                              payload=composite.encode(fmt, content, self.store.registry))
            message.opt.observe = next_sequence()
            return message

        def notifier(send: Callable[[], Any]) -> Notifier:
            return CompositeNotifier(
                self.store, self.attributes, paths[0], read, send,
                default_periods=self._default_periods, paths=paths,
                frozen="composite-attributes-frozen" in self.faults)

        async def send() -> None:
            pipe.add_response(note(), is_last=False)

        relation = notifier(send)
        task = asyncio.current_task()
        assert task is not None
        self._observations.add(task)
        try:
            await relation.run(start)
        except asyncio.CancelledError:
            if "ignores-composite-cancel" in self.faults and task in self._observations:
                self._keep_notifying(request, note, notifier, relation.last)
            raise
        finally:
            self._observations.discard(task)

    def _notification(self, path: Path, role: Role, fmt: ContentFormat) -> Message:
        try:
            content = self.store.read(path, role)
        except OperationError as exc:
            return Message(code=exc.code, payload=exc.reason.encode())
        message = Message(code=CONTENT, payload=self._encode(fmt, path, content),
                          content_format=int(fmt))
        message.opt.observe = next_sequence()
        return message

    def _keep_notifying(self, request: Message, notification: Callable[[], Message],
                        notifier: Callable[[Callable[[], Any]], Notifier],
                        last: Content, only: str = "any") -> None:
        """Faults ignores-observe-cancel, ignores-composite-cancel (and the RST-only and
        Observe-1-only variants, ``only``): notifications continue outside aiocoap's pipe."""
        context = self.context
        if context is None:
            return
        token = bytes(request.token)

        async def send() -> None:
            # By the first late notification the cancelling request (if any) has been seen.
            by_request = token in self._cancel_tokens
            if (only == "rst" and by_request) or (only == "request" and not by_request):
                raise CancelHonoured(f"{_uri(request)}: this kind of cancel is honoured")
            note = notification()
            note.mtype = NON
            note.token = request.token
            note.remote = request.remote.as_response_address()
            for interface in context.request_interfaces:
                # Recognise only: asking a plain-UDP interface to *determine* a route for a
                # DTLS remote fails, so fill_or_recognize_remote is not usable here.
                manager = getattr(interface, "token_interface", None)
                transport = getattr(manager, "message_interface", None)
                if manager is not None and transport is not None and (
                    await transport.recognize_remote(note.remote)
                ):
                    manager.send_message(note, None)
                    return

        async def zombie() -> None:
            try:
                await notifier(send).run(last)
            except Exception as exc:  # the zombie ends quietly with its target
                log.info("cancelled-but-notifying observation of %s ended: %s",
                         _uri(request), exc)

        log.info("fault: still notifying %s after the cancel", _uri(request))
        task = asyncio.get_running_loop().create_task(zombie())
        self._zombies.add(task)
        task.add_done_callback(self._zombies.discard)

    def _deliver(self, pipe: Any, note: Message) -> None:
        """Send a notification, or while the account is disabled store it (/1/x/6 true, at
        most MAX_HELD) or drop it (TS 1.1 E.2, resource 6)."""
        if self._storing is None:
            pipe.add_response(note, is_last=not note.code.is_successful())
        elif self._storing() and len(self._held) < MAX_HELD:
            self._held.append((pipe, note))

    def hold_notifications(self, storing: Callable[[], bool]) -> None:
        """The account is disabled: no notification goes out until :meth:`release_held`."""
        self._storing = storing

    def release_held(self) -> None:
        """The account is back (registered again): the stored notifications go out, oldest
        first, on the relations they were made for."""
        self._storing = None
        held, self._held = self._held, []
        for pipe, note in held:
            pipe.add_response(note, is_last=not note.code.is_successful())

    def drop_observations(self) -> None:
        """A reboot forgets every observation (the server must observe again)."""
        self._held.clear()
        tasks = list(self._observations) + list(self._zombies)
        self._observations.clear()
        for task in tasks:
            task.cancel()

    def stop(self) -> None:
        self._stopped.set()
        self.drop_observations()


async def _silent() -> None:
    """A notification the faulty device never sends."""


class CancelHonoured(Exception):
    """Ends a cancel-ignoring fault's notifications: the cancel was of the kind it honours."""


def _path(segments: tuple[str, ...]) -> Path | None:
    """The LwM2M path of a Uri-Path, None for the root; 4.04 for anything else."""
    if not segments or segments == ("",):
        return None
    try:
        return Path.parse("/" + "/".join(segments))
    except ProtocolError:
        raise OperationError(Code.NOT_FOUND, f"not an LwM2M path: /{'/'.join(segments)}") from None


def _path_or_none(request: Message) -> Path | None:
    """The request's LwM2M path; None for the root or a Uri-Path that is none (the dispatch
    answers that one 4.04)."""
    try:
        return _path(tuple(request.opt.uri_path))
    except OperationError:
        return None


def _is_update_trigger(request: Message) -> bool:
    """An Execute of /1/x/8 Registration Update Trigger."""
    segments = tuple(request.opt.uri_path)
    return (request.code == Code.POST and len(segments) == 3 and segments[0] == "1"
            and segments[2] == "8")


def _need(path: Path | None) -> Path:
    if path is None:
        raise OperationError(Code.METHOD_NOT_ALLOWED, "operation on /")
    return path


def _uri(request: Message) -> str:
    return "/" + "/".join(request.opt.uri_path)
