"""LwM2M 1.1 Information Reporting beyond single-path Observe: Observe-Composite and Send.

- :class:`CompositeObservationCore`: an Observe relation on several paths at once, a FETCH on
  the root with Observe 0 and the path list as a SenML body (TS 1.1 §6.4.3); notifications
  and the answer decode as one SenML pack; the proactive cancel is the same FETCH with
  Observe 1 on the relation's token.
- :class:`SendInterface`: the lab's ``/dp`` resource (TS 1.1 §6.4.6 Send): a registered client
  POSTs SenML JSON or CBOR; the lab decodes it, keeps it (bounded) for the cases and answers
  2.04. A Send from a peer that is not registered is 4.04, a body that does not decode 4.00,
  another format 4.15; each refusal is recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiocoap import Code, Message

from conformance.errors import ProtocolError
from conformance.lwm2m.coaplog import peer_text
from conformance.lwm2m.codecs import composite
from conformance.lwm2m.model import Content, Path
from conformance.lwm2m.objects import ObjectRegistry
from conformance.lwm2m.operations import ObservationCore, Requester, Response, code_of
from conformance.lwm2m.server import LabResource, ServerState, error_response

MAX_SENDS = 64  # Sends the lab keeps (the oldest go first)


class CompositeObservationCore(ObservationCore):
    """Observe-Composite: ``paths`` in a SenML body of format ``body_fmt``."""

    def __init__(self, requester: Requester, fmt: int,
                 reject_next: Callable[[Any, bytes, asyncio.Future[Message]], None], *,
                 paths: list[Path], body_fmt: int) -> None:
        super().__init__(requester, Path(0), fmt, reject_next)  # Path(0): unused, FETCH is on /
        self.paths = paths
        self.body_fmt = body_fmt

    def _message(self, observe: int) -> Message:
        return self.requester.message(
            Code.FETCH, "/", payload=composite.encode_paths(self.body_fmt, self.paths),
            content_format=self.body_fmt, accept=self.fmt, observe=observe)

    def _decode(self, msg: Message) -> Response:
        return decode_composite(msg, self.requester.registry)


def decode_composite(msg: Message, registry: ObjectRegistry) -> Response:
    """A composite answer or notification: one SenML pack under any paths."""
    fmt = int(msg.opt.content_format) if msg.opt.content_format is not None else None
    response = Response(code=code_of(msg.code), content_format=fmt, payload=bytes(msg.payload),
                        observe=msg.opt.observe)
    if not msg.code.is_successful() or not msg.payload:
        return response
    if fmt is None:
        response.decode_error = "payload without Content-Format"
        return response
    try:
        response.content = composite.decode(fmt, bytes(msg.payload), registry)
    except ProtocolError as exc:
        response.decode_error = str(exc)
    return response


@dataclass(frozen=True)
class SendReport:
    """One Send the lab accepted: who, what, when (wall clock)."""

    endpoint: str
    content: Content
    content_format: int
    time: float


class SendInterface(LabResource):
    """``POST /dp``: the client's Send (TS 1.1 §6.4.6)."""

    def __init__(self, state: ServerState, registry: ObjectRegistry) -> None:
        super().__init__(state)
        self.registry = registry
        self.sends: list[SendReport] = []
        self.changed = asyncio.Event()

    async def render_post(self, request: Message) -> Message:
        peer = peer_text(request.remote)
        reg = self.state.store.by_peer(peer)
        if reg is None:
            self.state.problem(request, "Send from a client that is not registered (4.04)",
                               f"lwm2m: Send from {peer}, no registration")
            return error_response(Code.NOT_FOUND, "not registered")
        fmt = request.opt.content_format
        if fmt is None or int(fmt) not in composite.FORMATS:
            self.state.problem(request, f"Send in content format {fmt} refused (4.15)",
                               "lwm2m: Send carries SenML JSON (110) or SenML CBOR (112)")
            return error_response(Code.UNSUPPORTED_CONTENT_FORMAT, "SenML JSON or CBOR")
        try:
            content = composite.decode(int(fmt), bytes(request.payload), self.registry)
        except ProtocolError as exc:
            self.state.problem(request, f"Send refused (4.00): {exc.message}", str(exc))
            return error_response(Code.BAD_REQUEST, exc.message)
        self.sends.append(SendReport(reg.endpoint, content, int(fmt), time.time()))
        del self.sends[:-MAX_SENDS]
        self.changed.set()
        self.state.event(request, f"Send from {reg.endpoint}: "
                         f"{composite.describe_paths(content) or 'no values'}")
        return Message(code=Code.CHANGED)

    async def wait(self, endpoint: str, since: float, timeout: float) -> SendReport | None:
        """The first Send of ``endpoint`` at or after ``since``; None when none in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = next((s for s in self.sends if s.endpoint == endpoint and s.time >= since),
                         None)
            remaining = deadline - loop.time()
            if found is not None or remaining <= 0:
                return found
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                pass
