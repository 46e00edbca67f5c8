"""When the browser that prints acceptance.pdf starts (pdfprint.py): half-way through a run's
cases; for a device run in parts, half-way through the device's earlier run (its parts then
wait on their cases), else when its first part ends."""

from __future__ import annotations

import io
import json
import os
import subprocess
import threading
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


@pytest.mark.parametrize("start_browser", [True, False])
def test_the_cli_starts_it_when_a_child_whose_pdf_it_prints_ends(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], start_browser: bool
) -> None:
    """When no timer will (a first run): a part, or a device beside others, has ended."""
    started: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(acceptance, "prestart_pdf",
                        lambda **kw: started.append((printed(), kw)))

    def printed() -> str:
        return capsys.readouterr().out

    child = SimpleNamespace(stdout=io.BytesIO(b"collected 3 items\n3 passed\n"))
    collected = threading.Event()
    cli._relay(child, "[lwm2m 1/2] ", start_browser, collected)  # type: ignore[arg-type]
    assert collected.is_set()  # no part line, but it ended
    if start_browser:  # after its last line (it has ended)
        assert started == [("[lwm2m 1/2] collected 3 items\n[lwm2m 1/2] 3 passed\n",
                             {"shared": True})]
    else:
        assert started == [] and "3 passed" in printed()


@pytest.mark.parametrize(("parts", "others", "child_prints"), [
    (1, False, True),  # a device alone: its run prints its PDF, with its own warm browser
    (1, True, False),  # beside other devices: the CLI's shared browser prints it
    (3, False, False),  # in parts: the merge prints it
])
def test_who_prints_a_devices_pdf(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, parts: int, others: bool,
    child_prints: bool,
) -> None:
    monkeypatch.setenv(acceptance.PDF_ENV, "1")  # the project's tests turn PDFs off
    envs: list[dict[str, str] | None] = []
    monkeypatch.setattr(cli.warmstart, "popen_pytest",
                        lambda args, env=None, stdout=None: envs.append(env))
    run = cli.PlannedRun(dut="builtin:omadm", label="omadm", folder=tmp_path / "run",
                         parts=parts)
    run.cases = tmp_path
    args = SimpleNamespace(reports=str(tmp_path), fault=[], order="catalog")
    cli.start_child(run, 1, args, [], others=others)  # type: ignore[arg-type]
    child_env = envs[0] if envs[0] is not None else dict(os.environ)
    assert (child_env.get(acceptance.PDF_ENV) != "0") is child_prints
    assert cli.cli_prints_pdf(run, others) is not child_prints


def test_a_pdf_that_cannot_be_printed_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A browser that hangs past the print's timeout: the device's verdict and exit stand."""
    def hung(folder: Path) -> bool:
        raise subprocess.TimeoutExpired(["chromium"], 120)

    monkeypatch.setattr(acceptance, "write_pdf_of", hung)
    monkeypatch.setattr(acceptance, "prestart_pdf", lambda **kw: None)
    run = cli.PlannedRun(dut="builtin:omadm", label="omadm", folder=tmp_path, parts=1)
    printing = threading.Event()
    printing.set()
    finisher = cli.RunFinisher(run, [SimpleNamespace(wait=lambda: 1)],  # type: ignore[list-item]
                               printing)
    finisher.start()
    assert finisher.code() == 1
    out = capsys.readouterr().out
    assert "builtin:omadm: acceptance.pdf not written (TimeoutExpired" in out
    assert out.count("\n") == 1


def test_the_cli_prints_a_side_by_side_devices_pdf_once_it_ends(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Once its run has ended and the shared browser has started: the CSV device's run
    ends while the parts start, and its PDF waits for the browser the timer starts."""
    printed: list[tuple[Path, int | None]] = []
    started: list[dict[str, object]] = []
    ended, printing = threading.Event(), threading.Event()
    run = cli.PlannedRun(dut="builtin:csv-host-device", label="csv", folder=tmp_path, parts=1)
    child = SimpleNamespace(wait=lambda: 3 if ended.set() is None else 0)
    finisher = cli.RunFinisher(run, [child], printing)  # type: ignore[list-item]
    monkeypatch.setattr(acceptance, "write_pdf_of",
                        lambda folder: printed.append((folder, finisher._code)))
    monkeypatch.setattr(acceptance, "prestart_pdf", lambda **kw: started.append(kw))
    finisher.start()
    assert ended.wait(10)
    finisher.join(0.2)  # not a sleep to synchronise on: it must still be waiting after it
    assert finisher.is_alive() and printed == []
    printing.set()
    assert finisher.code() == 3
    assert printed == [(tmp_path, 3)] and started == [{"shared": True}]


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
    assert cli.browser_timer([planned], threading.Event()) is None  # type: ignore[list-item]


def test_the_cli_times_it_by_the_longest_earlier_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Half-way through the device whose parts end last: after their busy start."""
    monkeypatch.setattr(acceptance, "prestart_pdf", lambda **kw: None)
    runs = [SimpleNamespace(parts=2, earlier_seconds=5.0),
            SimpleNamespace(parts=10, earlier_seconds=8.0),
            SimpleNamespace(parts=1, earlier_seconds=None)]
    timer = cli.browser_timer(runs, threading.Event())  # type: ignore[arg-type]
    assert timer is not None
    timer.cancel()
    assert timer.interval == 4.0
