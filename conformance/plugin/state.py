"""What the plugin knows about the run and about each case, kept in pytest's stashes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from conformance.declaration import Declaration
from conformance.evidence.casefiles import EvidenceFile, Expectation
from conformance.evidence.hostidentity import HostIdentityLog
from conformance.evidence.redact import Redactor
from conformance.evidence.runfolder import RunFolder, RunResults
from conformance.plugin.options import BUILTIN_PREFIX, load_dut
from conformance.verdicts import Verdict

CATALOG_FOLDER = "testcases"


@dataclass
class ConformanceRun:
    dut_option: str | None  # --dut as given
    default_protocol: str  # the built-in declaration's protocol when --dut is not given
    protocol_certain: bool  # False: guessed; the other protocol's cases get a notice
    active: bool  # a conformance run: it has a run folder and the verdict summary
    reports: Path
    run_name: str | None
    faults: list[str]
    run_folder: RunFolder | None = None
    results: RunResults = field(default_factory=RunResults)
    lab: Any = None  # set by the lab fixture once the lab exists
    started: datetime | None = None
    deselected_other_protocol: int = 0
    lab_problems: list[str] = field(default_factory=list)
    lab_addresses: dict[str, str] = field(default_factory=dict)
    cases_collected: int = 0  # certification cases to run; fewer finished → incomplete
    interrupted: str | None = None  # "SIGTERM" / "KeyboardInterrupt" when the run was cut short
    device_heard: bool = False  # any message from the device reached the lab in this run
    waits_unheard: int = 0  # cases INCONCLUSIVE on a device timeout before it was ever heard
    exit_status: int | None = None  # the acceptance gate's status (plugin/gate.py)
    host_identity: HostIdentityLog = field(default_factory=HostIdentityLog)  # report view
    _declaration: Declaration | None = None
    _redactor: Redactor | None = None

    def redact(self, text: str) -> str:
        """Mask every secret the run knows (declaration, and what the lab learned)."""
        if self._redactor is None:
            self._redactor = Redactor()
            for secret in self.declaration.secrets():
                self._redactor.add(secret)
        text = self._redactor.text(text)
        lab_redactor = getattr(getattr(self.lab, "transcript", None), "redactor", None)
        return lab_redactor.text(text) if isinstance(lab_redactor, Redactor) else text

    def secrets(self) -> set[str]:
        """The secrets to scrub from the run folder's files at the end."""
        found = set(self.declaration.secrets())
        lab_redactor = getattr(getattr(self.lab, "transcript", None), "redactor", None)
        if isinstance(lab_redactor, Redactor):
            found |= lab_redactor.secrets
        return found

    @property
    def declaration(self) -> Declaration:
        """Loaded on first use, so a plain test run never reads a declaration it ignores."""
        if self._declaration is None:
            self._declaration = load_dut(self.origin_option)
        return self._declaration

    @property
    def origin_option(self) -> str:
        return self.dut_option or f"{BUILTIN_PREFIX}{self.default_protocol}"

    @property
    def origin(self) -> str:
        """Where the declaration came from, for the report header."""
        return self.dut_option or f"{self.origin_option} (default)"


@dataclass
class CaseState:
    requirement: str | None
    ets: list[str] = field(default_factory=list)  # the OMA ETS tests the case is traced to
    verdict: Verdict | None = None  # the case's overall verdict so far (worst of its phases)
    message: str = ""
    duration: float = 0.0
    not_applicable: str | None = None  # reason, decided at collection (markers, exceptions)
    transcript_start: int | None = None  # transcript mark when the case began
    transcript_range: tuple[int, int] | None = None
    capture_start: tuple[int, int] | None = None  # capture offsets when the case began
    detail: str = ""  # the deciding phase's failure text (assertion introspection, traceback)
    expectations: list[Expectation] = field(default_factory=list)  # evidence.expect(...)
    highlight: set[int] = field(default_factory=set)  # seqs the case marked as failing steps
    cited: set[int] = field(default_factory=set)  # earlier messages the case judged (evidence)
    evidence: list[EvidenceFile] = field(default_factory=list)  # written at the case's end
    deciding: list[str] = field(default_factory=list)  # deciding messages, for the reports


RUN_KEY = pytest.StashKey[ConformanceRun]()
CASE_KEY = pytest.StashKey[CaseState]()


def get_run(config: pytest.Config) -> ConformanceRun | None:
    return config.stash.get(RUN_KEY, None)


def requirement_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("requirement")
    if marker is None or not marker.args:
        return None
    return str(marker.args[0])


def is_case(item: pytest.Item) -> bool:
    """A certification case: traced to a requirement, or living in the catalog folder.

    Only cases get the verdict model; the project's own tests keep pytest's plain outcomes.
    """
    return (
        item.get_closest_marker("requirement") is not None
        or CATALOG_FOLDER in Path(str(item.path)).parts
    )


def case_state(item: pytest.Item) -> CaseState:
    state = item.stash.get(CASE_KEY, None)
    if state is None:
        ets = sorted({str(m.args[0]) for m in item.iter_markers("ets") if m.args})
        state = CaseState(requirement=requirement_of(item), ets=ets)
        item.stash[CASE_KEY] = state
    return state
