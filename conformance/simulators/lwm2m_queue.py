"""Queue mode, the reference device's side: a receiver that sleeps.

A queue-mode client keeps its receiver on for a while after each message it sends (LwM2M 1.1:
MAX_TRANSMIT_WAIT, 93 s with the default CoAP parameters; 1.0: ACK_TIMEOUT) and then sleeps
until it next sends something. Asleep, it hears nothing: a request from its LwM2M server is
dropped before aiocoap sees it, as a radio that is off would — no ACK, no answer. Responses to
the device's own requests always get through (it listens while it waits for them), and the
bootstrap server is never slept through (bootstrap is not in queue mode).

The gate wraps each aiocoap message manager of the device's context (aiocoap 0.4.17:
``dispatch_message`` is where every decoded datagram enters, ``_send_via_transport`` where
every message leaves, retransmissions included).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from aiocoap.numbers.types import CON

log = logging.getLogger("lwm2m-device")

AWAKE_1_1 = 93.0  # MAX_TRANSMIT_WAIT (RFC 7252 §4.8.2)
AWAKE_1_0 = 2.0  # ACK_TIMEOUT


class QueueRadio:
    def __init__(self, awake: float, from_server: Callable[[Any], bool]) -> None:
        self.awake = awake  # seconds the receiver stays on after the last message sent
        self._from_server = from_server
        self._last_sent = time.monotonic()
        self._off = False  # switched off before its time (a fault)
        self._off_next = False
        self.dropped = 0

    def asleep(self) -> bool:
        return self._off or time.monotonic() - self._last_sent > self.awake

    def off_after_next_response(self) -> None:
        """Sleep as soon as the next response arrives (before anything else is heard), until
        the next message sent: a fault, the TS asks for the listening window."""
        self._off_next = True

    def install(self, context: Any) -> None:
        for interface in getattr(context, "request_interfaces", ()):
            manager = getattr(interface, "token_interface", None)
            if manager is None or not hasattr(manager, "dispatch_message"):
                continue
            manager.dispatch_message = self._gate(manager.dispatch_message)
            manager._send_via_transport = self._sending(manager._send_via_transport)

    def _gate(self, dispatch: Callable[[Any], None]) -> Callable[[Any], None]:
        def gated(message: Any) -> None:
            # A request, or a CoAP ping (an Empty CON): an off radio hears neither.
            ping = message.code == 0 and message.mtype == CON
            needs_receiver = ping or message.code.is_request()
            if needs_receiver and self.asleep() and self._from_server(message.remote):
                self.dropped += 1
                log.info("queue mode: receiver off, %s from the server not heard", message.code)
                return
            dispatch(message)
            if self._off_next and message.code.is_response():
                self._off_next, self._off = False, True

        return gated

    def _sending(self, send: Callable[[Any], None]) -> Callable[[Any], None]:
        def sent(message: Any) -> None:
            self._last_sent = time.monotonic()
            self._off = False
            send(message)

        return sent
