"""The verdict model: PASS, FAIL, INCONCLUSIVE, NOT APPLICABLE, ERROR.

Test cases signal verdicts with these exceptions; the pytest plugin maps them onto pytest
outcomes so that none is confused with another:

- FAIL: the device broke a requirement -> :class:`DeviceFault` (an ``AssertionError``; a plain
  ``assert`` in a case means the same).
- INCONCLUSIVE: the lab could not decide (no session came, operator absent, controller cannot
  do the action) -> :class:`Inconclusive`.
- NOT APPLICABLE: the declaration says so, with the reason -> :class:`NotApplicable`.
- ERROR: anything else raised in a case is a harness problem, never a device FAIL.
"""

from __future__ import annotations

from enum import Enum


class Verdict(str, Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"
    NOT_APPLICABLE = "NOT APPLICABLE"
    ERROR = "ERROR"


class DeviceFault(AssertionError):
    """The device did something a requirement forbids (or failed to do what it requires)."""


class Inconclusive(Exception):
    """The lab could not reach a verdict; says why."""


class DeviceTimeout(Inconclusive):
    """The device did not answer within the declared time (unreachable, not triggered…).

    A case for which silence *is* the fault (e.g. no session after an update, CDR-DVM-1533)
    catches this and raises :class:`DeviceFault` itself.
    """


class NotApplicable(Exception):
    """The requirement does not apply to the declared device; says why."""
