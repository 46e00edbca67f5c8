"""The reference device declared OMA DM 1.3 (a declaration variant), over real HTTP, and the
faults of its DM 1.3 behaviour."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conformance.declaration import Declaration
from conformance.omadm.lab import DmSession

from .conftest import WAIT


def _versions(session: DmSession) -> list[str]:
    return [m.msg.header.ver_proto for m in session.messages if m.direction == "device->lab"]


def _triggered(r: Any, dm_version: str = "1.3") -> DmSession:
    """A triggered session over several messages (the lab's MaxMsgSize is small)."""
    r.lab.expect_session(max_msg_size=1500)
    r.device.trigger_session({})
    session: DmSession = r.lab.wait_session(WAIT)
    assert session.get("./DevInfo/DmV").data == dm_version
    return session


def test_a_dm13_device_says_so_in_every_message_and_the_lab_answers_alike(
    rig: Callable[..., Any], variant: Callable[..., Declaration]
) -> None:
    r = rig(variant(dm_version="1.3"))
    session = _triggered(r)
    assert session.get(".").data == "DevInfo/DevDetail/DMAcc/FUMO"
    session.close()
    assert set(_versions(session)) == {"DM/1.3"}
    lab = {m.msg.header.ver_proto for m in session.messages if m.direction == "lab->device"}
    assert lab == {"DM/1.3"}


def test_a_dm12_device_stays_dm12(rig: Callable[..., Any]) -> None:
    session = _triggered(rig(), dm_version="1.2")
    session.close()
    assert set(_versions(session)) == {"DM/1.2"}


def test_version_drift_fault(rig: Callable[..., Any], variant: Callable[..., Declaration]) -> None:
    r = rig(variant(dm_version="1.3"), "dm13-version-drift")
    session = _triggered(r)
    session.close()
    versions = _versions(session)
    assert versions[0] == "DM/1.3" and set(versions[1:]) == {"DM/1.2"}


def test_alerted_session_fault(
    rig: Callable[..., Any], variant: Callable[..., Declaration]
) -> None:
    r = rig(variant(dm_version="1.3"), "dm13-alerted-session-1-2")
    r.lab.expect_session()
    r.lab.notify()
    session = r.lab.wait_session(WAIT, alert="1200")
    session.close()
    assert session.package1.header.ver_proto == "DM/1.2"
    own = _triggered(r)
    own.close()  # left open, the lab waited 10 s for a command before ending it
    assert own.package1.header.ver_proto == "DM/1.3"  # its own sessions are right


def test_root_get_refused_fault(
    rig: Callable[..., Any], variant: Callable[..., Declaration]
) -> None:
    r = rig(variant(dm_version="1.3"), "root-get-refused")
    session = _triggered(r)
    assert session.get("./").status == "405"
    assert session.get("./DevInfo").status == "200"
    session.close()
