"""Independent LwM2M clients (npm) run through the shell controller; see docs/interop.md."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def interop_clients() -> Path:
    """The npm clients, installed by the project's own script (idempotent, quiet when done)."""
    script = ROOT / "scripts" / "install-interop-clients.sh"
    done = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"{script.name} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")
    modules = ROOT / ".interop" / "node_modules"
    assert (modules / "lwm2m-node-lib").is_dir() and (modules / "coap-node").is_dir()
    assert os.access(ROOT / "interop" / "act.js", os.R_OK)
    return modules
