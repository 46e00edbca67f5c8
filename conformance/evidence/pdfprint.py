"""A headless Chromium started before a run's end, so that printing its acceptance PDF does not
wait for a browser to start.

A cold ``chromium --print-to-pdf`` spends ~0.9 s starting the browser before it lays the page
out (bench/README.md §4), and the PDF is a run's last step: that time is the run's. This
browser is started while the cases still run (``prestart``) and driven over the DevTools
protocol on a pipe (``--remote-debugging-pipe``: it reads NUL-terminated JSON on fd 3 and
writes on fd 4; no port that another local program could reach). It exits when the pipe
closes, so a lab that dies leaves no browser behind. Any failure of it is a ``PrintError``:
the caller (``acceptance.write_pdf``) then prints with a new browser, as before.

A run prints one PDF and closes its browser. ``conformance run`` with devices side by side
prints every device's PDF itself, with one *shared* browser, one page at a time: each cold
browser cost ~1 s of CPU while the other devices' cases still ran (bench/README.md §4).
"""

from __future__ import annotations

import atexit
import base64
import binascii
import fcntl
import json
import logging
import os
import select
import shutil
import signal
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes of PDF asked per IO.read (its answer is base64: ~1.4 MB)
MAX_MESSAGE = 8 << 20  # one message from the browser beyond this is an error, not memory
MAX_PDF = 256 << 20  # bytes of one PDF (the OMA-DM run's: 0.6 MB): beyond, an error
MAX_EVENTS = 64  # events kept while an answer is awaited (a page sends a handful)
EXIT_WAIT = 3.0  # s a browser gets to exit after Browser.close before its group is killed


PROFILE_PREFIX = "conformance-pdf-warm-"  # + the owning process's pid + "-" + random


class PrintError(Exception):
    """The warm browser could not print (gone, silent, or it answered an error)."""


class WarmChromium:
    """One headless Chromium and its DevTools pipe. Not shared between threads."""

    def __init__(self, exe: str, flags: tuple[str, ...]) -> None:
        # Named by this process: if it dies without closing, the next one removes it (sweep).
        self._profile = tempfile.mkdtemp(prefix=f"{PROFILE_PREFIX}{os.getpid()}-")
        to_browser, self._browser_in = os.pipe()
        self._browser_out, from_browser = os.pipe()
        # Above fd 4, so that putting one on fd 3 cannot overwrite the other before it moves.
        to_browser, from_browser = _above_4(to_browser), _above_4(from_browser)
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            # posix_spawn puts the pipe ends on fds 3 and 4 in the browser (Popen cannot
            # choose fd numbers); its own session, so that close can kill its helpers too.
            self.pid = os.posix_spawn(
                exe,
                [exe, *flags, f"--user-data-dir={self._profile}", "--remote-debugging-pipe",
                 "about:blank"],
                dict(os.environ),
                file_actions=[(os.POSIX_SPAWN_DUP2, to_browser, 3),
                              (os.POSIX_SPAWN_DUP2, from_browser, 4),
                              *((os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2))],
                setsid=True,
            )
        except OSError:
            for fd in (self._browser_in, self._browser_out):
                os.close(fd)
            shutil.rmtree(self._profile, ignore_errors=True)
            raise
        finally:
            for fd in (to_browser, from_browser, devnull):
                os.close(fd)
        # Held from the start: the exit is waited for on it, and only a browser not yet
        # reaped (by us) has its process group killed, so no other group can be hit.
        self._pidfd = os.pidfd_open(self.pid)
        os.set_blocking(self._browser_in, False)  # a browser that stops reading: an error
        self._pending = b""
        self._events: list[tuple[object, object]] = []  # (method, session) seen meanwhile
        self._answers: dict[int, dict[str, Any]] = {}  # by request id, until asked for
        self._last_id = 0
        self._closed = False
        # The page is made now, so that its renderer is up by the time it prints.
        try:
            self._page_request = self._send("Target.createTarget", {"url": "about:blank"})
        except PrintError:
            self.close()
            raise

    def print_to_pdf(self, html_path: Path, pdf_path: Path, timeout: float,
                     keep: bool = False) -> None:
        """Load ``html_path`` and write its PDF (what ``--print-to-pdf`` with
        ``--no-pdf-header-footer`` makes) to ``pdf_path``; raises PrintError. ``keep``: another
        print may follow, so the next page is made before this one closes (a browser left
        without a page may exit)."""
        if self._closed:
            raise PrintError("the browser was closed")
        deadline = time.monotonic() + timeout
        if not self._page_request:
            self._page_request = self._send("Target.createTarget", {"url": "about:blank"})
        target = _text(self._result(self._page_request, deadline), "targetId")
        self._page_request = 0
        session = _text(self._call("Target.attachToTarget", {"targetId": target,
                                                             "flatten": True}, deadline),
                        "sessionId")
        self._call("Page.enable", {}, deadline, session)
        loaded = self._call("Page.navigate", {"url": html_path.resolve().as_uri()}, deadline,
                            session)
        if loaded.get("errorText"):
            raise PrintError(f"loading {html_path}: {loaded['errorText']!r}"[:500])
        self._event("Page.loadEventFired", session, deadline)
        stream = _text(self._call("Page.printToPDF", {
            "displayHeaderFooter": False, "transferMode": "ReturnAsStream"}, deadline,
            session), "stream")
        tmp = pdf_path.with_name(pdf_path.name + ".tmp")
        try:
            with tmp.open("wb") as out:
                while True:
                    chunk = self._call("IO.read", {"handle": stream, "size": CHUNK}, deadline,
                                       session)
                    data = str(chunk.get("data", ""))
                    out.write(base64.b64decode(data, validate=True)
                              if chunk.get("base64Encoded") else data.encode("latin-1"))
                    if chunk.get("eof"):
                        break
                    if out.tell() > MAX_PDF:
                        raise PrintError(f"the PDF exceeds {MAX_PDF} bytes")
            tmp.replace(pdf_path)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise PrintError(f"the PDF stream did not decode: {exc}") from None
        finally:
            tmp.unlink(missing_ok=True)
        if keep:
            self._page_request = self._send("Target.createTarget", {"url": "about:blank"})
        self._send("Target.closeTarget", {"targetId": target})

    def close(self) -> None:
        """Ask the browser to exit, wait for it (briefly), kill its group if it stays."""
        if self._closed:
            return
        self._closed = True
        try:
            self._send("Browser.close", {})
        except PrintError:
            pass  # gone already
        os.close(self._browser_in)  # and the pipe's end makes it exit regardless
        os.close(self._browser_out)
        if not self._reaped(EXIT_WAIT):
            os.killpg(self.pid, signal.SIGKILL)  # not reaped: the group is still its own
            self._reaped(EXIT_WAIT)
        os.close(self._pidfd)
        shutil.rmtree(self._profile, ignore_errors=True)

    def _reaped(self, wait: float) -> bool:
        """Whether the browser has exited (and is reaped), waiting at most ``wait`` s."""
        if not select.select([self._pidfd], [], [], wait)[0]:
            return False
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass  # reaped by someone else (a waitpid(-1) of the process)
        return True

    # --- the DevTools protocol: one JSON object per message, NUL-terminated, answers by id

    def _send(self, method: str, params: dict[str, Any], session: str | None = None) -> int:
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._browser_in, data):]
        except BlockingIOError:  # a full pipe: our messages are small, it stopped reading
            raise PrintError(f"sending {method}: the browser does not read") from None
        except OSError as exc:  # BrokenPipeError: the browser is gone
            raise PrintError(f"sending {method}: {exc}") from None
        return self._last_id

    def _call(self, method: str, params: dict[str, Any], deadline: float,
              session: str | None = None) -> dict[str, Any]:
        return self._result(self._send(method, params, session), deadline)

    def _result(self, request: int, deadline: float) -> dict[str, Any]:
        while (message := self._answers.pop(request, None)) is None:
            message = self._receive(deadline)
            if "method" in message:  # an event: kept (the few most recent) for _event
                self._events = [*self._events[-(MAX_EVENTS - 1):],
                                (message["method"], message.get("sessionId"))]
            elif isinstance(ident := message.get("id"), int) and 0 < ident <= self._last_id:
                self._answers[ident] = message  # ours (maybe to an earlier request): kept
        if "error" in message:
            raise PrintError(f"the browser answered {message['error']!r}"[:500])
        result = message.get("result")
        return result if isinstance(result, dict) else {}

    def _event(self, method: str, session: str, deadline: float) -> None:
        """Wait for an event of the session (it may have come while an answer was awaited)."""
        while (method, session) not in self._events:
            message = self._receive(deadline)
            if message.get("method") == method and message.get("sessionId") == session:
                break
        self._events.clear()

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._browser_out], [], [], left)[0]:
                raise PrintError("the browser did not answer in time")
            chunk = os.read(self._browser_out, 1 << 16)
            if not chunk:
                raise PrintError("the browser exited")
            self._pending += chunk
            if len(self._pending) > MAX_MESSAGE:
                raise PrintError(f"a message from the browser exceeds {MAX_MESSAGE} bytes")
        raw, _, self._pending = self._pending.partition(b"\0")
        try:
            message = json.loads(raw)
        except ValueError:
            raise PrintError(f"the browser sent no JSON: {raw[:80]!r}") from None
        if not isinstance(message, dict):
            raise PrintError(f"the browser sent {type(message).__name__}, not an object")
        return message


def _above_4(fd: int) -> int:
    """``fd`` moved to a number above 4 (close-on-exec, as os.pipe makes it)."""
    if fd > 4:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5)
    os.close(fd)
    return moved


def _text(result: dict[str, Any], key: str) -> str:
    value = result.get(key)
    if not isinstance(value, str) or not value:
        raise PrintError(f"the browser's answer has no {key}")
    return value


_lock = threading.Lock()
_printing = threading.Lock()  # a shared browser prints one page at a time
_warm: WarmChromium | None = None
_shared = False  # _warm prints every PDF of this process (until release), not only one
_started = False  # once per process: later calls (the next case, another part) do nothing
_closing: list[threading.Thread] = []
_stop_registered = False


def prestart(exe: str, flags: tuple[str, ...], *, shared: bool = False) -> None:
    """Start this process's warm browser (once; a failure only logs: the PDF is then printed
    by a new browser at the end). ``shared``: it prints every PDF of this process, closed by
    :func:`release` or at exit; else it prints one and closes."""
    global _warm, _shared, _started, _stop_registered
    with _lock:
        if _started:
            return
        _started = True
        sweep_profiles(Path(tempfile.gettempdir()))
        try:
            _warm = WarmChromium(exe, flags)
        except (OSError, PrintError) as exc:
            log.info("no warm Chromium for the PDF (%s): a new one prints it", exc)
            return
        _shared = shared
        if not _stop_registered:
            atexit.register(stop)
            _stop_registered = True


def sweep_profiles(folder: Path) -> None:
    """Remove the profiles (~2 MB each) that warm browsers of dead processes left in
    ``folder``: a lab killed before its end closes no browser (the browser exits, its
    profile stays). Only folders of this user, named by a process that no longer exists."""
    try:
        found = list(folder.glob(f"{PROFILE_PREFIX}*-*"))
    except OSError:
        return
    for profile in found:
        owner = profile.name[len(PROFILE_PREFIX):].split("-", 1)[0]
        try:
            st = profile.lstat()  # a symlink is not a profile: never followed
        except OSError:
            continue
        mine = st.st_uid == os.getuid() and stat.S_ISDIR(st.st_mode)
        if mine and owner.isdigit() and not _alive(int(owner)):
            shutil.rmtree(profile, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's, or not a pid: left alone
    return True


def print_warm(html_path: Path, pdf_path: Path, timeout: float) -> bool:
    """Print with this process's warm browser, if it has one; False when it has none or it
    failed (then the caller prints with a new one). A browser that printed its one PDF, or
    failed, is closed in the background (its exit takes ~0.1 s, which the run's last steps
    need not wait for; ``stop`` waits)."""
    global _warm
    with _printing:
        with _lock:
            warm, keep = _warm, _shared
            if not keep:
                _warm = None
        if warm is None:
            return False
        try:
            warm.print_to_pdf(html_path, pdf_path, timeout, keep=keep)
            return True
        except PrintError as exc:
            log.info("the warm Chromium did not print %s (%s): a new one does", pdf_path.name,
                     exc)
            with _lock:
                if _warm is warm:
                    _warm = None
            keep = False
            return False
        finally:
            if not keep:
                _close_in_background(warm)


def release() -> None:
    """No more PDFs for the shared browser: it closes in the background."""
    global _warm
    with _printing, _lock:
        warm, _warm = _warm, None
    if warm is not None:
        _close_in_background(warm)


def _close_in_background(warm: WarmChromium) -> None:
    closing = threading.Thread(target=warm.close, name="close-chromium", daemon=True)
    closing.start()
    _closing.append(closing)


def stop() -> None:
    """At exit: close a warm browser nobody printed with; wait for the ones closing. (Then
    ``prestart`` may start another: the tests' way to begin anew.)"""
    global _warm, _shared, _started
    with _lock:
        warm, _warm, _shared, _started = _warm, None, False, False
    if warm is not None:
        warm.close()
    for closing in _closing:
        closing.join()
    _closing.clear()
