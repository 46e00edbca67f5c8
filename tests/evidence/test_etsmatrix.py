"""The compatibility matrix by ETS test: one row per test, its worst verdict, safe Markdown."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.evidence import etsmatrix
from conformance.evidence.runfolder import CaseResult
from conformance.verdicts import Verdict


def case(name: str, verdict: Verdict, *ets: str) -> CaseResult:
    return CaseResult(f"testcases/lwm2m/test_x.py::{name}", "ATT-DMIG-3.2", verdict,
                      message=f"{name} said so", ets=list(ets))


def test_one_row_per_test_with_the_worst_verdict_in_ets_order() -> None:
    rows = etsmatrix.build([
        case("a", Verdict.PASS, "LightweightM2M-1.1-int-304"),
        case("b", Verdict.PASS, "LightweightM2M-1.0-int-301"),
        case("c", Verdict.FAIL, "LightweightM2M-1.0-int-301"),
        case("d", Verdict.NOT_APPLICABLE, "LightweightM2M-1.0-int-1010"),
        case("untraced", Verdict.FAIL),
    ])
    assert [(r["ets"], r["version"], r["verdict"]) for r in rows] == [
        ("LightweightM2M-1.0-int-301", "1.0", "FAIL"),
        ("LightweightM2M-1.0-int-1010", "1.0", "NOT APPLICABLE"),
        ("LightweightM2M-1.1-int-304", "1.1", "PASS"),
    ]
    assert [c["verdict"] for c in rows[0]["cases"]] == ["PASS", "FAIL"]


def test_markdown_cells_cannot_break_the_table(tmp_path: Path) -> None:
    hostile = "x|y\n| FAIL | `z` <b>"
    rows = etsmatrix.build([case(hostile, Verdict.PASS, "LightweightM2M-1.0-int-0")])
    etsmatrix.write(rows, "dev|ice\n# title", tmp_path)
    text = (tmp_path / "ets-matrix.md").read_text(encoding="utf-8")
    table = [line for line in text.splitlines() if line.startswith("| LightweightM2M")]
    assert len(table) == 1 and table[0].count(" | ") == 2  # three columns, one line
    assert "<b>" not in text and text.splitlines()[0].startswith("# ETS compatibility matrix")
    assert json.loads((tmp_path / "ets-matrix.json").read_text())[0]["cases"][0]["nodeid"].endswith(
        hostile)
