"""Every benchmark still runs: each script with ``--smoke`` (tiny N, no timing judged).

The figures themselves are not tested (they depend on the machine); a smoke run fails only
when a benchmark crashes or finds lost/mixed-up messages or a failed run.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
SCRIPTS = sorted(p.name for p in BENCH.glob("bench_*.py"))


def test_every_benchmark_is_listed_in_run_all() -> None:
    text = (BENCH / "run_all.py").read_text()
    assert SCRIPTS and all(name in text for name in SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_smoke(script: str) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), "--smoke"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "== bench_" in result.stdout and "date:" in result.stdout


def test_the_light_omadm_device_sends_what_the_codec_device_sends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """bench_omadm_lab.py's default devices write their messages from format strings; its
    check (run at every start) compares them, decoded, with the codec-built device's."""
    monkeypatch.syspath_prepend(str(BENCH))
    bench = importlib.import_module("bench_omadm_lab")
    assert bench.check_light_device() is None
    monkeypatch.setattr(bench, "_STATUS", bench._STATUS.replace("<CmdRef>{}", "<CmdRef>0{}"))
    assert "light device sent" in str(bench.check_light_device())
