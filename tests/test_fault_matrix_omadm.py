"""The OMA-DM fault matrix: the catalog's verdicts against the reference device, proven.

Runs the OMA-DM catalog (``testcases/omadm``) with ``conformance run`` in a child process per
row (each row its own test, so that pytest-xdist spreads the rows over its workers; the rows
that mostly wait or that two tests read are background runs, ``WAITING``) and reads the run
folder's ``verdicts.json``:

- clean: every case PASSes (or is NOT APPLICABLE with a reason: dynamic DDF nodes the device
  has no instance of);
- each fault of the registry (``conformance.simulators.omadm_faults.FAULTS``): its requirement
  FAILs, every requirement that FAILs is the fault's own or one it names in ``also``, and no
  case is an ERROR. A fault row runs the fault's own cases only (``Fault.ets`` /
  ``Fault.cases``, conformance.simulators.faultscope); ``MATRIX_SCOPE=catalog`` runs it
  against the whole catalog;
- a device the lab cannot make act (manual control, no operator) or that never connects (shell
  control whose commands succeed with no device behind them): INCONCLUSIVE, never FAIL;
- a claimed guide §1.5 exception: NOT APPLICABLE with the claimed reason;
- a device declared without a UI (``headless``): the user-interaction alerts are refused (406)
  and a device that answers them 200 FAILs exactly those cases;
- the two factory accounts declared with different auth types each way (``accounts``): the
  clean device still passes everything;
- the run folder of a device that returns a secret nobody declared holds it in no file;
- the DM 1.3 variant (``omadm.dm_version: "1.3"``, ``clean-dm13``): every case PASSes, the DM
  1.3 cases included; a fault with ``variant="dm13"`` runs on that declaration;
- the WBXML variant (``omadm.encoding: wbxml`` with HMAC, ``clean-wbxml``): no FAIL, ERROR or
  INCONCLUSIVE;
- declared basic or no client authentication (``auth-basic``, ``auth-none``, the auth cases
  only): the MD5-or-HMAC cases FAIL, the challenge case is NOT APPLICABLE;
- order independence: the clean catalog in reverse (``--order reverse``, the updating FUMO and
  CDR-DVM-1533 cases first) and in two seeded random orders gives every case the clean verdict.

The runs use the built-in declaration with two changes (``matrix_declaration``): the lab's
negative windows are short (post-update 3 s, FOTA 5 s, request 5 s: the only fixed waits are
"no session came" windows, and the fault runs hit them) and the device reaches the lab over
HTTPS, which also makes the reference device trust the lab CA for the HTTPS FUMO case.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.cli import catalog_args
from conformance.declaration import ACTIONS, BUILTIN_DIR
from conformance.evidence.redact import MASK_TEXT
from conformance.plugin.order import order_args
from conformance.simulators.faultscope import ets_matches, scope_args, whole_catalog
from conformance.simulators.omadm_faults import FAULTS
from conformance.simulators.omadm_mo import UNDECLARED_SECRET
from conformance.warmstart import run_pytest

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "testcases" / "omadm"
RUN_TIMEOUT = 300.0
TIMEOUTS = {"request": 5, "session": 10, "post_update_window": 3, "fota": 5}
RANDOM_SEED = 20261206  # fixed: a random-order failure must be reproducible
# An order that once FAILed the clean device: the lab's factory reset came while the device's
# session, ended by the lab, was still storing the server nonce it had issued, over "null".
CUT_SESSION_SEED = 36
# Client authentication types a declaration may give that MD5-or-HMAC FAILs (the auth-* rows).
WEAK_AUTH = ("basic", "none")
EXCEPTION_REASON = "matrix: unique TAC for this model (PTCRB)"
REQUIREMENTS = ("CDR-DVM-012", "CDR-DVM-440", "CDR-DVM-3954", "CDR-DVM-3955", "CDR-DVM-4532",
                "CDR-DVM-1533", "ATT-DMIG-4.2")
# Cases that judge the declaration or the DDF document only: they need no device.
# Both factory accounts with their own credentials, auth types differing by account and way.
ACCOUNTS = {
    "production": {"client_auth": "hmac", "client_name": "357099060399038",
                   "client_secret": "prod-client-secret", "server_auth": "md5",
                   "server_secret": "prod-server-secret"},
    "development": {"client_auth": "md5", "client_name": "357099060399038",
                    "client_secret": "dev-client-secret", "server_auth": "hmac",
                    "server_secret": "dev-server-secret"},
}
DEVICE_FREE = ("test_cdr_dvm_440_ddf.py", "test_declared_type_is_md5_or_hmac")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(RUN_TIMEOUT + 30)]


@dataclass
class Run:
    name: str
    exit_status: int
    verdicts: dict[str, Any]
    seconds: float
    output: str
    complete: bool
    folder: Path

    def cases(self, verdict: str | None = None) -> list[dict[str, Any]]:
        return [c for c in self.verdicts["cases"] if verdict is None or c["verdict"] == verdict]

    def failing(self) -> set[str]:
        return {c["requirement"] for c in self.cases("FAIL")}

    def show(self, *verdicts: str) -> str:
        rows = [f"{c['verdict']} {c['nodeid']}: {c['message']}" for c in self.cases()
                if c["verdict"] in verdicts]
        return f"run {self.name} ({self.seconds:.1f} s):\n" + "\n".join(rows[:40])


def _declaration(tmp: Path, name: str, **changes: Any) -> Path:
    data = yaml.safe_load((BUILTIN_DIR / "omadm-simulator.yaml").read_text(encoding="utf-8"))
    data["omadm"]["ddf"] = str((BUILTIN_DIR / data["omadm"]["ddf"]).resolve())
    data["omadm"]["transport"] = "https"
    data["timeouts"].update(TIMEOUTS)
    data.update(changes)
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _run(name: str, dut: Path, reports: Path, faults: list[str], extra: list[str]) -> Run:
    # The pytest child `conformance run` would start, without the CLI process around it.
    args = catalog_args(CATALOG, str(dut), str(reports), faults, name, ["-q", *extra])
    # CI=1: non-interactive, the manual controller never waits. No PYTEST_* variables: the
    # child is a run of its own, not a part of this (maybe pytest-xdist worker) session.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["CI"] = "1"
    started = time.monotonic()
    status, output = run_pytest(args, cwd=str(ROOT), env=env, timeout=RUN_TIMEOUT)
    seconds = time.monotonic() - started
    folder = reports / name
    path = folder / "verdicts.json"
    if not path.exists():
        raise AssertionError(f"run {name} wrote no verdicts.json:\n{output[-6000:]}")
    verdicts = json.loads(path.read_text(encoding="utf-8"))
    acceptance = json.loads((folder / "acceptance.json").read_text(encoding="utf-8"))
    print(f"  {name}: {verdicts['counts']} in {seconds:.1f} s", file=sys.stderr, flush=True)
    return Run(name, status, verdicts, seconds, output[-3000:],
               acceptance["complete"] is True, folder)


@dataclass(frozen=True)
class Row:
    declaration: str  # a key of the ``declarations`` fixture, or "builtin:omadm"
    faults: tuple[str, ...] = ()
    pytest_args: tuple[str, ...] = ()
    order: str = "catalog"  # conformance run --order


ROWS: dict[str, Row] = {
    "clean": Row("matrix"),
    "builtin": Row("builtin:omadm"),
    "unreachable": Row("manual"),
    "silent": Row("silent"),
    "exception": Row("exception", pytest_args=("-k", "4532")),
    "accounts": Row("accounts"),
    "reverse": Row("matrix", order="reverse"),
    "random": Row("matrix", order=f"random:{RANDOM_SEED}"),
    "random-cut-session": Row("matrix", order=f"random:{CUT_SESSION_SEED}"),
    # A device without a UI (features.user_interaction: false): the refusal cases of alerts.
    "headless": Row("headless", pytest_args=("-k", "cdr_dvm_012_alerts")),
    "headless-ui-stub": Row("headless", faults=("ui-stub-answers",),
                            pytest_args=("-k", "cdr_dvm_012_alerts")),
    **{f"fault-{name}": Row(fault.variant or "matrix", faults=(name,),
                            pytest_args=tuple(scope_args(fault)))
       for name, fault in FAULTS.items()},
    # The DM 1.3 variant of the reference device (omadm.dm_version "1.3"): its own clean row.
    "clean-dm13": Row("dm13"),
    "clean-wbxml": Row("wbxml"),
    # Declared with weak client authentication (MD5 or HMAC is mandatory): the auth cases.
    **{f"auth-{kind}": Row(f"auth-{kind}", pytest_args=("-k", "test_cdr_dvm_012_auth"))
       for kind in WEAK_AUTH},
}
# Background runs (tests/conftest.py), made once while the workers run the other tests, with
# their length in seconds (verdicts.json of the CI run of 2026-12-06 18:18, load 2-13): the
# rows that mostly wait (the lab's "no session came" windows: case time ~ the whole run) and
# the rows two tests read (clean, undeclared-secret-readable), which a worker of each would
# otherwise make again.
WAITING = {
    "fault-fumo-no-alert": 26, "fault-ignores-package0": 21, "fault-crash-on-sequence": 21,
    "fault-wrong-devid": 21, "silent": 20, "unreachable": 14, "clean": 12,
    "fault-no-post-update-session": 7, "fault-set-host-values-not-reported": 7,
    "fault-no-nonce-retry": 6, "fault-undeclared-secret-readable": 5,
}
# Every other row is a test of its own, so that pytest-xdist spreads them over its workers.


# The declarations of the rows, each written where its row runs (``Row.declaration``).
DECLARATIONS: dict[str, Callable[[Path], Path]] = {
    "matrix": lambda tmp: _declaration(tmp, "matrix"),
    "manual": lambda tmp: _declaration(tmp, "manual", control={"type": "manual", "countdown": 1}),
    # Every action "succeeds" but there is no device behind it: it never connects.
    "silent": lambda tmp: _declaration(tmp, "silent", control={
        "type": "shell", "timeout": 5, "commands": {action: "true" for action in ACTIONS}}),
    "exception": lambda tmp: _declaration(tmp, "exception", exceptions=[{
        "requirement": "CDR-DVM-4532", "exception": "unique-tac-per-model",
        "reason": EXCEPTION_REASON}]),
    "accounts": lambda tmp: _accounts_declaration(tmp),
    "dm13": lambda tmp: _omadm_variant(tmp, "dm13", dm_version="1.3"),
    "wbxml": lambda tmp: _omadm_variant(tmp, "wbxml", encoding="wbxml", auth="hmac"),
    "headless": lambda tmp: _headless_declaration(tmp),
    **{f"auth-{kind}": lambda tmp, kind=kind: _omadm_variant(tmp, f"auth-{kind}", auth=kind)
       for kind in WEAK_AUTH},
}


def _omadm_variant(tmp: Path, name: str, **omadm: str) -> Path:
    """The matrix declaration with other omadm: values (a fault's ``variant``)."""
    path = _declaration(tmp, name)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["omadm"].update(omadm)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _headless_declaration(tmp: Path) -> Path:
    path = _declaration(tmp, "headless")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["features"]["user_interaction"] = False
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _accounts_declaration(tmp: Path) -> Path:
    path = _declaration(tmp, "accounts")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for name in ("auth", "client_name", "client_secret", "server_secret"):
        data["omadm"].pop(name, None)
    data["omadm"]["accounts"] = ACCOUNTS
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def make_run(name: str, folder: Path) -> Run:
    row = ROWS[name]
    folder.mkdir(parents=True, exist_ok=True)
    builder = DECLARATIONS.get(row.declaration)
    dut = builder(folder) if builder else Path(row.declaration)
    # OMADM_MATRIX_REPORTS keeps the run folders somewhere that outlives pytest's tmp dirs.
    reports = Path(os.environ.get("OMADM_MATRIX_REPORTS") or folder / "reports")
    return _run(name, dut, reports, list(row.faults), [*order_args(row.order), *row.pytest_args])


def background_run(name: str) -> tuple[float, Callable[[Path], None]]:
    """The background run of row ``name`` (tests/conftest.py): the Run in run.json."""
    def make(folder: Path) -> None:
        run = make_run(name, folder)
        (folder / "run.json").write_text(json.dumps({
            "exit_status": run.exit_status, "seconds": run.seconds, "output": run.output,
            "complete": run.complete, "folder": str(run.folder)}), encoding="utf-8")

    return WAITING[name], make


def reads(*names: str) -> pytest.MarkDecorator:
    """The mark of a test reading these rows: those that wait come from the background."""
    return pytest.mark.background(*[name for name in names if name in WAITING])


@pytest.fixture(scope="module")
def finished() -> dict[str, Run]:
    """Rows already run by this worker: a row two tests read is run once."""
    return {}


@pytest.fixture
def run_row(
    background: Callable[[str], Path], tmp_path: Path, finished: dict[str, Run]
) -> Callable[[str], Run]:
    """``run_row(name)``: row ``name``'s Run, from the background if it waits (its test is
    marked with ``reads``), else run here once per worker."""
    def run(name: str) -> Run:
        if name in WAITING:
            saved = json.loads((background(name) / "run.json").read_text(encoding="utf-8"))
            folder = Path(saved.pop("folder"))
            verdicts = json.loads((folder / "verdicts.json").read_text(encoding="utf-8"))
            return Run(name, verdicts=verdicts, folder=folder, **saved)
        if name not in finished:
            finished[name] = make_run(name, tmp_path / name)
        return finished[name]

    return run


@reads("clean")
def test_clean_device_passes(run_row: Callable[[str], Run]) -> None:
    run = run_row("clean")
    bad = [c for c in run.cases() if c["verdict"] not in ("PASS", "NOT APPLICABLE")]
    assert not bad, run.show("FAIL", "ERROR", "INCONCLUSIVE")
    not_applicable = run.cases("NOT APPLICABLE")
    # N/A: dynamic nodes without an instance; the DM 1.3 cases (the matrix declaration says
    # DM 1.2); the no-UI refusals on a device with a UI
    assert all("no instance" in c["message"] or "omadm.dm_version" in c["message"]
               or "features.user_interaction" in c["message"]
               for c in not_applicable), run.show("NOT APPLICABLE")
    assert set(run.verdicts["requirements"].values()) == {"PASS"}, run.verdicts["requirements"]
    assert run.exit_status == 0


@reads("clean-dm13")
def test_dm13_variant_passes(run_row: Callable[[str], Run]) -> None:
    """The reference device declared DM 1.3 passes the catalog, its DM 1.3 cases included."""
    run = run_row("clean-dm13")
    bad = [c for c in run.cases() if c["verdict"] not in ("PASS", "NOT APPLICABLE")]
    assert not bad, run.show("FAIL", "ERROR", "INCONCLUSIVE")
    dm13 = [c for c in run.cases() if "test_cdr_dvm_012_dm13" in c["nodeid"]]
    assert dm13 and all(c["verdict"] == "PASS" for c in dm13), run.show("NOT APPLICABLE")
    assert run.exit_status == 0


@reads("clean-wbxml")
def test_wbxml_variant_passes(run_row: Callable[[str], Run]) -> None:
    """The reference device speaking WBXML (HMAC both ways) passes the catalog as in XML: no
    case sizes its messages for XML only (the multi-message case once left its WBXML package
    in one message, INCONCLUSIVE on every WBXML device)."""
    run = run_row("clean-wbxml")
    bad = [c for c in run.cases() if c["verdict"] not in ("PASS", "NOT APPLICABLE")]
    assert not bad, run.show("FAIL", "ERROR", "INCONCLUSIVE")
    assert run.exit_status == 0


@reads("builtin")
def test_builtin_declaration_never_fails(run_row: Callable[[str], Run]) -> None:
    """The built-in declaration as it is (HTTP transport): no FAIL, no ERROR.

    The simulator controller gives the device the lab CA only with HTTPS transport, so the
    HTTPS FUMO download may be INCONCLUSIVE there (lab set-up), never a device FAIL.
    """
    run = run_row("builtin")
    assert not run.cases("FAIL") and not run.cases("ERROR"), run.show("FAIL", "ERROR")
    odd = [c for c in run.cases("INCONCLUSIVE") if "test_fumo_update[https]" not in c["nodeid"]]
    assert not odd, run.show("INCONCLUSIVE")


@pytest.mark.parametrize("fault", [pytest.param(name, marks=reads(f"fault-{name}"), id=name)
                                   for name in FAULTS])
def test_fault_fails_its_requirement_only(run_row: Callable[[str], Run], fault: str) -> None:
    run = run_row(f"fault-{fault}")
    spec = FAULTS[fault]
    assert not run.cases("ERROR"), run.show("ERROR")
    failing = run.failing()
    assert spec.requirement in failing, (
        f"{fault} should FAIL {spec.requirement}\n" + run.show("FAIL", "INCONCLUSIVE"))
    allowed = {spec.requirement, *spec.also}
    assert failing <= allowed, (
        f"{fault} FAILs {sorted(failing - allowed)} beyond {sorted(allowed)}\n" + run.show("FAIL"))
    # What the registry says the behaviour necessarily breaks too, the whole catalog sees too
    # (some of it only after another case, e.g. a FUMO case that left the host values wiped:
    # a scoped row need not see it).
    assert failing == allowed or not whole_catalog(), (
        f"{fault} leaves {sorted(allowed - failing)} unbroken\n" + run.show("FAIL", "INCONCLUSIVE"))
    if spec.ets:  # an ETS fault fails its ETS cases and only them
        off_target = [c for c in run.cases("FAIL") if not ets_matches(c.get("ets", []), spec.ets)]
        assert not off_target, f"{fault} FAILs cases beyond {spec.ets}\n" + run.show("FAIL")
    # Every collected case has a verdict (same catalog and declaration as the clean row).
    assert run.complete, "the run did not give every collected case a verdict"
    assert run.exit_status == 1


def test_waiting_rows_are_rows() -> None:
    """A renamed or removed fault must not leave a stale WAITING entry behind."""
    assert set(WAITING) <= set(ROWS), sorted(set(WAITING) - set(ROWS))


def test_every_requirement_has_a_fault() -> None:
    covered = {fault.requirement for fault in FAULTS.values()}
    assert set(REQUIREMENTS) <= covered, sorted(set(REQUIREMENTS) - covered)


@pytest.mark.parametrize("name", [pytest.param(name, marks=reads(name), id=name)
                                  for name in ("silent", "unreachable")])
def test_unreachable_device_is_inconclusive(run_row: Callable[[str], Run], name: str) -> None:
    """No operator for a manual controller, or a device that never connects: INCONCLUSIVE."""
    run = run_row(name)
    assert not run.cases("FAIL") and not run.cases("ERROR"), run.show("FAIL", "ERROR")
    device_cases = [c for c in run.cases() if not any(k in c["nodeid"] for k in DEVICE_FREE)]
    assert device_cases and all(c["verdict"] in ("INCONCLUSIVE", "NOT APPLICABLE")
                                for c in device_cases), run.show("PASS")
    assert run.cases("INCONCLUSIVE")
    assert run.exit_status == 10  # a device the lab could not judge does not pass a CI gate


@reads("exception")
def test_declared_exception_is_not_applicable(run_row: Callable[[str], Run]) -> None:
    run = run_row("exception")
    cases = [c for c in run.cases() if c["requirement"] == "CDR-DVM-4532"]
    assert cases, run.output
    assert all(c["verdict"] == "NOT APPLICABLE" and EXCEPTION_REASON in c["message"]
               for c in cases), run.show("PASS", "FAIL", "ERROR", "INCONCLUSIVE")
    assert run.verdicts["requirements"]["CDR-DVM-4532"] == "NOT APPLICABLE"


@reads("accounts")
def test_accounts_with_different_auth_types_pass(run_row: Callable[[str], Run]) -> None:
    """HMAC one way, MD5 the other, differing by account: allowed, so the clean device PASSes."""
    run = run_row("accounts")
    bad = [c for c in run.cases() if c["verdict"] not in ("PASS", "NOT APPLICABLE")]
    assert not bad, run.show("FAIL", "ERROR", "INCONCLUSIVE")
    assert run.verdicts["requirements"]["CDR-DVM-3954"] == "PASS"
    assert run.verdicts["requirements"]["CDR-DVM-3955"] == "PASS"


@pytest.mark.parametrize("kind", WEAK_AUTH)
def test_weak_client_auth_fails_its_type_only(run_row: Callable[[str], Run], kind: str) -> None:
    """A device declared (and authenticating) with basic or no client authentication FAILs
    the MD5-or-HMAC cases of CDR-DVM-012. The challenge case is NOT APPLICABLE: a basic
    challenge carries no nonce, and there is no challenge without authentication; it once
    FAILed these devices for "not digesting the nonce of the Chal" (basic) and for "the lab's
    challenge did not happen" (none), blaming the device for what the type cannot do."""
    run = run_row(f"auth-{kind}")
    verdicts = {c["nodeid"].split("::")[1]: c for c in run.cases()}
    assert verdicts["test_declared_type_is_md5_or_hmac"]["verdict"] == "FAIL", run.show("FAIL")
    assert verdicts["test_client_authenticates_with_declared_type"]["verdict"] == "FAIL"
    challenge = verdicts["test_challenge_retry_with_new_nonce"]
    assert challenge["verdict"] == "NOT APPLICABLE", run.show("FAIL", "NOT APPLICABLE")
    assert f"declared client authentication {kind}" in challenge["message"]
    assert not run.cases("ERROR"), run.show("ERROR")
    assert run.verdicts["requirements"]["CDR-DVM-012"] == "FAIL" and run.exit_status == 1


@reads("headless", "headless-ui-stub")
def test_headless_device_refuses_user_interaction(run_row: Callable[[str], Run]) -> None:
    """No UI declared: the five alerts are refused (406), the UI cases are NOT APPLICABLE; a
    device that answers them 200 anyway FAILs exactly the refusal cases."""
    clean, stub = run_row("headless"), run_row("headless-ui-stub")
    refusals = [c for c in clean.cases() if "refused_without_ui" in c["nodeid"]]
    assert len(refusals) == 5 and all(c["verdict"] == "PASS" for c in refusals), clean.show(
        "PASS", "FAIL", "NOT APPLICABLE")
    assert not clean.cases("FAIL") and not clean.cases("ERROR"), clean.show("FAIL", "ERROR")
    failed = {c["nodeid"] for c in stub.cases("FAIL")}
    assert failed == {c["nodeid"] for c in refusals}, stub.show("FAIL")


def _contents(path: Path) -> bytes:
    """A file's bytes; a gzip file (the packed Allure results) decompressed, so a secret
    cannot hide in an archive."""
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


@reads("fault-undeclared-secret-readable")
def test_an_undeclared_secret_reaches_no_file(run_row: Callable[[str], Run]) -> None:
    """Redaction by node meaning: the secret the device returns is in no file of the run."""
    run = run_row("fault-undeclared-secret-readable")
    secret = UNDECLARED_SECRET.encode()
    files = [p for p in run.folder.rglob("*") if p.is_file()]
    assert any(p.name.startswith("transcript") for p in files), run.output
    # The simulated device's own storage (device-omadm-state/) holds its secrets, as a device
    # does; it is not evidence.
    leaks = [str(p.relative_to(run.folder)) for p in files
             if not any(part.endswith("-state") for part in p.parts)
             and secret in _contents(p)]
    assert leaks == [], leaks
    # Redaction by meaning masks values, not the words around them (a format, a case id).
    masked = [c["nodeid"] for c in run.cases() if MASK_TEXT in c["nodeid"]]
    assert masked == [], masked


@pytest.mark.parametrize("order", [pytest.param(name, marks=reads("clean", name), id=name)
                                   for name in ("reverse", "random", "random-cut-session")])
def test_case_order_does_not_change_verdicts(run_row: Callable[[str], Run], order: str) -> None:
    """Every case restores what it changed: no verdict depends on which cases ran before."""
    clean = {c["nodeid"]: c["verdict"] for c in run_row("clean").cases()}
    other = {c["nodeid"]: c["verdict"] for c in run_row(order).cases()}
    changed = {n: f"{clean.get(n)} -> {v}" for n, v in other.items() if clean.get(n) != v}
    assert other.keys() == clean.keys() and not changed, changed or (
        sorted(other.keys() ^ clean.keys()))
