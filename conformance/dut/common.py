"""What both protocols' device-under-test layers share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from conformance.controllers.base import Controller
from conformance.declaration import Declaration
from conformance.verdicts import NotApplicable

T = TypeVar("T")


class HarnessError(RuntimeError):
    """The lab is not set up for what a case asks (an ERROR of the suite, never a FAIL)."""


@dataclass
class Baseline:
    """What the device should report now: the declared values until a case updates them."""

    firmware_version: str
    host_software_version: str

    @classmethod
    def declared(cls, dut: Declaration, host_software_version: str | None = None) -> Baseline:
        """The declared versions (the host software version kept when given: a factory reset
        of the module does not change the host)."""
        host = dut.host.software_version if host_software_version is None else (
            host_software_version)
        return cls(dut.device.firmware_version, host)


def facade(part: T | None, protocol: str) -> T:
    """The lab's facade for ``protocol``; a lab started without it is a harness problem."""
    if part is None:
        raise HarnessError(f"the lab has no {protocol} server (the declaration's protocol differs)")
    return part


def require_action(controller: Controller, action: str, why: str) -> None:
    """NOT APPLICABLE when the declaration gives the lab no way to make the device do
    ``action`` (no command for it): the lab cannot provoke what the case judges, which is
    not a doubt about the device. ``why``: what the case needs the action for."""
    if action not in controller.capabilities():
        raise NotApplicable(f"the {controller.kind} controller declares no {action} action: "
                            f"the lab cannot {why} (control.commands.{action})")
