"""The zygote: a warm interpreter that forks catalog runs and reference devices on request.

Started by :mod:`conformance.warmstart` (which explains why), it imports the libraries every
run needs once, then serves requests on a SOCK_SEQPACKET control socket. A request is a JSON
object (``kind``: ``pytest`` or ``module``; ``args``, ``env``, ``cwd``; ``session``) sent with
four descriptors: a socket on which the zygote answers the fork's pid and later its exit status
(``os.waitstatus_to_exitcode``), and the fork's stdin, stdout and stderr.

A ``pytest`` fork keeps what the zygote imported, our own catalog-side package included (the
lab, the plugin, the device-under-test layer: importing them again cost each run ~0.25 s of
CPU), and gets a channel of its own to the zygote, named in ``CONFORMANCE_ZYGOTE``, so that the
run can ask for its reference device the same way. Test modules and conftests are never
preloaded: pytest imports and rewrites them in the run, as in a new process. Our package's
modules are then not assert-rewritten (``PYTEST_DONT_REWRITE`` in ``conformance/__init__.py``
keeps pytest from warning about it): an assert in them that a verdict depends on carries its
own message, which is the verdict's message either way. A ``module`` fork is ``python -m
<module>``; it keeps what the zygote imported, our reference devices' modules included.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import runpy
import select
import signal
import socket
import struct
import sys
from typing import Any

ZYGOTE_ENV = "CONFORMANCE_ZYGOTE"  # in a pytest fork: "<its channel's fd>:<the zygote's pid>"
MAX_REQUEST = 1 << 20  # one request's arguments and environment, as JSON
STATUS = struct.Struct("!cq")  # b"p" and the fork's pid (from the fork), then b"x" and its exit
# What every catalog run imports, except the other pytest11 plugins (pytest warns about a
# plugin imported before it can rewrite it): the libraries, our reference devices' modules and
# our catalog side (what a run of either protocol imports from our package at collection).
PRELOAD = (
    "pytest", "_pytest.pytester", "_pytest.python", "_pytest.junitxml", "pluggy",
    "aiohttp", "aiohttp.web", "aiocoap", "lxml.etree", "pydantic", "yaml", "jinja2",
    "cryptography.x509", "cryptography.hazmat.primitives.asymmetric.ec", "dpkt", "requests",
    "allure", "allure_commons", "pygments", "cbor2",
    "conformance.simulators.lwm2m_device", "conformance.simulators.omadm_device",
    "conformance.plugin.plugin", "conformance.lwm2m.lab", "conformance.omadm.lab",
    "conformance.dut.lwm2m", "conformance.dut.lwm2m_fota", "conformance.dut.omadm",
    "conformance.dut.omadm_fumo", "conformance.dut.omadm_alerts",
    "conformance.controllers.simulator", "conformance.hostcsv",
)


def serve(control_fd: int) -> None:
    """Fork a run per request; answer each its pid, then its exit status. Leaves once the
    caller and every pytest fork have closed their channels."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the runs, which it reaps
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass  # an optional library: a run imports what it needs itself
    # What the forks inherit, out of their collector's sight: each of their full collections
    # walked the ~90,000 objects of these imports again, copying the pages it touched (a fork's
    # collection of the catalog: 0.48 -> 0.32 s of CPU; its lab's first gc.collect(): 45 -> 2
    # ms). They stay alive for good anyway: the forks keep every module the zygote imported.
    gc.collect()
    gc.freeze()
    control = socket.socket(fileno=control_fd)
    control.set_inheritable(False)
    # The caller's channel, and one per pytest fork (the fork holds the other end).
    channels = [control]
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    runs: dict[int, socket.socket] = {}
    while channels:
        waits: list[Any] = [*channels, wake_r]
        ready, _, _ = select.select(waits, [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
        _reap(runs)
        for channel in [c for c in channels if c in ready]:
            try:
                message, fds, _, _ = socket.recv_fds(channel, MAX_REQUEST, 4)
            except OSError:
                message, fds = b"", []
            if not message:  # that caller is gone: forks already running go on alone
                channels.remove(channel)
                channel.close()
                continue
            try:
                request = json.loads(message)
                pytest_run = request["kind"] == "pytest"
            except (ValueError, TypeError, KeyError):
                request = None
            if len(fds) != 4 or request is None:
                for fd in fds:
                    os.close(fd)
                continue
            # A pytest fork gets a channel of its own (to ask for its device).
            mine, forks = (socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                           if pytest_run else (None, None))
            status = socket.socket(fileno=fds[0])
            pid = os.fork()
            if pid == 0:
                zygote_fds = [wake_r, wake_w, *(c.fileno() for c in channels),
                              *(s.fileno() for s in runs.values())]
                if mine is not None:
                    zygote_fds.append(mine.fileno())
                _run_child(request, status, fds[1:], zygote_fds, forks)
            for fd in fds[1:]:
                os.close(fd)
            runs[pid] = status
            if mine is not None and forks is not None:
                forks.close()
                channels.append(mine)


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
            _send(sock, b"x", os.waitstatus_to_exitcode(status))
            sock.close()


def _send(sock: socket.socket, tag: bytes, value: int) -> None:
    try:
        sock.sendall(STATUS.pack(tag, value))
    except OSError:
        pass  # the caller stopped waiting


def _run_child(request: dict[str, Any], status: socket.socket, streams: list[int],
               zygote_fds: list[int], channel: socket.socket | None) -> None:
    """In the fork: become the requested program, then exit (never back into the loop).
    ``channel``: the fork's own way to ask the zygote (kept by a pytest fork only)."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for fd in zygote_fds:
            os.close(fd)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in enumerate(streams):
            os.dup2(fd, target)
        for fd in set(streams):
            if fd > 2:
                os.close(fd)
        if request.get("session"):
            os.setsid()  # its own process group, as Popen(start_new_session=True)
        # The pid goes out only now, so a caller never signals a group not yet made.
        _send(status, b"p", os.getpid())
        status.close()
        _become_fresh(request["cwd"], request["env"])
        if channel is not None:
            os.environ[ZYGOTE_ENV] = f"{channel.fileno()}:{os.getppid()}"
            import pytest

            sys.argv = ["pytest", *request["args"]]
            code = int(pytest.main(request["args"]))
        else:
            module = request["module"]
            sys.modules.pop(module, None)  # run anew as __main__, as `python -m` does
            sys.argv = [module, *request["args"]]
            runpy.run_module(module, run_name="__main__", alter_sys=True)
            code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int | None):
            print(exc.code, file=sys.stderr)
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
    """What a new ``python -m`` would see: its folder, environment, path and streams."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    sys.path.insert(0, cwd)  # as `python -m` puts it (the zygote runs with -P: none there)
    encoding = sys.stdout.encoding if sys.stdout is not None else "utf-8"
    # As at an interpreter's start: stdout line-buffered on a terminal only, stderr always.
    sys.stdout = open(1, "w", 1 if os.isatty(1) else -1, encoding, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", 1, encoding, "backslashreplace", closefd=False)  # noqa: SIM115
    sys.stdin = open(0, encoding=encoding, closefd=False)  # noqa: SIM115
