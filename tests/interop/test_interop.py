"""The LwM2M catalog against independent third-party clients (npm), with nothing but
``conformance run --dut tests/interop/<client>.yaml``: the shell controller starts and stops each
client as a process, the two clients side by side in one run. Every case's verdict must be the
one written in ``expected.yaml``, which docs/interop.md explains clause by clause.

A row the current catalog gets wrong — the suite's fault, not the client's — holds the CORRECT
verdict and a ``suite_bug`` reason: a strict xfail, so the day the catalog is fixed this test
says so and the row loses its mark. ``timing`` lists a second verdict a row may take when a race
of the client's own, which the row's note explains with its clause, goes the other way.

Verdicts must not depend on the case order: a second run of both clients in another order
(``OTHER_ORDER``) must give every row its verdict too. ``order`` lists the verdict a row may
take there instead, when the client's own state (what an earlier case did to it, which the
lab cannot undo) decides it; the row's note says what state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
EXPECTED: dict[str, Any] = yaml.safe_load((HERE / "expected.yaml").read_text(encoding="utf-8"))
CLIENTS = sorted(EXPECTED)
RUN_NAME = "interop"
# Bound of the side-by-side run of both clients: the whole module took 92-106 s with the ETS cases
# (pytest's duration, twelve runs of 2026-12-06 on a 2-core box, load average 1-9; docs/interop.md).
RUN_TIMEOUT = 300
# The other case order. A seeded random one interleaves the modules, so state one case leaves
# in a client meets cases of other modules. random:11 was measured on 2026-12-07 (docs/interop.md,
# "Silence and the case order"): every row as in the catalog's order, once the lab cold-starts a
# client that answers a GET cancel as a notification (no row needs ``order`` today).
OTHER_ORDER = "random:11"
# The run is a background run (tests/conftest.py: it mostly waits on protocol timers, so the
# workers go on with other tests meanwhile); every test here reads it, after the others.
pytestmark = [pytest.mark.timeout(900), pytest.mark.background("clients", "clients-reordered")]


def background_run(name: str) -> tuple[float, Callable[[Path], None]]:
    """One `conformance run` with both clients side by side, their verdicts under reports/:
    ``clients`` in the catalog's order, ``clients-reordered`` in ``OTHER_ORDER``."""
    assert name in ("clients", "clients-reordered"), name
    order = ["--order", OTHER_ORDER] if name == "clients-reordered" else []
    # The environment is taken here, in the main thread (the run goes in a thread).
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    def run(folder: Path) -> None:
        # The npm clients, installed by the project's own script (idempotent, quiet when done).
        script = ROOT / "scripts" / "install-interop-clients.sh"
        done = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                              timeout=600, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{script.name} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")
        modules = ROOT / ".interop" / "node_modules"
        assert (modules / "lwm2m-node-lib").is_dir() and (modules / "coap-node").is_dir()
        assert os.access(ROOT / "interop" / "act.js", os.R_OK)
        duts = [arg for client in CLIENTS for arg in ("--dut", str(HERE / f"{client}.yaml"))]
        proc = subprocess.run(
            [sys.executable, "-m", "conformance.cli", "run", "--reports", str(folder / "reports"),
             *duts, "--run-name", RUN_NAME, *order, "-q", "-p", "no:cacheprovider"],
            capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env, check=False,
        )
        (folder / "output.txt").write_text(proc.stdout[-3000:] + proc.stderr[-2000:],
                                           encoding="utf-8")

    return 100.0, run


@cache
def _verdicts(folder: Path) -> dict[str, Any]:
    found = {}
    for client in CLIENTS:
        path = folder / "reports" / f"{RUN_NAME}-{EXPECTED[client]['device']}" / "verdicts.json"
        assert path.is_file(), (folder / "output.txt").read_text(encoding="utf-8")
        found[client] = json.loads(path.read_text(encoding="utf-8"))
    return found


@pytest.fixture
def verdicts(background: Callable[[str], Path]) -> dict[str, Any]:
    """verdicts.json of each client, from one `conformance run` with both side by side."""
    return _verdicts(background("clients"))


@pytest.fixture
def reordered(background: Callable[[str], Path]) -> dict[str, Any]:
    """The same, from the run in ``OTHER_ORDER``."""
    return _verdicts(background("clients-reordered"))


def case_verdicts(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["nodeid"].removeprefix("testcases/"): c for c in run["cases"]}


def rows(kind: str, *, reordered: bool = False) -> list[Any]:
    """(client, name, allowed verdicts) of every row; ``reordered``: in ``OTHER_ORDER``."""
    params = []
    for client in CLIENTS:
        for name, row in EXPECTED[client][kind].items():
            row = row if isinstance(row, dict) else {"verdict": row}
            marks = []
            if row.get("suite_bug"):
                marks.append(pytest.mark.xfail(strict=True, reason=row["suite_bug"]))
            others = ("timing", "order") if reordered else ("timing",)
            allowed = [row["verdict"], *(row[key] for key in others if row.get(key))]
            params.append(pytest.param(client, name, allowed, marks=marks, id=f"{client}:{name}"))
    return params


def check_case(run: dict[str, Any], client: str, case: str, allowed: list[str]) -> None:
    cases = case_verdicts(run)
    assert case in cases, f"{case} did not run against {client}"
    got = cases[case]
    assert got["verdict"] in allowed, f"{client} {case}: {got['verdict']}: {got['message']}"


@pytest.mark.parametrize(("client", "case", "allowed"), rows("cases"))
def test_case_verdict(
    verdicts: dict[str, Any], client: str, case: str, allowed: list[str]
) -> None:
    check_case(verdicts[client], client, case, allowed)


@pytest.mark.parametrize(("client", "requirement", "allowed"), rows("requirements"))
def test_requirement_verdict(
    verdicts: dict[str, Any], client: str, requirement: str, allowed: list[str]
) -> None:
    assert verdicts[client]["requirements"].get(requirement) in allowed


@pytest.mark.parametrize(("client", "case", "allowed"), rows("cases", reordered=True))
def test_case_verdict_in_another_order(
    reordered: dict[str, Any], client: str, case: str, allowed: list[str]
) -> None:
    check_case(reordered[client], client, case, allowed)


@pytest.mark.parametrize(("client", "requirement", "allowed"),
                         rows("requirements", reordered=True))
def test_requirement_verdict_in_another_order(
    reordered: dict[str, Any], client: str, requirement: str, allowed: list[str]
) -> None:
    assert reordered[client]["requirements"].get(requirement) in allowed


@pytest.mark.parametrize("client", CLIENTS)
def test_every_case_is_written_down(verdicts: dict[str, Any], client: str) -> None:
    assert set(case_verdicts(verdicts[client])) == set(EXPECTED[client]["cases"])
    assert set(verdicts[client]["requirements"]) == set(EXPECTED[client]["requirements"])
