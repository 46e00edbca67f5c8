"""At the end of each case: its evidence files, its pytest-html extras and its Allure result.

``<run>/evidence/`` gets, per case, ``<case>.txt`` (verdict, why, the values compared, the
failure text, its messages by reference to ``transcript.jsonl`` and the deciding ones in
full), ``<case>.svg`` (the ladder diagram, failing step in red) and ``<case>.pcapng`` (its
packets, cut from the run's ``capture.pcapng``; ``<case>.decrypted.pcapng`` for DTLS).
report.html and Allure link to these files instead of copying them (see :mod:`.allure_case`).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest

from conformance.evidence.casefiles import (
    EvidenceFile,
    case_slug,
    case_text,
    failing_steps,
    format_entry,
    sha256_of,
    write_case_evidence,
)
from conformance.evidence.transcript import Entry
from conformance.plugin import allure_case
from conformance.plugin.state import CaseState, ConformanceRun
from conformance.requirements import BY_ID
from conformance.verdicts import Verdict

EVIDENCE_DIR = "evidence"
MAX_DECIDING = 16_000  # characters of one deciding message shown inline in the reports
FAILED = (Verdict.FAIL, Verdict.ERROR)


def case_entries(run: ConformanceRun, state: CaseState) -> list[Entry]:
    """The messages recorded while the case ran, plus the earlier ones it cited, in order."""
    if run.lab is None:
        return []
    own: list[Entry] = []
    if state.transcript_range is not None:
        first, last = state.transcript_range
        own = list(run.lab.transcript.since(first - 1))[: last - first + 1]
    seqs = {e.seq for e in own}
    cited = sorted(state.cited - seqs)
    if not cited:
        return own
    wanted = set(cited)  # not the case's own messages again
    earlier = [e for e in run.lab.transcript.since(cited[0] - 1) if e.seq in wanted]
    return sorted([*own, *earlier], key=lambda e: e.seq)


def record_case_evidence(
    item: pytest.Item, report: pytest.TestReport, state: CaseState, run: ConformanceRun
) -> None:
    """Write the case's evidence (not for NOT APPLICABLE: nothing happened) and show it."""
    if state.verdict is Verdict.NOT_APPLICABLE:
        allure_case.annotate(item, state, run, [], [])
    if run.run_folder is None or state.verdict is None or state.verdict is Verdict.NOT_APPLICABLE:
        return
    entries = case_entries(run, state)
    state.highlight |= set(failing_steps(entries, state.verdict in FAILED))
    highlight = sorted(state.highlight)
    folder = run.run_folder.path / EVIDENCE_DIR
    slug = case_slug(item.nodeid)
    req = state.requirement or ""
    title = f"{req} {item.name}".strip()
    marked = [e for e in entries if e.seq in set(highlight)]
    text = case_text(
        nodeid=item.nodeid,
        requirement=_requirement_line(req),
        verdict=state.verdict.value,
        message=state.message,
        expectations=state.expectations,
        steps=marked,
        detail=state.detail,
    )
    files = write_case_evidence(
        folder, entries, title=title, summary=text, device=run.declaration.device.name,
        highlight=highlight, slug=slug,
        # the diagram is drawn where it decides something; a PASS has its .txt and capture
        ladder=state.verdict is not Verdict.PASS,
    )
    files += _case_captures(run, state, folder / slug)
    state.evidence = files
    if state.verdict is not Verdict.PASS:
        state.deciding = [format_entry(e)[:MAX_DECIDING] for e in marked]
    _html_extras(report, item, state, files)
    allure_case.annotate(item, state, run, entries, files)


def _case_captures(run: ConformanceRun, state: CaseState, stem: Path) -> list[EvidenceFile]:
    """The case's packets, cut from the run's capture files (a lab without them: none)."""
    capture = getattr(run.lab, "capture", None)
    if capture is None:
        return []
    start = state.capture_start or capture.start()
    kinds = {".pcapng": "capture", ".decrypted.pcapng": "capture-decrypted"}
    out = []
    for path in capture.write_case(start, stem):
        kind = kinds[path.name.removeprefix(stem.name)]
        out.append(EvidenceFile(path, sha256_of(path), kind))
    return out


def _requirement_line(req: str) -> str:
    if req not in BY_ID:
        return req
    r = BY_ID[req]
    return f"{req} — {r.title} (guide §{r.section})"


def _html_extras(
    report: pytest.TestReport, item: pytest.Item, state: CaseState, files: list[EvidenceFile]
) -> None:
    """pytest-html 4 extras (plain dicts, so pytest-html need not be importable here): the
    verdict and values compared inline, links to the case's files (report.html sits in the
    run folder, next to ``evidence/``)."""
    esc = html.escape
    verdict = state.verdict.value if state.verdict else ""
    rows = "".join(
        f"<li class='{'ok' if x.ok else 'mismatch'}' style='color:{'#222' if x.ok else '#c62828'}'>"
        f"{esc(x.name)}: expected "
        f"{esc(repr(x.expected))}, actual {esc(repr(x.actual))}</li>"
        for x in state.expectations
    )
    links = " ".join(
        f"<a class='evidence-link' href='{esc(_relative(f))}'>{esc(LINK_NAMES[f.kind])}</a>"
        for f in files
        if f.kind in LINK_NAMES
    )
    block = (
        f"<div class='conformance-evidence' data-case='{esc(item.nodeid)}'>"
        f"<p><b>{esc(verdict)}</b> {esc(state.message)}</p>"
        + (f"<ul class='expectations'>{rows}</ul>" if rows else "")
        + (f"<p class='evidence'>{links}</p>" if links else "")
        + "</div>"
    )
    extras = list(getattr(report, "extras", []))
    extras.append(_extra(block, "html"))
    report.extras = extras  # type: ignore[attr-defined]


LINK_NAMES = {
    "case": "case + messages (.txt)",
    "ladder": "ladder diagram (.svg)",
    "capture": "capture (.pcapng)",
    "capture-decrypted": "decrypted DTLS (.pcapng)",
}


def _relative(f: EvidenceFile) -> str:
    return f"{EVIDENCE_DIR}/{f.path.name}"


def _extra(
    content: str, format_type: str, name: str | None = None, mime: str | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "format_type": format_type,
        "content": content,
        "mime_type": mime,
        "extension": "txt" if format_type == "text" else None,
    }
