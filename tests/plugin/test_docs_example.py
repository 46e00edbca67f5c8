"""The worked example of docs/plugin.md is a real case: it is the file in examples/cases, it PASSes
on the reference LwM2M device and FAILs on the fault that breaks what it checks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "cases" / "test_host_manufacturer.py"


def test_the_docs_show_the_example_file_verbatim() -> None:
    doc = (ROOT / "docs" / "plugin.md").read_text()
    block = r"<!-- worked-example:begin -->\n```python\n(.*?)```\n<!-- worked-example:end"
    shown = re.search(block, doc, re.S)
    assert shown is not None, "docs/plugin.md lost its worked-example block"
    assert shown.group(1) == EXAMPLE.read_text()
    assert len(EXAMPLE.read_text().splitlines()) < 30


@pytest.mark.parametrize(("faults", "verdict", "status"),
                         [((), "PASS", 0), (("wrong-host-values",), "FAIL", 1)],
                         ids=["clean", "wrong-host-values"])
def test_the_example_judges_the_reference_device(
    tmp_path: Path, faults: tuple[str, ...], verdict: str, status: int
) -> None:
    fault_args = [arg for fault in faults for arg in ("--fault", fault)]
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--dut", "builtin:lwm2m",
         "--catalog", str(EXAMPLE.parent), "--reports", str(tmp_path), *fault_args,
         "-p", "no:randomly"],
        capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == status, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert re.search(rf"ATT-DMIG-3\.2\.2 +1 +{verdict}", proc.stdout), proc.stdout[-3000:]
