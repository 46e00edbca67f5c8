"""A declared device that never connects is not judged, so a CI gate must not pass it: the run
stops after two cases waited for it in vain (not after every case's timeout), exits 10
(INCONCLUSIVE) and says so in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conformance.declaration import BUILTIN_DIR


def silent_declaration(tmp_path: Path, protocol: str) -> Path:
    """The built-in declaration, but the device is never started (every action is a no-op)."""
    data = yaml.safe_load((BUILTIN_DIR / f"{protocol}-simulator.yaml").read_text())
    data["device"]["name"] = f"never-started-{protocol}"
    data["timeouts"].update(request=1, session=2)
    data["control"] = {"type": "shell", "commands": {"trigger_session": "true",
                                                     "reboot": "true"}}
    if protocol == "omadm":
        data["omadm"].pop("notification", None)
        data["omadm"]["ddf"] = str(BUILTIN_DIR / data["omadm"]["ddf"])  # relative to the file
    path = tmp_path / f"{protocol}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("protocol", ["omadm", "lwm2m"])
def test_a_device_that_never_connects_exits_inconclusive(tmp_path: Path, protocol: str) -> None:
    dut = silent_declaration(tmp_path, protocol)
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--dut", str(dut),
         "--reports", str(tmp_path / "reports"), "-q", "-p", "no:randomly"],
        capture_output=True, text=True, timeout=300,
    )
    out = proc.stdout
    assert proc.returncode == 10, out[-3000:] + proc.stderr[-2000:]
    assert f"the device never contacted the lab: no message from never-started-{protocol}" in out
    assert "acceptance: a requirement could not be judged (INCONCLUSIVE) (exit status 10)" in out
    assert "FAIL 0 | INCONCLUSIVE 2 |" in out, out[-3000:]
    assert "2 cases waited for it in vain; the remaining cases are not run" in out
    report = json.loads(next((tmp_path / "reports").glob("*/acceptance.json")).read_text())
    assert report["complete"] is False and "never contacted the lab" in report["interrupted"]
