"""A device's run folder merged from the folders of its parts (``conformance run --parts K``).

Each part ran a share of the catalog with its own lab and its own simulated device and left a
whole run folder in ``<device folder>/parts/part-<i>/``: its transcript, captures, per-case
evidence and pytest-html page stay there (the one store of each message). The device folder
gets what a lab reads for the device as a whole, written once from the parts:

- ``verdicts.json``   every case, with the part it ran in (its transcript range is that part's)
- ``junit.xml``       one ``<testsuite>`` per part
- ``acceptance.json`` / ``.html`` / ``.pdf``, ``ets-matrix.*``: requirement verdicts over all
  the parts' cases, evidence paths relative to the device folder
- ``allure-results.tar.gz``  the parts' Allure results in one archive
- ``report.html``     an index of the parts' pytest-html pages

A part that left no verdicts (it broke before its end) is a harness problem of the device's run:
the merged run is ERROR and incomplete, never a PASS of the cases it did not run.
"""

from __future__ import annotations

import html
import json
import logging
import shutil
import tarfile
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.evidence import acceptance, etsmatrix
from conformance.evidence.allure_report import PACKED, RESULTS_DIR
from conformance.evidence.runfolder import (
    DECLARATION_FILE,
    HTML_FILE,
    JUNIT_FILE,
    VERDICTS_FILE,
    CaseResult,
    RunFolder,
    combine,
)
from conformance.plugin import partqueue
from conformance.verdicts import Verdict

log = logging.getLogger(__name__)

PARTS_DIR = "parts"
QUEUE_FILE = "queue.json"  # the parts' shared queue (plugin/partqueue.py): removed once merged
ACCEPTANCE_JSON = "acceptance.json"
NO_TESTS = 5  # pytest's "no tests collected": a part the selection left empty
INTERRUPTED = 2  # pytest's exit status of a run cut short (Ctrl-C)
EXIT_ERROR = 11  # plugin/gate.py: the suite itself broke
# Part files whose content the device folder now holds: removed once the merge is written.
MERGED_AWAY = (JUNIT_FILE, VERDICTS_FILE, ACCEPTANCE_JSON, "acceptance.html", "ets-matrix.json",
               "ets-matrix.md", PACKED, DECLARATION_FILE)


@dataclass
class Part:
    folder: Path  # <device folder>/parts/part-<i>
    code: int  # the part's exit status


def part_folder(device_folder: Path, index: int) -> Path:
    return device_folder / PARTS_DIR / f"part-{index}"


def part_queue(device_folder: Path) -> Path:
    """The file of the queue the parts take their cases from (``conformance.plugin.parts``)."""
    return device_folder / PARTS_DIR / QUEUE_FILE


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def combined_status(codes: list[int], problems: list[str]) -> int:
    """The device's exit status from the codes of the parts that judged something: their
    worst; a broken part makes it ERROR at least (never a PASS of what it did not judge)."""
    from conformance.plugin.gate import worst

    return worst(codes + ([EXIT_ERROR] if problems else []))


def merge(device_folder: Path, parts: list[Part], split_by: list[Path] | None = None) -> int:
    """Write the device folder's files from its parts; returns the device's exit status.
    ``split_by``: the files whose case durations balanced the parts, first one first (none:
    interleaved)."""
    rel = {id(p): p.folder.relative_to(device_folder).as_posix() for p in parts}
    verdicts: list[tuple[Part, dict[str, Any]]] = []
    problems: list[str] = []
    judged: list[int] = []  # the codes of the parts that ran a case (or broke)
    for part in parts:
        data = _read_json(part.folder / VERDICTS_FILE)
        if data is not None:
            verdicts.append((part, data))
            if data.get("cases") or data.get("harness_problems"):
                judged.append(part.code)
        elif part.code != NO_TESTS:
            problems.append(f"{rel[id(part)]}: left no verdicts (exit status {part.code})")
    queue_file = part_queue(device_folder)
    shared = queue_file.is_file()
    queue = _queue_problem(queue_file, verdicts)
    problems.extend([queue] if queue else [])
    # Parts the selection left empty do not count, unless every part is empty: then the
    # device's status is theirs, as for a run whose selection is empty.
    code = combined_status(judged or [p.code for p in parts], problems)
    if not verdicts:
        if problems:  # nothing to merge, but say why in the device folder
            RunFolder(device_folder).write_json(VERDICTS_FILE, {
                "run": {"exit_status": code, "failed": True, "parts": len(parts)},
                "counts": {v.value: 0 for v in Verdict}, "requirements": {},
                "harness_problems": problems, "cases": []})
        return code
    split = ("balanced by the case durations of " + ", else ".join(map(str, split_by))
             if split_by else "every K-th case of the sorted node ids")
    if shared:  # fixed shares to start with; a part done with its own took the others' last
        split += "; a part that had finished its share took what the others had left"
        queue_file.unlink(missing_ok=True)
    cases = _merge_verdicts(device_folder, verdicts, rel, problems, code, split)
    _merge_junit(device_folder, verdicts, rel)
    # The Allure archives are re-packed while Chromium prints the acceptance PDF (seconds).
    packing = _Packing(device_folder, parts)
    packing.start()
    try:
        _merge_acceptance(device_folder, parts, rel, cases, complete=not problems)
    finally:
        packing.join()
    if packing.failed is not None:
        raise packing.failed
    _write_index(device_folder, verdicts, rel, split)
    first = verdicts[0][0].folder / DECLARATION_FILE
    if first.is_file():
        shutil.copyfile(first, device_folder / DECLARATION_FILE)
    for part in parts:
        for name in MERGED_AWAY:
            (part.folder / name).unlink(missing_ok=True)
    latest = device_folder / PARTS_DIR / "latest"
    if latest.is_symlink() or latest.is_file():
        latest.unlink()
    RunFolder(device_folder).point_latest()
    return code


def _queue_problem(path: Path, verdicts: list[tuple[Part, dict[str, Any]]]) -> str | None:
    """What is wrong with the parts' shared queue once they have ended: a case no part ran,
    though none was cut short (then the parts' own reports say so), is a harness problem."""
    try:
        state = partqueue.read(path)
    except (partqueue.QueueError, OSError) as exc:
        return f"the parts' queue: {exc}"
    if state is None:
        return None
    ran = {str(c.get("nodeid")) for _, data in verdicts for c in data.get("cases", [])
           if isinstance(c, dict)}
    cut_short = any((data.get("run") or {}).get("exit_status") == INTERRUPTED
                    for _, data in verdicts)
    if len(ran) < state["cases"] and not cut_short:
        left = sum(len(share) for share in state["left"])
        return (f"the parts' queue: {len(ran)} of its {state['cases']} cases ran "
                f"({left} of its {state['units']} units never taken)")
    return None


def _merge_verdicts(
    device_folder: Path, verdicts: list[tuple[Part, dict[str, Any]]], rel: dict[int, str],
    problems: list[str], code: int, split: str,
) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    for part, data in verdicts:
        where = rel[id(part)]
        mine = [dict(c, part=where) for c in data.get("cases", []) if isinstance(c, dict)]
        cases.extend(mine)
        problems.extend(f"{where}: {p}" for p in data.get("harness_problems", []))
        runs.append({**data.get("run", {}), "folder": where, "cases": len(mine)})
    cases.sort(key=lambda c: str(c.get("nodeid", "")))
    by_requirement: dict[str, list[Verdict]] = {}
    counts = {v.value: 0 for v in Verdict}
    for case in cases:
        verdict = Verdict(case["verdict"])
        counts[verdict.value] += 1
        by_requirement.setdefault(case.get("requirement") or "(none)", []).append(verdict)
    first = runs[0]
    run = {
        **{k: first.get(k) for k in ("device", "protocol", "declaration", "faults")},
        "started": min(str(r.get("started") or "") for r in runs) or None,
        "finished": max(str(r.get("finished") or "") for r in runs) or None,
        "exit_status": code,
        "failed": bool(problems) or any(r.get("failed") for r in runs),
        "parts": runs,
        "split": split,
    }
    RunFolder(device_folder).write_json(VERDICTS_FILE, {
        "run": run,
        "counts": counts,
        "requirements": {
            req: (combine(vs) or Verdict.NOT_APPLICABLE).value
            for req, vs in by_requirement.items()
        },
        "harness_problems": problems,
        "cases": cases,
    })
    return cases


def _merge_junit(
    device_folder: Path, verdicts: list[tuple[Part, dict[str, Any]]], rel: dict[int, str],
) -> None:
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="pytest tests")
    for part, _ in verdicts:
        try:
            tree = ET.parse(part.folder / JUNIT_FILE)
        except (OSError, ET.ParseError):
            continue  # pytest wrote none (it broke first): the verdicts say so
        for suite in tree.getroot().iter("testsuite"):
            suite.set("name", f"pytest ({rel[id(part)]})")
            root.append(suite)
    ET.ElementTree(root).write(device_folder / JUNIT_FILE, encoding="utf-8",
                               xml_declaration=True)


def _merge_acceptance(
    device_folder: Path, parts: list[Part], rel: dict[int, str], cases: list[dict[str, Any]],
    *, complete: bool,
) -> None:
    reports = [(p, r) for p in parts if (r := _read_json(p.folder / ACCEPTANCE_JSON))]
    if not reports:
        return
    first = reports[0][1]
    merged: dict[str, Any] = {k: first.get(k) for k in ("suite", "device")}
    lab: dict[str, str] = {}
    for part, report in reports:
        for key, value in (report.get("lab") or {}).items():
            if lab.setdefault(key, value) != value:
                lab[f"{key} ({rel[id(part)]})"] = value
    merged["lab"] = {**lab, "parts": str(len(parts))}
    merged["started"] = min(str(r.get("started") or "") for _, r in reports)
    merged["finished"] = max(str(r.get("finished") or "") for _, r in reports)
    complete = complete and len(reports) == len(parts) and all(
        r.get("complete") for _, r in reports)
    merged["complete"] = complete
    rows = _merge_rows(reports, rel)
    judged = [row["verdict"] for row in rows if row.get("not_applicable_reason") is None]
    merged["verdict"] = acceptance.overall(judged, complete)
    merged["counts"] = {v.value: sum(int((r.get("counts") or {}).get(v.value, 0))
                                     for _, r in reports) for v in Verdict}
    merged["requirements"] = rows
    merged["cases_without_requirement"] = sorted(
        c for _, r in reports for c in r.get("cases_without_requirement") or [])
    if not complete:
        merged["interrupted"] = next(
            (str(r["interrupted"]) for _, r in reports if r.get("interrupted")),
            "a part stopped before every case ran")
    host = first.get("host_identity")
    if isinstance(host, dict):
        merged["host_identity"] = {**host, "moments": [
            m for _, r in reports for m in (r.get("host_identity") or {}).get("moments", [])]}
    merged["ets"] = etsmatrix.build([_run_case(c) for c in cases])
    device = str((merged.get("device") or {}).get("name", ""))
    etsmatrix.write(merged["ets"], device, device_folder)
    acceptance.write_report(merged, device_folder)


def _merge_rows(reports: list[tuple[Part, dict[str, Any]]], rel: dict[int, str]) -> list[Any]:
    """The requirement rows of all parts: one row per requirement, the cases of every part
    (their evidence paths made relative to the device folder), the verdict over them all."""
    rows: dict[str, dict[str, Any]] = {}
    for part, report in reports:
        for row in report.get("requirements") or []:
            merged = rows.setdefault(row["id"], {**row, "cases": []})
            for case in row.get("cases") or []:
                evidence = [{**e, "path": f"{rel[id(part)]}/{e['path']}"}
                            for e in case.get("evidence") or []]
                merged["cases"].append({**case, "evidence": evidence})
    for row in rows.values():
        if row["cases"]:  # otherwise every part said the same: N/A or NOT COVERED
            row["cases"].sort(key=lambda c: str(c.get("nodeid", "")))
            row["verdict"] = acceptance.requirement_verdict(
                Verdict(c["verdict"]) for c in row["cases"])
    return list(rows.values())


def _run_case(case: dict[str, Any]) -> CaseResult:
    return CaseResult(nodeid=str(case["nodeid"]), requirement=case.get("requirement"),
                      verdict=Verdict(case["verdict"]), message=str(case.get("message", "")),
                      ets=[str(e) for e in case.get("ets") or []])


class _Packing(threading.Thread):
    """``_merge_allure`` beside the caller; what it raised is kept for the caller."""

    def __init__(self, device_folder: Path, parts: list[Part]) -> None:
        super().__init__(name="merge-allure")
        self.device_folder, self.parts = device_folder, parts
        self.failed: Exception | None = None

    def run(self) -> None:
        try:
            _merge_allure(self.device_folder, self.parts)
        except Exception as exc:  # re-raised by merge, in the caller's thread
            self.failed = exc


def _merge_allure(device_folder: Path, parts: list[Part]) -> None:
    """One archive of every part's Allure results (files named by UUID: no clashes; the
    run-level files, the same in each part, taken once)."""
    target = device_folder / PACKED
    tmp = target.with_suffix(".tmp")
    seen: set[str] = set()
    with tarfile.open(tmp, "w:gz") as out:
        for part in parts:
            packed = part.folder / PACKED
            if not packed.is_file():
                continue
            try:
                with tarfile.open(packed, "r:gz") as tar:
                    for member in tar:
                        name = Path(member.name)
                        if (not member.isfile() or name.parts[:1] != (RESULTS_DIR,)
                                or ".." in name.parts or member.name in seen):
                            continue
                        seen.add(member.name)
                        out.addfile(member, tar.extractfile(member))
            except (tarfile.TarError, EOFError, zlib.error) as exc:
                # Only the Allure viewer reads these; the verdicts and evidence stand.
                log.warning("%s: its Allure results are left out of %s (%s: %s)",
                            packed, PACKED, type(exc).__name__, exc)
    tmp.replace(target)


def _write_index(
    device_folder: Path, verdicts: list[tuple[Part, dict[str, Any]]], rel: dict[int, str],
    split: str,
) -> None:
    """``report.html``: the device's parts, each with its counts and its pytest-html page."""
    esc = html.escape
    device = str(verdicts[0][1].get("run", {}).get("device", ""))
    names = [v.value for v in Verdict]
    rows = []
    for part, data in verdicts:
        where = rel[id(part)]
        counts = data.get("counts") or {}
        cells = "".join(f"<td>{int(counts.get(n, 0))}</td>" for n in names)
        rows.append(f"<tr><td><a href='{esc(where)}/{HTML_FILE}'>{esc(where)}</a></td>"
                    f"{cells}<td>{esc(str(part.code))}</td></tr>")
    head = "".join(f"<th>{esc(n)}</th>" for n in names)
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>Conformance run: {esc(device)}</title></head><body>"
        f"<h1>Conformance run: {esc(device)}</h1>"
        f"<p>The catalog ran in {len(verdicts)} parts side by side, each with its own lab and "
        f"simulated device; the cases split: {esc(split)}. The verdicts of the whole run: "
        "<a href='acceptance.html'>acceptance report</a>, <code>verdicts.json</code>, "
        "<code>junit.xml</code>.</p>"
        f"<table border='1'><tr><th>part</th>{head}<th>exit status</th></tr>{''.join(rows)}"
        "</table></body></html>\n"
    )
    (device_folder / HTML_FILE).write_text(page, encoding="utf-8")
