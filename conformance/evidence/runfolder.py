"""The run folder: ``reports/<UTC timestamp>-<device>/``, one per run, and ``reports/latest``.

Layout (other evidence writers add their files next to these):

- ``junit.xml``        pytest's JUnit XML; each testcase has ``requirement`` and ``verdict``
- ``report.html``      pytest-html, linking to ``evidence/``
- ``verdicts.json``    per case: nodeid, requirement, verdict, message, duration, transcript range
- ``transcript.jsonl`` every message of the run, the one store of each (written as it happens)
- ``capture.pcapng``   the run's packets for Wireshark (``capture-decrypted.pcapng``: DTLS inside)
- ``declaration.json`` the declaration summary (no secrets)
- ``evidence/<case>.txt|.svg|.pcapng`` per case (plugin.caseevidence)
- ``allure-results.tar.gz`` allure-pytest results, categories.json, environment.properties
- ``acceptance.json`` / ``.html`` / ``.pdf`` requirement → verdict → evidence (with sha256)

A built-in device run in parts (``conformance run --parts K``) has each part's run folder in
``parts/part-<i>/`` and the files above merged from them (conformance/evidence/parts.py).

See docs/reports.md for how to open each.

``reports/latest`` is a symlink to the newest run folder, or a text file holding its name where
symlinks cannot be made.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conformance.verdicts import Verdict

JUNIT_FILE = "junit.xml"
HTML_FILE = "report.html"
VERDICTS_FILE = "verdicts.json"
DECLARATION_FILE = "declaration.json"
LATEST = "latest"

# Requirement verdict from its cases' verdicts: a device fault anywhere decides first, then a
# harness error, then "could not decide"; N/A only when every case is N/A.
_PRECEDENCE = (
    Verdict.FAIL,
    Verdict.ERROR,
    Verdict.INCONCLUSIVE,
    Verdict.PASS,
    Verdict.NOT_APPLICABLE,
)


def combine(verdicts: list[Verdict]) -> Verdict | None:
    """The overall verdict of several (None when there are none)."""
    for verdict in _PRECEDENCE:
        if verdict in verdicts:
            return verdict
    return None


@dataclass
class CaseResult:
    nodeid: str
    requirement: str | None
    verdict: Verdict
    message: str = ""
    duration: float = 0.0
    ets: list[str] = field(default_factory=list)
    transcript: tuple[int, int] | None = None  # first and last seq of the case's entries

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        data["transcript"] = (
            {"first": self.transcript[0], "last": self.transcript[1]} if self.transcript else None
        )
        return data


@dataclass
class RunResults:
    cases: list[CaseResult] = field(default_factory=list)
    harness_problems: list[str] = field(default_factory=list)  # not tied to one case

    def counts(self) -> dict[str, int]:
        out = {v.value: 0 for v in Verdict}
        for case in self.cases:
            out[case.verdict.value] += 1
        return out

    def by_requirement(self) -> dict[str, list[CaseResult]]:
        out: dict[str, list[CaseResult]] = {}
        for case in self.cases:
            out.setdefault(case.requirement or "(none)", []).append(case)
        return out

    def failed(self) -> bool:
        """True when the run must exit non-zero (CI gating)."""
        return bool(self.harness_problems) or any(
            c.verdict in (Verdict.FAIL, Verdict.ERROR) for c in self.cases
        )


def folder_name(device: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{safe_name(device)}"


def safe_name(text: str) -> str:
    """A file-system-safe rendering of a device or run name."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return cleaned or "device"


class RunFolder:
    """One run's folder. :meth:`create` picks a fresh name; the files are written at the end."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(
        cls, reports: Path, device: str, run_name: str | None = None, now: datetime | None = None
    ) -> RunFolder:
        reports.mkdir(parents=True, exist_ok=True)
        base = safe_name(run_name) if run_name else folder_name(device, now)
        path = reports / base
        n = 1
        while True:
            try:
                path.mkdir()
                break
            except FileExistsError:  # two runs in the same second, or a reused --run-name
                n += 1
                path = reports / f"{base}-{n}"
        return cls(path)

    @property
    def junit(self) -> Path:
        return self.path / JUNIT_FILE

    @property
    def html(self) -> Path:
        return self.path / HTML_FILE

    @property
    def verdicts(self) -> Path:
        return self.path / VERDICTS_FILE

    def write_json(self, name: str, data: Any) -> Path:
        target = self.path / name
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(target)
        return target

    def write_declaration(self, summary: dict[str, Any]) -> Path:
        return self.write_json(DECLARATION_FILE, summary)

    def write_verdicts(self, results: RunResults, run: dict[str, Any]) -> Path:
        requirements = {
            req: (combine([c.verdict for c in cases]) or Verdict.NOT_APPLICABLE).value
            for req, cases in results.by_requirement().items()
        }
        return self.write_json(
            VERDICTS_FILE,
            {
                "run": run,
                "counts": results.counts(),
                "requirements": requirements,
                "harness_problems": results.harness_problems,
                "cases": [c.to_json() for c in results.cases],
            },
        )

    def point_latest(self) -> Path:
        """Make ``<reports>/latest`` name this folder (symlink, else a text file)."""
        latest = self.path.parent / LATEST
        tmp = self.path.parent / f".{LATEST}.{os.getpid()}"
        try:
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            tmp.symlink_to(self.path.name, target_is_directory=True)
            if latest.is_dir() and not latest.is_symlink():
                raise OSError("reports/latest is a real folder; not replacing it")
            tmp.replace(latest)  # atomic: a reader never sees latest missing
        except OSError:
            if tmp.is_symlink():
                tmp.unlink()
            if latest.is_dir() and not latest.is_symlink():
                return latest
            if latest.is_symlink():
                latest.unlink()
            latest.write_text(self.path.name + "\n", encoding="utf-8")
        return latest


def resolve_latest(reports: Path) -> Path | None:
    """The newest run folder named by ``reports/latest`` (symlink or text file)."""
    latest = reports / LATEST
    if latest.is_symlink() or latest.is_dir():
        return latest.resolve()
    if latest.is_file():
        return reports / latest.read_text(encoding="utf-8").strip()
    return None
