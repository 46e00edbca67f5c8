"""OMA-DM catalog parametrisation never leaves pytest's "got empty parameter set" as a reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from conformance.declaration import BUILTIN_DIR

REPO = Path(__file__).resolve().parents[3]
EMPTY_DDF = (b'<?xml version="1.0"?>\n<MgmtTree><VerDTD>1.2</VerDTD><Man>Conformance Lab</Man>'
             b"<Mod>RefModule-DM1</Mod></MgmtTree>\n")


def test_a_ddf_without_nodes_gives_the_per_node_cases_a_real_reason(tmp_path: Path) -> None:
    data = yaml.safe_load((BUILTIN_DIR / "omadm-simulator.yaml").read_text(encoding="utf-8"))
    (tmp_path / "empty.xml").write_bytes(EMPTY_DDF)
    data["omadm"]["ddf"] = "empty.xml"
    data["control"] = {"type": "manual", "countdown": 1}  # no device: nothing is asked of it
    dut = tmp_path / "dut.yaml"
    dut.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    reports = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "testcases" / "omadm" /
                                             "test_cdr_dvm_440_tree.py"),
         "--dut", str(dut), "--reports", str(reports), "-q", "-p", "no:cacheprovider",
         "-k", "node_present"],
        capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
        env={"CI": "1", "PATH": "/usr/bin:/bin"},
    )
    verdicts = next(reports.glob("*/verdicts.json"), None)
    assert verdicts is not None, proc.stdout + proc.stderr
    cases = json.loads(verdicts.read_text())["cases"]
    assert [(c["verdict"], "describes no node" in c["message"]) for c in cases] == [
        ("INCONCLUSIVE", True)], cases
    assert not any("empty parameter set" in c["message"] for c in cases)
