"""At the end of a run: Allure metadata, the secret sweep, and the acceptance report.

Called by the reporter after junit.xml, report.html and verdicts.json exist, also when the run
was interrupted (Ctrl-C, SIGTERM): then the acceptance report says ``complete: false``.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import pytest

from conformance.evidence import acceptance, etsmatrix, hostidentity
from conformance.evidence.allure_report import pack_results, write_allure_metadata
from conformance.evidence.casefiles import EvidenceFile, sha256_of
from conformance.evidence.sweep import scrub_folder
from conformance.plugin.state import CASE_KEY, ConformanceRun
from conformance.verdicts import Verdict

log = logging.getLogger(__name__)


def allure_dir(config: pytest.Config) -> Path | None:
    """Where allure-pytest writes this run's results (None when it is not active)."""
    if config.pluginmanager.get_plugin("allure_listener") is None:
        return None
    where = getattr(config.option, "allure_report_dir", None)
    return Path(where).absolute() if where else None


def lab_facts(run: ConformanceRun) -> dict[str, str]:
    facts = {"host": socket.gethostname(), "declaration": run.origin}
    if run.faults:
        facts["faults"] = ", ".join(run.faults)
    facts.update({k: run.redact(v) for k, v in run.lab_addresses.items()})
    return facts


def allure_environment(run: ConformanceRun) -> dict[str, str]:
    decl = run.declaration
    return {
        "suite": f"conformance {acceptance.suite_version()} ({acceptance.suite_commit()})",
        "device": decl.device.name,
        "firmware": decl.device.firmware_version,
        "protocol": decl.protocol,
        "IMEI": decl.device.imei,
        "control": decl.control.type,
        **{f"lab.{k}": v for k, v in lab_facts(run).items()},
    }


def is_complete(session: pytest.Session, run: ConformanceRun) -> bool:
    return (
        run.interrupted is None
        and session.exitstatus != pytest.ExitCode.INTERRUPTED
        and len(run.results.cases) >= run.cases_collected
    )


def write_run_evidence(session: pytest.Session, run: ConformanceRun) -> None:
    assert run.run_folder is not None
    folder = run.run_folder.path
    results = allure_dir(session.config)
    try:
        if results is not None:
            write_allure_metadata(results, allure_environment(run))
    finally:  # whatever else fails, no secret stays in the folder
        secrets = run.secrets()
        scrub_folder(folder, secrets)
        if results is not None and not results.is_relative_to(folder.absolute()):
            scrub_folder(results, secrets)
    # The Allure results are final now: packed while the acceptance report (its PDF printed
    # by Chromium, seconds) is written, not after it.
    packing = threading.Thread(target=pack_machine_files, args=(folder,), name="pack-results")
    packing.start()
    try:
        write_acceptance(session, run)
    finally:
        packing.join()


def pack_machine_files(folder: Path) -> None:
    """Compress what only machines read (the Allure results), once every writer is done."""
    try:
        pack_results(folder)
    except OSError as exc:  # the results stay as they were: still usable, only bigger
        log.warning("allure-results not packed: %s", exc)


def write_acceptance(session: pytest.Session, run: ConformanceRun) -> None:
    """The acceptance report (JSON, HTML, PDF) and the ETS matrix of the run."""
    assert run.run_folder is not None
    folder = run.run_folder.path
    decl = run.declaration
    report = acceptance.build_report(
        acceptance_cases(session, run),
        declaration=decl,
        run_dir=folder,
        started=run.started.timestamp() if run.started else 0.0,
        finished=time.time(),
        lab=lab_facts(run),
        complete=is_complete(session, run),
    )
    if not report["complete"]:
        report["interrupted"] = run.interrupted or "stopped before every case ran"
    # --- host-identity view (issue 20): its own module, one section of the report
    report["host_identity"] = hostidentity.section(run.host_identity, decl)
    # --- the compatibility matrix by OMA ETS test (issue 17)
    report["ets"] = etsmatrix.build(run.results.cases)
    etsmatrix.write(report["ets"], decl.device.name, folder)
    acceptance.write_report(report, folder)


def acceptance_cases(session: pytest.Session, run: ConformanceRun) -> list[acceptance.CaseResult]:
    """The plugin's results with each case's evidence files (sha256 taken now, after the sweep)."""
    states = {item.nodeid: item.stash.get(CASE_KEY, None) for item in session.items}
    out = []
    for case in run.results.cases:
        state = states.get(case.nodeid)
        files = [
            EvidenceFile(f.path, sha256_of(f.path), f.kind)
            for f in (state.evidence if state else [])
            if f.path.is_file()
        ]
        out.append(
            acceptance.CaseResult(
                nodeid=case.nodeid,
                requirement=case.requirement,
                verdict=Verdict(case.verdict),
                message=case.message,
                duration=case.duration,
                evidence=files,
                expectations=list(state.expectations) if state else [],
                deciding=list(state.deciding) if state else [],
            )
        )
    return out

