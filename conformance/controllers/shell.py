"""The ``shell`` controller: one command of the declaration per action, run with ``bash -c``.

The lab's addresses (``LAB_*``) and the action's parameters (``NEW_FW_VERSION``,
``HOST_MODEL`` …, see docs/declaration.md) come as environment variables, so the vendor's
script does not need to parse anything. A command that fails or hangs means the lab could not
make the device act: INCONCLUSIVE with the exit status and the tail of its output.

A device that is a process (a client binary on the lab machine) is started by
``commands.start`` once the lab is up, so it gets this run's addresses, and ended by
``commands.stop`` and by killing the process group ``start`` began (that group only).
:meth:`ShellController.cold_start` does both again; without a ``reboot`` command it is the
``reboot`` action. Commands run through :mod:`conformance.controllers.processes`: output to
files, never pipes, so a background child never holds an action up.
"""

from __future__ import annotations

import time
from pathlib import Path

from conformance.controllers.base import ActionResult, Controller, tail
from conformance.controllers.processes import (
    DeviceProcess,
    command_environment,
    declaration_dir,
    group_alive,
    kill_group,
    run_bounded,
)
from conformance.declaration import ACTIONS, Declaration, ShellControl
from conformance.evidence.transcript import Transcript
from conformance.verdicts import Inconclusive

from .base import Progress

CONTROL_LOG = "control-shell.log"
DEVICE_LOG = "device.log"


class ShellController(Controller):
    kind = "shell"
    control_type = ShellControl

    def __init__(
        self,
        declaration: Declaration,
        run_dir: Path,
        *,
        transcript: Transcript | None = None,
        progress: Progress | None = None,
    ) -> None:
        super().__init__(declaration, run_dir, transcript=transcript, progress=progress)
        self.control: ShellControl = declaration.control  # type: ignore[assignment]  # base checked
        self.device = DeviceProcess(self.run_dir / DEVICE_LOG, on_exit=self._device_ended)
        self._lingering: set[int] = set()  # process groups actions left running

    def capabilities(self) -> set[str]:
        declared: set[str] = {name for name in self.control.commands if name in ACTIONS}
        if "start" in self.control.commands:
            declared.add("reboot")  # a process restarts by a cold start
        return declared

    @property
    def workdir(self) -> Path | None:
        """Commands run in the declaration's folder, so they may name scripts beside it."""
        return declaration_dir(self.declaration)

    def environment(self, action: str, params: dict[str, str]) -> dict[str, str]:
        return command_environment(
            self.declaration, self.lab_addresses, action, params, self.run_dir
        )

    # ------------------------------------------------------------------ life cycle

    def start(self, lab_addresses: dict[str, str]) -> None:
        super().start(lab_addresses)
        self._start_device()

    def stop(self) -> None:
        """The ``stop`` command, then the device's group and any group an action left behind."""
        if "stop" in self.control.commands and self.device.pid is not None:
            outcome = run_bounded(
                self.control.commands["stop"],
                self.environment("stop", {}),
                self.control.timeout,
                self.workdir,
                self.run_dir / DEVICE_LOG,
                "stop",
            )
            if outcome.lingering:
                self._lingering.add(outcome.pgid)
            shown = "timeout" if outcome.status is None else outcome.status
            self._record("note", f"device stop command: exit {shown}")
        status = self.device.stop()
        if status is not None:
            self._record("note", f"device process group stopped (start command status {status})")
        for pgid in sorted(self._lingering):
            kill_group(pgid)
        self._lingering.clear()

    def cold_start(self) -> ActionResult:
        """Stop the device process and start it again (``commands.start`` must be declared)."""
        if "start" not in self.control.commands:
            raise Inconclusive("shell controller has no start command for a cold start")
        started = time.time()
        self._record("lab->device", "cold start")
        self.stop()
        self._start_device()
        self._record("note", "cold start done")
        return self._result("cold_start", started, f"device restarted (pid {self.device.pid})")

    def _start_device(self) -> None:
        command = self.control.commands.get("start")
        if command is None:
            return
        self._say(f"starting the device: {command!r} (output in {DEVICE_LOG})")
        pid = self.device.start(command, self.environment("start", {}), self.workdir)
        self._record("note", f"device started by the start command (process group {pid})")

    def _device_ended(self, status: int) -> None:
        self._record("device->lab", f"device start command ended with exit status {status}")

    # ------------------------------------------------------------------ actions

    def _perform(self, action: str, params: dict[str, str]) -> ActionResult:
        if action == "reboot" and "reboot" not in self.control.commands:
            result = self.cold_start()
            return self._result(action, result.started, result.detail)
        command = self.control.commands[action]  # type: ignore[index]
        started = time.time()
        self._say(f"{action}: running {command!r} (up to {self.control.timeout:g} s)")
        outcome = run_bounded(
            command,
            self.environment(action, params),
            self.control.timeout,
            self.workdir,
            self.run_dir / CONTROL_LOG,
            action,
        )
        if outcome.lingering:
            # e.g. a reboot script that restarts the client with `client &`: stop() ends it.
            self._lingering.add(outcome.pgid)
        self._lingering = {pgid for pgid in self._lingering if group_alive(pgid)}
        shown = outcome.status if outcome.status is not None else "timeout"
        self._record("device->lab", f"{action}: exit {shown}")
        if outcome.status is None:
            raise Inconclusive(
                f"shell command for {action} did not finish within {self.control.timeout:g} s "
                f"(killed); output:\n{tail(outcome.output)}"
            )
        if outcome.status != 0:
            raise Inconclusive(
                f"shell command for {action} exited with status {outcome.status}, so the lab "
                f"could not make the device act; output:\n{tail(outcome.output)}"
            )
        return self._result(action, started, f"exit 0; {tail(outcome.output, 3)}")
