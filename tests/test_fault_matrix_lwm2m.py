"""The LwM2M fault matrix (issue 6): the catalog's verdicts are right on the reference device.

Each row runs the whole LwM2M catalog (``conformance run --catalog testcases/lwm2m``) in a
child process against the reference device and reads the run's ``verdicts.json``:

- clean device (the built-in declaration): every applicable case PASSES (NOT APPLICABLE only
  with a reason);
- each fault of the registry: at least one case FAILs, every FAIL belongs to the fault's
  requirement (an ETS fault: to its ETS cases), and no case ends in ERROR. A fault row runs
  the fault's own cases only (``Fault.ets`` / ``Fault.cases``, see
  conformance.simulators.faultscope); ``MATRIX_SCOPE=catalog`` runs it against the whole
  catalog. These rows use the built-in declaration with shorter timeouts ("fast"), so that
  faults whose symptom is silence fail in seconds, not minutes;
- a device that cannot reach the lab (the declaration advertises a dead lab address): every
  case INCONCLUSIVE or NOT APPLICABLE, never FAIL;
- a declaration claiming exceptions: the claimed requirements' cases are NOT APPLICABLE with
  the claimed reason;
- order independence: the clean catalog run in reverse (``--order reverse``) and in a seeded
  random order (``--order random:SEED``, pytest-randomly) gives the same verdict for every
  case as in the catalog's own order;
- a device whose Server object instance is /1/1 (Short Server ID 7, not bootstrapped by the
  lab, as Anjay's demo client registers): every case PASSes or is NOT APPLICABLE as on /1/0.

Each test runs its own row, so that pytest-xdist spreads the rows over its workers, except
the rows that mostly wait on protocol timers (``WAITING``: the whole-catalog rows and the
faults whose cases wait): those are background runs (tests/conftest.py), made once each, a
few at a time, while the workers run the other tests, and read by their tests at the end.
A run whose transcript shows the lab's own DTLS layer dropping a device datagram (a harness
problem, reported separately) is run once more, so that problem cannot fake a verdict here.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.cli import catalog_args
from conformance.declaration import BUILTIN_DIR
from conformance.plugin.order import order_args
from conformance.simulators.faultscope import ets_matches, scope_args
from conformance.simulators.lwm2m_faults import FAULTS
from conformance.warmstart import run_pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "testcases" / "lwm2m"
BUILTIN = "builtin:lwm2m"
LAB_DROP = "DTLS: datagram dropped"
RUN_LIMIT = 300  # seconds one catalog run may take before the matrix gives up on it
# The rows that mostly wait, with their case time in seconds (the sum of `duration` in their
# verdicts.json, matrix of 2026-12-06 18:08, four rows at once): the whole-catalog rows (~7 s
# CPU in 80 s) and every fault row whose cases took 5 s or more. They are background runs,
# longest first; every other row (~2 s, mostly start-up CPU) runs in its own test.
WAITING = {
    "clean": 99, "reverse": 80, "random": 80, "server-1": 69, "unreachable": 5,
    "reboot-execute-ignored": 31, "fota-wrong-state": 29, "no-bootstrap-fallback": 16,
    "ignores-bootstrap-trigger": 16, "factory-reset-execute-reboots-only": 16,
    "reboot-stays-offline": 16, "disable-without-deregister": 5,
    "no-instance-observe": 15, "ignores-step": 15, "ignores-less-than": 15,
    "ignores-greater-than": 15, "fota-no-reregistration": 14,
    "update-trigger-registers-anew": 13, "host-values-lost-on-factory-reset": 13,
    "update-trigger-unanswered": 12, "no-registration-update": 12,
    "set-host-values-not-reported": 14, "disabled-notifications-dropped": 10,
    "lifetime-update-omits-lt": 10,
    "no-post-update-update": 9, "fota-state-not-notified": 8,
    # Not timed in that matrix: the waits of no-post-update-update + set-host-values-not-
    # reported, and of fota-no-reregistration.
    "renewal-at-update": 23, "renewal-at-fota": 14,
    "no-deregister-on-factory-reset": 7, "multiple-resource-observe-silent": 7,
    "keeps-factory-psk": 7, "ignores-observe-cancel": 7, "partial-update-no-lifetime-update": 6,
    "no-register-after-rejected-update": 6, "lifetime-increase-not-announced": 6,
    "ignores-update-trigger": 6, "ignores-reset-cancel": 6, "composite-notify-keeps-deleted": 6,
    "composite-notify-ignores-created": 6, "ignores-observe-1-cancel": 5,
    "host-values-wiped-by-fota": 5, "conn-mon-not-notified": 5, "composite-attributes-frozen": 5,
}
# The children's environment, taken once in the main thread: the rows run in threads, and
# iterating os.environ there races with pytest setting PYTEST_CURRENT_TEST (KeyError seen).
# No PYTEST_* variables: a child is a run of its own, not part of this (xdist worker) session.
CHILD_ENV = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
RANDOM_SEED = 20261206  # fixed: a random-order failure must be reproducible


@dataclass(frozen=True)
class Row:
    name: str
    dut: str = BUILTIN  # builtin:lwm2m, or the name of a declaration variant below
    faults: tuple[str, ...] = ()
    pytest_args: tuple[str, ...] = ()
    order: str = "catalog"  # conformance run --order


@dataclass
class Outcome:
    row: Row
    status: int
    cases: list[dict[str, Any]] = field(default_factory=list)
    folder: Path | None = None
    attempts: int = 1
    output: str = ""

    def by_verdict(self, verdict: str) -> list[dict[str, Any]]:
        return [c for c in self.cases if c["verdict"] == verdict]

    def show(self, cases: list[dict[str, Any]] | None = None) -> str:
        chosen = self.cases if cases is None else cases
        lines = [f"{c['verdict']:15} {c['nodeid'].split('::', 1)[-1]}: {c['message'][:160]}"
                 for c in chosen]
        return f"run {self.row.name} ({self.folder}):\n" + "\n".join(lines)


# A fault another case owns, run against cases near it that must not judge it (each was FAILed
# or left INCONCLUSIVE on the whole catalog before): row -> (fault, {case: its verdict}).
ELSEWHERE: dict[str, tuple[str, dict[str, str]]] = {
    # A client that bootstraps at every start (Zephyr's): the lab answers, the reboot cases go on.
    "elsewhere-bootstraps-at-start": ("bootstraps-with-account", {
        "test_registers_again_after_reboot": "PASS", "test_execute_reboot": "PASS",
        "test_reboot_execute": "PASS", "test_host_values_after_reboot": "PASS"}),
    # No De-register on factory reset: the identity the lab provisioned is still the device's.
    "elsewhere-lingering-registration": ("no-deregister-on-factory-reset", {
        "test_bootstrap_full_psk_provisioned_key": "PASS"}),
    # The instance /5/0 not observed (int-301 judges it): the firmware cases follow State.
    "elsewhere-instance-not-observed": ("no-instance-observe", {
        "test_update_success": "PASS", "test_package_write": "PASS",
        "test_update_failure": "PASS"}),
    # Back at once after Disable: no absence to store notifications in (int-555 judges it).
    "elsewhere-away-too-short": ("disable-timeout-ignored", {
        "test_notifications_stored_while_disabled": "INCONCLUSIVE"}),
    # The Registration Update Trigger ignored (int-104 judges it): the report waits that
    # execute it first to restart the renewal timer go on without it.
    "elsewhere-trigger-ignored": ("ignores-update-trigger", dict.fromkeys((
        "test_registration_update_within_window", "test_host_update_reported",
        "test_update_success"), "PASS")),
    # Text booleans as words (test_read_resource judges it): the cases that only need /1/x/6's
    # value read it in another declared format.
    "elsewhere-text-booleans": ("text-boolean-as-word", dict.fromkeys((
        "test_write_server_resource[partial-update]", "test_write_server_resource[replace]",
        "test_write_composite_server_and_device", "test_write_composite_with_resource_instances",
        "test_set_basic_cbor", "test_set_basic_senml[senml-cbor]",
        "test_set_basic_senml[senml-json]", "test_write_partial_update_instance",
        "test_notifications_stored_while_disabled", "test_server_resource_written[6]",
        "test_notify_not_before_pmin"), "PASS")),
}

# Faults each of their cases must catch when it runs alone (-k): run together, a later case
# could catch what an earlier one let through.
ALONE: dict[str, tuple[str, str]] = {
    # One Execute of /1/x/8 cannot tell the trigger's Update from one the client sent on its
    # own account: each trigger case Executes twice (Lwm2mDevice.trigger_update).
    "alone-trigger-once-104": ("update-trigger-once", "test_update_on_trigger"),
    "alone-trigger-once-556": ("update-trigger-once", "test_update_trigger_renews_registration"),
}

# ignores-observe-cancel runs over NoSec: the reference device cannot keep notifying over
# DTLS (its zombie notifications fail there), so over PSK the fault would inject nothing.
NOSEC_FAULTS = {"ignores-observe-cancel", "ignores-composite-cancel", "ignores-reset-cancel",
                "ignores-observe-1-cancel"}
ROWS = [Row("clean")] + [
    Row(name, dut="nosec-fast" if name in NOSEC_FAULTS else "fast", faults=(name,),
        pytest_args=tuple(scope_args(fault)))
    for name, fault in FAULTS.items()
] + [
    Row("unreachable", dut="unreachable"),
    Row("exceptions", dut="exceptions",
        pytest_args=("-k", "host_device_info or firmware_update or post_update")),
    Row("reverse", order="reverse"),
    Row("random", order=f"random:{RANDOM_SEED}"),
    Row("server-1", dut="server-1"),
] + [
    Row(name, dut="fast", faults=(fault,), pytest_args=("-k", " or ".join(judged)))
    for name, (fault, judged) in ELSEWHERE.items()
] + [
    Row(name, dut="fast", faults=(fault,), pytest_args=("-k", case))
    for name, (fault, case) in ALONE.items()
]
ROW = {row.name: row for row in ROWS}


def variant(name: str, folder: Path) -> Path:
    """A declaration derived from the built-in one (written to ``folder``)."""
    data = yaml.safe_load((BUILTIN_DIR / "lwm2m-simulator.yaml").read_text(encoding="utf-8"))
    if name in ("fast", "nosec-fast"):
        # Shorter bounds so that a fault whose symptom is silence FAILs in seconds.
        data["timeouts"].update(request=5, session=15, fota=12, post_update_window=8)
        if name == "nosec-fast":
            data["lwm2m"]["security"] = "nosec"
            del data["lwm2m"]["psk_identity"], data["lwm2m"]["psk_key"]
    elif name == "unreachable":
        # The lab binds 127.0.0.1 but tells the device to use 127.0.0.2: nothing answers there.
        data["lab"] = {"host": "127.0.0.1", "advertised_host": "127.0.0.2"}
        data["timeouts"].update(session=4, request=3)
    elif name == "server-1":
        # Factory-provisioned (no bootstrap by the lab) with its Server instance at /1/1.
        data["features"]["bootstrap"] = False
        data["lwm2m"]["short_server_id"] = 7
        data["control"]["server_instance"] = 1
    elif name == "exceptions":
        data["exceptions"] = [
            {"requirement": "ATT-DMIG-3.2.2", "exception": "unique-tac-per-model",
             "reason": "matrix: the host device has a unique TAC for its model"},
            {"requirement": "ATT-DMIG-4.3", "exception": "not-supported",
             "reason": "matrix: this module has no FOTA"},
        ]
    else:
        raise ValueError(name)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def background_run(name: str) -> tuple[float, Callable[[Path], None]]:
    """The background run of row ``name`` (tests/conftest.py): its outcome in outcome.json."""
    def run(folder: Path) -> None:
        outcome = run_catalog(ROW[name], folder)
        (folder / "outcome.json").write_text(json.dumps({
            "status": outcome.status, "folder": outcome.folder and str(outcome.folder),
            "attempts": outcome.attempts, "output": outcome.output}), encoding="utf-8")

    return WAITING[name], run


def run_catalog(row: Row, base: Path) -> Outcome:
    """One catalog run; rerun once when the lab itself dropped a device datagram."""
    outcome = _run_once(row, base, 1)
    if outcome.folder is not None and LAB_DROP in _transcript_text(outcome.folder):
        warnings.warn(f"matrix row {row.name}: the lab's DTLS layer dropped a datagram "
                      f"({outcome.folder}); running the row again", stacklevel=1)
        outcome = _run_once(row, base, 2)
    return outcome


def _run_once(row: Row, base: Path, attempt: int) -> Outcome:
    folder = base / f"{row.name}-{attempt}"
    folder.mkdir(parents=True)
    dut = row.dut if row.dut == BUILTIN else str(variant(row.dut, folder))
    # The pytest child `conformance run` would start, without the CLI process around it.
    args = catalog_args(CATALOG, dut, str(folder / "reports"), list(row.faults), "run",
                        [*order_args(row.order), "-q", "-p", "no:cacheprovider",
                         *row.pytest_args])
    status, output = run_pytest(args, cwd=str(ROOT), env=dict(CHILD_ENV), timeout=RUN_LIMIT)
    run_folder = folder / "reports" / "run"
    verdicts = run_folder / "verdicts.json"
    cases = json.loads(verdicts.read_text())["cases"] if verdicts.is_file() else []
    return Outcome(row, status, cases, run_folder if verdicts.is_file() else None,
                   attempt, output[-4000:])


def _transcript_text(folder: Path) -> str:
    path = folder / "transcript.jsonl"
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


@pytest.fixture
def outcome_of(background: Callable[[str], Path], tmp_path: Path) -> Callable[[str], Outcome]:
    """``outcome_of(name)``: row ``name``'s outcome, from the background if it waits, else run
    here; a run without verdicts fails the test."""
    def outcome(name: str) -> Outcome:
        if name in WAITING:
            saved = json.loads((background(name) / "outcome.json").read_text(encoding="utf-8"))
            folder = Path(saved["folder"]) if saved["folder"] else None
            verdicts = folder / "verdicts.json" if folder else None
            cases = json.loads(verdicts.read_text())["cases"] if verdicts else []
            got = Outcome(ROW[name], saved["status"], cases, folder, saved["attempts"],
                          saved["output"])
        else:
            got = run_catalog(ROW[name], tmp_path)
        assert got.cases, f"run {name} produced no verdicts (exit {got.status}):\n" + got.output
        return got

    return outcome


def test_waiting_rows_are_rows() -> None:
    """A renamed or removed fault must not leave a stale WAITING entry behind."""
    assert set(WAITING) <= set(ROW), sorted(set(WAITING) - set(ROW))


@pytest.mark.background("clean")
def test_clean_device_passes_every_applicable_case(outcome_of: Callable[[str], Outcome]) -> None:
    outcome = outcome_of("clean")
    bad = [c for c in outcome.cases if c["verdict"] not in ("PASS", "NOT APPLICABLE")]
    assert not bad, outcome.show(bad)
    assert all(c["message"] for c in outcome.by_verdict("NOT APPLICABLE")), outcome.show()
    assert outcome.status == 0, outcome.output
    requirements = {c["requirement"] for c in outcome.by_verdict("PASS")}
    assert requirements == {"ATT-DMIG-3.2", "ATT-DMIG-3.2.2", "ATT-DMIG-4.3", "ATT-DMIG-4.4"}


@pytest.mark.parametrize("fault", [
    pytest.param(name, marks=[pytest.mark.background(name)] if name in WAITING else [], id=name)
    for name in FAULTS])
def test_fault_fails_exactly_its_requirement(outcome_of: Callable[[str], Outcome],
                                             fault: str) -> None:
    outcome = outcome_of(fault)
    requirement = FAULTS[fault].requirement
    failed = outcome.by_verdict("FAIL")
    assert failed, f"fault {fault} ({requirement}) failed no case\n" + outcome.show()
    elsewhere = [c for c in failed if c["requirement"] != requirement]
    assert not elsewhere, (f"fault {fault} of {requirement} failed other requirements' cases\n"
                           + outcome.show(elsewhere))
    ets = FAULTS[fault].ets
    if ets:  # an ETS fault fails its ETS cases and only them
        off_target = [c for c in failed if not ets_matches(c.get("ets", []), ets)]
        assert not off_target, (f"fault {fault} ({', '.join(ets)}) failed other cases\n"
                                + outcome.show(off_target))
        on_target = [c for c in failed if ets_matches(c.get("ets", []), ets)]
        assert on_target, f"fault {fault} failed none of {', '.join(ets)}\n" + outcome.show()
    errors = outcome.by_verdict("ERROR")
    assert not errors, outcome.show(errors)
    assert outcome.status == 1, "a run with a FAIL exits 1"


@pytest.mark.background("unreachable")
def test_unreachable_device_is_inconclusive(outcome_of: Callable[[str], Outcome]) -> None:
    outcome = outcome_of("unreachable")
    bad = [c for c in outcome.cases if c["verdict"] not in ("INCONCLUSIVE", "NOT APPLICABLE")]
    assert not bad, outcome.show(bad)
    assert outcome.by_verdict("INCONCLUSIVE"), outcome.show()
    assert outcome.status == 10, "a device the lab could not judge must not pass a CI gate"


def test_claimed_exceptions_are_not_applicable(outcome_of: Callable[[str], Outcome]) -> None:
    outcome = outcome_of("exceptions")
    claimed = {"ATT-DMIG-3.2.2": "unique TAC for its model", "ATT-DMIG-4.3": "has no FOTA"}
    for requirement, reason in claimed.items():
        cases = [c for c in outcome.cases if c["requirement"] == requirement]
        assert cases, f"no {requirement} case was collected\n" + outcome.show()
        wrong = [c for c in cases
                 if c["verdict"] != "NOT APPLICABLE" or reason not in c["message"]]
        assert not wrong, outcome.show(wrong)
    others = [c for c in outcome.cases if c["requirement"] not in claimed]
    assert others and all(c["verdict"] == "PASS" for c in others), outcome.show(others)


@pytest.mark.parametrize("row", sorted(ELSEWHERE))
def test_a_fault_another_case_owns_is_not_judged_here(outcome_of: Callable[[str], Outcome],
                                                       row: str) -> None:
    fault, expected = ELSEWHERE[row]
    outcome = outcome_of(row)
    got = {c["nodeid"].split("::")[-1]: c for c in outcome.cases}
    assert set(got) == set(expected), outcome.show()
    wrong = [c for name, c in got.items() if c["verdict"] != expected[name]]
    assert not wrong, f"with {fault}:\n" + outcome.show(wrong)


@pytest.mark.parametrize("row", sorted(ALONE))
def test_a_case_alone_catches_its_fault(outcome_of: Callable[[str], Outcome], row: str) -> None:
    fault, case = ALONE[row]
    outcome = outcome_of(row)
    got = {c["nodeid"].split("::")[-1]: c["verdict"] for c in outcome.cases}
    assert got == {case: "FAIL"}, f"with {fault}:\n" + outcome.show()


@pytest.mark.background("clean", "reverse", "random")
def test_case_order_does_not_change_verdicts(outcome_of: Callable[[str], Outcome]) -> None:
    """Reverse and seeded random order give every case the verdict of the catalog order."""
    clean = outcome_of("clean")
    expected = {c["nodeid"]: c["verdict"] for c in clean.cases}
    for name in ("reverse", "random"):
        outcome = outcome_of(name)
        got = {c["nodeid"]: c["verdict"] for c in outcome.cases}
        changed = [c for c in outcome.cases if expected.get(c["nodeid"]) != c["verdict"]]
        assert not changed and got.keys() == expected.keys(), (
            f"{name} order changed verdicts (catalog order: {clean.folder})\n"
            + outcome.show(changed))
        order = [c["nodeid"] for c in outcome.cases]
        assert order != [c["nodeid"] for c in clean.cases], f"the {name} run kept the order"


@pytest.mark.background("server-1")
def test_server_instance_1_passes(outcome_of: Callable[[str], Outcome]) -> None:
    """A Server instance /1/1 (SSID 7) is found by its Short Server ID: nothing FAILs."""
    outcome = outcome_of("server-1")
    bad = [c for c in outcome.cases if c["verdict"] not in ("PASS", "NOT APPLICABLE")]
    assert not bad, outcome.show(bad)
    not_applicable = outcome.by_verdict("NOT APPLICABLE")
    assert all("bootstrap" in c["nodeid"] or "csv" in c["nodeid"] for c in not_applicable), (
        outcome.show(not_applicable))
