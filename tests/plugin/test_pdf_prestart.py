"""When the browser that prints acceptance.pdf starts (pdfprint.py): half-way through a run's
cases; for a device run in parts, half-way through the device's earlier run (its parts then
wait on their cases), else when its first part ends."""

from __future__ import annotations

import io
import json
from pathlib import Path
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
    assert started == [3]  # 3 of 5 done, asked once


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


def test_the_cli_times_it_by_the_devices_earlier_run(tmp_path: Path) -> None:
    (tmp_path / "r1").mkdir()
    verdicts = tmp_path / "r1" / "verdicts.json"
    verdicts.write_text(json.dumps({"run": {"declaration": "builtin:lwm2m",
                                            "started": "2026-12-07T04:00:00+00:00",
                                            "finished": "2026-12-07T04:00:18.5+00:00"}}))
    assert cli.earlier_verdicts(tmp_path, "builtin:lwm2m") == (verdicts, 18.5)
    assert cli.earlier_verdicts(tmp_path, "builtin:omadm") is None


@pytest.mark.parametrize("run", [
    {}, {"started": "yesterday", "finished": "today"},
    {"started": "2026-12-07T04:00:00+00:00", "finished": "2026-12-07T04:00:00"},  # naive
    {"started": "2026-12-07T04:00:10+00:00", "finished": "2026-12-07T04:00:00+00:00"},
    {"started": 1, "finished": [2]},
])
def test_an_earlier_run_without_a_duration_is_no_timer(run: dict[str, object]) -> None:
    assert cli.run_seconds(run) is None
    planned = SimpleNamespace(parts=5, earlier_seconds=None)
    assert cli.browser_timer([planned]) is None  # type: ignore[list-item]
