"""The exit status of a run is its acceptance verdict: a CI gate never passes a device it could
not judge.

| status | meaning                                                                     |
|--------|-----------------------------------------------------------------------------|
| 0      | every applicable requirement PASSes (NOT APPLICABLE ones are fine, also when |
|        | every case is: nothing the run selected applies to this device)              |
| 1      | at least one requirement FAILs (wins over everything else)                   |
| 10     | no FAIL, but a requirement is INCONCLUSIVE, or no case ran at all            |
|        | (``--accept-inconclusive``: 0 instead)                                       |
| 11     | no FAIL, but the suite itself broke: a case ERROR or a lab problem           |
| 2, 4   | pytest's own: interrupted, usage error (kept as they are)                    |

``conformance run`` combines the statuses of several runs with :func:`worst`.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from conformance.evidence.runfolder import RunResults, combine
from conformance.verdicts import Verdict

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_INCONCLUSIVE = 10
EXIT_ERROR = 11
# Statuses pytest sets for reasons outside the verdicts: they stand as they are.
_PYTEST_OWN = (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR,
               pytest.ExitCode.USAGE_ERROR)
# Most severe first: FAIL wins, then ERROR, then INCONCLUSIVE; anything unknown ranks as ERROR.
_SEVERITY = (EXIT_FAIL, EXIT_ERROR, int(pytest.ExitCode.INTERRUPTED),
             int(pytest.ExitCode.INTERNAL_ERROR), int(pytest.ExitCode.USAGE_ERROR),
             EXIT_INCONCLUSIVE, int(pytest.ExitCode.NO_TESTS_COLLECTED), EXIT_PASS)


def acceptance_verdict(results: RunResults) -> Verdict | None:
    """The run's verdict over every case (None: no case has a verdict)."""
    verdicts = [case.verdict for case in results.cases]
    if results.harness_problems:
        verdicts.append(Verdict.ERROR)
    return combine(verdicts)


def exit_status(results: RunResults, *, accept_inconclusive: bool) -> int:
    verdict = acceptance_verdict(results)
    if verdict == Verdict.FAIL:
        return EXIT_FAIL
    if verdict == Verdict.ERROR:
        return EXIT_ERROR
    if verdict in (Verdict.PASS, Verdict.NOT_APPLICABLE):
        return EXIT_PASS
    # INCONCLUSIVE, or no case ran at all
    return EXIT_PASS if accept_inconclusive else EXIT_INCONCLUSIVE


def apply(session: pytest.Session, results: RunResults) -> int:
    """Replace pytest's status with the acceptance verdict's (pytest's own reasons stand)."""
    if session.exitstatus not in _PYTEST_OWN:
        accept = bool(session.config.getoption("accept_inconclusive", False))
        session.exitstatus = exit_status(results, accept_inconclusive=accept)
    return int(session.exitstatus)


def worst(codes: Iterable[int]) -> int:
    """The combined status of several runs: the most severe one (FAIL first)."""
    ranked = [c if c in _SEVERITY else EXIT_ERROR for c in codes]
    if not ranked:
        return EXIT_INCONCLUSIVE
    return min(ranked, key=_SEVERITY.index)


def describe(code: int) -> str:
    return {
        EXIT_PASS: "every applicable requirement passed",
        EXIT_FAIL: "the device FAILED a requirement",
        EXIT_INCONCLUSIVE: "a requirement could not be judged (INCONCLUSIVE)",
        EXIT_ERROR: "the suite itself broke (ERROR): the device was not fully judged",
        int(pytest.ExitCode.INTERRUPTED): "the run was interrupted",
        int(pytest.ExitCode.USAGE_ERROR): "usage error",
        int(pytest.ExitCode.NO_TESTS_COLLECTED): "no case of the catalog applies",
    }.get(code, f"exit status {code}")
