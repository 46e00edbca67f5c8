"""When the browser that prints acceptance.pdf starts (pdfprint.py): half-way through a run's
cases, and, for a device run in parts, when its first part ends."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from conformance import cli
from conformance.evidence import acceptance
from conformance.plugin import reporting


def test_a_run_starts_the_browser_half_way(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []
    reporter = reporting.RunReporter(SimpleNamespace(cases_collected=5))  # type: ignore[arg-type]
    monkeypatch.setattr(reporting, "prestart_pdf", lambda: started.append(reporter.cases_done))
    for _ in range(5):
        reporter.pytest_runtest_logfinish()
    assert started[0] == 3  # 3 of 5 done; later calls find it started (prestart is once)


def test_a_one_case_run_starts_it_after_its_case(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []
    reporter = reporting.RunReporter(SimpleNamespace(cases_collected=1))  # type: ignore[arg-type]
    monkeypatch.setattr(reporting, "prestart_pdf", lambda: started.append(reporter.cases_done))
    reporter.pytest_runtest_logfinish()
    assert started == [1]


@pytest.mark.parametrize("merging", [True, False])
def test_the_cli_starts_it_when_a_part_ends(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], merging: bool
) -> None:
    started: list[str] = []
    monkeypatch.setattr(acceptance, "prestart_pdf", lambda: started.append(printed()))

    def printed() -> str:
        return capsys.readouterr().out

    child = SimpleNamespace(stdout=io.BytesIO(b"collected 3 items\n3 passed\n"))
    cli._relay(child, "[lwm2m 1/2] ", merging)  # type: ignore[arg-type]
    if merging:  # a part: after its last line (it has ended)
        assert started == ["[lwm2m 1/2] collected 3 items\n[lwm2m 1/2] 3 passed\n"]
    else:
        assert started == [] and "3 passed" in printed()
