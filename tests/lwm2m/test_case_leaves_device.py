"""Every case leaves the device as it found it, also a faulty one: a later case's verdict must
not depend on which case ran before it on the same device (found by bench/parts_vs_whole.py,
which runs the catalog whole and in parts under a fault and compares every verdict)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_an_unannounced_lifetime_write_back_does_not_reach_the_next_case(tmp_path: Path) -> None:
    """lifetime-increase-not-announced: the composite case writes /1/x/1 = 61 (announced) and
    its fixture writes the declared 300 back, which this device applies silently. The lab then
    reboots it; before, test_read_resource FAILed next ("/1/x/1 is 300, the registration's
    lifetime is 61"): the fault of another case's write-back, not of a Read."""
    reports = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--dut", "builtin:lwm2m", "--fault",
         "lifetime-increase-not-announced", "--reports", str(reports), "--run-name", "r",
         "-p", "no:randomly", "-k",
         "test_write_composite_with_resource_instances or test_read_resource"],
        capture_output=True, text=True, timeout=240, check=False)
    verdicts_file = reports / "r" / "verdicts.json"
    assert verdicts_file.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    verdicts = {c["nodeid"].split("::")[-1]: c["verdict"]
                for c in json.loads(verdicts_file.read_text())["cases"]}
    assert verdicts == {"test_write_composite_with_resource_instances": "PASS",
                        "test_read_resource": "PASS", "test_read_resource_instance": "PASS"}
    transcript = (reports / "r" / "transcript.jsonl").read_text()
    assert "kept a lifetime other than" in transcript
    assert "rebooting it for later cases" in transcript
