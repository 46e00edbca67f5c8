"""Catalog runs started as forks of a warm interpreter (a zygote), not as new interpreters.

Every catalog run is a pytest process of its own: ``conformance run`` starts one per device (or
per part of one), and the fault matrices one per row. Started as ``python -m pytest``, each
imported the same third-party libraries again (aiohttp, aiocoap, lxml, pydantic, cryptography,
jinja2…): ~0.7 s of CPU in a one-case run of ~2 s (bench/README.md, "Warm starts"). A zygote
imports them once; each run is a fork of it that calls ``pytest.main`` with its own arguments,
environment, working folder and output, as ``python -m pytest`` would, and the zygote reports
its exit status.

Our own package is never kept in a fork: it is dropped from ``sys.modules`` before
``pytest.main``, because pytest rewrites the asserts of a pytest11 plugin's distribution as it
imports it, and the device-under-test layer's assert messages must read as in a new process.

``CONFORMANCE_WARM=0`` starts every run as a new interpreter (the old way, for comparison).
A zygote that cannot be started or has gone away does the same, with a note on stderr.
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

WARM_ENV = "CONFORMANCE_WARM"
# Imported once by the zygote: what every catalog run imports, except our own package (see
# above) and the pytest11 plugins (pytest warns about a plugin imported before it rewrites it).
PRELOAD = (
    "pytest", "_pytest.pytester", "_pytest.python", "_pytest.junitxml", "pluggy",
    "aiohttp", "aiohttp.web", "aiocoap", "lxml.etree", "pydantic", "yaml", "jinja2",
    "cryptography.x509", "cryptography.hazmat.primitives.asymmetric.ec", "dpkt", "requests",
    "allure", "allure_commons", "pygments", "cbor2",
)
OWN_PACKAGE = __name__.partition(".")[0]
MAX_REQUEST = 1 << 20  # one run's arguments and environment, as JSON
_STATUS = struct.Struct("!q")


class Run(Protocol):
    """The part of ``subprocess.Popen`` the callers use (a warm run or a new interpreter)."""

    pid: int
    stdout: IO[bytes] | None

    @property
    def returncode(self) -> int | Any: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def poll(self) -> int | None: ...

    def kill(self) -> None: ...


class WarmRun:
    """A pytest run forked by the zygote, waited for through the zygote."""

    def __init__(self, pid: int, status: socket.socket, stdout: IO[bytes] | None) -> None:
        self.pid = pid
        self.stdout = stdout
        self.returncode: int | None = None
        self._status = status
        self._lock = threading.Lock()

    def wait(self, timeout: float | None = None) -> int:
        with self._lock:
            if self.returncode is None:
                ready, _, _ = select.select([self._status], [], [], timeout)
                if not ready:
                    raise subprocess.TimeoutExpired(f"pytest (pid {self.pid})", timeout or 0)
                data = self._status.recv(_STATUS.size)
                # No status: the zygote went away before the run ended (it cannot be waited for).
                self.returncode = _STATUS.unpack(data)[0] if len(data) == _STATUS.size else -1
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
    """The warm process; ``start`` forks a pytest run from it."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._control = ours
        self._lock = threading.Lock()
        code = f"from {__name__} import serve; serve({theirs.fileno()})"
        # Its own interpreter, never a fork of the caller (which may run threads).
        self._proc = subprocess.Popen([sys.executable, "-c", code], pass_fds=[theirs.fileno()],
                                      stdin=subprocess.DEVNULL)
        theirs.close()

    def start(self, args: Sequence[str], *, env: Mapping[str, str], cwd: str,
              stdout: int | None) -> WarmRun:
        """Fork ``pytest args``; its output (and stderr) to the descriptor ``stdout``, or to
        this process's own stdout and stderr when ``None``. Raises OSError if the zygote is
        gone."""
        request = json.dumps({"args": list(args), "env": dict(env), "cwd": cwd}).encode()
        if len(request) > MAX_REQUEST:
            raise OSError(f"a run's arguments and environment take {len(request)} bytes")
        mine, zygotes = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out, err = (stdout, stdout) if stdout is not None else (1, 2)
        try:
            with self._lock:
                socket.send_fds(self._control, [request], [zygotes.fileno(), _stdin(), out, err])
        finally:
            zygotes.close()
        mine.settimeout(None)
        data = mine.recv(_STATUS.size)
        if len(data) != _STATUS.size:
            mine.close()
            raise OSError("the zygote did not fork the run")
        return WarmRun(_STATUS.unpack(data)[0], mine, None)

    def close(self) -> None:
        """Stop the zygote (its forks run on) and wait for it, so that its CPU is counted."""
        self._control.close()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def _stdin() -> int:
    """This process's stdin for a run, /dev/null if it has none (as a new process would)."""
    try:
        os.fstat(0)
        return 0
    except OSError:
        global _devnull
        if _devnull is None:
            _devnull = os.open(os.devnull, os.O_RDONLY)
        return _devnull


_devnull: int | None = None
_zygote: Zygote | None = None
_zygote_lock = threading.Lock()
_zygote_failed = False


def warm_enabled() -> bool:
    return os.environ.get(WARM_ENV, "1") != "0"


def popen_pytest(args: Sequence[str], *, env: Mapping[str, str] | None = None,
                 cwd: str | None = None, stdout: int | None = None,
                 ) -> Run:
    """``python -m pytest args``: a fork of the zygote, or a new interpreter (see the module
    docstring). ``stdout``: a descriptor for its output and stderr, ``subprocess.PIPE`` for a
    pipe (the returned object's ``stdout``), or ``None`` to share this process's."""
    global _zygote, _zygote_failed
    environment = dict(os.environ if env is None else env)
    folder = os.path.abspath(cwd or os.getcwd())
    if warm_enabled() and not _zygote_failed:
        try:
            with _zygote_lock:
                if _zygote is None:
                    _zygote = Zygote()
                    atexit.register(stop_zygote)
                zygote = _zygote
            if stdout == subprocess.PIPE:
                read, write = os.pipe()
                try:
                    run = zygote.start(args, env=environment, cwd=folder, stdout=write)
                except BaseException:
                    os.close(read)
                    raise
                finally:
                    os.close(write)
                run.stdout = os.fdopen(read, "rb")
                return run
            return zygote.start(args, env=environment, cwd=folder, stdout=stdout)
        except OSError as exc:
            _zygote_failed = True
            print(f"conformance: warm start unavailable ({exc}); starting new interpreters",
                  file=sys.stderr, flush=True)
    return subprocess.Popen([sys.executable, "-m", "pytest", *args], env=environment,
                            cwd=folder, stdout=stdout,
                            stderr=None if stdout is None else subprocess.STDOUT)


def run_pytest(args: Sequence[str], *, env: Mapping[str, str] | None = None,
               cwd: str | None = None, timeout: float | None = None) -> tuple[int, str]:
    """``pytest args`` to its end, as :func:`popen_pytest` starts it: its exit status and its
    output (stdout and stderr together). On ``timeout`` the run is killed and
    ``subprocess.TimeoutExpired`` raised, as ``subprocess.run`` does."""
    with tempfile.TemporaryFile() as out:
        run = popen_pytest(args, env=env, cwd=cwd, stdout=out.fileno())
        try:
            code = run.wait(timeout)
        except subprocess.TimeoutExpired:
            run.kill()
            run.wait()
            raise
        out.seek(0)
        return code, out.read().decode("utf-8", "replace")


def stop_zygote() -> None:
    """Stop this process's zygote, if it started one (``conformance run`` does at its end)."""
    global _zygote
    with _zygote_lock:
        zygote, _zygote = _zygote, None
    if zygote is not None:
        zygote.close()


# ---------------------------------------------------------------------------- the zygote side


def serve(control_fd: int) -> None:
    """The zygote's loop: fork a run per request, send each its pid and then its exit status."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the runs, which it reaps
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass  # an optional library: the run imports what it needs itself
    control = socket.socket(fileno=control_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    runs: dict[int, socket.socket] = {}
    open_control = True
    while open_control or runs:
        waits: list[Any] = [control, wake_r] if open_control else [wake_r]
        ready, _, _ = select.select(waits, [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
            _reap(runs)
        if control in ready:
            try:
                message, fds, _, _ = socket.recv_fds(control, MAX_REQUEST, 4)
            except OSError:
                message, fds = b"", []
            if not message:
                open_control = False  # the caller is gone or done: finish reaping, then leave
                control.close()
                continue
            if len(fds) != 4:
                for fd in fds:
                    os.close(fd)
                continue
            status, streams = socket.socket(fileno=fds[0]), fds[1:]
            pid = os.fork()
            if pid == 0:
                others = [s.fileno() for s in runs.values()]
                _run_child(message, streams, [control.fileno(), wake_r, wake_w, fds[0], *others])
            for fd in streams:
                os.close(fd)
            runs[pid] = status
            _send(status, pid)
        _reap(runs)


def _reap(runs: dict[int, socket.socket]) -> None:
    while runs:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        sock = runs.pop(pid, None)
        if sock is not None:
            _send(sock, os.waitstatus_to_exitcode(status))
            sock.close()


def _send(sock: socket.socket, value: int) -> None:
    try:
        sock.sendall(_STATUS.pack(value))
    except OSError:
        pass  # the caller stopped waiting


def _run_child(message: bytes, streams: list[int], inherited: list[int]) -> None:
    """In the fork: become ``python -m pytest`` with the request's arguments, then exit.
    ``streams``: its stdin, stdout and stderr; ``inherited``: the zygote's descriptors."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for fd in inherited:
            os.close(fd)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in enumerate(streams):
            os.dup2(fd, target)
        for fd in set(streams):
            if fd > 2:
                os.close(fd)
        request: dict[str, Any] = json.loads(message)
        _become_fresh(request["cwd"], request["env"])
        import pytest

        sys.argv = ["pytest", *request["args"]]
        code = int(pytest.main(request["args"]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # a fork must never return into the zygote's loop
        import traceback

        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()  # what a new interpreter runs at its end
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _become_fresh(cwd: str, env: dict[str, str]) -> None:
    """What a new ``python -m pytest`` would see: its folder, environment, path and streams."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    sys.path[0] = cwd  # as `python -m` puts it
    for name in [n for n in sys.modules if n == OWN_PACKAGE or n.startswith(OWN_PACKAGE + ".")]:
        del sys.modules[name]
    encoding = sys.stdout.encoding if sys.stdout is not None else "utf-8"
    # As at an interpreter's start: stdout line-buffered on a terminal only, stderr always.
    sys.stdout = open(1, "w", 1 if os.isatty(1) else -1, encoding, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", 1, encoding, "backslashreplace", closefd=False)  # noqa: SIM115
