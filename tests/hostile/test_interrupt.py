"""Nothing lost: a lab process (``conformance lab``) interrupted mid-session by Ctrl-C
(SIGINT), SIGTERM or even SIGKILL leaves the transcript written so far on disk, each entry
complete (it is flushed per entry, not at shutdown).

The lab is a real subprocess; a scripted device opens a session over HTTP and is held in it
(the lab waits for a test that never comes) when the signal arrives.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from conformance.declaration import builtin_declaration
from conformance.evidence.transcript import entry_from_json
from conformance.omadm import codec

START_TIMEOUT = 60.0


class LabProcess:
    """``conformance lab`` in a subprocess, its stdout read line by line into a queue."""

    def __init__(self, reports: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "conformance.cli", "lab", "--dut", "builtin:omadm",
             "--reports", str(reports)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_line(self, needle: str, timeout: float = START_TIMEOUT) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no {needle!r} from the lab; saw {self.seen}") from None
            if line is None:
                raise AssertionError(f"lab exited before {needle!r}; saw {self.seen}")
            self.seen.append(line)
            if needle in line:
                return line

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        while True:  # the rest of its output (the reader ends with None at EOF)
            line = self.lines.get(timeout=10)
            if line is None:
                return
            self.seen.append(line)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_transcript_survives_an_interrupted_lab(
    signum: signal.Signals, tmp_path: Path, tools: Any
) -> None:
    lab = LabProcess(tmp_path)
    try:
        url = lab.wait_line("LAB_OMADM_URL=").split("=", 1)[1].strip()
        transcript_path = Path(lab.wait_line("transcript:").split(":", 1)[1].strip())
        decl = builtin_declaration("omadm")
        dev = tools.ScriptedDevice(url, decl, session_id="42")
        first = dev.package1()
        body = codec.encode(first, "xml")
        malformed = b"<SyncML><SyncHdr>cut here"
        dev.post_raw(malformed, "application/vnd.syncml.dm+xml")  # answered at once: 400
        worker = tools.in_thread(lambda: dev.post(first))  # held: the lab waits for a test
        lab.wait_line("POST pkg1")  # streamed after the entry was written to the file
        lab.proc.send_signal(signum)
        code = lab.proc.wait(30)
        worker.join(15)
    finally:
        lab.stop()

    if signum != signal.SIGKILL:
        assert code == 0, lab.seen
        assert any("stopping the lab" in line for line in lab.seen)
        assert not any("Traceback" in line for line in lab.seen), lab.seen
    lines = transcript_path.read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]  # every line is a whole entry
    received = [e for e in entries if e["direction"] == "device->lab"]
    # the store keeps UTF-8 bodies as text (raw_text), other bytes as hex (raw)
    assert [entry_from_json(e).raw for e in received] == [malformed, body]
    assert received[0]["error"] and received[1]["session"] == "42"
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
