"""The run's compatibility matrix by OMA ETS test: one row per ETS test the run's cases are
traced to (``@pytest.mark.ets``), with the worst verdict of its cases.

A device's results organised the way interop events and OMA's own test fests publish them:
``ets-matrix.json`` (for tools) and ``ets-matrix.md`` (a table to paste), next to
``verdicts.json``. A test whose cases were all NOT APPLICABLE says so with their reasons.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from conformance.evidence.runfolder import CaseResult, combine

_VERSION = re.compile(r"-(\d+\.\d+)-")
_NUMBER = re.compile(r"(\d+)$")


def _sort_key(ets: str) -> tuple[str, int, str]:
    number = _NUMBER.search(ets)
    version = _VERSION.search(ets)
    return (version.group(1) if version else "", int(number.group(1)) if number else 0, ets)


def build(cases: list[CaseResult]) -> list[dict[str, Any]]:
    """One row per ETS test: its id, ETS version, verdict and cases (in ETS order)."""
    by_test: dict[str, list[CaseResult]] = {}
    for case in cases:
        for ets in case.ets:
            by_test.setdefault(ets, []).append(case)
    rows = []
    for ets in sorted(by_test, key=_sort_key):
        traced = by_test[ets]
        verdict = combine([c.verdict for c in traced])
        version = _VERSION.search(ets)
        rows.append({
            "ets": ets,
            "version": version.group(1) if version else None,
            "verdict": verdict.value if verdict else None,
            "cases": [{"nodeid": c.nodeid, "verdict": c.verdict.value, "message": c.message}
                      for c in traced],
        })
    return rows


def _cell(text: str) -> str:
    """Text for one Markdown table cell: no line breaks, no column separators, no markup."""
    flat = " ".join(text.split())
    return re.sub(r"([\\|`*_<>\[\]])", r"\\\1", flat)


def markdown(rows: list[dict[str, Any]], device: str) -> str:
    lines = [f"# ETS compatibility matrix: {_cell(device)}", "",
             "| ETS test | verdict | cases |", "|---|---|---|"]
    for row in rows:
        cases = "; ".join(f"{_cell(c['nodeid'].split('::')[-1])} {c['verdict']}"
                          for c in row["cases"])
        lines.append(f"| {row['ets']} | {row['verdict']} | {cases} |")
    return "\n".join(lines) + "\n"


def write(rows: list[dict[str, Any]], device: str, folder: Path) -> None:
    (folder / "ets-matrix.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    (folder / "ets-matrix.md").write_text(markdown(rows, device), encoding="utf-8")
