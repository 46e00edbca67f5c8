"""The reference devices run as plain processes through the ``shell`` controller.

``conformance run --dut examples/reference-<protocol>-process.yaml``: the start command runs the
device with this run's ``LAB_*`` (every port 0), actions go to it through a script, Package 0
through the OMA-DM declaration's ``notification.command``, and the catalog judges it exactly as
it judges the simulator-driven built-ins: no FAIL, no ERROR, no INCONCLUSIVE.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def process_env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def run_process_device(protocol: str, reports: Path, *pytest_args: str,
                       env: dict[str, str] | None = None) -> dict[str, Any]:
    env = env or process_env()
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--reports", str(reports),
         "--dut", str(EXAMPLES / f"reference-{protocol}-process.yaml"), "-q",
         "-p", "no:randomly", *pytest_args],
        capture_output=True, text=True, timeout=240, env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    folder = (reports / "latest").resolve()
    verdicts: dict[str, Any] = json.loads((folder / "verdicts.json").read_text())
    assert (folder / "device.log").is_file()
    return verdicts


def judged(verdicts: dict[str, Any]) -> dict[str, int]:
    counts = verdicts["counts"]
    return {k: counts[k] for k in ("FAIL", "ERROR", "INCONCLUSIVE")}


# The cases that drive every action through the shell script (reboot as a cold start, factory
# reset, sideload, set_host_values, send), registration and bootstrap (the ETS bootstrap cases
# reboot and reset it: a cold start keeps its bootstrapped account, a reset bootstraps); the
# whole catalog (~210 cases, over a minute) is the built-in device's, the same device.
LWM2M_SELECTION = ("test_registration or test_host_identity_life or test_bootstrap "
                   "or test_device_object or send")


def background_run(name: str) -> tuple[float, Callable[[Path], None]]:
    """The LwM2M run mostly waits on its reboots (55 s, 2026-12-06): a background run
    (tests/conftest.py), so that the worker goes on with other tests meanwhile."""
    assert name == "lwm2m", name
    env = process_env()  # here, in the main thread: the run goes in a thread
    return 55.0, lambda folder: run_process_device("lwm2m", folder / "reports", "-k",
                                                   LWM2M_SELECTION, env=env)


@pytest.mark.background("lwm2m")
def test_reference_lwm2m_device_as_a_process_passes_the_catalog(
    background: Callable[[str], Path],
) -> None:
    reports = background("lwm2m") / "reports"
    verdicts = json.loads((reports / "latest" / "verdicts.json").read_text())
    assert judged(verdicts) == {"FAIL": 0, "ERROR": 0, "INCONCLUSIVE": 0}
    assert verdicts["counts"]["PASS"] > 30
    # The reboot cases restarted the process (a cold start), and it registered again.
    assert verdicts["requirements"]["ATT-DMIG-3.2"] == "PASS"
    log = (reports / "latest" / "device.log").read_text()
    assert log.count("=== ") >= 4 and "stopped" in log


@pytest.mark.parametrize("selection", ["package0 or 1533 or 3954 or alerts"])
def test_reference_omadm_device_as_a_process_passes(tmp_path: Path, selection: str) -> None:
    verdicts = run_process_device("omadm", tmp_path / "reports", "-k", selection)
    assert judged(verdicts) == {"FAIL": 0, "ERROR": 0, "INCONCLUSIVE": 0}
    assert verdicts["requirements"]["CDR-DVM-012"] == "PASS"
    transcript = (tmp_path / "reports" / "latest" / "transcript.jsonl").read_text()
    assert "via shell './reference-device-process.sh omadm package0'" in transcript
