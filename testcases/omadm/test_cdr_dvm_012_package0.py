"""CDR-DVM-012 — server-alerted sessions, Package 0 (guide §3.3.1; OMA DM Notification 1.2).

- A notification with a correct digest (server ID, server secret, the server nonce) starts a
  session whose Package 1 carries Alert 1200 and the notification's SessionID.
- A notification with a wrong digest starts no session.

The lab sends the trigger with the declared 10-bit version (``omadm.notification.version``,
11 by default: the bits 0000001011 of the public DM 1.2.1 text) over the declared channel
(for the reference device, the UDP address it announced).

Interpretation:
- The SessionID of the session is the notification's 16-bit session id written in
  hexadecimal (OMA DM Notification 1.2 §6.2; case and leading zeros do not matter).
- Before a notification the lab runs a session with two exchanges, so that the device
  provably holds the server nonce the lab digests with (it stores a nonce it issued once the
  lab's answer arrives, which the lab cannot see for a session's last message). That session
  is also the proof of life: a valid notification that then brings no session within
  ``timeouts.session`` is sent once more, and a second silence FAILs
  (:mod:`conformance.dut.liveness`).
- "Starts none" needs a window. The lab sends the wrong-digest notification and right after it
  a correct one with another session id: a device handles notifications in order, so the
  first server-alerted session that comes must answer the correct one, and after it the lab
  waits a grace window for a second one: ``max(2 s, 3 × the time the correct notification
  took to bring its session)``, at most ``timeouts.session``. A session carrying the wrong
  notification's SessionID, or a second server-alerted session in the window, is a FAIL.
"""

from __future__ import annotations

import random
import time

import pytest

from conformance.dut.omadm import DmDevice, close_quietly, sid_matches
from conformance.omadm.lab import DmSession
from conformance.plugin.fixtures import CaseEvidence
from conformance.verdicts import DeviceFault, DeviceTimeout

pytestmark = pytest.mark.requirement("CDR-DVM-012")

GRACE_MIN = 2.0
GRACE_FACTOR = 3.0


def _two_ids() -> tuple[int, int]:
    first = random.randint(0x1000, 0x7FFF)
    return first, first + random.randint(0x100, 0x7FFF)  # never adjacent, never equal


def test_notification_starts_server_alerted_session(dm: DmDevice) -> None:
    """A correct Package 0 brings a session with Alert 1200 and the notification's SessionID."""
    sid, session = dm.package0_session()  # silence after proof of life: asked twice, FAIL
    try:
        alerts = [a.data for a in session.package1.alerts()]
        assert "1200" in alerts, f"Package 1 carries Alert {alerts}, expected 1200"
        assert sid_matches(session, sid), (
            f"the session answering Package 0 has SessionID {session.session_id!r}, the "
            f"notification's is {sid} ({sid:X} in hexadecimal)")
    finally:
        close_quietly(session)


def test_wrong_digest_starts_no_session(dm: DmDevice, evidence: CaseEvidence) -> None:
    """A Package 0 whose digest is wrong is ignored: no session answers it."""
    dm.settle_nonces()
    bad, good = _two_ids()
    dm.omadm.expect_session()
    started = time.monotonic()
    dm.omadm.notify(bad, wrong_digest=True)
    dm.omadm.notify(good)
    first = dm.omadm.wait_session(alert="1200")
    latency = time.monotonic() - started
    dm.adopt(first)
    close_quietly(first)
    grace = min(dm.timeouts.session, max(GRACE_MIN, GRACE_FACTOR * latency))
    evidence.note(f"Package 0: wrong digest as session {bad:X}, correct one as {good:X}; first "
                  f"session {first.session_id} after {latency:.2f} s; grace window {grace:.1f} s")
    try:
        second: DmSession | None = dm.omadm.wait_session(timeout=grace, alert="1200")
    except DeviceTimeout:
        second = None  # nothing in the window: the wrong notification was ignored
    close_quietly(second)
    if sid_matches(first, bad):
        raise DeviceFault(
            f"the device opened session {first.session_id} for the notification with a wrong "
            f"digest (session id {bad:X})")
    if second is not None:
        raise DeviceFault(
            f"a second server-alerted session ({second.session_id}) came within {grace:.1f} s: "
            f"the notification with a wrong digest (session id {bad:X}) started a session")
