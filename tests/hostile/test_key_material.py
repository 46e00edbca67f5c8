"""Nothing kept forever (issue 15): the lab's throw-away CA keys live in a private folder of the
temp directory; it goes when the lab stops, and a lab that was killed (no chance to clean up)
has its folder removed by the next lab that starts. Before, hundreds accumulated.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from conformance.declaration import builtin_declaration
from conformance.lab import Lab
from conformance.tls import (
    KEY_DIR_PREFIX,
    OWNER_FILE,
    UNOWNED_STALE_SECONDS,
    discard_private_dir,
    private_dir,
    remove_stale_key_dirs,
)

START_TIMEOUT = 60.0


def _key_dirs_of(pid: int) -> list[Path]:
    found = []
    for folder in Path(tempfile.gettempdir()).glob(KEY_DIR_PREFIX + "*"):
        try:
            if (folder / OWNER_FILE).read_text().strip() == str(pid):
                found.append(folder)
        except OSError:
            continue
    return found


class LabProcess:
    """``conformance lab`` in a subprocess, started and waited for until it listens."""

    def __init__(self, reports: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "conformance.cli", "lab", "--dut", "builtin:omadm",
             "--reports", str(reports)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        seen: list[str] = []
        while True:
            line = self.lines.get(timeout=START_TIMEOUT)
            assert line is not None, f"the lab exited: {seen}"
            seen.append(line)
            if "LAB_OMADM_URL=" in line:
                return

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def end(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)
        self.proc.wait(30)


def test_key_folder_goes_when_the_lab_stops(tmp_path: Path) -> None:
    decl = builtin_declaration("omadm")
    lab = Lab(decl, tmp_path / "run")
    lab.start()
    try:
        folder = private_dir(tmp_path / "run")
        assert (folder / "lab-ca.key").exists()
        assert (folder / OWNER_FILE).read_text() == str(os.getpid())
    finally:
        lab.stop()
    assert not folder.exists()


def test_a_killed_labs_keys_are_removed_by_the_next_start(tmp_path: Path) -> None:
    killed = LabProcess(tmp_path / "a")
    try:
        [left] = _key_dirs_of(killed.proc.pid)
        assert (left / "lab-ca.key").exists()
    finally:
        killed.end(signal.SIGKILL)
    assert left.exists()  # SIGKILL: nobody could clean up
    following = LabProcess(tmp_path / "b")
    try:
        assert not left.exists()  # removed as the next lab started
        [own] = _key_dirs_of(following.proc.pid)
    finally:
        following.end(signal.SIGTERM)
    assert following.proc.returncode == 0
    assert not own.exists()  # and a lab stopped normally removes its own


def test_a_folder_whose_owner_is_being_written_is_not_swept(tmp_path: Path) -> None:
    """The CI failure of stop 24: a lab's sweep read another lab's owner file between its
    truncation and its write, took the empty text for a dead owner and removed a live lab's
    folder under it. An unreadable owner now falls back to the folder's age."""
    fresh = Path(tempfile.mkdtemp(prefix=KEY_DIR_PREFIX + "fresh-"))
    old = Path(tempfile.mkdtemp(prefix=KEY_DIR_PREFIX + "old-"))
    try:
        for folder in (fresh, old):
            (folder / OWNER_FILE).write_text("")  # as seen mid-write
        aged = time.time() - UNOWNED_STALE_SECONDS - 60
        os.utime(old, (aged, aged))
        removed = remove_stale_key_dirs()
        assert fresh.exists() and fresh not in removed
        assert old in removed and not old.exists()
    finally:
        for folder in (fresh, old):
            shutil.rmtree(folder, ignore_errors=True)


def test_the_owner_file_is_replaced_never_truncated(tmp_path: Path) -> None:
    folder = private_dir(tmp_path / "run")
    try:
        owner = folder / OWNER_FILE
        before = owner.stat().st_ino
        owner.write_text("1")  # someone else's pid: rewritten by a new file, not in place
        private_dir(tmp_path / "run")
        assert owner.read_text() == str(os.getpid())
        assert owner.stat().st_ino != before
        assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []
    finally:
        discard_private_dir(tmp_path / "run")
