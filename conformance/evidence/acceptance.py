"""The acceptance report: requirement → verdict → cases → evidence, for a lab to sign.

Every requirement of the catalog gets a row, including the ones no case covers ("NOT
COVERED") and the ones the declaration makes not applicable (with the claimed exception as the
reason). Written as ``acceptance.json`` (for tools and ``conformance compare``) and
``acceptance.html`` (self-contained, for people). A run that was interrupted is written with
``"complete": false`` so a partial report is never mistaken for a full one.
"""

from __future__ import annotations

import html
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import conformance
from conformance.declaration import Declaration
from conformance.evidence import hostidentity, pdfprint
from conformance.evidence.casefiles import EvidenceFile, Expectation
from conformance.evidence.ladder import inline_svg
from conformance.requirements import CATALOG, Requirement
from conformance.verdicts import Verdict

log = logging.getLogger(__name__)
NOT_COVERED = "NOT COVERED"
# The worst verdict among a requirement's cases decides it.
_SEVERITY = [
    Verdict.FAIL,
    Verdict.ERROR,
    Verdict.INCONCLUSIVE,
    Verdict.PASS,
    Verdict.NOT_APPLICABLE,
]


@dataclass
class CaseResult:
    nodeid: str
    requirement: str | None
    verdict: Verdict
    message: str = ""
    duration: float = 0.0
    evidence: list[EvidenceFile] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)
    deciding: list[str] = field(default_factory=list)  # the deciding messages, as text


def requirement_verdict(verdicts: Iterable[Verdict]) -> str:
    seen = set(verdicts)
    for verdict in _SEVERITY:
        if verdict in seen:
            return verdict.value
    return NOT_COVERED


def _applicability(req: Requirement, dut: Declaration) -> str | None:
    """Why ``req`` does not apply to ``dut`` (None when it applies)."""
    claim = dut.exception_for(req.id)
    if claim is not None:
        return f"exception claimed ({claim.exception}): {claim.reason}"
    if req.protocol == "csv":
        if dut.features.host_identity_reporting and not dut.csv.files:
            return "the device reports host identity (ODIS/DHIR); no CSV file declared"
        return None
    if req.protocol != dut.protocol:
        return f"the device's DM client is {dut.protocol}, this requirement is for {req.protocol}"
    if req.fota and not dut.features.fota:
        return "FOTA is not declared (optional for new modules, guide §1.5)"
    return None


def suite_version() -> str:
    """The suite's version (from the installed metadata when the package is imported oddly)."""
    version = getattr(conformance, "__version__", None)
    if version:
        return str(version)
    try:
        return metadata.version("conformance")
    except metadata.PackageNotFoundError:
        return "unknown"


def suite_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def build_report(
    cases: Sequence[CaseResult],
    *,
    declaration: Declaration,
    run_dir: Path,
    started: float,
    finished: float,
    lab: dict[str, str] | None = None,
    complete: bool = True,
) -> dict[str, Any]:
    rows = []
    overall_verdicts: list[str] = []
    for req in CATALOG:
        mine = [c for c in cases if c.requirement == req.id]
        reason = _applicability(req, declaration)
        if mine:
            verdict = requirement_verdict(c.verdict for c in mine)
        elif reason:
            verdict = Verdict.NOT_APPLICABLE.value
        else:
            verdict = NOT_COVERED
        if reason is None:
            overall_verdicts.append(verdict)
        rows.append(
            {
                "id": req.id,
                "title": req.title,
                "section": req.section,
                "protocol": req.protocol,
                "verdict": verdict,
                "not_applicable_reason": reason,
                "cases": [
                    {
                        "nodeid": c.nodeid,
                        "verdict": c.verdict.value,
                        "message": c.message,
                        "duration": round(c.duration, 3),
                        "evidence": [e.to_json(run_dir) for e in c.evidence],
                        "expectations": [x.to_json() for x in c.expectations],
                        "deciding": list(c.deciding),
                    }
                    for c in mine
                ],
            }
        )
    unmapped = [c.nodeid for c in cases if c.requirement is None]
    return {
        "suite": {
            "name": "conformance",
            "version": suite_version(),
            "commit": suite_commit(),
        },
        "device": declaration.summary(),
        "lab": lab or {},
        "started": _iso(started),
        "finished": _iso(finished),
        "complete": complete,
        "verdict": overall(overall_verdicts, complete),
        "counts": {v.value: sum(c.verdict is v for c in cases) for v in Verdict},
        "requirements": rows,
        "cases_without_requirement": unmapped,
    }


def overall(verdicts: list[str], complete: bool) -> str:
    if Verdict.FAIL.value in verdicts:
        return Verdict.FAIL.value
    if Verdict.ERROR.value in verdicts:
        return Verdict.ERROR.value
    if not complete or any(v in (Verdict.INCONCLUSIVE.value, NOT_COVERED) for v in verdicts):
        return Verdict.INCONCLUSIVE.value
    if Verdict.PASS.value in verdicts:
        return Verdict.PASS.value
    return Verdict.NOT_APPLICABLE.value


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def write_report(report: dict[str, Any], run_dir: Path) -> tuple[Path, Path]:
    run_dir.mkdir(parents=True, exist_ok=True)
    json_path = run_dir / "acceptance.json"
    json_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    html_path = run_dir / "acceptance.html"
    html_path.write_text(render_html(report, run_dir), encoding="utf-8")
    if os.environ.get(PDF_ENV, "1") != "0":
        write_pdf(html_path, run_dir / "acceptance.pdf")
    return json_path, html_path


PDF_ENV = "CONFORMANCE_PDF"  # "0": no acceptance.pdf (the project's tests set it)
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update",
)
# A browser with a window (not a command) preloads the omnibox popup's page: ~0.3 s of CPU.
WARM_FLAGS = ("--disable-features=WebUIOmniboxPopup",)
# A print option of the --print-to-pdf command; given to a warm browser, it would make that
# browser run as a command and close its pages (the warm one asks for no header per print).
NO_HEADER = "--no-pdf-header-footer"


def write_pdf(html_path: Path, pdf_path: Path, timeout: float = 120) -> bool:
    """Print the page to PDF with headless Chromium (False when there is no Chromium): the
    process's warm browser when ``prestart_pdf`` started one, else a new one."""
    if pdfprint.print_warm(html_path, pdf_path, timeout):
        return True
    exe = chromium()
    if exe is None:
        log.warning("acceptance.pdf not written: no chromium (scripts/install-report-tools.sh)")
        return False
    with tempfile.TemporaryDirectory(prefix="conformance-pdf-") as profile:
        done = subprocess.run(
            [exe, *CHROMIUM_FLAGS, NO_HEADER, f"--user-data-dir={profile}",
             f"--print-to-pdf={pdf_path}", html_path.resolve().as_uri()],
            capture_output=True, timeout=timeout, check=False,
        )
    if done.returncode != 0 or not pdf_path.is_file():
        log.warning("acceptance.pdf not written: chromium exit status %s", done.returncode)
        return False
    return True


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def prestart_pdf(shared: bool = False) -> None:
    """Start the browser that will print this process's acceptance.pdf, if one will be
    printed: before the run's end, so that the end does not wait for it (pdfprint.py).
    ``shared``: it prints the PDF of every device of ``conformance run``."""
    if os.environ.get(PDF_ENV, "1") == "0":
        return
    exe = chromium()
    if exe is not None:
        pdfprint.prestart(exe, (*CHROMIUM_FLAGS, *WARM_FLAGS), shared=shared)


def write_pdf_of(run_dir: Path) -> bool:
    """The run folder's acceptance.pdf from its acceptance.html, when PDFs are wanted and the
    run wrote its page (a run that broke before its reports did not): for a run whose PDF
    ``conformance run`` prints."""
    html_path = run_dir / "acceptance.html"
    if os.environ.get(PDF_ENV, "1") == "0" or not html_path.is_file():
        return False
    return write_pdf(html_path, run_dir / "acceptance.pdf")


_CSS = """
body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;width:100%}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0}.PASS{color:#1b5e20;font-weight:bold}.FAIL{color:#c62828;font-weight:bold}
.ERROR{color:#6a1b9a;font-weight:bold}.INCONCLUSIVE{color:#e65100;font-weight:bold}
.NOT_APPLICABLE,.NOT_COVERED{color:#555}.case td{font-size:90%;background:#fafafa}
pre{white-space:pre-wrap;margin:0}
.incomplete{background:#fff3e0;padding:8px;border:1px solid #e65100}
table.facts{width:auto;font-size:90%}table.facts th,table.facts td{padding:2px 8px}
details.ladder{margin-top:4px}details.ladder svg{max-width:100%;height:auto;background:#fff}
.mismatch{color:#c62828}table.summary{width:auto}section.deciding{border-left:4px solid #c62828;
padding-left:1em;margin:1em 0}pre.message{background:#f6f6f6;border:1px solid #ddd;padding:4px;
font-size:85%;max-height:30em;overflow:auto}.counts{color:#555;font-size:90%}
@media print{pre.message{max-height:none;overflow:visible}}
"""


def _cls(verdict: str) -> str:
    return verdict.replace(" ", "_")


def _ladder(case: dict[str, Any], run_dir: Path | None, index: int, prefix: str = "case") -> str:
    """The case's ladder diagram inlined (open when the case did not pass)."""
    path = next((e["path"] for e in case["evidence"] if e["kind"] == "ladder"), None)
    if run_dir is None or path is None or not (run_dir / path).is_file():
        return ""
    svg = inline_svg((run_dir / path).read_text(encoding="utf-8"), f"{prefix}{index}")
    opened = "" if case["verdict"] == Verdict.PASS.value else " open"
    return f"<details class='ladder'{opened}><summary>ladder diagram</summary>{svg}</details>"


def _expectations(case: dict[str, Any]) -> str:
    esc = html.escape
    rows = [
        f"<li class='{'ok' if x['ok'] else 'mismatch'}'>{esc(x['name'])}: expected "
        f"{esc(repr(x['expected']))}, actual {esc(repr(x['actual']))}</li>"
        for x in case.get("expectations", [])
    ]
    return f"<ul class='expectations'>{''.join(rows)}</ul>" if rows else ""


# Top-down: the requirements that did not pass first, then the ones that did.
_ORDER = [Verdict.FAIL.value, Verdict.ERROR.value, Verdict.INCONCLUSIVE.value, NOT_COVERED,
          Verdict.PASS.value, Verdict.NOT_APPLICABLE.value]
_DECIDING = (Verdict.FAIL.value, Verdict.ERROR.value, Verdict.INCONCLUSIVE.value)


def _links(case: dict[str, Any]) -> str:
    esc = html.escape
    return " ".join(
        f"<a href='{esc(e['path'])}' title='sha256 {esc(e['sha256'])}'>{esc(e['kind'])}</a>"
        for e in case["evidence"]
    )


def _summary_table(report: dict[str, Any]) -> list[str]:
    """One row per requirement, the ones that did not pass first, each linked to its details."""
    esc = html.escape
    rows = sorted(report["requirements"], key=lambda r: _ORDER.index(r["verdict"]))
    out = ["<h2>Verdict per requirement</h2><table class='summary'>",
           "<tr><th>Requirement</th><th>Title</th><th>Verdict</th><th>Cases</th></tr>"]
    for row in rows:
        v = row["verdict"]
        cases = row["cases"]
        passed = sum(c["verdict"] == Verdict.PASS.value for c in cases)
        judged = sum(c["verdict"] != Verdict.NOT_APPLICABLE.value for c in cases)
        count = f"{passed}/{judged} passed" if judged else ""
        out.append(
            f"<tr class='summary-row'><td><a href='#{esc(row['id'])}'>{esc(row['id'])}</a></td>"
            f"<td>{esc(row['title'])}</td><td class='{_cls(v)}'>{esc(v)}</td>"
            f"<td>{esc(count)}</td></tr>"
        )
    out.append("</table>")
    return out


def _deciding_section(report: dict[str, Any], run_dir: Path | None) -> list[str]:
    """Each failing/inconclusive requirement with its deciding cases and messages inline."""
    esc = html.escape
    bad = [r for r in report["requirements"] if r["verdict"] in _DECIDING]
    if not bad:
        return []
    out = ["<h2>Failing and inconclusive requirements</h2>"]
    bad.sort(key=lambda r: _ORDER.index(r["verdict"]))
    n = 0
    for row in bad:
        out.append(
            f"<section class='deciding' data-requirement='{esc(row['id'])}'>"
            f"<h3><span class='{_cls(row['verdict'])}'>{esc(row['verdict'])}</span> "
            f"{esc(row['id'])} — {esc(row['title'])} (guide §{esc(row['section'])})</h3>"
        )
        for case in row["cases"]:
            if case["verdict"] not in _DECIDING:
                continue
            n += 1
            messages = "".join(
                f"<pre class='message'>{esc(text)}</pre>" for text in case.get("deciding", [])
            )
            out.append(
                f"<div class='case'><p><span class='{_cls(case['verdict'])}'>"
                f"{esc(case['verdict'])}</span> <code>{esc(case['nodeid'])}</code></p>"
                f"<pre>{esc(case['message'])}</pre>{_expectations(case)}"
                + (f"<p>Deciding message(s):</p>{messages}" if messages else "")
                + f"<p class='links'>{_links(case)}</p>{_ladder(case, run_dir, n, 'd')}</div>"
            )
        out.append("</section>")
    return out


def render_html(report: dict[str, Any], run_dir: Path | None = None) -> str:
    """The report as one HTML page, top-down: the verdict per requirement, the failing and
    inconclusive ones with their deciding messages and ladder diagrams, then every case."""
    esc = html.escape
    device = report["device"]
    out = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Acceptance report — {esc(device.get('device', ''))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Acceptance report — {esc(device.get('device', ''))}</h1>",
    ]
    if not report["complete"]:
        out.append("<p class='incomplete'>This run was interrupted: the report is INCOMPLETE.</p>")
    verdict = report["verdict"]
    counts = ", ".join(f"{n} {esc(v)}" for v, n in report.get("counts", {}).items() if n)
    out.append(f"<p class='overall'>Overall verdict: <span class='{_cls(verdict)}'>"
               f"{esc(verdict)}</span> <span class='counts'>({counts})</span></p>")
    suite = report["suite"]
    facts = {
        **device,
        "suite": f"{suite['name']} {suite['version']} ({suite['commit']})",
        "started": report["started"],
        "finished": report["finished"],
        "complete": "yes" if report["complete"] else "NO (interrupted)",
        **{f"lab {k}": v for k, v in report.get("lab", {}).items()},
    }
    out.extend(_summary_table(report))
    out.extend(_deciding_section(report, run_dir))
    out.append("<h2>Run</h2><table class='facts'>")
    out.extend(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in facts.items())
    out.append("</table><p>Every message of the run: <a href='transcript.jsonl'>"
               "transcript.jsonl</a> (JSON lines, line N is message #N); as packets: "
               "<a href='capture.pcapng'>capture.pcapng</a> (Wireshark).</p>")
    out.append("<h2>All requirements and cases</h2><table class='requirements'>")
    out.append(
        "<tr><th>Requirement</th><th>Title</th><th>§</th><th>Verdict</th><th>Notes</th></tr>"
    )
    for row in report["requirements"]:
        v = row["verdict"]
        note = row["not_applicable_reason"] or ""
        out.append(
            f"<tr class='requirement' id='{esc(row['id'])}'><td>{esc(row['id'])}</td>"
            f"<td>{esc(row['title'])}</td><td>{esc(row['section'])}</td>"
            f"<td class='{_cls(v)}'>{esc(v)}</td><td>{esc(note)}</td></tr>"
        )
        for case in row["cases"]:
            out.append(
                f"<tr class='case'><td></td><td colspan='2'>{esc(case['nodeid'])}</td>"
                f"<td class='{_cls(case['verdict'])}'>{esc(case['verdict'])}</td>"
                f"<td><pre>{esc(case['message'])}</pre>{_expectations(case)}"
                f"{_links(case)}</td></tr>"
            )
    out.append("</table>")
    out.append(hostidentity.render_html(report.get("host_identity")))  # issue 20's view
    out.append("</body></html>")
    return "\n".join(out)
