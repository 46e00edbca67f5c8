"""``conformance run --rerun RUN_DIR --only …`` from a real run of the built-in OMA-DM device."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conformance.cli import main

ROOT = Path(__file__).resolve().parents[2]
SUBSET = "test_cdr_dvm_4532"  # the DevDetail/Ext cases: some fail with the fault below


def conformance(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)


def cases(run: Path) -> dict[str, str]:
    data = json.loads((run / "verdicts.json").read_text())
    return {c["nodeid"]: c["verdict"] for c in data["cases"]}


def test_rerun_runs_only_the_failed_cases_into_a_new_folder(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    first = conformance("run", "--dut", "builtin:omadm", "--reports", str(reports),
                        "--run-name", "first", "--fault", "wrong-imeisv-format", "-q",
                        "-p", "no:cacheprovider", "-k", SUBSET)
    old = reports / "first"
    before = cases(old)
    failed = sorted(n for n, v in before.items() if v == "FAIL")
    assert failed and len(failed) < len(before), first.stdout[-2000:]
    again = conformance("run", "--rerun", str(old), "--only", "fail", "--reports", str(reports),
                        "-q", "-p", "no:cacheprovider")
    new = reports / "first-rerun"
    assert "beside the old one: conformance compare" in again.stdout, again.stderr[-2000:]
    after = cases(new)
    assert sorted(after) == failed  # only those, the same declaration and fault: FAIL again
    assert set(after.values()) == {"FAIL"}
    assert sorted(json.loads((new / "rerun.json").read_text())["cases"]) == failed
    shown = conformance("compare", str(old), str(new))
    assert shown.returncode == 0, shown.stdout
    assert "reran some cases: comparing the 1 requirement(s)" in shown.stdout
    assert "0 requirement verdicts changed" in shown.stdout


def test_rerun_refuses_an_unknown_verdict_and_a_missing_folder(
    tmp_path: Path, capsys: object
) -> None:
    assert main(["run", "--rerun", str(tmp_path), "--only", "fail,maybe"]) == 2
    assert main(["run", "--rerun", str(tmp_path / "nope")]) == 2
