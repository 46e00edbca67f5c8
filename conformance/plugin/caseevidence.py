"""At the end of each case: its evidence folder, its pytest-html extras and its Allure result.

``<run>/evidence/<case slug>/`` gets ``transcript.txt``, ``transcript.json``, ``ladder.svg``
(failing step in red) and ``case.txt`` (verdict, why, the values compared, the failure text).
The same evidence goes into report.html as extras and into Allure (see :mod:`.allure_case`).
"""

from __future__ import annotations

import html
from typing import Any

import pytest

from conformance.evidence.casefiles import (
    EvidenceFile,
    case_slug,
    case_text,
    failing_steps,
    write_case_evidence,
    write_case_summary,
)
from conformance.evidence.ladder import inline_svg
from conformance.evidence.transcript import Entry
from conformance.plugin import allure_case
from conformance.plugin.state import CaseState, ConformanceRun
from conformance.requirements import BY_ID
from conformance.verdicts import Verdict

EVIDENCE_DIR = "evidence"
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
    folder = run.run_folder.path / EVIDENCE_DIR / case_slug(item.nodeid)
    req = state.requirement or ""
    title = f"{req} {item.name}".strip()
    files = write_case_evidence(
        folder, entries, title=title, device=run.declaration.device.name, highlight=highlight
    )
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
    files.append(write_case_summary(folder, text))
    state.evidence = files
    _html_extras(report, item, state, files, text, entries)
    allure_case.annotate(item, state, run, entries, files)


def _requirement_line(req: str) -> str:
    if req not in BY_ID:
        return req
    r = BY_ID[req]
    return f"{req} — {r.title} (guide §{r.section})"


def _read(files: list[EvidenceFile], kind: str) -> str:
    path = next((f.path for f in files if f.kind == kind), None)
    return path.read_text(encoding="utf-8") if path is not None else ""


def _html_extras(
    report: pytest.TestReport,
    item: pytest.Item,
    state: CaseState,
    files: list[EvidenceFile],
    case_txt: str,
    entries: list[Entry],
) -> None:
    """pytest-html 4 extras (plain dicts, so pytest-html need not be importable here)."""
    esc = html.escape
    verdict = state.verdict.value if state.verdict else ""
    rows = "".join(
        f"<li class='{'ok' if x.ok else 'mismatch'}' style='color:{'#222' if x.ok else '#c62828'}'>"
        f"{esc(x.name)}: expected "
        f"{esc(repr(x.expected))}, actual {esc(repr(x.actual))}</li>"
        for x in state.expectations
    )
    svg = (
        inline_svg(_read(files, "ladder"), "l-" + case_slug(item.nodeid))
        if entries
        else "<p><i>no messages exchanged</i></p>"
    )
    block = (
        f"<div class='conformance-evidence' data-case='{esc(item.nodeid)}'>"
        f"<p><b>{esc(verdict)}</b> {esc(state.message)}</p>"
        + (f"<ul class='expectations'>{rows}</ul>" if rows else "")
        + f"<div class='ladder'>{svg}</div></div>"
    )
    extras = list(getattr(report, "extras", []))
    extras.append(_extra(block, "html"))
    extras.append(_extra(_read(files, "transcript"), "text", "transcript.txt", "text/plain"))
    extras.append(_extra(case_txt, "text", "case.txt", "text/plain"))
    report.extras = extras  # type: ignore[attr-defined]


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
