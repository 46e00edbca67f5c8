"""The ``shell`` controller: one command of the declaration per action, run with ``bash -c``.

The lab's addresses (``LAB_*``) and the action's parameters (``NEW_FW_VERSION``,
``HOST_MODEL`` …, see docs/declaration.md) come as environment variables, so the vendor's
script does not need to parse anything. A command that fails or hangs means the lab could not
make the device act: INCONCLUSIVE with the exit status and the tail of its stderr.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from conformance.controllers.base import ActionResult, Controller, action_variables, tail
from conformance.declaration import Declaration, ShellControl
from conformance.evidence.transcript import Transcript
from conformance.verdicts import Inconclusive

from .base import Progress


class ShellController(Controller):
    kind = "shell"

    def __init__(
        self,
        declaration: Declaration,
        run_dir: Path,
        *,
        transcript: Transcript | None = None,
        progress: Progress | None = None,
    ) -> None:
        super().__init__(declaration, run_dir, transcript=transcript, progress=progress)
        if not isinstance(declaration.control, ShellControl):
            raise TypeError("ShellController needs a declaration with control.type: shell")
        self.control: ShellControl = declaration.control

    def capabilities(self) -> set[str]:
        return set(self.control.commands)

    @property
    def workdir(self) -> Path | None:
        """Commands run in the declaration's folder, so they may name scripts beside it."""
        source = self.declaration.source
        return Path(source).parent if source is not None else None

    def environment(self, action: str, params: dict[str, str]) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.lab_addresses)
        env.update(action_variables(self.declaration, action, params))
        if self.workdir is not None:
            env["DECLARATION_DIR"] = str(self.workdir)
        return env

    def _perform(self, action: str, params: dict[str, str]) -> ActionResult:
        command = self.control.commands[action]  # type: ignore[index]
        started = time.time()
        self._say(f"{action}: running {command!r} (up to {self.control.timeout:g} s)")
        status, out, err = _run(
            command, self.environment(action, params), self.control.timeout, self.workdir
        )
        self._log(action, command, status, out, err)
        if status is None:
            raise Inconclusive(
                f"shell command for {action} did not finish within {self.control.timeout:g} s "
                f"(killed); stderr:\n{tail(err)}"
            )
        if status != 0:
            raise Inconclusive(
                f"shell command for {action} exited with status {status}, so the lab could not "
                f"make the device act; stderr:\n{tail(err)}"
            )
        return self._result(action, started, f"exit 0; {tail(out, 3)}")

    def _log(self, action: str, command: str, status: int | None, out: str, err: str) -> None:
        """Everything the command printed goes to the run's control log (for the evidence)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with (self.run_dir / "control-shell.log").open("a", encoding="utf-8") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} {action}: {command}\n")
            log.write(out)
            log.write(err)
            log.write(f"=== exit status {status if status is not None else 'timeout'}\n")
        self._record("device->lab", f"{action}: exit {status if status is not None else 'timeout'}")


def _run(
    command: str, env: dict[str, str], timeout: float, cwd: Path | None
) -> tuple[int | None, str, str]:
    """Run ``command``; on timeout kill its whole process group (scripts spawn children)."""
    proc = subprocess.Popen(
        ["bash", "-c", command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            # A grandchild left its own group and still holds the pipes: give up on the output.
            out, err = "", "(output lost: a child process escaped and kept the pipes open)"
        return None, out, err
    finally:
        if proc.poll() is None:
            _kill_group(proc)
            proc.wait()


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
