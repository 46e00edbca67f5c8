"""Observe-Composite and Send for the reference LwM2M device (TS 1.1 §6.4.3, §6.4.6): the
paths of a FETCH with Observe, the values under several paths, and the Send format. (A plain
FETCH, Read-Composite, is the DM interface's, not handled here.)

A path that does not exist is left out of a composite read (TS 1.1 §6.3.2.1: the client
answers what it has; an Observe-Composite may name a path created later, ETS 1.1 int-308);
any other refusal (not readable, not allowed) fails the whole operation.
"""

from __future__ import annotations

from collections.abc import Container

from aiocoap import Code, Message

from conformance.errors import ProtocolError
from conformance.lwm2m.codecs import composite
from conformance.lwm2m.model import Content, ContentFormat, Path
from conformance.simulators.lwm2m_store import ObjectStore, OperationError, Role


def request_paths(request: Message) -> list[Path]:
    """The SenML path list of a composite FETCH (4.15 / 4.00 when it is not one)."""
    fmt = request.opt.content_format
    if fmt is None or int(fmt) not in composite.FORMATS:
        raise OperationError(Code.UNSUPPORTED_CONTENT_FORMAT,
                             "a composite request carries SenML JSON or CBOR")
    try:
        paths = composite.decode_paths(int(fmt), bytes(request.payload))
    except ProtocolError as exc:
        raise OperationError(Code.BAD_REQUEST, exc.message) from None
    named = [p for p in paths if p is not None]
    if len(named) != len(paths):  # this device observes objects and below, not the root
        raise OperationError(Code.BAD_REQUEST, "the root path / is not observable here")
    return named


def answer_format(request: Message, formats: list[ContentFormat]) -> ContentFormat:
    """Accept when given (a SenML format the device offers), else the request's own format."""
    accept = request.opt.accept
    chosen = int(accept) if accept is not None else int(request.opt.content_format or 0)
    if chosen not in composite.FORMATS or ContentFormat(chosen) not in formats:
        raise OperationError(Code.NOT_ACCEPTABLE, f"composite answers in {chosen} not offered")
    return ContentFormat(chosen)


def read_paths(store: ObjectStore, paths: list[Path], role: Role) -> Content:
    """The values under ``paths``; missing ones are left out."""
    content: Content = {}
    for path in paths:
        try:
            content.update(store.read(path, role))
        except OperationError as exc:
            if exc.code != Code.NOT_FOUND:
                raise
    return {p: v for p, v in content.items() if p.depth >= 3}


def stale_instances(content: Content, start: Content, faults: Container[str]) -> Content:
    """Faults composite-notify-ignores-created / composite-notify-keeps-deleted (ETS 1.1
    int-308/309): a notification keeps the instance list the relation started with, leaving
    out instances created since, or carrying deleted ones with their values of that time."""
    known = {(p.object_id, p.instance_id) for p in start}
    if "composite-notify-ignores-created" in faults:
        content = {p: v for p, v in content.items() if (p.object_id, p.instance_id) in known}
    if "composite-notify-keeps-deleted" in faults:
        now = {(p.object_id, p.instance_id) for p in content}
        content = {**{p: v for p, v in start.items() if (p.object_id, p.instance_id) not in now},
                   **content}
    return content


def send_format(formats: list[ContentFormat]) -> ContentFormat:
    """SenML CBOR when offered, else SenML JSON (TS 1.1 §6.4.6: Send carries SenML)."""
    for fmt in (ContentFormat.SENML_CBOR, ContentFormat.SENML_JSON):
        if fmt in formats:
            return fmt
    raise OperationError(Code.NOT_ACCEPTABLE, "Send needs SenML JSON or CBOR")
