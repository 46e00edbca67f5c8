"""examples/reference-device-process.sh ``act``: done when the device has answered the action
(its answer in device.log), as the shell controller reads exit status 0 (docs/declaration.md).
A ui_answer handed over but not yet read by the device once lost the race against its alert."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "reference-device-process.sh"


def act(run_dir: Path, answer: dict[str, object] | None, *, other_id: bool = False,
        started_late: bool = False, **env: str
        ) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    """Run ``act`` against a stand-in device: it reads the command from the FIFO and appends
    ``answer`` with the command's id (or another one) to device.log, or nothing.
    ``started_late``: its FIFO is made only once ``act`` runs (``start`` runs in the
    background, so the first action can come before it)."""
    state = run_dir / "process-omadm"
    state.mkdir(parents=True)
    if not started_late:
        os.mkfifo(state / "control")
    log = run_dir / "device.log"
    log.write_text('{"ready": true}\n')
    got: dict[str, object] = {}

    def device() -> None:
        if started_late:
            os.mkfifo(state / "control")
        with (state / "control").open() as control:
            got.update(json.loads(control.readline()))
        if answer is not None:
            with log.open("a") as out:
                out.write("some other output\n")
                ident = int(str(got["id"])) + (1 if other_id else 0)
                out.write(json.dumps({"id": ident, **answer}) + "\n")

    stand_in = threading.Thread(target=device)
    stand_in.start()
    proc = subprocess.run(
        ["bash", str(SCRIPT), "omadm", "act"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "RUN_DIR": str(run_dir), "DM_ACTION": "ui_answer",
             "UI_ANSWER": "decline", **env})
    stand_in.join(30)
    return proc, got


def test_done_once_the_device_answered(tmp_path: Path) -> None:
    proc, got = act(tmp_path, {"ok": True})
    assert proc.returncode == 0, proc.stderr
    assert got["action"] == "ui_answer" and got["params"] == {"answer": "decline"}


def test_a_refusal_is_a_failed_command_with_the_devices_reason(tmp_path: Path) -> None:
    proc, _ = act(tmp_path, {"ok": False, "error": "no UI"})
    assert proc.returncode != 0
    assert "the device refused ui_answer: no UI" in proc.stderr


@pytest.mark.parametrize("answer", [None, {"ok": True}])
def test_no_answer_of_its_own_is_a_failed_command(tmp_path: Path,
                                                   answer: dict[str, object] | None) -> None:
    """Silence, or only another action's answer."""
    proc, _ = act(tmp_path, answer, other_id=True, ACT_TIMEOUT="0.5")
    assert proc.returncode != 0
    assert "the device did not answer ui_answer within 0.5 s" in proc.stderr


def test_an_action_before_the_device_has_started_waits_for_it(tmp_path: Path) -> None:
    proc, got = act(tmp_path, {"ok": True}, started_late=True)
    assert proc.returncode == 0, proc.stderr
    assert got["action"] == "ui_answer"


def test_no_device_at_all_is_a_failed_command(tmp_path: Path) -> None:
    (tmp_path / "process-omadm").mkdir()
    (tmp_path / "device.log").write_text("")
    proc = subprocess.run(
        ["bash", str(SCRIPT), "omadm", "act"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "RUN_DIR": str(tmp_path), "DM_ACTION": "trigger_session",
             "ACT_TIMEOUT": "0.3"})
    assert proc.returncode != 0
    assert "the device is not running" in proc.stderr and "Traceback" not in proc.stderr
