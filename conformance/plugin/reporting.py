"""The run folder's reports: JUnit XML and pytest-html set up in it, verdicts.json at the end."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conformance.evidence.acceptance import prestart_pdf
from conformance.evidence.allure_report import RESULTS_DIR
from conformance.evidence.allure_spool import SPOOL_NAME, Spool
from conformance.evidence.runfolder import RunFolder
from conformance.plugin import gate
from conformance.plugin.allure_writer import encode_results_at_once, spool_results
from conformance.plugin.runend import allure_dir, pack_machine_files, write_run_evidence
from conformance.plugin.state import ConformanceRun, is_case
from conformance.verdicts import Verdict


def setup_reports(config: pytest.Config, run: ConformanceRun) -> None:
    """Create the run folder and point pytest's JUnit XML and pytest-html into it.

    Runs in a tryfirst ``pytest_configure``: junitxml and pytest-html read these options in
    their own ``pytest_configure``. A ``--junitxml``/``--html`` given by the user wins.
    """
    decl = run.declaration
    run.run_folder = RunFolder.create(run.reports, decl.device.name, run.run_name)
    run.started = datetime.now(UTC)
    if not getattr(config.option, "xmlpath", None):
        config.option.xmlpath = str(run.run_folder.junit)
    if hasattr(config.option, "htmlpath") and not config.option.htmlpath:
        config.option.htmlpath = str(run.run_folder.html)
        config.option.self_contained_html = True
    if hasattr(config.option, "allure_report_dir") and not config.option.allure_report_dir:
        # Allure results always land in the run folder; `--alluredir DIR` sends them elsewhere.
        config.option.allure_report_dir = str(run.run_folder.path / RESULTS_DIR)
    run.run_folder.write_declaration(declaration_summary(run))


def declaration_summary(run: ConformanceRun) -> dict[str, Any]:
    """Secret-free: Declaration.summary() plus features and claimed exceptions."""
    decl = run.declaration
    return {
        "source": run.origin,
        **decl.summary(),
        "features": decl.features.model_dump(mode="json"),
        "exceptions": [e.model_dump(mode="json") for e in decl.exceptions],
        "faults": list(run.faults),
    }


class RunReporter:
    """Registered for a conformance run: fills the reports and writes the run folder's files."""

    def __init__(self, run: ConformanceRun) -> None:
        self.run = run
        self.cases_done = 0
        self.browser_asked = False
        self.allure_spool: Spool | None = None

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # What a complete run finishes; fewer cases at the end → a partial acceptance report.
        self.run.cases_collected = sum(1 for item in session.items if is_case(item))

    def pytest_runtest_logfinish(self) -> None:
        # Half-way, the browser that prints acceptance.pdf starts (pdfprint.py): by the end
        # it is up, and its start-up CPU does not compete with the run's own start.
        self.cases_done += 1
        if not self.browser_asked and self.cases_done * 2 >= self.run.cases_collected:
            self.browser_asked = True  # once: not a call (and a PATH lookup) per later case
            prestart_pdf()

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        self.run.interrupted = self.run.interrupted or "interrupted (Ctrl-C)"

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # allure-pytest registered its file logger while configuring: results for the run
        # folder go to its spool, results sent elsewhere (--alluredir) to files as before.
        results, folder = allure_dir(session.config), self.run.run_folder
        if folder is not None and results == folder.path.absolute() / RESULTS_DIR:
            self.allure_spool = Spool(folder.path / SPOOL_NAME)
            spool_results(results, self.allure_spool)
        else:
            encode_results_at_once()
        try:
            from pytest_metadata.plugin import metadata_key  # type: ignore[import-untyped]
        except ImportError:  # pytest-html not installed: no environment table to fill
            return
        metadata = session.config.stash.get(metadata_key, None)
        if metadata is not None:  # pytest-html shows it as the report's "Environment"
            # ...as HTML: what the declaration says is escaped here, shown as text there
            esc = html.escape
            metadata["Device declaration"] = esc(self.run.origin)
            for key, value in self.run.declaration.summary().items():
                metadata[f"DUT {key}"] = esc(str(value))
            if self.run.faults:
                metadata["Injected faults"] = esc(", ".join(self.run.faults))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        report.title = f"Conformance run: {self.run.declaration.device.name}"

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(1, '<th class="sortable" data-column-type="verdict">Verdict</th>')
        cells.insert(2, '<th class="sortable" data-column-type="requirement">Requirement</th>')

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        verdict = getattr(report, "verdict", None)
        requirement = getattr(report, "requirement", None) or ""
        text = verdict.value if isinstance(verdict, Verdict) else ""
        # pytest-html puts the node id in unescaped: a DDF node name such as ./DMAcc/<x>/AppID
        # in a case's parameters would be read as a tag (and markup from a device would run)
        test_id = '<td class="col-testId">'
        for i, cell in enumerate(cells):
            if cell.startswith(test_id):
                cells[i] = f"{test_id}{html.escape(report.nodeid)}</td>"
        cells.insert(1, f'<td class="col-verdict">{html.escape(text)}</td>')
        cells.insert(2, f'<td class="col-requirement">{html.escape(requirement)}</td>')

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        # Innermost wrapper: junitxml and pytest-html have written their files; the terminal
        # summary (an outer wrapper) comes after this and can name the finished folder.
        result = yield
        if self.allure_spool is not None:
            self.allure_spool.close()  # every result is in: the end scrubs and packs the spool
        finish_run(session, self.run)
        return result


def finish_run(session: pytest.Session, run: ConformanceRun) -> None:
    run.results.harness_problems.extend(run.lab_problems)
    if run.active or run.results.cases:
        run.exit_status = gate.apply(session, run.results)
    if run.run_folder is None:
        return
    xmlpath = getattr(session.config.option, "xmlpath", None)
    if xmlpath and Path(xmlpath).is_file():
        fix_junit(Path(xmlpath), accept_inconclusive=bool(
            session.config.getoption("accept_inconclusive", False)))
    run.run_folder.write_verdicts(run.results, run_facts(session, run))
    try:
        write_run_evidence(session, run)
    except Exception as exc:  # the run's evidence is incomplete: a harness problem, loudly
        run.results.harness_problems.append(f"acceptance report: {type(exc).__name__}: {exc}")
        run.exit_status = gate.apply(session, run.results)
        run.run_folder.write_verdicts(run.results, run_facts(session, run))
    pack_machine_files(run.run_folder.path)  # packed already unless the evidence broke first
    run.run_folder.point_latest()
    session.config.hook.pytest_conformance_run_complete(
        config=session.config, run_folder=run.run_folder, results=run.results
    )


def run_facts(session: pytest.Session, run: ConformanceRun) -> dict[str, Any]:
    return {
        "device": run.declaration.device.name,
        "protocol": run.declaration.protocol,
        "declaration": run.origin,
        "faults": list(run.faults),
        "started": run.started.isoformat() if run.started else None,
        "finished": datetime.now(UTC).isoformat(),
        "exit_status": int(session.exitstatus),
        "failed": run.results.failed(),
    }


def fix_junit(path: Path, *, accept_inconclusive: bool = False) -> None:
    """Make JUnit agree with the verdicts, so that a CI reading only junit.xml judges as the
    exit status does: a call-phase ERROR is an <error>, not a <failure> (pytest writes every
    call-phase failure as <failure>); a DeviceFault raised in a fixture is a <failure>, not an
    <error>; an INCONCLUSIVE case is an <error type="INCONCLUSIVE">, not a <skipped> (unless
    ``--accept-inconclusive``): a device the lab could not judge does not pass."""
    tree = ET.parse(path)
    changed = False
    for case in tree.iter("testcase"):
        verdict = next(
            (p.get("value") for p in case.iter("property") if p.get("name") == "verdict"), None
        )
        if verdict == "INCONCLUSIVE" and not accept_inconclusive:
            for child in list(case):
                if child.tag == "skipped":
                    child.tag = "error"
                    child.set("type", "INCONCLUSIVE")
                    changed = True
            continue
        want, other = {"ERROR": ("error", "failure"), "FAIL": ("failure", "error")}.get(
            verdict or "", (None, None)
        )
        if want is None:
            continue
        for child in case:
            if child.tag == other:
                child.tag = want
                changed = True
    if not changed:
        return
    for suite in tree.iter("testsuite"):
        cases = list(suite.iter("testcase"))
        suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
        suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    tree.write(path, encoding="utf-8", xml_declaration=True)
