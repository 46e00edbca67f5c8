"""An LwM2M declaration with no content format of a kind: the cases parametrised over that kind
are NOT APPLICABLE with a reason a lab can read (the declared formats and what is missing),
never pytest's "got empty parameter set"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conformance.declaration import BUILTIN_DIR

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parent.parent


def test_no_declared_format_gives_a_reason(tmp_path: Path) -> None:
    data = yaml.safe_load((BUILTIN_DIR / "lwm2m-simulator.yaml").read_text(encoding="utf-8"))
    data["features"]["content_formats"] = ["opaque"]  # carries neither a value nor an instance
    dut = tmp_path / "opaque-only.yaml"
    dut.write_text(yaml.safe_dump(data), encoding="utf-8")
    command = [sys.executable, "-c", "import sys; from conformance.cli import main; "
               "sys.exit(main())", "run", "--dut", str(dut), "--catalog",
               str(ROOT / "testcases" / "lwm2m"), "--reports", str(tmp_path / "reports"),
               "--run-name", "run", "-q", "-k", "fmt or no-format"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240, check=False)
    verdicts = tmp_path / "reports" / "run" / "verdicts.json"
    assert verdicts.is_file(), (done.stdout + done.stderr)[-3000:]
    cases = json.loads(verdicts.read_text())["cases"]
    parametrised = [c for c in cases if "[no-format" in c["nodeid"]]
    assert parametrised, [c["nodeid"] for c in cases]
    for case in parametrised:
        assert case["verdict"] == "NOT APPLICABLE", case
        assert "declares no format that carries" in case["message"], case
        assert "(opaque)" in case["message"], case
    assert not any("empty parameter set" in c["message"] for c in cases)
