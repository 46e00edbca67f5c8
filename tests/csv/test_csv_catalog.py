"""The CSV catalog through the plugin: a broken file FAILs with its findings, a clean one PASSes.

This is the fault matrix of ATT-DMIG-1.5-CSV: the "faults" are the broken fixture files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.declaration import BUILTIN_DIR

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
CASES = REPO / "testcases" / "csv"


def run_catalog(tmp_path: Path, files: list[str]) -> dict[str, str]:
    """Run testcases/csv with a declaration listing ``files``; verdict per case id."""
    for name in files:
        shutil.copy(FIXTURES / name, tmp_path / name)
    base = (BUILTIN_DIR / "omadm-simulator.yaml").read_text()
    base = base.replace(
        "ddf: ../simulators/omadm_ddf.xml", f"ddf: {BUILTIN_DIR.parent}/simulators/omadm_ddf.xml"
    )
    listing = "".join(f"\n    - {name}" for name in files) if files else " []"
    dut = tmp_path / "dut.yaml"
    dut.write_text(base + f"csv:\n  files:{listing}\n")
    reports = tmp_path / "reports"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(CASES),
            "--dut",
            str(dut),
            "--reports",
            str(reports),
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    verdicts_file = next(reports.glob("*/verdicts.json"), None)
    assert verdicts_file is not None, proc.stdout + proc.stderr
    data = json.loads(verdicts_file.read_text())
    return {c["nodeid"].split("[", 1)[1].rstrip("]"): c["verdict"] for c in data["cases"]}


def test_clean_file_passes_and_each_broken_file_fails(tmp_path: Path) -> None:
    broken = ["bad-imei.csv", "duplicate-imei.csv", "wrong-values.csv", "no-header.csv"]
    verdicts = run_catalog(tmp_path, ["guide-sample.csv", *broken])
    assert verdicts == {"guide-sample.csv": "PASS", **{name: "FAIL" for name in broken}}


def test_no_file_declared_is_not_applicable(tmp_path: Path) -> None:
    assert run_catalog(tmp_path, []) == {"none": "NOT APPLICABLE"}


@pytest.fixture(autouse=True)
def _needs_catalog() -> None:
    assert CASES.is_dir(), "testcases/csv is part of the repository"
