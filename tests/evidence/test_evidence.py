"""Evidence artefacts: transcript redaction, ladder SVG, case files, acceptance report, compare."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from lxml import etree

from conformance.declaration import builtin_declaration
from conformance.evidence.acceptance import CaseResult, build_report, write_report
from conformance.evidence.casefiles import case_slug, write_case_evidence
from conformance.evidence.compare import compare, load_acceptance, main_compare
from conformance.evidence.ladder import SVG_NS, ladder_svg
from conformance.evidence.transcript import Transcript
from conformance.requirements import CATALOG
from conformance.verdicts import Verdict

SECRET = "s3cr3t-client-key"


def sample_transcript(tmp_path: Path) -> Transcript:
    transcript = Transcript(path=tmp_path / "transcript.jsonl")
    transcript.redactor.add(SECRET)
    transcript.record(
        "omadm",
        "device->lab",
        "POST pkg1: Alert 1201, Replace(5), Final",
        device="IMEI:357099060399038",
        raw=b"<SyncML>" + SECRET.encode() + b"</SyncML>",
        decoded=f"<SyncML>{SECRET}</SyncML>",
    )
    transcript.record("omadm", "lab->device", "200 pkg2: Status(2), Get(1)", raw=b"<SyncML/>")
    transcript.note("omadm", "waiting for the device's answer")
    transcript.record(
        "omadm", "device->lab", "POST pkg3: Status(2), Results(1)", error="Status 500 for Get"
    )
    return transcript


def test_transcript_redacts_before_storing_and_on_disk(tmp_path: Path) -> None:
    transcript = sample_transcript(tmp_path)
    first = next(iter(transcript))
    assert SECRET not in first.decoded
    assert SECRET.encode() not in first.raw
    assert len(first.raw) == len(b"<SyncML>" + SECRET.encode() + b"</SyncML>")  # same offsets
    transcript.close()
    assert SECRET not in (tmp_path / "transcript.jsonl").read_text()
    assert SECRET.encode().hex() not in (tmp_path / "transcript.jsonl").read_text()


def test_ladder_has_one_arrow_per_message_and_highlights_the_failure(tmp_path: Path) -> None:
    entries = list(sample_transcript(tmp_path))
    svg = etree.fromstring(ladder_svg(entries, title="case").encode())
    steps = svg.findall(f".//{{{SVG_NS}}}g")
    assert [s.get("data-seq") for s in steps] == ["1", "2", "3", "4"]
    arrows = [s for s in steps if s.find(f"{{{SVG_NS}}}line") is not None]
    assert len(arrows) == 3  # the note is a box, not an arrow
    labels = [s.findall(f"{{{SVG_NS}}}text")[-1].text for s in steps]
    assert labels[0] == "POST pkg1: Alert 1201, Replace(5), Final"
    classes = [s.get("class") for s in steps]
    assert classes == ["step normal", "step normal", "step note", "step error"]
    # device->lab arrows point left (towards the lab lane)
    line = arrows[0].find(f"{{{SVG_NS}}}line")
    assert line is not None and float(line.get("x1", 0)) > float(line.get("x2", 0))


def test_ladder_escapes_labels() -> None:
    transcript = Transcript()
    transcript.record("lwm2m", "device->lab", "CON POST /rd?ep=<script>&lt=60")
    svg = ladder_svg(list(transcript))
    assert "<script>" not in svg
    etree.fromstring(svg.encode())  # still well-formed


def test_case_files_sha256_and_no_secret(tmp_path: Path) -> None:
    entries = list(sample_transcript(tmp_path))
    errors = [e.seq for e in entries if e.error]
    files = write_case_evidence(tmp_path / "case", entries, title="t", highlight=errors)
    assert {f.kind for f in files} == {"case", "ladder"}
    for f in files:
        assert hashlib.sha256(f.path.read_bytes()).hexdigest() == f.sha256
        assert SECRET not in f.path.read_text()
    text = (tmp_path / "case" / "case.txt").read_text()
    assert "PROTOCOL ERROR: Status 500 for Get" in text  # the deciding message, in full
    assert "-- decoded --" not in text  # #1 (not deciding) is one line, not a copy


def test_case_slug_is_safe_and_bounded() -> None:
    assert case_slug("testcases/omadm/test_x.py::test_a[./DevDetail/Ext]") == (
        "test_x.test_a_._DevDetail_Ext"
    )
    assert len(case_slug("t.py::" + "x" * 400)) <= 120


def _report(tmp_path: Path, verdicts: dict[str, Verdict]) -> dict[str, object]:
    dut = builtin_declaration("omadm")
    cases = [
        CaseResult(f"t.py::{req}", req, v, message=f"{req} {v.value}")
        for req, v in verdicts.items()
    ]
    return build_report(cases, declaration=dut, run_dir=tmp_path, started=0.0, finished=1.0)


def test_acceptance_lists_every_requirement(tmp_path: Path) -> None:
    report = _report(tmp_path, {"CDR-DVM-4532": Verdict.PASS, "CDR-DVM-012": Verdict.FAIL})
    rows = {r["id"]: r for r in report["requirements"]}  # type: ignore[union-attr,index]
    assert set(rows) == {r.id for r in CATALOG}
    assert rows["CDR-DVM-4532"]["verdict"] == "PASS"
    assert rows["CDR-DVM-012"]["verdict"] == "FAIL"
    assert rows["CDR-DVM-440"]["verdict"] == "NOT COVERED"
    assert rows["ATT-DMIG-3.2.2"]["verdict"] == "NOT APPLICABLE"
    assert "lwm2m" in rows["ATT-DMIG-3.2.2"]["not_applicable_reason"]
    assert report["verdict"] == "FAIL"


def test_acceptance_overall_inconclusive_when_something_is_not_covered(tmp_path: Path) -> None:
    report = _report(tmp_path, {"CDR-DVM-4532": Verdict.PASS})
    assert report["verdict"] == "INCONCLUSIVE"


def test_acceptance_files_and_html(tmp_path: Path) -> None:
    report = _report(tmp_path, {"CDR-DVM-4532": Verdict.PASS})
    json_path, html_path = write_report(report, tmp_path)
    assert json.loads(json_path.read_text())["device"]["IMEI"] == "357099060399038"
    page = etree.HTML(html_path.read_text())
    ids = [tr.get("id") for tr in page.iter("tr") if tr.get("class") == "requirement"]
    assert ids == [r.id for r in CATALOG]
    assert "ref-client-secret" not in html_path.read_text()


def test_compare_flags_pass_to_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    write_report(
        _report(old_dir, {"CDR-DVM-4532": Verdict.PASS, "CDR-DVM-012": Verdict.PASS}), old_dir
    )
    write_report(
        _report(new_dir, {"CDR-DVM-4532": Verdict.FAIL, "CDR-DVM-012": Verdict.PASS}), new_dir
    )
    changes = compare(load_acceptance(old_dir), load_acceptance(new_dir))
    assert [(c.requirement, c.regression) for c in changes] == [("CDR-DVM-4532", True)]
    assert main_compare(old_dir, new_dir) == 1
    assert main_compare(old_dir, old_dir) == 0
    assert "REGRESSION CDR-DVM-4532: PASS -> FAIL" in capsys.readouterr().out
