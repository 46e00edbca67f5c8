"""Running the declaration's shell commands: one environment, one shell, bounded, never blocked.

Control actions, the device's ``start``/``stop`` commands and the Package 0 ``command`` all run
here, the same way: ``bash -c`` in the declaration's folder, with the suite's environment plus
the lab's ``LAB_*`` addresses of this run and the action's variables (docs/declaration.md). Output
goes to a file, never to a pipe: a background child that keeps stdout open (``client &``) cannot
make the lab wait for it. Each command runs in its own process group, and only groups started
here are ever signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from conformance.declaration import Declaration

# How long a device gets to leave after SIGTERM before its group is killed.
STOP_GRACE = 5.0
# At most this much of a command's output is read back for a verdict's reason.
OUTPUT_LIMIT = 64 * 1024


def declaration_dir(declaration: Declaration) -> Path | None:
    """Commands run in the declaration's folder, so they may name scripts beside it."""
    source = declaration.source
    return Path(source).parent if source is not None else None


def command_environment(
    declaration: Declaration,
    lab_addresses: Mapping[str, str],
    action: str,
    params: Mapping[str, str | None],
    run_dir: Path,
) -> dict[str, str]:
    """The environment of every command the declaration gives (actions, start/stop, Package 0)."""
    from conformance.controllers.base import action_variables  # base imports this module's peers

    env = dict(os.environ)
    env.update(lab_addresses)
    env.update(action_variables(declaration, action, params))
    folder = declaration_dir(declaration)
    if folder is not None:
        env["DECLARATION_DIR"] = str(folder)
    env["RUN_DIR"] = str(Path(run_dir).absolute())  # device.log and the device's own state
    return env


@dataclass(frozen=True)
class Outcome:
    """How a bounded command ended: ``status`` None means it was killed at its timeout."""

    status: int | None
    output: str  # what it printed (stdout and stderr interleaved), at most OUTPUT_LIMIT
    lingering: bool  # it left background processes running in its group (still tracked)
    pgid: int


def run_bounded(
    command: str,
    env: Mapping[str, str],
    timeout: float,
    cwd: Path | None,
    log_path: Path,
    header: str,
) -> Outcome:
    """Run ``command`` with ``bash -c``; its output is appended to ``log_path`` after ``header``.

    Waits for the shell itself, not for its output to close, so ``daemon &`` returns at once.
    On timeout the whole process group is killed.
    """
    proc, start = _spawn(command, env, cwd, log_path, header)
    try:
        status: int | None = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        proc.wait()
        status = None
    lingering = status is not None and group_alive(proc.pid)
    output = _read_from(log_path, start)
    with log_path.open("a", encoding="utf-8") as log:
        shown = "timeout (killed)" if status is None else str(status)
        log.write(f"=== exit status {shown}{' (left background processes)' if lingering else ''}\n")
    return Outcome(status, output, lingering, proc.pid)


def _spawn(
    command: str, env: Mapping[str, str], cwd: Path | None, log_path: Path, header: str
) -> tuple[subprocess.Popen[bytes], int]:
    """``bash -c command`` in its own process group, output appended to ``log_path`` (never a
    pipe); also the log's offset where the command's output begins."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"=== {time.strftime('%H:%M:%S')} {header}: {command}\n".encode())
        log.flush()
        offset = log.tell()  # before the child writes: it shares this file offset
        proc = subprocess.Popen(
            ["bash", "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
        return proc, offset


def _read_from(path: Path, offset: int) -> str:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read(OUTPUT_LIMIT).decode("utf-8", "replace")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class DeviceProcess:
    """The device as a process: the ``start`` command, running in its own process group.

    The command may run the client in the foreground (``exec ./client …``) or start it in the
    background and return; either way its group is the device. Its output goes to ``log_path``.
    ``on_exit`` hears when the start command itself ends (with its status): a client that dies
    at once is then visible in the transcript, not only as a missing registration.
    """

    def __init__(self, log_path: Path, on_exit: Callable[[int], None] | None = None) -> None:
        self.log_path = log_path
        self.on_exit = on_exit
        self._proc: subprocess.Popen[bytes] | None = None
        self._ended = threading.Event()  # the start command (the group's leader) ended

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and group_alive(self._proc.pid)

    def start(self, command: str, env: Mapping[str, str], cwd: Path | None) -> int:
        if self._proc is not None:
            raise RuntimeError("the device process is already started")
        self._ended = threading.Event()
        self._proc, _ = _spawn(command, env, cwd, self.log_path, "start")
        proc = self._proc
        threading.Thread(
            target=self._watch, args=(proc, self._ended), name=f"device-{proc.pid}", daemon=True
        ).start()
        return proc.pid

    def _watch(self, proc: subprocess.Popen[bytes], ended: threading.Event) -> None:
        # WNOWAIT leaves the leader a zombie: its pid (the group's id) cannot be reused
        # before stop() kills the group, so stop() never signals a stranger.
        try:
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            info = None
        ended.set()
        if info is None or self._proc is not proc:
            return
        status = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"=== start command ended, exit status {status}\n")
        if self.on_exit is not None:
            self.on_exit(status)

    def stop(self, grace: float = STOP_GRACE) -> int | None:
        """SIGTERM the group, SIGKILL it after ``grace`` s; the leader's exit status."""
        proc = self._proc
        if proc is None:
            return None
        self._proc = None
        kill_group(proc.pid, signal.SIGTERM)
        self._ended.wait(grace)
        kill_group(proc.pid, signal.SIGKILL)  # children that outlived the leader, or it
        status = proc.wait()  # reaped only now: until here the group's id stayed ours
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} stopped, exit status {status}\n")
        return status
