"""Proof of life before silence is blamed on the device.

A request a device never answers is INCONCLUSIVE by default: the lab cannot tell a dead link
from a broken client. Once the lab can show the device was alive (its registration is live
and it answered a moment before), silence is the device's: the request is asked once more
(a single lost exchange is not a verdict) and a second silence is a FAIL naming what went
unanswered. The protocol layer says what proof of life means for it (``alive``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from conformance.evidence.transcript import Transcript
from conformance.verdicts import DeviceFault, DeviceTimeout

T = TypeVar("T")


def ask_alive(what: str, send: Callable[[], T], alive: Callable[[float], str | None],
              transcript: Transcript, device: str, protocol: str = "lwm2m") -> T:
    """``send()``; on silence, ``alive(sent_at)`` says why the device was alive (or None: the
    silence stays a :class:`DeviceTimeout`, INCONCLUSIVE). Alive: one retry, then FAIL."""
    sent_at = time.time()
    try:
        return send()
    except DeviceTimeout as silence:
        proof = alive(sent_at)
        if proof is None:
            raise
        transcript.note(protocol, f"{what} went unanswered ({silence}) although {proof}: "
                        "asking once more", device=device)
        try:
            return send()
        except DeviceTimeout as again:
            raise DeviceFault(
                f"{what} went unanswered twice, after CoAP's own retransmissions ({again}), "
                f"although {proof}") from None
