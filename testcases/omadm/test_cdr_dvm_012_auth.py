"""CDR-DVM-012 — OMA DM 1.2/1.3 authentication, both ways (guide §3.3.1, §1.7).

- The client authenticates with the declared type, ``syncml:auth-md5`` Cred or HMAC-MD5 in
  the ``x-syncml-hmac`` header, and its digest verifies with the lab's nonce; a declaration
  or a device using basic or no authentication FAILs (MD5 or HMAC is mandatory).
- The client verifies the lab: it answers the lab's SyncHdr 212 (or 200) to the right
  credentials, and 401/407 to a wrong one, without executing the lab's commands.
- Challenge: the lab answers Package 1 with 401 and a Chal carrying a new nonce; the client
  sends Package 1 again with a digest over that nonce (REQUIREMENTS "Nonce timing": a nonce
  given with 401/407 applies to the very next message).
- Nonce carried over: the NextNonce the lab gives with 212 in one session is the nonce of the
  client's first digest in the next session (a 212 nonce applies from the next session).

Interpretation: the lab stores a nonce only from a Status actually received, so lab and
device stay in step; a client that fails the challenge is judged here, and cases of other
requirements that then cannot read the tree are INCONCLUSIVE, not FAIL.
"""

from __future__ import annotations

import base64

import pytest

from conformance.dut.omadm import DmDevice, require_authenticated
from conformance.omadm.lab import DmSession
from conformance.omadm.labauth import AuthOutcome
from conformance.verdicts import DeviceFault, Inconclusive, NotApplicable

pytestmark = pytest.mark.requirement("CDR-DVM-012")

MANDATORY = ("md5", "hmac")


def _attempts(auth: AuthOutcome) -> str:
    return "; ".join(
        f"MsgID {a.msg_id}: {a.type or 'no credentials'} -> {a.answer}"
        + (f" ({a.detail})" if a.detail else "")
        for a in auth.attempts
    ) or "no attempt"


def _next_nonce_given(session: DmSession) -> bytes | None:
    """The NextNonce the lab sent with 212 on the device's SyncHdr in this session."""
    for message in session.messages:
        if message.direction != "lab->device":
            continue
        for status in message.msg.statuses():
            nonce = status.chal.meta.next_nonce if status.chal is not None else None
            if status.cmd == "SyncHdr" and status.data == "212" and nonce:
                return base64.b64decode(nonce)
    return None


@pytest.fixture(scope="module")
def plain(dm: DmDevice) -> DmSession:
    """A session with no lab option; a Get makes the device answer the lab's credentials."""
    with dm.fresh(authenticated=False) as session:
        if session.auth.verified:
            session.get("./DevInfo/DevId")
    return session


def test_declared_type_is_md5_or_hmac(dm: DmDevice) -> None:
    """Every declared account authentication type, both ways, is MD5 or HMAC."""
    weak = [f"{a.role} {side} {kind}" for a in dm.accounts
            for side, kind in (("client", a.client_auth), ("server", a.server_auth))
            if kind not in MANDATORY]
    assert not weak, (
        f"the declaration says {', '.join(weak)}: MD5 or HMAC authentication is mandatory")


def test_client_authenticates_with_declared_type(plain: DmSession, dm: DmDevice) -> None:
    """The client's credentials are of the declared type and verify with the lab's nonce."""
    declared = " or ".join(sorted({a.client_auth for a in dm.accounts}))
    seen = plain.auth.type_seen
    assert seen in MANDATORY, (
        f"the client authenticates with {seen or 'no credentials'}: MD5 or HMAC is mandatory "
        f"({_attempts(plain.auth)})")
    assert seen in declared.split(" or "), (
        f"the client authenticates with {seen}, declared {declared}")
    assert plain.auth.verified, (
        f"the client's {seen} credentials do not verify ({_attempts(plain.auth)})")


def test_client_accepts_lab_credentials(plain: DmSession) -> None:
    """The client checks the lab's credentials and accepts the right ones (212/200)."""
    require_authenticated(plain)
    auth = plain.auth
    assert auth.server_statuses, (
        "the device never answered the lab's SyncHdr (no Status for its Cred)")
    # Judged on credentials of the type the device asks for: the lab follows its Chal.
    statuses = auth.statuses_for_asked_type()
    if not statuses:
        raise Inconclusive(f"the lab cannot authenticate itself to the device "
                           f"({'; '.join(auth.notes) or 'no credentials of the type asked'})")
    assert statuses[0] in ("200", "212"), (
        f"the device answered the lab's correct credentials with {statuses[0]}"
        + (f" ({'; '.join(auth.notes)})" if auth.notes else ""))


def test_challenge_retry_with_new_nonce(dm: DmDevice) -> None:
    """After 401 with a Chal the client sends Package 1 again, digesting the new nonce."""
    kind = dm.accounts.primary.client_auth  # the type the lab challenges with
    if kind not in MANDATORY:
        # A basic Chal carries no nonce, and with no authentication there is no challenge:
        # nothing here to judge. The type itself FAILs test_declared_type_is_md5_or_hmac.
        raise NotApplicable(f"declared client authentication {kind}: its challenge carries no "
                            "nonce (MD5 or HMAC is judged by test_declared_type_is_md5_or_hmac)")
    with dm.fresh(authenticated=False, challenge=True) as session:
        attempts = session.auth.attempts
        assert attempts and attempts[0].answer == "401", (
            f"the lab's challenge did not happen ({_attempts(session.auth)})")
        if len(attempts) < 2:
            raise DeviceFault(
                "after Status 401 with a Chal (new nonce) the client did not send Package 1 "
                f"again ({session.ended or 'session open'})")
        retry = attempts[1]
        assert retry.verified and retry.matched == "pending", (
            "the client's retry after 401 does not verify with the nonce of the Chal "
            f"({_attempts(session.auth)})")


def _nonce_not_taken(session: DmSession) -> None:
    """Judge a session the lab could not authenticate, as far as nonce handling goes."""
    attempts = session.auth.attempts
    if not attempts or any(a.type not in MANDATORY for a in attempts):
        raise Inconclusive(f"no MD5/HMAC digests to judge nonce handling by "
                           f"({_attempts(session.auth)})")
    if len(attempts) >= 2 and attempts[0].answer in ("401", "407"):
        raise DeviceFault(
            "the client's digests after the lab's 401 with a Chal do not verify with the "
            f"Chal's NextNonce: it does not take the new nonce ({_attempts(session.auth)})")
    raise Inconclusive(f"session {session.session_id} not authenticated "
                       f"({_attempts(session.auth)})")


def test_next_nonce_used_in_next_session(dm: DmDevice) -> None:
    """The NextNonce given with 212 is the nonce of the next session's first digest."""
    with dm.fresh(authenticated=False) as first:
        if not first.auth.verified:
            _nonce_not_taken(first)
        first.get("./DevInfo/DevId")  # the device answers, so it has the 212 and its nonce
        given = _next_nonce_given(first)
    if given is None:
        raise NotApplicable("the lab gives no NextNonce with 212 (declared auth type none)")
    with dm.fresh(authenticated=False) as second:
        attempt = second.auth.attempts[0] if second.auth.attempts else None
        assert attempt is not None, "the next session carried no credentials"
        assert attempt.verified and attempt.nonce == given, (
            f"session {second.session_id}: the first digest does not verify with the "
            f"NextNonce {base64.b64encode(given).decode()} given with 212 in session "
            f"{first.session_id} ({_attempts(second.auth)})")


def test_wrong_server_credential_rejected(dm: DmDevice) -> None:
    """A wrong server credential gets 401/407 and the lab's commands are not executed."""
    with dm.fresh(authenticated=False, wrong_server_credential=True) as session:
        require_authenticated(session)
        result = session.get("./DevInfo/Man")
        statuses = session.auth.server_statuses
    assert statuses, "the device never answered the lab's SyncHdr carrying a wrong Cred"
    assert statuses[0] in ("401", "407"), (
        f"the device answered the lab's wrong credentials with {statuses[0]}, expected 401 "
        "or 407")
    # 215 "not executed" (or no Status at all) is right; 200 and Results mean it ran.
    assert result.status not in ("200", "202") and not result.items, (
        f"the device executed Get ./DevInfo/Man from a server with wrong credentials "
        f"(Status {result.status})")
