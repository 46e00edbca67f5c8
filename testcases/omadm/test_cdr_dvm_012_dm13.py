"""CDR-DVM-012 — OMA DM 1.3 where the declaration says so (``omadm.dm_version: "1.3"``; guide
§3.3.1 "OMA DM 1.2 or 1.3"). A DM 1.2 declaration makes every case here NOT APPLICABLE with
that reason; Package 1's VerProto is judged for both versions by the Package 1 cases.

- Every message: in a session over several messages (the lab's MaxMsgSize small) every
  message of the device says VerProto DM/1.3 and carries the session's SessionID, not only
  Package 1.
- Notification: a Package 0 (the declared ``omadm.notification.version``) starts a
  server-alerted session whose SessionID is the notification's and whose Package 1 says
  DM/1.3 (Alert 1200 is the Package 0 cases').
- The root: Get of ``./`` is answered 200 with the root's children (Format node), and when
  ./DevDetail/URI/MaxDepth or MaxTotLen set a limit (not 0), a URI beyond it is refused with
  414 (URI too long).
"""

from __future__ import annotations

import pytest

from conformance.dut.omadm import DmDevice, close_quietly, format_of, get, show, sid_matches
from conformance.omadm.lab import DmSession
from conformance.verdicts import Inconclusive, NotApplicable

pytestmark = pytest.mark.requirement("CDR-DVM-012")

DM13 = "DM/1.3"
SMALL = 1500  # the lab's MaxMsgSize: the device answers over several messages
URIS = ["./DevInfo/DevId", "./DevInfo/Man", "./DevInfo/Mod", "./DevInfo/DmV",
        "./DevDetail/FwV", "./DevDetail/SwV", "./DevDetail/HwV", "./DevDetail/OEM"]


@pytest.fixture(autouse=True)
def _dm13_only(dm: DmDevice) -> None:
    declared = dm.dut.omadm.dm_version if dm.dut.omadm is not None else "none"
    if declared != "1.3":
        raise NotApplicable(f"the declaration says OMA DM {declared} (omadm.dm_version): the "
                            "DM 1.3 cases apply to a DM 1.3 client")


def _versions(session: DmSession) -> list[str]:
    """Each device message of the session that breaks DM 1.3: "msg N: VerProto …"."""
    wrong = []
    for m in session.messages:
        hdr = m.msg.header
        if m.direction != "device->lab":
            continue
        if hdr.ver_proto != DM13:
            wrong.append(f"message {hdr.msg_id}: VerProto {hdr.ver_proto!r}")
        if hdr.session_id != session.session_id:
            wrong.append(f"message {hdr.msg_id}: SessionID {hdr.session_id!r}")
    return wrong


def test_dm13_every_message(dm: DmDevice) -> None:
    """Every device message of a multi-message session: VerProto DM/1.3, the same SessionID."""
    with dm.fresh(max_msg_size=SMALL) as session:
        results = session.send([get(u) for u in URIS * 3])
        answers = [m for m in session.messages if m.direction == "device->lab"]
    if len(answers) <= 2:
        raise Inconclusive(f"the device answered {len(results)} Gets in {len(answers)} "
                           "message(s): no session over several messages to judge (judged by "
                           "the multiple-messages case)")
    wrong = _versions(session)
    assert not wrong, (f"session {session.session_id} of a DM 1.3 device: "
                       + "; ".join(wrong[:6]))


def test_dm13_notification(dm: DmDevice) -> None:
    """A Package 0 starts a DM 1.3 session: Alert 1200, the notification's SessionID."""
    sid, session = dm.package0_session()
    close_quietly(session)
    assert sid_matches(session, sid), (
        f"the session answering Package 0 {sid} (hex {sid:X}) has SessionID "
        f"{session.session_id!r}")
    hdr = session.package1.header
    version = dm.dut.omadm.notification.version if dm.dut.omadm is not None else "?"
    assert hdr.ver_proto == DM13, (
        f"the server-alerted session {session.session_id} (Package 0 version {version}) of a "
        f"DM 1.3 device starts with VerProto {hdr.ver_proto!r}")


def test_dm13_root(dm: DmDevice) -> None:
    """Get ./ lists the root; a URI beyond the declared MaxDepth / MaxTotLen is refused 414."""
    limits = ["./DevDetail/URI/MaxDepth", "./DevDetail/URI/MaxTotLen"]
    answers = dm.read(["./", *limits])
    root = answers["./"]
    children = [c for c in (root.data or "").split("/") if c]
    assert root.status == "200" and format_of(root) == "node" and children, (
        f"Get ./ answered {show(root)}, expected 200 with the root's children (Format node)")
    assert {"DevInfo", "DevDetail"} <= set(children), (
        f"Get ./ lists {children}, without DevInfo and DevDetail")
    probes = []
    depth, total = (_limit(answers[u]) for u in limits)
    if depth:
        probes.append(("./DevDetail" + "/x" * depth, f"MaxDepth {depth}"))
    if total:
        probes.append(("./DevDetail/" + "x" * total, f"MaxTotLen {total}"))
    for (uri, why), result in zip(probes, dm.send([get(u) for u, _ in probes]), strict=True):
        assert result.status == "414", (
            f"Get of a URI beyond {why} ({len(uri)} characters) answered {show(result)}, "
            "expected 414")


def _limit(result: object) -> int:
    data = getattr(result, "data", None) or ""
    return int(data) if data.isascii() and data.isdigit() and len(data) <= 6 else 0
