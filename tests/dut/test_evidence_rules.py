"""The rules of evidence of the device-under-test layer, without a device."""

from __future__ import annotations

import time

import pytest

from conformance.dut.liveness import ProofOfLife, answered_or_fault
from conformance.dut.omadm import decisive, existence, get, reported
from conformance.omadm.labauth import AuthAttempt, AuthOutcome
from conformance.omadm.model import Item, Replace, SyncHdr, SyncML
from conformance.omadm.session import CommandResult
from conformance.verdicts import DeviceFault, DeviceTimeout, Inconclusive

URI = "./DevDetail/Ext/HostMan"


def _auth(*, client: bool = True, lab: str | None = "212") -> AuthOutcome:
    outcome = AuthOutcome("md5")
    outcome.attempts.append(AuthAttempt("1", "md5", client, "212" if client else "401"))
    if lab is not None:
        outcome.server_statuses.append(lab)
    return outcome


def _result(status: str) -> CommandResult:
    return CommandResult(status=status, items=[], cmd=get(URI))


@pytest.mark.parametrize(("status", "shown"), [("200", True), ("405", True), ("404", False)])
def test_existence_from_an_authenticated_answer(status: str, shown: bool) -> None:
    assert existence(_result(status), URI, _auth()) is shown


def test_a_401_in_a_session_authenticated_both_ways_fails() -> None:
    with pytest.raises(DeviceFault, match="answered 401 in a session authenticated both ways"):
        existence(_result("401"), URI, _auth())
    prop = CommandResult(status="200", items=[Item(data="chr")], cmd=get(URI + "?prop=Format"))
    assert existence(_result("425"), URI, _auth(), prop)  # its Format read: it is there


@pytest.mark.parametrize("auth", [_auth(client=False), _auth(lab="401"), _auth(lab=None)])
def test_an_answer_in_an_unauthenticated_session_decides_nothing(auth: AuthOutcome) -> None:
    with pytest.raises(Inconclusive):
        existence(_result("404"), URI, auth)


def test_no_status_decides_nothing() -> None:
    with pytest.raises(Inconclusive, match="no Status"):
        decisive(_result(""), URI, _auth())


def test_only_an_authenticated_package_reports() -> None:
    package = SyncML(SyncHdr("1", "1", "u", "IMEI:1"), [
        Replace(cmd_id="2", items=[Item(source="./DevDetail/FwV", data="FW-2")])], final=True)
    assert reported(package, _auth()) == {"./DevDetail/FwV": "FW-2"}
    assert reported(package, _auth(client=False)) == {}  # the lab answered it 401


def test_silence_without_proof_of_life_is_inconclusive() -> None:
    calls: list[int] = []

    def silent() -> str:
        calls.append(1)
        raise DeviceTimeout("nothing")

    with pytest.raises(Inconclusive, match="cannot show the device was alive"):
        answered_or_fault("a Package 0", silent, None)
    assert len(calls) == 1


def test_silence_after_proof_of_life_is_asked_twice_then_fails() -> None:
    answers = iter([DeviceTimeout("first"), "session"])

    def once_silent() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert answered_or_fault("a Package 0", once_silent, "session 1 ended") == "session"

    def silent() -> str:
        raise DeviceTimeout("nothing")

    with pytest.raises(DeviceFault, match="a Package 0 went unanswered twice"):
        answered_or_fault("a Package 0", silent, "session 1 ended")


def test_proof_of_life_is_a_moment_old_at_most() -> None:
    life = ProofOfLife()
    assert life.within(10) is None
    life.seen("session 1 ended", at=time.monotonic() - 30)
    assert life.within(10) is None
    life.seen("session 2 ended")
    assert (life.within(10) or "").startswith("session 2 ended")


def test_ddf_allows_reads_the_access_of_the_node_an_instance_belongs_to() -> None:
    from pathlib import Path

    from conformance.dut.omadm import ddf_allows
    from conformance.omadm import ddf as ddfmod

    source = Path(__file__).resolve().parents[2] / "conformance" / "simulators" / "omadm_ddf.xml"
    doc = ddfmod.parse(source.read_bytes())
    assert ddf_allows(doc, "./DevInfo/Man", "Get")
    # DMAcc 1.2: AAuthData has no Get, so a device returning its value contradicts its DDF.
    assert not ddf_allows(doc, "./DMAcc/ATTProd/AppAuth/ClientSide/AAuthData", "Get")
    assert ddf_allows(doc, "./DMAcc/ATTProd/AppAuth/ClientSide/AAuthData", "Replace")
    assert not ddf_allows(doc, "./DMAcc/Nope/Nothing", "Get") and not ddf_allows(None, "./x", "Get")
