"""Catalog runs and reference devices started as forks of a warm interpreter.

Every catalog run is a pytest process of its own: ``conformance run`` starts one per device (or
per part of one), and the fault matrices one per row; each run starts its reference device as
another process. Started as new interpreters, they imported the same libraries again and again
(aiohttp, aiocoap, lxml, pydantic, cryptography, jinja2, our devices' modules…): ~0.7 s of CPU
in a one-case run of ~2 s (bench/README.md, "Warm starts"). A zygote (:mod:`conformance.zygote`)
imports them once; each run or device is a fork of it with its own arguments, environment,
working folder and streams, as a new ``python -m`` would have, and the zygote reports its exit
status. A pytest run started that way asks the same zygote for its device.

``CONFORMANCE_WARM=0`` starts new interpreters (the old way, for comparison). So does a zygote
that cannot be started or has gone away, with a note on stderr.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from typing import IO, Any, Protocol

from conformance.zygote import MAX_REQUEST, STATUS, ZYGOTE_ENV

WARM_ENV = "CONFORMANCE_WARM"
FORK_TIMEOUT = 60.0  # seconds for the zygote to say it forked (its imports take ~1 s)


class Run(Protocol):
    """The part of ``subprocess.Popen`` the callers use (a fork or a new interpreter)."""

    pid: int
    stdout: IO[Any] | None

    @property
    def returncode(self) -> int | Any: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def poll(self) -> int | None: ...

    def kill(self) -> None: ...


class WarmRun:
    """A fork of the zygote, waited for through the zygote (it is the fork's parent)."""

    def __init__(self, pid: int, status: socket.socket) -> None:
        self.pid = pid
        self.stdin: IO[Any] | None = None
        self.stdout: IO[Any] | None = None
        self.returncode: int | None = None
        self._status = status
        self._lock = threading.Lock()

    def wait(self, timeout: float | None = None) -> int:
        with self._lock:
            if self.returncode is None:
                ready, _, _ = select.select([self._status], [], [], timeout)
                if not ready:
                    raise subprocess.TimeoutExpired(f"fork {self.pid}", timeout or 0)
                data = self._status.recv(STATUS.size, socket.MSG_WAITALL)
                # No status: the zygote went away before the fork ended (it cannot be waited for).
                self.returncode = STATUS.unpack(data)[1] if len(data) == STATUS.size else -1
                self._status.close()
        return self.returncode

    def poll(self) -> int | None:
        try:
            return self.wait(0)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class Zygote:
    """The caller's side of a zygote: one this process started, or the one it was forked from."""

    def __init__(self, control: socket.socket, proc: subprocess.Popen[bytes] | None) -> None:
        self._control = control
        self._proc = proc
        self._lock = threading.Lock()
        self._used = False

    @classmethod
    def spawn(cls) -> Zygote:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        code = f"from conformance.zygote import serve; serve({theirs.fileno()})"
        # Its own interpreter, never a fork of the caller (which may run threads). -P: the
        # working folder is not put on sys.path (a `conformance/` folder there is not ours);
        # each fork puts its own there, as `python -m` does.
        proc = subprocess.Popen([sys.executable, "-P", "-c", code], pass_fds=[theirs.fileno()],
                                stdin=subprocess.DEVNULL)
        theirs.close()
        return cls(ours, proc)

    @classmethod
    def inherited(cls) -> Zygote | None:
        """The zygote this process is a pytest fork of (``CONFORMANCE_ZYGOTE``), if it is one:
        the descriptor must still be that socket (a program started later inherits the
        variable, not the descriptor)."""
        fd_text, _, peer_text = os.environ.get(ZYGOTE_ENV, "").partition(":")
        if not (fd_text.isdigit() and peer_text.isdigit()):
            return None
        try:
            sock = socket.socket(fileno=os.dup(int(fd_text)))
        except OSError:
            return None
        try:
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            same = (sock.family == socket.AF_UNIX and sock.type == socket.SOCK_SEQPACKET
                    and struct.unpack("3i", creds)[0] == int(peer_text))
        except OSError:
            same = False
        if not same:
            sock.close()
            return None
        return cls(sock, None)

    def start(self, request: dict[str, Any], streams: tuple[int, int, int]) -> WarmRun:
        """Fork what ``request`` asks (see conformance.zygote) with these stdin, stdout and
        stderr. Raises OSError if the zygote is gone."""
        data = json.dumps(request).encode()
        if len(data) > MAX_REQUEST:
            raise OSError(f"a request of {len(data)} bytes (arguments and environment)")
        mine, zygotes = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with self._lock:
                self._used = True
                socket.send_fds(self._control, [data], [zygotes.fileno(), *streams])
        except OSError:
            mine.close()
            raise
        finally:
            zygotes.close()
        mine.settimeout(FORK_TIMEOUT)  # a zygote still importing answers within seconds
        try:
            answer = mine.recv(STATUS.size, socket.MSG_WAITALL)
        except OSError:
            answer = b""
        if len(answer) != STATUS.size or STATUS.unpack(answer)[0] != b"p":
            mine.close()
            raise OSError("the zygote did not fork, or the fork ended before it started")
        mine.settimeout(None)
        return WarmRun(STATUS.unpack(answer)[1], mine)

    def close(self) -> None:
        """Stop asking; a zygote this process started is waited for, so that its CPU is
        counted (it leaves once its pytest forks, each holding a channel of its own, ended)."""
        self._control.close()
        if self._proc is None:
            return
        if not self._used:
            self._proc.kill()  # started early and never asked: no need to let it finish importing
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


_devnull: int | None = None
_zygote: Zygote | None = None
_zygote_lock = threading.Lock()
_zygote_failed = False
_inherited: Zygote | None = None
_inherited_looked = False


def warm_enabled() -> bool:
    return os.environ.get(WARM_ENV, "1") != "0"


def _shared_zygote() -> Zygote:
    """This process's zygote, started at the first call (OSError if it cannot be)."""
    global _zygote
    with _zygote_lock:
        if _zygote is None:
            _zygote = Zygote.spawn()
        return _zygote


def prestart() -> None:
    """Start this process's zygote now, so that its imports overlap the caller's own work
    before the first run (``conformance run`` reads the declarations meanwhile)."""
    global _zygote_failed
    if not warm_enabled() or _zygote_failed:
        return
    try:
        _shared_zygote()
    except OSError:
        _zygote_failed = True


def popen_pytest(args: Sequence[str], *, env: Mapping[str, str] | None = None,
                 cwd: str | None = None, stdout: int | None = None,
                 zygote: Zygote | None = None) -> Run:
    """``python -m pytest args``: a fork of the zygote, or a new interpreter (see the module
    docstring). ``stdout``: a descriptor for its output and stderr, ``subprocess.PIPE`` for a
    pipe (the returned object's ``stdout``, bytes), or ``None`` to share this process's.
    ``zygote``: that one instead of this process's own (started at the first call)."""
    global _zygote_failed
    environment = dict(os.environ if env is None else env)
    folder = os.path.abspath(cwd or os.getcwd())
    if zygote is not None or (warm_enabled() and not _zygote_failed):
        request = {"kind": "pytest", "args": list(args), "env": environment, "cwd": folder}
        try:
            if zygote is None:
                zygote = _shared_zygote()
            if stdout != subprocess.PIPE:
                out = (1, 2) if stdout is None else (stdout, stdout)
                return zygote.start(request, (_stdin(), *out))
            read, write = os.pipe()
            try:
                run = zygote.start(request, (_stdin(), write, write))
            except BaseException:
                os.close(read)
                raise
            finally:
                os.close(write)
            run.stdout = os.fdopen(read, "rb")
            return run
        except OSError as exc:
            if zygote is _zygote:
                _zygote_failed = True
            print(f"conformance: warm start unavailable ({exc}); starting new interpreters",
                  file=sys.stderr, flush=True)
    return subprocess.Popen([sys.executable, "-m", "pytest", *args], env=environment,
                            cwd=folder, stdout=stdout,
                            stderr=None if stdout is None else subprocess.STDOUT)


def run_pytest(args: Sequence[str], *, env: Mapping[str, str] | None = None,
               cwd: str | None = None, timeout: float | None = None,
               zygote: Zygote | None = None) -> tuple[int, str]:
    """``pytest args`` to its end, as :func:`popen_pytest` starts it: its exit status and its
    output (stdout and stderr together). On ``timeout`` the run is killed and
    ``subprocess.TimeoutExpired`` raised, as ``subprocess.run`` does."""
    with tempfile.TemporaryFile() as out:
        run = popen_pytest(args, env=env, cwd=cwd, stdout=out.fileno(), zygote=zygote)
        try:
            code = run.wait(timeout)
        except subprocess.TimeoutExpired:
            run.kill()
            run.wait()
            raise
        out.seek(0)
        return code, out.read().decode("utf-8", "replace")


def fork_module(command: Sequence[str], *, stderr: int) -> WarmRun | None:
    """``command`` (``python -m <module> …``) forked from the zygote this pytest run came from,
    in its own session, with text pipes for stdin and stdout (``Popen(…, text=True,
    bufsize=1, start_new_session=True)``); ``None`` where there is no such zygote or the
    command is another program: the caller starts it itself. Only a run that is a fork uses
    this: a zygote of its own would cost more than the one device it would start."""
    global _inherited, _inherited_looked
    if len(command) < 3 or list(command[:2]) != [sys.executable, "-m"] or not warm_enabled():
        return None
    with _zygote_lock:
        if not _inherited_looked:
            _inherited_looked = True
            _inherited = Zygote.inherited()
        zygote = _inherited
    if zygote is None:
        return None
    env = {k: v for k, v in os.environ.items() if k != ZYGOTE_ENV}
    request = {"kind": "module", "module": command[2], "args": list(command[3:]), "env": env,
               "cwd": os.getcwd(), "session": True}
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    try:
        run = zygote.start(request, (stdin_r, stdout_w, stderr))
    except OSError:
        os.close(stdin_w)
        os.close(stdout_r)
        return None  # the zygote is gone: the caller starts the device itself
    finally:
        os.close(stdin_r)
        os.close(stdout_w)
    # As Popen(text=True, encoding="utf-8", errors="replace", bufsize=1) gives them.
    run.stdin = open(stdin_w, "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    run.stdout = open(stdout_r, buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    return run


def _stdin() -> int:
    """This process's stdin for a run, /dev/null if it has none (as a new process would)."""
    global _devnull
    try:
        os.fstat(0)
        return 0
    except OSError:
        if _devnull is None:
            _devnull = os.open(os.devnull, os.O_RDONLY)
        return _devnull


def stop_zygote() -> None:
    """Stop this process's zygote, if it started one (``conformance run`` does at its end)."""
    global _zygote
    with _zygote_lock:
        zygote, _zygote = _zygote, None
    if zygote is not None:
        zygote.close()


atexit.register(stop_zygote)  # a no-op when this process never started one
