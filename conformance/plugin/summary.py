"""The terminal summary: counts per verdict and a table by requirement."""

from __future__ import annotations

import pytest

from conformance.evidence.runfolder import combine
from conformance.plugin import gate
from conformance.plugin.state import ConformanceRun, get_run
from conformance.requirements import CATALOG
from conformance.verdicts import Verdict

_MARKUP = {
    Verdict.PASS: {"green": True},
    Verdict.FAIL: {"red": True, "bold": True},
    Verdict.ERROR: {"red": True, "bold": True},
    Verdict.INCONCLUSIVE: {"yellow": True},
    Verdict.NOT_APPLICABLE: {"yellow": True},
}


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    run = get_run(config)
    if run is None or not (run.active or run.results.cases):
        return
    write_summary(terminalreporter, run)


def write_summary(tr: pytest.TerminalReporter, run: ConformanceRun) -> None:
    decl = run.declaration
    tr.write_sep("=", "conformance verdicts", bold=True)
    tr.write_line(f"device {decl.device.name} ({decl.protocol}), declaration {run.origin}")
    if run.faults:
        tr.write_line(f"injected faults: {', '.join(run.faults)}")
    counts = run.results.counts()
    for i, verdict in enumerate(Verdict):
        sep = " | " if i else ""
        tr.write(f"{sep}{verdict.value} {counts[verdict.value]}", **_markup(verdict, counts))
    tr.write_line("")

    by_req = run.results.by_requirement()
    if by_req:
        tr.write_line("")
        tr.write_line(f"{'requirement':<20} {'cases':>5}  {'verdict':<15} (pass/fail/err/inc/n-a)")
        for req, cases in sorted(by_req.items()):
            verdicts = [c.verdict for c in cases]
            overall = combine(verdicts) or Verdict.NOT_APPLICABLE
            detail = "/".join(
                str(verdicts.count(v))
                for v in (Verdict.PASS, Verdict.FAIL, Verdict.ERROR, Verdict.INCONCLUSIVE,
                          Verdict.NOT_APPLICABLE)
            )
            tr.write(f"{req:<20} {len(cases):>5}  ")
            tr.write(f"{overall.value:<15}", **_MARKUP[overall])
            tr.write_line(f" ({detail})")
    uncovered = [
        r.id for r in CATALOG if r.protocol in (decl.protocol, "csv") and r.id not in by_req
    ]
    if uncovered and run.active:
        tr.write_line(f"no case run for: {', '.join(uncovered)}")

    explained = [c for c in run.results.cases if c.verdict != Verdict.PASS and c.message]
    if explained:
        tr.write_line("")
        for case in explained:
            tr.write(f"{case.verdict.value:<15}", **_MARKUP[case.verdict])
            tr.write_line(f" {case.nodeid}: {case.message}")
    if run.deselected_other_protocol:
        other = "lwm2m" if decl.protocol == "omadm" else "omadm"
        tr.write_line(
            f"{run.deselected_other_protocol} {other} case(s) deselected: this run's device "
            f"speaks {decl.protocol}"
            + ("" if run.protocol_certain else f" (run them with --dut builtin:{other})")
        )
    for problem in run.results.harness_problems:
        tr.write_line(f"HARNESS PROBLEM: {problem}", red=True, bold=True)
    if run.run_folder is not None:
        tr.write_line(f"reports: {run.run_folder.path}")
    if run.lab is not None and not run.device_heard:
        tr.write_line(f"the device never contacted the lab: no message from "
                      f"{decl.device.name} reached it in the whole run", red=True, bold=True)
    if run.exit_status is not None:
        tr.write_line(f"acceptance: {gate.describe(run.exit_status)} "
                      f"(exit status {run.exit_status})",
                      **_MARKUP[Verdict.PASS if run.exit_status == 0 else Verdict.FAIL])


def _markup(verdict: Verdict, counts: dict[str, int]) -> dict[str, bool]:
    return _MARKUP[verdict] if counts[verdict.value] else {}
