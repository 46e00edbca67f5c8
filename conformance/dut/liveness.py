"""Proof of life: when the device's silence is its fault, and when the lab cannot tell.

Silence alone decides nothing: the device may be off, unreachable or never triggered, and then
the lab cannot judge (INCONCLUSIVE). But a device that *provably answered a moment before* (an
OMA-DM session of it just ended; an LwM2M registration is live and answered the lab a moment
before, or, for LwM2M, answers a CoAP ping right after the silence) and then leaves a valid
request unanswered is at fault: the lab asks once more (one lost exchange is not a verdict),
and a second silence FAILs naming what went unanswered. Protocol-neutral: the OMA-DM and LwM2M
layers say what the proof and the request are.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from conformance.evidence.transcript import Transcript
from conformance.verdicts import DeviceFault, DeviceTimeout

T = TypeVar("T")
Proof = str | None


@dataclass
class ProofOfLife:
    """The device's last provable answer: what it was and when (monotonic seconds)."""

    what: str | None = None
    at: float | None = None

    def seen(self, what: str, at: float | None = None) -> None:
        self.what, self.at = what, time.monotonic() if at is None else at

    def within(self, seconds: float) -> str | None:
        """The proof, if it is at most ``seconds`` old ("a moment before"); else None."""
        if self.what is None or self.at is None:
            return None
        age = time.monotonic() - self.at
        return f"{self.what} {age:.1f} s before" if age <= seconds else None


def answered_or_fault(
    what: str,
    attempt: Callable[[], T],
    proof: Proof | Callable[[], Proof],
    *,
    note: Callable[[str], None] | None = None,
) -> T:
    """``attempt()``; on silence, once more when the device was shown alive, then FAIL.

    ``proof`` says how the device was shown alive (a callable is asked only on silence); None:
    it was not, and the silence stays a :class:`DeviceTimeout` (INCONCLUSIVE), as the lab cannot
    tell a fault from no device. ``note`` records the retry in the evidence.
    """
    try:
        return attempt()
    except DeviceTimeout as first:
        alive = proof() if callable(proof) else proof
        if alive is None:
            raise DeviceTimeout(f"{what} went unanswered ({first}) and the lab cannot show the "
                                "device was alive just before") from None
        if note is not None:
            note(f"{what} went unanswered ({first}) although {alive}: asking once more")
    try:
        return attempt()
    except DeviceTimeout as second:
        raise DeviceFault(f"{what} went unanswered twice ({second}), although the device was "
                          f"alive: {alive}") from None


def ask_alive(what: str, send: Callable[[], T], alive: Callable[[float], Proof],
              transcript: Transcript, device: str, protocol: str = "lwm2m") -> T:
    """:func:`answered_or_fault` for a request sent now: ``alive(sent_at)`` says, on silence,
    why the device was alive just before it was sent (CoAP has retransmitted meanwhile)."""
    sent_at = time.time()

    def note(text: str) -> None:
        transcript.note(protocol, text, device=device)

    return answered_or_fault(what, send, lambda: alive(sent_at), note=note)
