"""The run folder: junit.xml properties, verdicts.json, report.html, declaration, latest."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conformance.evidence.runfolder import (
    CaseResult,
    RunFolder,
    RunResults,
    combine,
    resolve_latest,
    safe_name,
)
from conformance.verdicts import Verdict

CASES = """
import pytest
from conformance.verdicts import DeviceFault, Inconclusive

@pytest.mark.requirement("CDR-DVM-4532")
def test_host_nodes(): pass

@pytest.mark.requirement("CDR-DVM-4532")
def test_imeisv(): raise DeviceFault("./DevDetail/Ext/IMEISV is '1', expected two digits")

@pytest.mark.requirement("CDR-DVM-012")
def test_session(): raise Inconclusive("no session within 20 s")

@pytest.mark.requirement("CDR-DVM-012")
def test_harness(): {}["nonce"]
"""


@pytest.fixture
def run(pytester: pytest.Pytester, fake_lab: Callable[[], list[str]]) -> Path:
    pytester.makepyfile(test_catalog=CASES)
    result = pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports")
    assert result.ret == 1
    folders = [p for p in (pytester.path / "reports").iterdir() if p.name != "latest"]
    assert len(folders) == 1
    return folders[0]


def test_folder_name_and_latest(run: Path) -> None:
    assert run.name.endswith("Z-reference-omadm-module")
    datetime.strptime(run.name[:16], "%Y%m%dT%H%M%SZ")  # a UTC timestamp
    latest = run.parent / "latest"
    assert latest.is_symlink() and latest.resolve() == run.resolve()
    assert {p.name for p in run.iterdir()} >= {
        "junit.xml", "report.html", "verdicts.json", "declaration.json"
    }


def test_junit_has_requirement_and_verdict_properties(run: Path) -> None:
    tree = ET.parse(run / "junit.xml")
    props = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in tree.iter("testcase")
    }
    assert props == {
        "test_host_nodes": {"requirement": "CDR-DVM-4532", "verdict": "PASS"},
        "test_imeisv": {"requirement": "CDR-DVM-4532", "verdict": "FAIL"},
        "test_session": {"requirement": "CDR-DVM-012", "verdict": "INCONCLUSIVE"},
        "test_harness": {"requirement": "CDR-DVM-012", "verdict": "ERROR"},
    }
    cases = {c.get("name"): c for c in tree.iter("testcase")}
    assert cases["test_imeisv"].find("failure") is not None
    # pytest writes a call-phase exception as <failure>; a harness ERROR must be an <error>.
    assert cases["test_harness"].find("error") is not None
    assert cases["test_harness"].find("failure") is None
    # A CI reading only JUnit must not count a device the lab could not judge as passed.
    inconclusive = cases["test_session"].find("error")
    assert inconclusive.get("type") == "INCONCLUSIVE"
    assert inconclusive.get("message") == "INCONCLUSIVE: no session within 20 s"
    assert cases["test_session"].find("skipped") is None
    suite = next(tree.iter("testsuite"))
    assert (suite.get("failures"), suite.get("errors")) == ("1", "2")


def test_verdicts_json(run: Path) -> None:
    data = json.loads((run / "verdicts.json").read_text())
    cases = {c["nodeid"].split("::")[-1]: c for c in data["cases"]}
    assert cases["test_imeisv"]["verdict"] == "FAIL"
    assert cases["test_imeisv"]["message"] == "./DevDetail/Ext/IMEISV is '1', expected two digits"
    assert cases["test_imeisv"]["requirement"] == "CDR-DVM-4532"
    assert cases["test_harness"]["message"] == "KeyError: 'nonce'"
    assert all(isinstance(c["duration"], float) for c in data["cases"])
    assert data["requirements"] == {"CDR-DVM-4532": "FAIL", "CDR-DVM-012": "ERROR"}
    assert data["counts"]["FAIL"] == 1 and data["counts"]["ERROR"] == 1
    assert data["run"]["device"] == "reference-omadm-module"
    assert data["run"]["failed"] is True and data["run"]["exit_status"] == 1


def test_html_report_has_verdict_requirement_and_declaration_without_secrets(run: Path) -> None:
    page = (run / "report.html").read_text()
    assert "col-verdict" in page and "col-requirement" in page
    assert "CDR-DVM-4532" in page and "INCONCLUSIVE" in page
    assert "reference-omadm-module" in page and "357099060399038" in page  # DUT summary
    assert "ref-client-secret-3954" not in page and "ref-server-secret-3954" not in page
    assert '<link rel="stylesheet"' not in page  # self-contained


def test_declaration_summary_without_secrets(run: Path) -> None:
    text = (run / "declaration.json").read_text()
    data = json.loads(text)
    assert data["device"] == "reference-omadm-module" and data["protocol"] == "omadm"
    assert data["features"]["fota"] is True
    assert "secret" not in text


def test_latest_follows_the_newest_run_and_run_name(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports", "--run-name", "ci-1")
    pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports", "--run-name", "ci-1")
    reports = pytester.path / "reports"
    assert (reports / "ci-1").is_dir() and (reports / "ci-1-2").is_dir()
    assert resolve_latest(reports) == (reports / "ci-1-2").resolve()


def test_plain_runs_make_no_run_folder(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    assert pytester.runpytest().ret == 0
    assert not (pytester.path / "reports").exists()


# ----------------------------------------------------------------- the RunFolder API


def test_latest_falls_back_to_a_text_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = RunFolder.create(tmp_path, "dev", now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert folder.path.name == "20260102T030405Z-dev"

    def no_symlinks(self: Path, *args: object, **kw: object) -> None:
        raise OSError("symlinks not supported here")

    monkeypatch.setattr(Path, "symlink_to", no_symlinks)
    latest = folder.point_latest()
    assert latest.read_text().strip() == "20260102T030405Z-dev"
    assert resolve_latest(tmp_path) == folder.path


def test_safe_names_and_collisions(tmp_path: Path) -> None:
    assert safe_name("ACME Module/v2 (beta)") == "ACME-Module-v2-beta"
    assert safe_name("///") == "device"
    now = datetime(2026, 1, 2, tzinfo=UTC)
    first = RunFolder.create(tmp_path, "d", now=now)
    second = RunFolder.create(tmp_path, "d", now=now)
    assert first.path != second.path and second.path.name.endswith("-2")


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([Verdict.PASS, Verdict.FAIL, Verdict.ERROR], Verdict.FAIL),
        ([Verdict.PASS, Verdict.ERROR, Verdict.INCONCLUSIVE], Verdict.ERROR),
        ([Verdict.PASS, Verdict.INCONCLUSIVE], Verdict.INCONCLUSIVE),
        ([Verdict.PASS, Verdict.NOT_APPLICABLE], Verdict.PASS),
        ([Verdict.NOT_APPLICABLE], Verdict.NOT_APPLICABLE),
        ([], None),
    ],
)
def test_requirement_verdict_combination(verdicts: list[Verdict], expected: Verdict) -> None:
    assert combine(verdicts) == expected


def test_results_fail_the_run_on_fail_error_or_harness_problem() -> None:
    ok = RunResults(
        [CaseResult("a", "R", Verdict.PASS), CaseResult("b", "R", Verdict.INCONCLUSIVE)]
    )
    assert not ok.failed()
    assert RunResults([CaseResult("a", "R", Verdict.ERROR)]).failed()
    assert RunResults(harness_problems=["lab stop: boom"]).failed()
