"""Fixtures of the reference OMA-DM device's tests: trees, and a lab wired to a device."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conformance.declaration import Declaration, builtin_declaration
from conformance.evidence.transcript import Transcript
from conformance.omadm.delivery import UdpChannel
from conformance.omadm.lab import OmaDmLab
from conformance.runtime import LabLoop
from conformance.simulators import omadm_mo as mo
from conformance.simulators.dmtree import DMTree
from conformance.simulators.omadm_core import DeviceOptions, ReferenceDevice
from conformance.simulators.omadm_faults import Faults
from conformance.simulators.omadm_session import SessionResult

WAIT = 15.0


@pytest.fixture(scope="session")
def declaration() -> Declaration:
    return builtin_declaration("omadm")


@pytest.fixture
def make_tree(declaration: Declaration) -> Callable[..., DMTree]:
    def make(*faults: str) -> DMTree:
        return mo.build_tree(declaration, Faults(faults))

    return make


@pytest.fixture
def tree(make_tree: Callable[..., DMTree]) -> DMTree:
    return make_tree()


@pytest.fixture
def variant(declaration: Declaration) -> Callable[..., Declaration]:
    """The built-in declaration with other omadm: values (transport, encoding, auth…)."""

    def make(**omadm: str) -> Declaration:
        assert declaration.omadm is not None
        return declaration.model_copy(update={"omadm": declaration.omadm.model_copy(update=omadm)})

    return make


class Rig:
    """A started lab (OmaDmLab on a LabLoop, a Transcript in a tmp dir) and a started device.

    The device runs in this process, but every session is real HTTP(S) to the lab and every
    Package 0 a real UDP datagram to the device.
    """

    def __init__(
        self, loop: LabLoop, declaration: Declaration, run_dir: Path, faults: tuple[str, ...]
    ) -> None:
        self.transcript = Transcript(path=run_dir / "transcript.jsonl")
        self.lab = OmaDmLab(loop, declaration, self.transcript, run_dir)
        self.lab.start()
        https = declaration.omadm is not None and declaration.omadm.transport == "https"
        assert self.lab.pki is not None
        options = DeviceOptions(
            server_url=self.lab.url,
            ca=self.lab.pki.ca_path if https else None,
            state_dir=run_dir / "device-state",
        )
        self.device = ReferenceDevice(declaration, options, Faults(faults))
        self.ended: queue.Queue[SessionResult] = queue.Queue()
        self.device.session_listeners.append(self.ended.put)
        host, port = self.device.start()
        self.lab.set_package0_channel(UdpChannel(host, port))

    def session_end(self, timeout: float = WAIT) -> SessionResult:
        return self.ended.get(timeout=timeout)

    def close(self) -> None:
        self.device.stop()
        self.lab.stop()
        self.transcript.close()


@pytest.fixture(scope="module")
def loop() -> Iterator[LabLoop]:
    lab_loop = LabLoop("device-test-loop")
    yield lab_loop
    lab_loop.stop()


@pytest.fixture
def rig(loop: LabLoop, declaration: Declaration, tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    """``rig(declaration=None, *faults)`` -> a started :class:`Rig`, closed after the test."""
    made: list[Rig] = []

    def make(decl: Declaration | None = None, *faults: str) -> Rig:
        r = Rig(loop, decl or declaration, tmp_path / f"run{len(made)}", faults)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()
