"""The evidence helpers the plugin uses: failing steps, case.txt, inlined ladders, the secret
sweep, Allure metadata and `conformance report`."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pytest
from lxml import etree

from conformance.declaration import builtin_declaration
from conformance.evidence import allure_report
from conformance.evidence.acceptance import CaseResult, build_report, write_report
from conformance.evidence.casefiles import (
    Expectation,
    case_text,
    failing_steps,
    write_case_evidence,
)
from conformance.evidence.ladder import inline_svg, ladder_svg
from conformance.evidence.redact import MASK_TEXT
from conformance.evidence.sweep import scrub_folder, secret_forms
from conformance.evidence.transcript import Transcript
from conformance.verdicts import Verdict

SECRET = "s3cr3t&<key>"


def transcript(with_error: bool = False) -> Transcript:
    t = Transcript()
    t.record("omadm", "device->lab", "POST pkg1 Alert 1201")
    t.record("omadm", "lab->device", "200 pkg2 Get ./DevDetail/Ext/IMEISV",
             error="bad Get" if with_error else None)
    t.note("omadm", "waiting")
    return t


def test_failing_steps() -> None:
    plain = list(transcript())
    assert failing_steps(plain, failed=False) == []
    assert failing_steps(plain, failed=True) == [2]  # the last message, not the note
    assert failing_steps(list(transcript(with_error=True)), failed=False) == [2]
    assert failing_steps([], failed=True) == []
    only_note = Transcript()
    only_note.note("control", "sideload requested")
    assert failing_steps(list(only_note), failed=True) == [1]


def test_case_text() -> None:
    entries = list(transcript(with_error=True))
    text = case_text(
        nodeid="t.py::test_x", requirement="CDR-DVM-4532", verdict="FAIL", message="IMEISV bad",
        expectations=[Expectation("IMEISV", "07", "1", False)], steps=[entries[1]],
        detail="E  assert '1' == '07'",
    )
    assert text.splitlines()[:5] == [
        "t.py::test_x", "requirement: CDR-DVM-4532", "verdict: FAIL", "why: IMEISV bad",
        "failing step: #2 200 pkg2 Get ./DevDetail/Ext/IMEISV (bad Get)",
    ]
    assert "  [MISMATCH] IMEISV: expected '07', actual '1'" in text
    assert text.endswith("detail:\n  E  assert '1' == '07'\n")


def test_inline_svg_prefixes_marker_ids() -> None:
    svg = ladder_svg(list(transcript()))
    one, two = inline_svg(svg, "case 1"), inline_svg(svg, "case2")
    ids = [m.get("id") for s in (one, two)
           for m in etree.fromstring(s.encode()).iter("{*}marker")]
    assert len(ids) == len(set(ids)) == 6 and ids[0] == "case-1-arrow-normal"
    assert 'marker-end="url(#case-1-arrow-' in one and "url(#arrow-" not in one


def test_acceptance_html_inlines_ladders_and_shows_sha256(tmp_path: Path) -> None:
    files = write_case_evidence(tmp_path / "evidence" / "c", list(transcript()), title="c")
    case = CaseResult("t.py::c", "CDR-DVM-4532", Verdict.FAIL, "bad", evidence=files,
                      expectations=[Expectation("IMEISV", "07", "1", False)])
    report = build_report([case], declaration=builtin_declaration("omadm"), run_dir=tmp_path,
                          started=0.0, finished=1.0, complete=False)
    _, page_path = write_report(report, tmp_path)
    page = page_path.read_text()
    assert "INCOMPLETE" in page and "<details class='ladder' open>" in page
    assert f"title='sha256 {files[0].sha256}'" in page
    assert "expected &#x27;07&#x27;, actual &#x27;1&#x27;" in page
    saved = json.loads((tmp_path / "acceptance.json").read_text())
    row = next(r for r in saved["requirements"] if r["id"] == "CDR-DVM-4532")
    assert row["cases"][0]["expectations"] == [
        {"name": "IMEISV", "expected": "07", "actual": "1", "ok": False}
    ]


def test_scrub_folder_masks_every_encoding(tmp_path: Path) -> None:
    raw = SECRET.encode()
    (tmp_path / "sub").mkdir()
    (tmp_path / "plain.txt").write_text(f"key={SECRET}")
    (tmp_path / "page.html").write_text(f"<td>{html.escape(SECRET)}</td>")
    (tmp_path / "data.json").write_text(json.dumps({"k": SECRET + '"'}))
    (tmp_path / "sub" / "b64.txt").write_text(base64.b64encode(raw).decode())
    (tmp_path / "hex.txt").write_text(raw.hex().upper())
    (tmp_path / "clean.txt").write_text("nothing here")
    binary = b"\x89PNG\xff\xfe" + raw + b"\x00"
    (tmp_path / "image.bin").write_bytes(binary)
    changed = scrub_folder(tmp_path, [SECRET, "ab"])  # "ab": too short to mask
    assert {p.name for p in changed} == {
        "plain.txt", "page.html", "data.json", "b64.txt", "hex.txt", "image.bin"
    }
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(form.encode() in data for form in secret_forms([SECRET])), path
    assert (tmp_path / "plain.txt").read_text() == f"key={MASK_TEXT}"
    assert json.loads((tmp_path / "data.json").read_text()) == {"k": MASK_TEXT + '"'}
    assert len((tmp_path / "image.bin").read_bytes()) == len(binary)  # offsets kept
    assert scrub_folder(tmp_path, []) == []


def test_allure_metadata_files(tmp_path: Path) -> None:
    env = {"device": "ACME Module=1", "lab.url": "coaps://[::1]:5684", "note": "ü\\x"}
    paths = allure_report.write_allure_metadata(tmp_path / "results", env)
    assert [p.name for p in paths] == ["environment.properties", "categories.json"]
    assert allure_report.read_properties(paths[0]) == env
    assert "device=ACME Module\\=1" not in paths[0].read_text()  # only keys need escaping
    assert json.loads(paths[1].read_text())[0]["matchedStatuses"] == ["failed"]


def test_report_without_the_allure_cli_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "reports" / "r1"
    (run / "allure-results").mkdir(parents=True)
    (tmp_path / "reports" / "latest").symlink_to("r1")
    monkeypatch.setattr(allure_report, "allure_command", lambda: None)
    assert allure_report.main_report(None, reports=tmp_path / "reports") == 1
    err = capsys.readouterr().err
    assert "scripts/install-report-tools.sh" in err and str(run / "allure-results") in err
    assert allure_report.main_report(str(tmp_path / "nowhere")) == 1
    assert "no Allure results" in capsys.readouterr().err
    assert allure_report.main_report(None, reports=tmp_path / "empty") == 1
    assert "latest" in capsys.readouterr().err
