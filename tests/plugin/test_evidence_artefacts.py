"""The evidence of a run, artefact by artefact, for a failing and a passing run (fake lab).

Per-case files (case text with messages by reference, ladder SVG, capture), the acceptance
report, Allure results
(labels, link, parameters, steps, attachments, categories, environment), pytest-html extras,
JUnit properties, sha256 values, and no declared secret in any file of the run folder.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from lxml import html as lxml_html

from conformance.evidence.allure_report import CATEGORIES, read_properties
from conformance.evidence.ladder import SVG_NS
from conformance.requirements import CATALOG

SVG = f"{{{SVG_NS}}}"
Run = tuple[Path, str]


def ladder_steps(path: Path) -> list[tuple[str, str, str]]:
    """(class, direction, label) per step of a ladder SVG; direction '<-', '->' or 'note'."""
    svg = etree.fromstring(path.read_bytes())
    assert svg.tag == f"{SVG}svg"
    out = []
    for group in svg.iter(f"{SVG}g"):
        line = group.find(f"{SVG}line")
        if line is None:
            direction = "note"
        else:
            direction = "<-" if float(line.get("x1", 0)) > float(line.get("x2", 0)) else "->"
        label = group.findall(f"{SVG}text")[-1].text or ""
        out.append((str(group.get("class")), direction, label.removesuffix(" ✗")))
    return out


def allure_results(run: Path) -> dict[str, dict[str, Any]]:
    results = {}
    for path in (run / "allure-results").glob("*-result.json"):
        data = json.loads(path.read_text())
        results[data["name"]] = data
    return results


def labels(result: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for label in result["labels"]:
        out.setdefault(label["name"], []).append(label["value"])
    return out


# ----------------------------------------------------------------- per-case evidence


def test_each_case_has_its_evidence_files(failing_run: Run) -> None:
    run, _ = failing_run
    names = {p.name for p in (run / "evidence").iterdir()}
    # N/A: nothing happened, no evidence (the reason is in the acceptance report); the harness
    # error exchanged no message: no ladder, no capture; a PASS has no ladder (its .txt lists
    # its messages, its capture has them)
    assert names == {
        "test_catalog.test_host_nodes.txt", "test_catalog.test_host_nodes.pcapng",
        "test_catalog.test_imeisv.txt", "test_catalog.test_imeisv.svg",
        "test_catalog.test_imeisv.pcapng",
        "test_catalog.test_session.txt", "test_catalog.test_session.svg",
        "test_catalog.test_harness.txt",
    }


def test_case_text_refers_to_the_store_and_shows_the_deciding_message(failing_run: Run) -> None:
    run, _ = failing_run
    text = (run / "evidence" / "test_catalog.test_host_nodes.txt").read_text()
    assert "messages: 4 (#1–#4; each in full, once, in transcript.jsonl" in text
    assert "-- raw (" not in text  # a passing case copies no message body
    store = (run / "transcript.jsonl").read_text().splitlines()
    assert json.loads(store[2])["raw_text"] == "<SyncML/>"  # line 3 is message #3
    session = (run / "evidence" / "test_catalog.test_session.txt").read_text()
    assert "deciding message(s) in full:" in session
    assert "PROTOCOL ERROR: unknown option 11" in session


def test_ladder_arrows_and_the_failing_step(failing_run: Run) -> None:
    evidence = failing_run[0] / "evidence"
    lines = (evidence / "test_catalog.test_host_nodes.txt").read_text().splitlines()
    assert [line.split(" ", 2)[2] for line in lines if line.startswith("#")] == [
        "LAB NOTE [control] fake lab up",  # the lab started within this case
        "DEVICE → LAB [omadm] POST pkg1 Alert 1201 Replace",
        "LAB → DEVICE [omadm] 200 pkg2 Get ./DevDetail/Ext/HostSwV",
        "DEVICE → LAB [omadm] POST pkg3 Results 40",
    ]
    # FAIL without a protocol error: the last exchange before the failure is highlighted
    assert ladder_steps(evidence / "test_catalog.test_imeisv.svg") == [
        ("step normal", "->", "200 pkg2 Get ./DevDetail/Ext/IMEISV"),
        ("step error", "<-", "POST pkg3 Results '1'"),
        ("step note", "note", "comparing with the declaration"),
    ]
    # the message with the protocol error is the highlighted one
    assert [s[0] for s in ladder_steps(evidence / "test_catalog.test_session.svg")] == [
        "step normal", "step error", "step normal"
    ]
    assert not (evidence / "test_catalog.test_harness.svg").exists()  # no message exchanged


def test_case_txt_says_why_in_lab_words(failing_run: Run) -> None:
    text = (failing_run[0] / "evidence" / "test_catalog.test_imeisv.txt").read_text()
    assert (
        "requirement: CDR-DVM-4532 — Host device reporting in DevDetail/Ext (guide §3.3.2)" in text
    )
    assert "verdict: FAIL" in text
    assert "why: ./DevDetail/Ext/IMEISV is '1', expected two digits" in text
    assert "failing step: #" in text and "POST pkg3 Results '1'" in text
    assert "[MISMATCH] ./DevDetail/Ext/IMEISV: expected 'two digits', actual '1'" in text
    assert "[ok] credential: expected '«redacted»', actual '«redacted»'" in text
    assert "assert '1' == '«redacted»'" in text  # pytest's introspection, redacted
    session = (failing_run[0] / "evidence" / "test_catalog.test_session.txt").read_text()
    assert "verdict: INCONCLUSIVE" in session and "(unknown option 11)" in session


# ----------------------------------------------------------------- acceptance report


def test_acceptance_report_rows_verdicts_and_sha256(failing_run: Run) -> None:
    run, _ = failing_run
    report = json.loads((run / "acceptance.json").read_text())
    rows = {r["id"]: r for r in report["requirements"]}
    assert list(rows) == [r.id for r in CATALOG]
    assert rows["CDR-DVM-4532"]["verdict"] == "FAIL"
    assert rows["CDR-DVM-012"]["verdict"] == "ERROR"
    assert rows["CDR-DVM-3954"]["verdict"] == "NOT APPLICABLE"
    assert rows["CDR-DVM-440"]["verdict"] == "NOT COVERED"
    assert rows["ATT-DMIG-3.2.2"]["verdict"] == "NOT APPLICABLE"
    assert "lwm2m" in rows["ATT-DMIG-3.2.2"]["not_applicable_reason"]
    assert report["verdict"] == "FAIL" and report["complete"] is True
    assert report["lab"]["LAB_OMADM_URL"] == "http://127.0.0.1:9/dm"
    cases = {c["nodeid"].split("::")[-1]: c for r in rows.values() for c in r["cases"]}
    assert cases["test_account"]["message"] == "no factory account on this module"
    assert cases["test_account"]["evidence"] == []
    imeisv = cases["test_imeisv"]
    assert imeisv["message"] == "./DevDetail/Ext/IMEISV is '1', expected two digits"
    assert imeisv["expectations"][0] == {
        "name": "./DevDetail/Ext/IMEISV", "expected": "two digits", "actual": "1", "ok": False
    }
    kinds = {e["kind"] for e in imeisv["evidence"]}
    assert kinds == {"ladder", "case", "capture"}
    nodes = {e["kind"] for e in cases["test_host_nodes"]["evidence"]}
    assert nodes == {"case", "capture"}  # a PASS: no ladder
    for case in cases.values():
        for item in case["evidence"]:
            data = (run / item["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == item["sha256"], item["path"]


def test_acceptance_html_reads_top_down(failing_run: Run) -> None:
    page = lxml_html.fromstring((failing_run[0] / "acceptance.html").read_text())
    # first the verdict per requirement, failing and inconclusive ones first
    summary = [
        (tr.xpath("string(td[1])"), tr.xpath("string(td[3])"))
        for tr in page.xpath("//table[@class='summary']/tr[@class='summary-row']")
    ]
    assert summary[:2] == [("CDR-DVM-4532", "FAIL"), ("CDR-DVM-012", "ERROR")]
    order = [v for _, v in summary]
    assert order.index("ERROR") < order.index("NOT COVERED") < order.index("NOT APPLICABLE")
    # then each failing requirement with its deciding message inline and the ladder open
    sections = page.xpath("//section[@class='deciding']")
    assert [s.get("data-requirement") for s in sections] == ["CDR-DVM-4532", "CDR-DVM-012"]
    fail = sections[0]
    assert "POST pkg3 Results '1'" in fail.xpath("string(.//pre[@class='message'])")
    assert fail.xpath(".//a[text()='case']/@href") == ["evidence/test_catalog.test_imeisv.txt"]
    assert [d.get("open") is not None for d in page.xpath("//details[@class='ladder']")] == [
        True, True
    ]
    # the full list below, every requirement of the catalog in order
    ids = [tr.get("id") for tr in page.iter("tr") if tr.get("class") == "requirement"]
    assert ids == [r.id for r in CATALOG]
    marker_ids = [m.get("id") for m in page.iter("{*}marker", "marker")]
    assert len(marker_ids) == len(set(marker_ids))  # unique per inlined diagram


# ----------------------------------------------------------------- Allure


def test_allure_results_labels_status_link_parameters(failing_run: Run) -> None:
    results = allure_results(failing_run[0])
    assert set(results) == {
        "test_host_nodes", "test_imeisv", "test_session", "test_harness", "test_account"
    }
    imeisv = results["test_imeisv"]
    got = labels(imeisv)
    assert got["epic"] == ["OMA-DM"] and got["feature"] == ["CDR-DVM-4532"]
    assert got["story"] == ["test_imeisv"] and got["severity"] == ["normal"]
    assert labels(results["test_session"])["severity"] == ["critical"]
    assert imeisv["links"][0] == {
        "type": "requirement",
        "url": "../acceptance.html#CDR-DVM-4532",
        "name": "CDR-DVM-4532: Host device reporting in DevDetail/Ext (guide §3.3.2)",
    }
    params = {p["name"]: p["value"] for p in imeisv["parameters"]}
    assert params == {
        "device": "'reference-omadm-module'", "firmware": "'FW-1.0.0'", "protocol": "'omadm'"
    }
    status = {name: (r["status"], (r.get("statusDetails") or {}).get("message", ""))
              for name, r in results.items()}
    assert status["test_host_nodes"] == ("passed", "")
    assert status["test_imeisv"][0] == "failed"
    assert status["test_imeisv"][1].startswith("FAIL: ./DevDetail/Ext/IMEISV is '1'")
    assert status["test_harness"] == ("broken", "ERROR: KeyError: 'nonce'")
    assert status["test_session"] == ("skipped", "INCONCLUSIVE: no session within 20 s")
    assert status["test_account"] == (
        "skipped", "NOT APPLICABLE: no factory account on this module"
    )


def test_allure_steps_and_attachments(failing_run: Run) -> None:
    run = failing_run[0]
    results = allure_results(run)
    steps = results["test_imeisv"]["steps"]
    assert [s["name"] for s in steps] == [
        "#5 LAB → DEVICE [omadm] 200 pkg2 Get ./DevDetail/Ext/IMEISV",
        "#6 DEVICE → LAB [omadm] POST pkg3 Results '1'",
        "#7 LAB NOTE [omadm] comparing with the declaration",
    ]
    assert [s["status"] for s in steps] == ["passed", "failed", "passed"]
    # messages are not copied into Allure: no attachment per step
    assert not any(s.get("attachments") for r in results.values() for s in r.get("steps", []))
    attached = {a["name"]: a for a in results["test_imeisv"]["attachments"]}
    assert set(attached) - {"stdout", "stderr", "log"} == {"ladder.svg", "case.txt"}
    assert attached["ladder.svg"]["type"] == "image/svg+xml"
    svg = run / "allure-results" / attached["ladder.svg"]["source"]
    assert svg.read_bytes() == (run / "evidence/test_catalog.test_imeisv.svg").read_bytes()
    links = {link["name"]: link["url"] for link in results["test_host_nodes"]["links"]}
    assert links["capture.pcapng"] == "../evidence/test_catalog.test_host_nodes.pcapng"
    assert links["declaration (summary, no secrets)"] == "../declaration.json"
    assert (run / links["capture.pcapng"].removeprefix("../")).is_file()
    for result in results.values():
        for att in result.get("attachments", []):
            assert (run / "allure-results" / att["source"]).is_file()


def test_allure_categories_and_environment(failing_run: Run) -> None:
    results = failing_run[0] / "allure-results"
    categories = json.loads((results / "categories.json").read_text())
    assert categories == CATEGORIES
    by_status = {c["name"].split(":")[0]: c["matchedStatuses"] for c in categories}
    assert by_status == {
        "Device FAIL": ["failed"], "Harness ERROR": ["broken"], "INCONCLUSIVE": ["skipped"],
        "NOT APPLICABLE": ["skipped"],
    }
    env = read_properties(results / "environment.properties")
    assert env["device"] == "reference-omadm-module" and env["firmware"] == "FW-1.0.0"
    assert env["suite"].startswith("conformance ") and env["lab.host"]
    assert env["lab.LAB_OMADM_URL"] == "http://127.0.0.1:9/dm"


# ----------------------------------------------------------------- pytest-html, JUnit


def html_tests(page: str) -> dict[str, list[dict[str, Any]]]:
    blob = lxml_html.fromstring(page).get_element_by_id("data-container").get("data-jsonblob")
    return {k.split("::")[-1]: v for k, v in json.loads(blob)["tests"].items()}


def test_html_report_extras_link_to_the_evidence(failing_run: Run) -> None:
    run = failing_run[0]
    page = (run / "report.html").read_text()
    tests = html_tests(page)
    extras = {name: rows[0]["extras"] for name, rows in tests.items()}
    imeisv = extras["test_imeisv"]
    block = next(e["content"] for e in imeisv if e["format_type"] == "html")
    assert "<svg" not in block  # linked, not inlined
    assert "expected &#x27;two digits&#x27;, actual &#x27;1&#x27;" in block
    hrefs = lxml_html.fromstring(block).xpath("//a[@class='evidence-link']/@href")
    assert hrefs == ["evidence/test_catalog.test_imeisv.txt",
                     "evidence/test_catalog.test_imeisv.svg",
                     "evidence/test_catalog.test_imeisv.pcapng"]
    assert all((run / href).is_file() for href in hrefs)
    assert not [e for e in imeisv if e["format_type"] == "text"]  # nothing embedded
    assert "test_account" in tests and not any(
        e["format_type"] == "html" for e in extras["test_account"]
    )
    doc = lxml_html.fromstring(page)  # self-contained: nothing loaded from elsewhere
    assert not doc.xpath("//link[@rel='stylesheet'] | //script[@src]")
    assert all(src.startswith("data:") or not src for src in doc.xpath("//img/@src"))


def test_junit_requirement_properties(failing_run: Run) -> None:
    tree = ET.parse(failing_run[0] / "junit.xml")
    props = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in tree.iter("testcase")
    }
    assert {name: p["requirement"] for name, p in props.items()} == {
        "test_host_nodes": "CDR-DVM-4532", "test_imeisv": "CDR-DVM-4532",
        "test_session": "CDR-DVM-012", "test_harness": "CDR-DVM-012",
        "test_account": "CDR-DVM-3954",
    }


# ----------------------------------------------------------------- secrets


def _forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, base64.b64encode(raw), raw.hex().encode(), raw.hex().upper().encode()]


def test_no_declared_secret_in_any_file_of_the_run(
    failing_run: Run, declared_secrets: list[str]
) -> None:
    run, terminal = failing_run
    assert declared_secrets[0] in terminal  # the cases did leak it (the terminal is not a file)
    files = [p for p in run.rglob("*") if p.is_file()]
    assert len(files) > 30  # evidence, allure-results, reports…
    for path in files:
        data = path.read_bytes()
        assert not any(s in str(path) for s in declared_secrets)
        for secret in declared_secrets:
            assert not any(form in data for form in _forms(secret)), (path, secret)
        # data: URIs (pytest-html extras) hide text in base64: look inside them too
        for blob in re.findall(rb"base64,([A-Za-z0-9+/=]+)", data):
            inner = base64.b64decode(blob + b"=" * (-len(blob) % 4))
            assert not any(s.encode() in inner for s in declared_secrets), path


# ----------------------------------------------------------------- a passing run


def test_passing_run_artefacts(passing_run: Run) -> None:
    run, _ = passing_run
    report = json.loads((run / "acceptance.json").read_text())
    rows = {r["id"]: r["verdict"] for r in report["requirements"]}
    assert rows["CDR-DVM-4532"] == rows["CDR-DVM-012"] == "PASS"
    assert report["complete"] is True
    assert not list((run / "evidence").glob("*.svg"))  # ladders are for cases that did not pass
    for case in (run / "evidence").glob("*.txt"):
        text = case.read_text()
        assert "verdict: PASS" in text and "failing step" not in text
    results = allure_results(run)
    assert {r["status"] for r in results.values()} == {"passed"}
    assert (run / "allure-results" / "categories.json").is_file()
    assert "DEVICE → LAB [omadm] POST pkg1 Alert 1201" in (
        run / "evidence/test_catalog.test_session.txt").read_text()


# ----------------------------------------------------------------- interrupted runs

INTERRUPTED = """
import os, signal
import pytest

@pytest.mark.requirement("CDR-DVM-4532")
def test_first(lab):
    lab.transcript.record("omadm", "device->lab", "POST pkg1 Alert 1201")

@pytest.mark.requirement("CDR-DVM-012")
def test_killed(lab):
    os.kill(os.getpid(), signal.SIGTERM)  # what CI's timeout or `kill` does

@pytest.mark.requirement("CDR-DVM-440")
def test_never_runs(): pass
"""


@pytest.mark.usefixtures("fake_lab")
def test_sigterm_leaves_a_partial_acceptance_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_catalog=INTERRUPTED)
    result = pytester.runpytest_subprocess(
        "--dut", "builtin:omadm", "--reports", "reports", "--run-name", "r", timeout=60
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    run = pytester.path / "reports" / "r"
    report = json.loads((run / "acceptance.json").read_text())
    assert report["complete"] is False
    assert report["interrupted"] == "terminated (SIGTERM)"
    assert report["verdict"] == "INCONCLUSIVE"
    rows = {r["id"]: r for r in report["requirements"]}
    assert rows["CDR-DVM-4532"]["verdict"] == "PASS"
    assert rows["CDR-DVM-440"]["verdict"] == "NOT COVERED"
    assert "INCOMPLETE" in (run / "acceptance.html").read_text()
    assert (run / "evidence" / "test_catalog.test_first.txt").is_file()
    assert "lab-stop" in (pytester.path / "events.jsonl").read_text()


# ----------------------------------------------------------------- messages of shared fixtures

SHARED_SESSION = """
import pytest

@pytest.fixture(scope="module")
def tree(lab):
    get = lab.transcript.record("omadm", "lab->device", "200 pkg2 Get ./DMAcc/ATTProd/AAuthSecret")
    got = lab.transcript.record("omadm", "device->lab", "POST pkg3 Results 200")
    return {"get": get, "results": got}

@pytest.mark.requirement("CDR-DVM-3954")
def test_first_row(tree): pass

@pytest.mark.requirement("CDR-DVM-3954")
def test_secret_not_readable(tree, evidence):
    evidence.cite(tree["get"])
    evidence.highlight(tree["results"])
    assert False, "AAuthSecret is readable (Status 200)"
"""


@pytest.mark.usefixtures("fake_lab")
def test_a_case_cites_messages_of_a_shared_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_catalog=SHARED_SESSION)
    pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports", "--run-name", "r")
    evidence = pytester.path / "reports" / "r" / "evidence"
    # the fixture ran within the first case: its slice has the messages
    first = (evidence / "test_catalog.test_first_row.txt").read_text().splitlines()
    assert [line.split("] ", 1)[1] for line in first if line.startswith("#")] == [
        "fake lab up", "200 pkg2 Get ./DMAcc/ATTProd/AAuthSecret", "POST pkg3 Results 200"
    ]
    # the second case judged them: cited, the highlighted one in red
    assert ladder_steps(evidence / "test_catalog.test_secret_not_readable.svg") == [
        ("step normal", "->", "200 pkg2 Get ./DMAcc/ATTProd/AAuthSecret"),
        ("step error", "<-", "POST pkg3 Results 200"),
    ]


@pytest.mark.usefixtures("fake_lab")
def test_alluredir_option_sends_the_results_elsewhere(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_catalog=PASSING_CASE_FOR_ALLUREDIR)
    pytester.runpytest(
        "--dut", "builtin:omadm", "--reports", "reports", "--run-name", "r", "--alluredir", "out"
    )
    assert not (pytester.path / "reports" / "r" / "allure-results").exists()
    out = pytester.path / "out"
    assert (out / "categories.json").is_file() and (out / "environment.properties").is_file()
    (result,) = [json.loads(p.read_text()) for p in out.glob("*-result.json")]
    assert labels(result)["feature"] == ["CDR-DVM-4532"] and result["status"] == "passed"


PASSING_CASE_FOR_ALLUREDIR = """
import pytest

@pytest.mark.requirement("CDR-DVM-4532")
def test_host_nodes(lab):
    lab.transcript.record("omadm", "device->lab", "POST pkg1 Alert 1201")
"""
