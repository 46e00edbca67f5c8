"""The ``manual`` controller: asks the operator to do the action, with a visible countdown.

The prompt goes to the controlling terminal (``/dev/tty``), not to stdin/stderr, because pytest
captures those; the operator presses Enter when done or types ``n`` when it cannot be done. In a
run without an operator (no terminal, or ``CI`` set) every action is INCONCLUSIVE at once: a
manual step nobody did must never turn into a PASS.
"""

from __future__ import annotations

import io
import os
import select
import time
from pathlib import Path
from typing import IO

from conformance.controllers.base import ActionResult, Controller, Progress, action_variables
from conformance.declaration import ACTIONS, Declaration, ManualControl
from conformance.evidence.transcript import Transcript
from conformance.verdicts import Inconclusive

# What the operator is asked to do, with the action's variables filled in.
PROMPTS: dict[str, str] = {
    "trigger_session": "Make {DEVICE_NAME} open a DM session with the lab now "
    "(its menu, an AT command, or a power cycle).",
    "sideload_update": "Update {DEVICE_NAME} by sideload/USB to firmware {NEW_FW_VERSION}"
    " (host software {HOST_SW_VERSION}). Do NOT use the lab's FOTA.",
    "oem_server_update": "Update {DEVICE_NAME} from the OEM's own DM server to firmware "
    "{NEW_FW_VERSION} (host software {HOST_SW_VERSION}).",
    "reboot": "Reboot {DEVICE_NAME}.",
    "factory_reset": "Factory-reset {DEVICE_NAME}.",
    "set_host_values": "Set the host values of {DEVICE_NAME}: manufacturer {HOST_MANUFACTURER}, "
    "model {HOST_MODEL}, software {HOST_SW_VERSION}, unique ID {HOST_UNIQUE_ID}.",
    "send": "Make {DEVICE_NAME} Send (LwM2M 1.1) the values of {SEND_PATHS} to the lab now.",
    "ui_answer": "On {DEVICE_NAME}'s screen, answer the next alerts of the DM session: "
    "{UI_ANSWER} (text to type: {UI_TEXT}; choices to pick: {UI_CHOICES}).",
    "send_generic_alert": "Make {DEVICE_NAME} report a device event to the lab now "
    "(a Generic Alert in a DM session of its own).",
    "abort_session": "Cancel the DM session {DEVICE_NAME} is in now (from its menu).",
}


def open_terminal(path: str) -> io.TextIOWrapper:
    """A terminal for prompting and reading lines (unbuffered below: ttys cannot seek)."""
    raw = open(path, "r+b", buffering=0)  # noqa: SIM115 - the wrapper owns and closes it
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", write_through=True)


def operator_absent_reason() -> str | None:
    """Why there is no operator to ask, or None when a terminal is there."""
    if os.environ.get("CI"):
        return "CI is set (non-interactive run)"
    try:
        with open("/dev/tty", "r+b", buffering=0):
            pass
    except OSError:
        return "no terminal to ask the operator on (non-interactive run)"
    return None


class ManualController(Controller):
    kind = "manual"

    def __init__(
        self,
        declaration: Declaration,
        run_dir: Path,
        *,
        transcript: Transcript | None = None,
        progress: Progress | None = None,
        terminal: IO[str] | None = None,
    ) -> None:
        """``terminal``: where to prompt and read (tests pass a pty); default ``/dev/tty``."""
        super().__init__(declaration, run_dir, transcript=transcript, progress=progress)
        control = declaration.control
        self.countdown = control.countdown if isinstance(control, ManualControl) else 120.0
        self._terminal = terminal

    def capabilities(self) -> set[str]:
        return set(ACTIONS)  # an operator can try anything, and may answer "n"

    def _perform(self, action: str, params: dict[str, str]) -> ActionResult:
        started = time.time()
        variables = action_variables(self.declaration, action, params)
        prompt = PROMPTS[action].format_map(_Missing(variables))
        if self._terminal is not None:
            self._say(f"{action}: waiting up to {self.countdown:g} s for the operator")
            answer = self._ask(self._terminal, prompt)
        else:
            absent = operator_absent_reason()
            if absent is not None:
                raise Inconclusive(f"manual action {action} needs an operator: {absent}")
            self._say(f"{action}: waiting up to {self.countdown:g} s for the operator")
            with open_terminal("/dev/tty") as tty:
                answer = self._ask(tty, prompt)
        if answer is None:
            raise Inconclusive(f"the operator did not confirm {action} within {self.countdown:g} s")
        if answer.strip().lower() in ("n", "no"):
            raise Inconclusive(f"the operator could not do {action}")
        return self._result(action, started, "confirmed by the operator")

    def _ask(self, terminal: IO[str], prompt: str) -> str | None:
        """Show the prompt and a countdown; the operator's line, or None when time ran out."""
        terminal.write(f"\n*** OPERATOR ACTION ({self.declaration.device.name}) ***\n{prompt}\n")
        terminal.write("Press Enter when done, or type n and Enter if it cannot be done.\n")
        terminal.flush()
        deadline = time.monotonic() + self.countdown
        fd = terminal.fileno()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                terminal.write("\rtime is up.                     \n")
                terminal.flush()
                return None
            terminal.write(f"\r  {remaining:5.0f} s left > ")
            terminal.flush()
            # Wake at least once a second to redraw the countdown.
            ready, _, _ = select.select([fd], [], [], min(1.0, remaining))
            if ready:
                line = terminal.readline()
                terminal.write("\n")
                terminal.flush()
                return line if line else "n"  # EOF: nobody can answer


class _Missing(dict[str, str]):
    """format_map helper: a variable the action does not define shows as '?'."""

    def __missing__(self, key: str) -> str:
        return "?"
