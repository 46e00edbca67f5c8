"""The fixtures the catalog cases use: ``dut``, ``lab``, ``controller``, ``run_dir``,
``evidence``. The session ones are built once per run and stopped at its end."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.declaration import Declaration
from conformance.evidence.casefiles import Expectation
from conformance.evidence.runfolder import RunFolder
from conformance.evidence.transcript import Entry, Transcript
from conformance.plugin import progress
from conformance.plugin.state import CaseState, ConformanceRun, case_state, get_run


def _run(config: pytest.Config) -> ConformanceRun:
    run = get_run(config)
    if run is None:  # the plugin's configure did not run: a broken installation
        raise RuntimeError("the conformance plugin is not configured")
    return run


@pytest.fixture(scope="session")
def dut(request: pytest.FixtureRequest) -> Declaration:
    """The device declaration of this run (``--dut``, or the built-in one)."""
    return _run(request.config).declaration


@pytest.fixture(scope="session")
def run_dir(request: pytest.FixtureRequest) -> Path:
    """This run's folder (``reports/<UTC timestamp>-<device>/``)."""
    run = _run(request.config)
    if run.run_folder is None:  # a plain pytest run that still wants a lab
        run.run_folder = RunFolder.create(run.reports, run.declaration.device.name, run.run_name)
    return run.run_folder.path


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest, dut: Declaration, run_dir: Path) -> Iterator[Any]:
    """The started :class:`conformance.lab.Lab` (servers, transcript, loop); stopped at the end.

    ``lab.omadm`` / ``lab.lwm2m`` are the protocol facades, ``lab.packages`` the firmware
    package server, ``lab.transcript`` every message of the run.
    """
    config = request.config
    run = _run(config)
    the_lab = config.hook.pytest_conformance_make_lab(
        config=config, declaration=dut, run_dir=run_dir
    )
    try:
        the_lab.start()
    except BaseException:
        _stop_quietly(the_lab, "lab", run)
        raise
    run.lab = the_lab

    def heard(entry: Entry) -> None:  # proof that the device ever reached this lab
        # (a controller's own replies are recorded as "control": they are not the device's)
        if entry.direction == "device->lab" and entry.protocol != "control":
            run.device_heard = True

    the_lab.transcript.subscribe(heard)
    try:
        run.lab_addresses = {str(k): str(v) for k, v in the_lab.addresses().items()}
    except Exception as exc:  # only shown in the reports; the cases will meet it again
        run.lab_problems.append(f"lab addresses: {type(exc).__name__}: {exc}")
    yield the_lab
    _stop_quietly(the_lab, "lab", run)


@pytest.fixture(scope="session")
def controller(
    request: pytest.FixtureRequest, lab: Any, dut: Declaration, run_dir: Path
) -> Iterator[Any]:
    """The device controller (simulator, shell, serial or manual), started with the lab's
    addresses; actions it cannot do raise :class:`conformance.verdicts.Inconclusive`."""
    config = request.config
    run = _run(config)
    ctl = config.hook.pytest_conformance_make_controller(
        config=config,
        declaration=dut,
        run_dir=run_dir,
        faults=list(run.faults) or None,
        transcript=lab.transcript,
    )
    try:
        ctl.start(lab.addresses())
        wire_package0(lab, ctl, dut)
    except BaseException:
        _stop_quietly(ctl, "controller", run)
        raise
    yield ctl
    _stop_quietly(ctl, "controller", run)


class CaseEvidence:
    """The case's own slice of the transcript, and what the case wants in its evidence: the
    values it compared (:meth:`expect`) and the step that failed (:meth:`highlight`)."""

    def __init__(
        self, transcript: Transcript, start: int, state: CaseState | None = None
    ) -> None:
        self.transcript = transcript
        self.start = start
        self.state = state or CaseState(requirement=None)

    def entries(self) -> list[Entry]:
        return self.transcript.since(self.start)

    def note(self, summary: str, protocol: str = "control") -> Entry:
        """A lab-side remark in the evidence ("sideload update to FW-2.0.0 requested")."""
        return self.transcript.note(protocol, summary)

    def expect(self, name: str, expected: object, actual: object, ok: bool | None = None) -> bool:
        """Record a value the case compares (usually one from the declaration); returns whether
        it matched (``ok`` when given, else ``expected == actual``). It does not judge: the
        case still asserts. Shown in case.txt, both HTML reports and Allure; secrets masked."""
        matched = bool(expected == actual) if ok is None else ok
        redact = self.transcript.redactor.text
        self.state.expectations.append(
            Expectation(redact(name), redact(str(expected)), redact(str(actual)), matched)
        )
        return matched

    def highlight(self, entry: Entry | int) -> None:
        """Mark a message (an Entry or its seq) as the failing step in the ladder diagram."""
        seq = entry if isinstance(entry, int) else entry.seq
        self.state.highlight.add(seq)
        self.state.cited.add(seq)

    def cite(self, *entries: Entry | int) -> None:
        """Add messages recorded before the case began to its evidence: those of a session a
        shared (module/session) fixture ran, which this case judges."""
        self.state.cited.update(e if isinstance(e, int) else e.seq for e in entries)


@pytest.fixture
def evidence(request: pytest.FixtureRequest, lab: Any) -> CaseEvidence:
    """This case's transcript slice (its seq range also lands in verdicts.json)."""
    state = case_state(request.node)
    if state.transcript_start is None:
        state.transcript_start = lab.transcript.mark()
    return CaseEvidence(lab.transcript, state.transcript_start, state)


def wire_package0(lab: Any, ctl: Any, declaration: Declaration) -> None:
    """Give the OMA-DM lab the Package 0 channel the controller provides.

    A serial controller with ``notification.channel: sms`` sends it as WAP Push SMS through the
    modem; the simulator's device announces its UDP listener. UDP to a declared address and
    shell delivery need no controller: the lab sets those up itself from the declaration.
    """
    if declaration.protocol != "omadm" or getattr(lab, "omadm", None) is None:
        return
    from conformance.controllers import Controller, package0_channel

    sms = package0_channel(declaration, ctl) if isinstance(ctl, Controller) else None
    if sms is not None:
        lab.omadm.set_package0_channel(sms)
        return
    notify = (getattr(ctl, "ready_info", None) or {}).get("notify")
    if not notify:
        return
    udp_channel = importlib.import_module("conformance.omadm.delivery").UdpChannel
    host, _, port = str(notify).rpartition(":")
    lab.omadm.set_package0_channel(udp_channel(host.strip("[]"), int(port)))


def _stop_quietly(part: Any, name: str, run: ConformanceRun) -> None:
    # A failed shutdown is a harness problem of the run, not of the case that happened to be
    # last: it is reported in the summary and verdicts.json and makes the exit status non-zero.
    try:
        part.stop()
    except Exception as exc:
        run.lab_problems.append(f"{name} stop: {type(exc).__name__}: {exc}")


@pytest.hookimpl(trylast=True)
def pytest_conformance_make_lab(
    config: pytest.Config, declaration: Declaration, run_dir: Path
) -> Any:
    from conformance.lab import Lab

    return Lab(declaration, run_dir)


@pytest.hookimpl(trylast=True)
def pytest_conformance_make_controller(
    config: pytest.Config,
    declaration: Declaration,
    run_dir: Path,
    faults: list[str] | None,
    transcript: Any,
) -> Any:
    # Imported lazily: the controllers are another part of the suite.
    make_controller = importlib.import_module("conformance.controllers").make_controller
    return make_controller(
        declaration, run_dir, faults=faults, transcript=transcript, progress=progress.progress
    )
