"""The verdict model mapped onto pytest outcomes, so that none is confused with another.

| verdict        | raised in a case                              | pytest outcome | status |
|----------------|-----------------------------------------------|----------------|--------|
| PASS           | nothing                                       | passed         | . PASS |
| FAIL           | ``assert`` / DeviceFault (call); DeviceFault  | failed         | F FAIL |
|                | in a fixture                                  |                |        |
| ERROR          | anything else, in any phase (harness problem) | failed         | E ERROR|
| INCONCLUSIVE   | Inconclusive / DeviceTimeout                  | skipped        | I      |
| NOT APPLICABLE | NotApplicable, pytest.skip, the markers       | skipped        | N      |

A call-phase ERROR stays a pytest failure (so the exit status is non-zero) but is counted and
shown as an error; INCONCLUSIVE is a skip so that it never fails a CI job on its own.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from conformance.evidence.runfolder import CaseResult, combine
from conformance.plugin.caseevidence import record_case_evidence
from conformance.plugin.state import CaseState, ConformanceRun, case_state, get_run, is_case
from conformance.verdicts import DeviceFault, DeviceTimeout, Inconclusive, NotApplicable, Verdict

PHASE_ATTR = "conformance_phase_verdict"  # this phase's own verdict (None: nothing to say)
# Cases that waited for a device never heard from before the run stops: the device is not
# there, and waiting out every case's timeout would only delay a CI gate's verdict.
UNREACHABLE_AFTER = 2

_STATUS: dict[Verdict, tuple[str, str, tuple[str, dict[str, bool]]]] = {
    Verdict.PASS: ("passed", ".", ("PASS", {"green": True})),
    Verdict.FAIL: ("failed", "F", ("FAIL", {"red": True})),
    Verdict.ERROR: ("error", "E", ("ERROR", {"red": True})),
    Verdict.INCONCLUSIVE: ("inconclusive", "I", ("INCONCLUSIVE", {"yellow": True})),
    Verdict.NOT_APPLICABLE: ("not applicable", "N", ("NOT APPLICABLE", {"yellow": True})),
}


def classify(when: str, exc: BaseException | None) -> Verdict | None:
    """The verdict one phase gives; None for a setup/teardown that went fine."""
    if exc is None:
        return Verdict.PASS if when == "call" else None
    if isinstance(exc, NotApplicable | pytest.skip.Exception):
        return Verdict.NOT_APPLICABLE
    if isinstance(exc, Inconclusive):
        return Verdict.INCONCLUSIVE
    if isinstance(exc, DeviceFault):
        return Verdict.FAIL  # explicit, even from a fixture: never a harness problem
    if isinstance(exc, AssertionError) and when == "call":
        return Verdict.FAIL
    # pytest.fail/xfail, KeyError, a plain assert in a fixture …: the suite broke.
    return Verdict.ERROR


def one_line(exc: BaseException) -> str:
    if isinstance(exc, pytest.skip.Exception):
        text = exc.msg or "skipped"
    elif isinstance(exc, NotApplicable | Inconclusive | DeviceFault):
        text = str(exc) or type(exc).__name__
    elif isinstance(exc, AssertionError):
        text = str(exc) or "assertion failed"  # the case's own words, not the type's name
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _skip_location(item: pytest.Item) -> tuple[str, int]:
    path, lineno, _ = item.location
    return path, (lineno or 0) + 1


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # tryfirst wrapper: outermost, so it sees the report after every other plugin's changes.
    report = yield
    if not is_case(item):
        return report
    state = case_state(item)
    exc = call.excinfo.value if call.excinfo is not None else None
    verdict = classify(call.when, exc)
    if hasattr(report, "wasxfail"):
        # xfail is not part of the verdict model: a known device fault is still a FAIL.
        del report.wasxfail
    run = get_run(item.config)
    if verdict is not None:
        message = one_line(exc) if exc is not None else ""
        if run is not None:  # the message lands in files and on the terminal: no secrets
            message = run.redact(message)
        detail = report.longreprtext if verdict in (Verdict.FAIL, Verdict.ERROR) else ""
        _apply(report, item, verdict, message)
        previous = state.verdict
        state.verdict = combine([v for v in (previous, verdict) if v is not None])
        if state.verdict != previous and message:
            state.message = message
            state.detail = run.redact(detail) if run is not None else detail
    if verdict is Verdict.INCONCLUSIVE and isinstance(exc, DeviceTimeout) and run is not None:
        _stop_if_unreachable(item, run)
    setattr(report, PHASE_ATTR, verdict)
    state.duration += report.duration
    report.verdict = state.verdict  # type: ignore[attr-defined]
    report.requirement = state.requirement  # type: ignore[attr-defined]
    props = [(k, v) for k, v in report.user_properties if k not in ("requirement", "verdict")]
    props.append(("requirement", state.requirement or ""))
    if state.verdict is not None:
        props.append(("verdict", state.verdict.value))
    report.user_properties = props
    if call.when == "teardown":
        _finish_case(item, report, state)
        if run is not None:
            try:
                record_case_evidence(item, report, state, run)
            except Exception as exc:  # a harness problem of the run: reported, never hidden
                run.lab_problems.append(
                    f"evidence for {item.nodeid}: {type(exc).__name__}: {exc}"
                )
    return report


@pytest.hookimpl(tryfirst=True, specname="pytest_runtest_makereport")
def pytest_runtest_makereport_without_traceback(item: pytest.Item,
                             call: pytest.CallInfo[None]) -> pytest.TestReport | None:
    """A case's NOT APPLICABLE or INCONCLUSIVE phase, reported as pytest reports a skip: its
    message, no traceback. pytest formats any other exception's traceback with the case's
    source (each entry's module parsed again: 0.23 s in a cProfile of the OMA-DM run, for its
    23 N/A cases), which the verdict never shows (``_apply`` keeps the message only)."""
    exc = call.excinfo.value if call.excinfo is not None else None
    when = call.when
    if not isinstance(exc, NotApplicable | Inconclusive) or when == "collect" \
            or not is_case(item):
        return None
    path, lineno = _skip_location(item)
    return pytest.TestReport(
        item.nodeid, item.location, dict.fromkeys(item.keywords, 1), "skipped",
        (path, lineno, one_line(exc)), when,
        [(f"Captured {key} {phase}", content) for phase, key, content in item._report_sections],
        call.duration, call.start, call.stop, user_properties=item.user_properties,
    )


def _stop_if_unreachable(item: pytest.Item, run: ConformanceRun) -> None:
    """Stop the run once the device has let ``UNREACHABLE_AFTER`` cases time out without ever
    having reached the lab: the rest could only be INCONCLUSIVE too (exit status 10)."""
    if run.lab is None or run.device_heard:
        return
    run.waits_unheard += 1
    if run.waits_unheard >= UNREACHABLE_AFTER and not item.session.shouldfail:
        reason = (f"the device never contacted the lab: {run.waits_unheard} cases waited for it "
                  "in vain; the remaining cases are not run")
        item.session.shouldfail = reason
        run.interrupted = reason


def _finish_case(item: pytest.Item, report: pytest.TestReport, state: CaseState) -> None:
    """The case is over: its transcript slice and its row for verdicts.json."""
    run = get_run(item.config)
    lab = run.lab if run is not None else None
    if lab is not None:
        start = state.transcript_start or 0
        end = lab.transcript.mark()
        state.transcript_range = (start + 1, end) if end > start else None
    report.transcript_range = state.transcript_range  # type: ignore[attr-defined]
    report.verdict_message = state.message  # type: ignore[attr-defined]
    report.case_duration = state.duration  # type: ignore[attr-defined]
    if run is not None and state.verdict is not None:
        run.results.cases.append(
            CaseResult(
                nodeid=item.nodeid,
                requirement=state.requirement,
                verdict=state.verdict,
                message=state.message,
                duration=round(state.duration, 3),
                ets=state.ets,
                transcript=state.transcript_range,
            )
        )


def _apply(report: pytest.TestReport, item: pytest.Item, verdict: Verdict, message: str) -> None:
    """Make the pytest outcome agree with the verdict."""
    if verdict in (Verdict.INCONCLUSIVE, Verdict.NOT_APPLICABLE):
        path, lineno = _skip_location(item)
        report.outcome = "skipped"
        report.longrepr = (path, lineno, f"{verdict.value}: {message}")
    elif verdict in (Verdict.FAIL, Verdict.ERROR):
        report.outcome = "failed"
    else:
        report.outcome = "passed"
        report.longrepr = None


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: Any, config: pytest.Config) -> Any:
    if not hasattr(report, PHASE_ATTR):
        return None
    verdict: Verdict | None = getattr(report, PHASE_ATTR)
    if verdict is None:
        return None
    return _STATUS[verdict]
