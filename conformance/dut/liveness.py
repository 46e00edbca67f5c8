"""Proof of life: when the device's silence is its fault, and when the lab cannot tell.

Silence alone decides nothing: the device may be off, unreachable or never triggered, and
then the lab cannot judge (INCONCLUSIVE). But a device that *provably answered a moment
before* (a session of it just ended, the same session answered the previous package) and
then leaves a valid request unanswered is at fault: the lab asks once more, and a second
silence FAILs naming what went unanswered. Protocol-neutral: the OMA-DM and LwM2M layers
say what the proof and the request are.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from conformance.verdicts import DeviceFault, DeviceTimeout, Inconclusive

T = TypeVar("T")


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


def answered_or_fault(what: str, attempt: Callable[[], T], proof: str | None) -> T:
    """``attempt()``; on silence, once more when the device was shown alive, then FAIL.

    ``proof`` says how the device was shown alive just before the first attempt (None: it
    was not, and the silence is INCONCLUSIVE as the lab cannot tell a fault from no device).
    """
    try:
        return attempt()
    except DeviceTimeout as first:
        if proof is None:
            raise Inconclusive(f"{what} went unanswered ({first}) and the lab cannot show the "
                               "device was alive just before") from None
    try:
        return attempt()
    except DeviceTimeout as second:
        raise DeviceFault(f"{what} went unanswered twice ({second}), although the device was "
                          f"alive: {proof}") from None
