"""What both protocols' device-under-test layers share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from conformance.declaration import Declaration

T = TypeVar("T")


class HarnessError(RuntimeError):
    """The lab is not set up for what a case asks (an ERROR of the suite, never a FAIL)."""


@dataclass
class Baseline:
    """What the device should report now: the declared values until a case updates them."""

    firmware_version: str
    host_software_version: str

    @classmethod
    def declared(cls, dut: Declaration) -> Baseline:
        return cls(dut.device.firmware_version, dut.host.software_version)


def facade(part: T | None, protocol: str) -> T:
    """The lab's facade for ``protocol``; a lab started without it is a harness problem."""
    if part is None:
        raise HarnessError(f"the lab has no {protocol} server (the declaration's protocol differs)")
    return part
