"""How the lab makes the device act: simulator, shell, serial AT, a labgrid bench, manual.

:func:`make_controller` picks the implementation the declaration's ``control.type`` names; all
share :class:`~conformance.controllers.base.Controller`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from conformance.controllers.base import (
    ActionResult,
    Controller,
    ControllerError,
    Progress,
    action_variables,
)
from conformance.declaration import (
    Declaration,
    LabgridControl,
    ManualControl,
    SerialControl,
    ShellControl,
    SimulatorControl,
)
from conformance.evidence.transcript import Transcript

if TYPE_CHECKING:
    from conformance.controllers.at import SmsPackage0Channel

__all__ = [
    "ActionResult",
    "Controller",
    "ControllerError",
    "action_variables",
    "make_controller",
    "package0_channel",
]


def make_controller(
    declaration: Declaration,
    run_dir: Path,
    *,
    faults: list[str] | None = None,
    transcript: Transcript | None = None,
    progress: Progress | None = None,
) -> Controller:
    """The controller the declaration asks for (not started: call ``start(lab.addresses())``).

    ``faults`` (reference devices only) add to the declaration's ``control.faults``.
    """
    control = declaration.control
    if isinstance(control, SimulatorControl):
        from conformance.controllers.simulator import SimulatorController

        return SimulatorController(
            declaration, run_dir, faults=faults, transcript=transcript, progress=progress
        )
    if faults:
        raise ValueError(f"faults {faults} need the simulator controller, not {control.type}")
    if isinstance(control, ShellControl):
        from conformance.controllers.shell import ShellController

        return ShellController(declaration, run_dir, transcript=transcript, progress=progress)
    if isinstance(control, SerialControl):
        from conformance.controllers.serial import SerialController

        return SerialController(declaration, run_dir, transcript=transcript, progress=progress)
    if isinstance(control, LabgridControl):
        from conformance.controllers.labgrid import LabgridController

        return LabgridController(declaration, run_dir, transcript=transcript, progress=progress)
    if isinstance(control, ManualControl):
        from conformance.controllers.manual import ManualController

        return ManualController(declaration, run_dir, transcript=transcript, progress=progress)
    raise TypeError(f"no controller for control type {control.type!r}")  # pragma: no cover


def package0_channel(declaration: Declaration, controller: Controller) -> SmsPackage0Channel | None:
    """The Package 0 channel the controller provides, if the declaration wants one.

    Today: the WAP Push SMS channel of an AT controller (serial, labgrid) when
    ``omadm.notification.channel`` is ``sms``. Other channels (UDP, shell) belong to the OMA-DM
    lab.
    """
    omadm = declaration.omadm
    if omadm is None or omadm.notification.channel != "sms":
        return None
    from conformance.controllers.at import AtController, SmsPackage0Channel

    if not isinstance(controller, AtController):
        return None
    return SmsPackage0Channel(controller)
