"""The queue-mode cases (ETS int-108/109) on devices that do queue mode another way, or not.

The built-in device is LwM2M 1.1 with Q at Register (its fault rows are in the LwM2M matrix);
here the same reference device, declared otherwise, through ``conformance run``:
- LwM2M 1.0 in queue mode says so with b=UQ and listens only ACK_TIMEOUT (2 s) after its last
  message: both cases still PASS (the held Read goes out as soon as its Update is answered);
- a device not in queue mode: both cases NOT APPLICABLE, with the reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from conformance.declaration import BUILTIN_DIR

ROOT = Path(__file__).resolve().parents[2]
CASES = "testcases/lwm2m/test_ets_queue_mode.py::"


def run_variant(tmp_path: Path, **lwm2m: Any) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load((BUILTIN_DIR / "lwm2m-simulator.yaml").read_text(encoding="utf-8"))
    data["lwm2m"].update(lwm2m)
    dut = tmp_path / "dut.yaml"
    dut.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--dut", str(dut), "--reports",
         str(tmp_path / "reports"), "--ets", "int-108", "--ets", "int-109", "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    folder = (tmp_path / "reports" / "latest").resolve()
    verdicts = folder / "verdicts.json"
    assert verdicts.is_file(), proc.stdout[-3000:] + proc.stderr[-2000:]
    cases = json.loads(verdicts.read_text())["cases"]
    return {c["nodeid"].split("::", 1)[-1]: c for c in cases if CASES in c["nodeid"]}


def test_lwm2m_1_0_queue_mode_by_binding_passes(tmp_path: Path) -> None:
    cases = run_variant(tmp_path, version="1.0", binding="UQ", queue_mode=False)
    assert len(cases) == 2, cases
    assert {name: c["verdict"] for name, c in cases.items()} == dict.fromkeys(cases, "PASS")
    transcript = (tmp_path / "reports" / "latest" / "transcript.jsonl").read_text()
    assert "lwm2m=1.0&b=UQ" in transcript and "&Q" not in transcript


def test_device_not_in_queue_mode_is_not_applicable(tmp_path: Path) -> None:
    cases = run_variant(tmp_path, binding="U", queue_mode=False)
    assert len(cases) == 2, cases
    for case in cases.values():
        assert case["verdict"] == "NOT APPLICABLE", case
        assert "does not run in queue mode" in case["message"], case
