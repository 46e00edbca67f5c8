"""The ``simulator`` controller: starts a reference device as its own process and drives it.

The device is a real network client of the lab (docs/architecture.md, "Reference devices"):
this controller only starts it with the right command line, waits for its ``ready`` line, and
sends JSON-line actions on its stdin, each answered by id on its stdout. The device's stderr
(its log) goes to ``run_dir/device-<protocol>.log``. The process runs in its own process group,
killed on :meth:`stop` and at interpreter exit, so no run leaves a device behind.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import IO, Any, Protocol

import yaml
from pydantic import BaseModel, SecretStr

from conformance.controllers.base import ActionResult, Controller, ControllerError, Progress
from conformance.declaration import ACTIONS, Declaration, SimulatorControl
from conformance.errors import ConfigurationError
from conformance.evidence.transcript import Transcript
from conformance.verdicts import Inconclusive
from conformance.warmstart import Run, fork_module

# How long a device may take to leave after "quit" before it is killed.
QUIT_GRACE = 3.0

class Device(Run, Protocol):
    """The device's process: a ``subprocess.Popen`` or a warm fork (conformance.warmstart)."""

    stdin: IO[Any] | None


_live: set[Device] = set()
_live_lock = threading.Lock()


@atexit.register
def _kill_leftovers() -> None:
    """Never leave a device process behind, even when a run is interrupted."""
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        _kill_group(proc)


class SimulatorController(Controller):
    kind = "simulator"

    def __init__(
        self,
        declaration: Declaration,
        run_dir: Path,
        *,
        faults: Sequence[str] | None = None,
        transcript: Transcript | None = None,
        progress: Progress | None = None,
        program: Sequence[str] | None = None,
    ) -> None:
        """``faults`` add to the declaration's ``control.faults`` (the fault matrix uses it).

        ``program`` replaces ``python -m conformance.simulators.<protocol>_device`` (tests).
        """
        super().__init__(declaration, run_dir, transcript=transcript, progress=progress)
        control = declaration.control
        declared = list(control.faults) if isinstance(control, SimulatorControl) else []
        self.faults = list(dict.fromkeys([*declared, *(faults or [])]))
        self.program = (
            list(program)
            if program is not None
            else [
                sys.executable,
                "-m",
                f"conformance.simulators.{declaration.protocol}_device",
            ]
        )
        self.quit_grace = QUIT_GRACE
        # A reference device answers once it acted (e.g. after its registration update went
        # out), so an answer may take as long as a session start.
        timeouts = declaration.timeouts
        self.action_timeout = max(timeouts.request, timeouts.session)
        self.ready_info: dict[str, Any] = {}
        self._proc: Device | None = None
        self._answers: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._next_id = 1
        self._reader: threading.Thread | None = None
        self._log: IO[str] | None = None

    @property
    def log_path(self) -> Path:
        return self.run_dir / f"device-{self.declaration.protocol}.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def capabilities(self) -> set[str]:
        return set(ACTIONS)

    # ------------------------------------------------------------------ command line

    def command_line(self, lab_addresses: dict[str, str]) -> list[str]:
        """The device's command line for these lab addresses (see docs/architecture.md)."""
        args = [*self.program, "--dut", str(self._declaration_file())]
        args += ["--server", _need(lab_addresses, self._server_variable())]
        dut = self.declaration
        # The lab CA signs the OMA-DM HTTPS server and the package server alike: a device on
        # plain-HTTP DM may still fetch firmware over HTTPS, so it always gets the CA.
        if "LAB_CA_FILE" in lab_addresses:
            args += ["--ca", lab_addresses["LAB_CA_FILE"]]
        if dut.protocol == "lwm2m" and dut.features.bootstrap:
            secure = dut.lwm2m is not None and dut.lwm2m.security == "psk"
            name = "LAB_BOOTSTRAP_DTLS_URI" if secure else "LAB_BOOTSTRAP_URI"
            args += ["--bootstrap", _need(lab_addresses, name)]
        args += ["--state-dir", str(self.run_dir / f"device-{dut.protocol}-state")]
        control = dut.control
        if isinstance(control, SimulatorControl) and control.server_instance:
            args += ["--server-instance", str(control.server_instance)]
        for fault in self.faults:
            args += ["--fault", fault]
        return args

    def _server_variable(self) -> str:
        dut = self.declaration
        if dut.protocol == "omadm":
            https = dut.omadm is not None and dut.omadm.transport == "https"
            return "LAB_OMADM_HTTPS_URL" if https else "LAB_OMADM_URL"
        psk = dut.lwm2m is not None and dut.lwm2m.security == "psk"
        return "LAB_LWM2M_DTLS_URI" if psk else "LAB_LWM2M_URI"

    def _declaration_file(self) -> Path:
        """The file the device reads: the declaration's own, or a private copy in run_dir."""
        if self.declaration.source is not None and Path(self.declaration.source).is_file():
            return Path(self.declaration.source)
        path = self.run_dir / f"device-{self.declaration.protocol}.yaml"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(declaration_data(self.declaration), sort_keys=False)
        # The copy holds the secrets in clear (the device needs them): owner-only from birth.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("# Written by the simulator controller for the reference device. Private.\n")
            f.write(text)
        os.chmod(path, 0o600)
        return path

    # ------------------------------------------------------------------ lifecycle

    def start(self, lab_addresses: dict[str, str]) -> None:
        if self._proc is not None:
            raise ControllerError("simulator controller already started")
        super().start(lab_addresses)
        args = self.command_line(lab_addresses)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("a", encoding="utf-8")
        self._log.write(f"=== {time.strftime('%H:%M:%S')} starting: {' '.join(args)}\n")
        self._log.flush()
        try:
            self._proc = self._spawn(args)
        except OSError as exc:
            self._log.close()
            self._log = None
            raise ControllerError(f"cannot start the reference device {args[:3]}: {exc}") from None
        with _live_lock:
            _live.add(self._proc)
        self._reader = threading.Thread(
            target=self._read_stdout, name=f"device-{self.declaration.protocol}-stdout", daemon=True
        )
        self._reader.start()
        self._record("note", f"reference device started (pid {self._proc.pid})")
        self._wait_ready(self.declaration.timeouts.session)

    def _spawn(self, args: list[str]) -> Device:
        assert self._log is not None
        # In a catalog run forked from a warm interpreter, the device is a fork of it too.
        forked = fork_module(args, stderr=self._log.fileno())
        if forked is not None:
            return forked
        return subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            start_new_session=True,  # its own process group: stop() kills the whole tree
        )

    def _wait_ready(self, timeout: float) -> None:
        self._say(
            f"waiting up to {timeout:g} s for the reference {self.declaration.protocol} device"
        )
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                event = self._events.get(timeout=max(remaining, 0))
            except queue.Empty:
                self.stop()
                raise Inconclusive(
                    f"reference device not ready within {timeout:g} s; log:\n{self._log_tail()}"
                ) from None
            if event is None:  # stdout closed: the process is gone
                status = self._proc.wait() if self._proc is not None else None
                self.stop()
                raise Inconclusive(
                    f"reference device exited (status {status}) before it was ready; "
                    f"log:\n{self._log_tail()}"
                )
            if event.get("event") == "ready":
                self.ready_info = {k: v for k, v in event.items() if k != "event"}
                self._record("note", f"reference device ready: {json.dumps(self.ready_info)}")
                return

    def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                self._send({"id": 0, "action": "quit"})
                proc.wait(timeout=self.quit_grace)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
        # Always kill the group: the device may have left children (or ignored "quit").
        _kill_group(proc)
        proc.wait()
        with _live_lock:
            _live.discard(proc)
        # The group is dead, so stdout reaches EOF and the reader ends; closing a stream that
        # another thread still reads would block, hence join first.
        if self._reader is not None:
            self._reader.join(timeout=5)
        streams = [proc.stdin]
        if self._reader is None or not self._reader.is_alive():
            streams.append(proc.stdout)
        for stream in streams:
            try:
                if stream is not None:
                    stream.close()
            except (OSError, BrokenPipeError):
                pass
        if self._log is not None:
            self._log.write(f"=== stopped, exit status {proc.returncode}\n")
            self._log.close()
            self._log = None
        self._record("note", f"reference device stopped (exit status {proc.returncode})")
        self._proc = None

    def cold_start(self) -> ActionResult:
        """Stop the reference device and start it again with the same addresses and faults."""
        started = time.time()
        self._record("lab->device", "cold start")
        self.stop()
        self.start(self.lab_addresses)
        return self._result("cold_start", started, f"reference device restarted (pid {self.pid})")

    # ------------------------------------------------------------------ control channel

    def _read_stdout(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        try:
            for line in proc.stdout:
                self._dispatch(line)
        except (OSError, ValueError):
            pass  # closed by stop()
        self._events.put(None)
        with self._lock:
            waiting = list(self._answers.values())
        for answers in waiting:
            answers.put({"ok": False, "exited": True})

    def _dispatch(self, line: str) -> None:
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            message = None
        if not isinstance(message, dict):
            # Not the control channel: keep it with the log rather than lose it.
            if self._log is not None and line.strip():
                self._log.write(f"(stdout) {line.rstrip()}\n")
                self._log.flush()
            return
        if "event" in message:
            self._events.put(message)
            return
        with self._lock:
            answers = self._answers.get(message.get("id"))  # type: ignore[arg-type]
        if answers is not None:
            answers.put(message)

    def _send(self, message: dict[str, Any]) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise ControllerError("reference device not started")
        with self._lock:  # one whole line at a time, whichever thread sends
            proc.stdin.write(json.dumps(message) + "\n")
            proc.stdin.flush()

    def _perform(self, action: str, params: dict[str, str]) -> ActionResult:
        return self.call(action, params, timeout=self.action_timeout)

    def call(self, action: str, params: dict[str, Any], timeout: float) -> ActionResult:
        """Send one command and wait for its answer (also usable for device-specific actions)."""
        if self._proc is None:
            raise ControllerError("simulator controller not started")
        started = time.time()
        with self._lock:
            ident = self._next_id
            self._next_id += 1
            answers: queue.Queue[dict[str, Any]] = queue.Queue()
            self._answers[ident] = answers
        try:
            try:
                self._send({"id": ident, "action": action, "params": params})
            except (OSError, ValueError):
                raise Inconclusive(
                    f"reference device is gone, cannot {action}; log:\n{self._log_tail()}"
                ) from None
            try:
                answer = answers.get(timeout=timeout)
            except queue.Empty:
                raise Inconclusive(
                    f"reference device did not answer {action} within {timeout:g} s"
                ) from None
        finally:
            with self._lock:
                self._answers.pop(ident, None)
        if answer.get("exited"):
            raise Inconclusive(f"reference device exited during {action}; log:\n{self._log_tail()}")
        if not answer.get("ok"):
            raise Inconclusive(
                f"reference device could not {action}: {answer.get('error', 'no reason given')}"
            )
        detail = str(answer.get("detail", "ok"))
        return self._result(action, started, detail)

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.strip().splitlines()[-lines:]) or "(empty log)"


def _need(addresses: dict[str, str], name: str) -> str:
    if name not in addresses:
        raise ConfigurationError(
            f"the lab gave no {name} (got {', '.join(sorted(addresses)) or 'nothing'}); "
            "the declaration needs that server"
        )
    return addresses[name]


def _kill_group(proc: Device) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def declaration_data(declaration: Declaration) -> dict[str, Any]:
    """The declaration as plain YAML-able data, secrets in clear, paths absolute."""

    def plain(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, BaseModel):
            return {
                name: plain(getattr(value, name))
                for name in type(value).model_fields
                if name != "source"
            }
        if isinstance(value, Path):
            return str(value.absolute())
        if isinstance(value, dict):
            return {plain(k): plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, Enum):
            return value.value
        return value

    data = plain(declaration)
    assert isinstance(data, dict)
    return data
