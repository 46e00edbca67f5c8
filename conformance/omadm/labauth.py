"""The lab's side of OMA-DM authentication, both directions, per the declaration.

- :class:`ClientCheck` decides the Status the lab gives the device's SyncHdr (212, 200, 401,
  407) and the Chal that goes with it, and records every attempt as evidence
  (:class:`AuthAttempt`): what type the device used, which nonce its digest verified with.
- :class:`LabCredentials` produces the lab's own Cred (or x-syncml-hmac header) and follows
  the device's Status on the lab's SyncHdr, taking a new server nonce only from a Chal the
  lab actually received.

The formulas are in :mod:`conformance.omadm.auth`; the nonce life cycle in
:mod:`conformance.omadm.nonces`. No I/O here besides the nonce store's file.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field

from conformance.errors import ProtocolError
from conformance.omadm import auth
from conformance.omadm.account import DmAccount, DmAccounts
from conformance.omadm.model import (
    AUTH_BASIC,
    AUTH_HMAC,
    AUTH_MD5,
    Chal,
    Cred,
    Meta,
    Status,
    SyncHdr,
)
from conformance.omadm.nonces import NULL_NONCE, NonceStore

AUTH_META_TYPES = {"md5": AUTH_MD5, "hmac": AUTH_HMAC, "basic": AUTH_BASIC}
_TYPE_NAMES = {v.lower(): k for k, v in AUTH_META_TYPES.items()}


@dataclass(frozen=True)
class AuthAttempt:
    """One message's credentials as the lab judged them."""

    msg_id: str
    type: str | None  # "md5" | "hmac" | "basic" | another Meta Type as sent | None: no credentials
    verified: bool
    answer: str  # the Status the lab gave the SyncHdr: 212, 200, 401, 407
    nonce: bytes | None = None  # the nonce the digest verified with (md5/hmac)
    matched: str | None = None  # "current" | "pending" | None: which lab nonce it matched
    verifies_with_null: bool = False  # the digest is the one for nonce "null" (AAuthData)
    detail: str = ""


@dataclass
class AuthOutcome:
    """Authentication of one session, both directions (evidence for CDR-DVM-012)."""

    expected: str  # the declared type: md5 | hmac | basic | none
    attempts: list[AuthAttempt] = field(default_factory=list)
    server_statuses: list[str] = field(default_factory=list)  # device's Status on lab SyncHdr
    server_types: list[str] = field(default_factory=list)  # the lab's type each Status judged
    asked_type: str | None = None  # the type the device's Chal asks of the lab, as sent
    account: str = ""  # the factory account whose client credentials verified (its role)
    notes: list[str] = field(default_factory=list)  # what the lab did on the device's behalf
    server_nonces: list[bytes] = field(default_factory=list)  # NextNonces the device gave the lab
    server_credential_wrong: bool = False  # the test asked the lab to send a wrong Cred
    plain_http: bool = False  # the device sent credentials over http, the declaration says https

    @property
    def type_seen(self) -> str | None:
        return self.attempts[-1].type if self.attempts else None

    @property
    def verified(self) -> bool:
        return any(a.verified for a in self.attempts)

    @property
    def nonce(self) -> bytes | None:
        """The nonce of the digest that verified."""
        return next((a.nonce for a in self.attempts if a.verified), None)

    @property
    def retries(self) -> int:
        return max(0, len(self.attempts) - 1)

    @property
    def lab_accepted(self) -> bool:
        """The device accepted the lab's credentials (212/200 on the lab's SyncHdr)."""
        return any(code in ("200", "212") for code in self.server_statuses)

    def statuses_for_asked_type(self) -> list[str]:
        """The device's Statuses on lab credentials of the type it asks for (all, if none)."""
        if self.asked_type is None:
            return list(self.server_statuses)
        asked = _TYPE_NAMES.get(self.asked_type.strip().lower())
        if asked is None:
            return []  # a type the lab cannot make: nothing the device said judges it
        return [code for code, kind in zip(self.server_statuses, self.server_types, strict=False)
                if kind == asked]


@dataclass(frozen=True)
class HeaderAnswer:
    code: str
    chal: Chal | None = None


def _chal(kind: str, nonce: bytes | None) -> Chal | None:
    if kind not in AUTH_META_TYPES:
        return None
    meta = Meta(type=AUTH_META_TYPES[kind], format="b64")
    if nonce is not None:
        meta.next_nonce = auth.nonce_to_b64(nonce)
    return Chal(meta)


def _seen_type(hdr: SyncHdr, headers: Mapping[str, str]) -> str | None:
    if auth.HMAC_HEADER in {k.lower() for k in headers}:
        return "hmac"
    if hdr.cred is None:
        return None
    raw = (hdr.cred.meta.type if hdr.cred.meta else None) or ""
    # A Cred without Meta Type is basic by the representation protocol's default.
    return _TYPE_NAMES.get(raw.strip().lower(), raw.strip() or "basic")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


class ClientCheck:
    """Judges the device's credentials for one session."""

    def __init__(
        self,
        *,
        accounts: DmAccounts,
        store: NonceStore,
        device: str,
        outcome: AuthOutcome,
        force_challenge: bool = False,
    ) -> None:
        self._accounts = accounts
        self.account = accounts.primary  # the one whose credentials verified, once one did
        self._store = store
        self._device = device
        self._outcome = outcome
        self._force = force_challenge
        self._challenged_with: bytes | None = None  # a 401/407 nonce: the very next message
        self._offered_next: bytes | None = None  # the 212 NextNonce: from the next session
        self.accepted = False

    def delivered(self) -> None:
        """The device sent another message: it received the lab's last answer and nonce."""
        if self._offered_next is not None:
            self._store.confirm_client(self._device, self._offered_next)
            self._offered_next = None

    def check(self, hdr: SyncHdr, body: bytes, headers: Mapping[str, str]) -> HeaderAnswer:
        if self.accepted:
            return HeaderAnswer("200")  # 212 already given: the rest of the session is trusted
        seen = _seen_type(hdr, headers)
        verified, label, nonce, with_null, detail = self._verify(seen, hdr, body, headers)
        self._outcome.expected = self.account.client_auth
        self._outcome.account = self.account.role
        if self.account.client_auth == "none":
            answer = HeaderAnswer("200")
            verified = True
        elif self._force and not self._outcome.attempts:
            answer = self._challenge("401")
            detail = (detail + "; " if detail else "") + "challenge forced by the test"
        elif seen is None:
            answer = self._challenge("407")
        elif not verified:
            answer = self._challenge("401")
        else:
            answer = self._accept(label, nonce)
        self._outcome.attempts.append(
            AuthAttempt(
                msg_id=hdr.msg_id,
                type=seen,
                verified=verified and answer.code in ("200", "212"),
                answer=answer.code,
                nonce=nonce if verified else None,
                matched=label if verified else None,
                verifies_with_null=with_null,
                detail=detail,
            )
        )
        return answer

    def _candidates(self) -> list[tuple[str, bytes]]:
        if self._challenged_with is not None:
            # After a 401/407 the very next message must use that nonce, nothing older.
            return [("pending", self._challenged_with)]
        return self._store.client(self._device).candidates()

    def _verify(
        self, seen: str | None, hdr: SyncHdr, body: bytes, headers: Mapping[str, str]
    ) -> tuple[bool, str | None, bytes | None, bool, str]:
        """(verified, matched label, nonce, digest is the null one, detail).

        Every factory account whose client type is the one seen is tried: both accounts name
        the lab's server, so the device may use either; the one that verifies is the session's.
        """
        if seen is None:
            return False, None, None, False, "no credentials"
        accounts = [a for a in self._accounts if a.client_auth == seen]
        if not accounts:
            declared = " or ".join(sorted({a.client_auth for a in self._accounts}))
            return False, None, None, False, f"declared {declared}, device used {seen}"
        found: tuple[bool, str | None, bytes | None, bool, str] | None = None
        for account in accounts:
            result = self._verify_with(account, seen, hdr, body, headers)
            if result[0]:
                self.account = account
                return result
            found = found or result
        assert found is not None
        return found

    def _verify_with(
        self,
        account: DmAccount,
        seen: str,
        hdr: SyncHdr,
        body: bytes,
        headers: Mapping[str, str],
    ) -> tuple[bool, str | None, bytes | None, bool, str]:
        name, secret = account.client_name, account.client_secret
        detail = ""
        if seen == "basic":
            data = hdr.cred.data if hdr.cred else ""
            ok = data.strip() == auth.basic_credential(name, secret)
            return ok, None, None, False, "" if ok else _basic_detail(data, name)
        if seen == "md5":
            digest = (hdr.cred.data if hdr.cred else "").strip()

            def check(nonce: bytes) -> bool:
                return auth.verify_md5(name, secret, nonce, digest)

        elif seen == "hmac":
            try:
                parsed = auth.parse_hmac_header(_header(headers, auth.HMAC_HEADER) or "")
            except ProtocolError as exc:
                return False, None, None, False, str(exc)
            if parsed.username != name:
                detail = f"username {parsed.username!r} is not the declared client name"
            if parsed.algorithm.upper() != "MD5":
                detail = detail or f"algorithm {parsed.algorithm} (only MD5 is defined)"

            def check(nonce: bytes) -> bool:
                return auth.verify_hmac(name, secret, nonce, body, parsed.mac)

        else:
            return False, None, None, False, f"unknown credential type {seen!r}"
        with_null = check(NULL_NONCE)
        for label, nonce in self._candidates():
            if check(nonce):
                return True, label, nonce, with_null, detail
        return False, None, None, with_null, detail or "digest does not verify with the lab's nonce"

    def _challenge(self, code: str) -> HeaderAnswer:
        kind = self.account.client_auth
        nonce = auth.new_nonce() if kind in ("md5", "hmac") else None
        if nonce is not None:
            self._challenged_with = nonce
            self._store.offer_client(self._device, nonce)
        return HeaderAnswer(code, _chal(kind, nonce))

    def _accept(self, label: str | None, nonce: bytes | None) -> HeaderAnswer:
        self.accepted = True
        if label == "pending" and nonce is not None:
            self._store.confirm_client(self._device, nonce)
        if nonce is not None:
            self._store.spend_client(self._device, nonce)  # a replay of this digest: refused
        self._challenged_with = None
        kind = self.account.client_auth
        if kind not in ("md5", "hmac"):
            return HeaderAnswer("212")
        nxt = auth.new_nonce()
        self._offered_next = nxt
        self._store.offer_client(self._device, nxt)
        return HeaderAnswer("212", _chal(kind, nxt))


def _basic_detail(data: str, name: str) -> str:
    try:
        user = base64.b64decode(data.encode(), validate=True).split(b":", 1)[0]
    except (binascii.Error, ValueError):
        return "basic credential is not base64"
    if user.decode("utf-8", "replace") != name:
        return "basic credential names another user"
    return "basic credential has the wrong password"


class LabCredentials:
    """The lab's credentials towards the device, and the device's verdict on them.

    Made with the session's account (the one whose client credentials verified) and of the
    type that account's server AppAuth declares, until the device's Chal asks for another
    type the lab can make: then that one, said in the evidence (``AuthOutcome.notes``).
    """

    def __init__(
        self,
        *,
        account: DmAccount,
        store: NonceStore,
        device: str,
        outcome: AuthOutcome,
        wrong: bool = False,
    ) -> None:
        self._wrong = wrong  # a right-looking digest over a different secret
        self._store = store
        self._device = device
        self._outcome = outcome
        outcome.server_credential_wrong = wrong
        self._nonce = store.server(device)
        self.accepted = False  # the device answered 212: no more credentials this session
        self.account = account
        self.kind: str = account.server_auth
        self.switched = False  # the lab changed type on the device's Chal

    def use(self, account: DmAccount) -> None:
        """The session's account is known (its client credentials verified)."""
        if account is not self.account and not self.switched:
            self.kind = account.server_auth
        self.account = account

    @property
    def _server_id(self) -> str:
        return self.account.server_id

    @property
    def _secret(self) -> str:
        return self.account.lab_secret(wrong=self._wrong)

    @property
    def nonce(self) -> bytes:
        return self._nonce

    def cred(self) -> Cred | None:
        if self.accepted or self.kind not in ("md5", "basic"):
            return None
        if self.kind == "basic":
            data = auth.basic_credential(self._server_id, self._secret)
            return Cred(data, Meta(type=AUTH_BASIC, format="b64"))
        data = auth.md5_digest(self._server_id, self._secret, self._nonce)
        return Cred(data, Meta(type=AUTH_MD5, format="b64"))

    def hmac_header(self, body: bytes) -> str | None:
        if self.kind != "hmac":
            return None
        return auth.hmac_header(self._server_id, self._secret, self._nonce, body)

    def on_status(self, status: Status) -> str | None:
        """Take the device's Status on the lab's SyncHdr; returns a problem, if any."""
        code = status.data.strip()
        self._outcome.server_statuses.append(code)
        self._outcome.server_types.append(self.kind)
        problem = None
        next_nonce: bytes | None = None
        if status.chal is not None and status.chal.meta.next_nonce:
            try:
                next_nonce = auth.nonce_from_b64(status.chal.meta.next_nonce)
            except ProtocolError as exc:
                problem = str(exc)
        if next_nonce is not None:
            self._outcome.server_nonces.append(next_nonce)
            # Stored only now that the lab has it; 212 means "from the next session", 200/401/407
            # mean "from the very next message" (and the device keeps it for later sessions too).
            self._store.set_server(self._device, next_nonce)
            if code != "212":
                self._nonce = next_nonce
        if code == "212":
            self.accepted = True
        if code in ("401", "407") and status.chal is not None:
            self._follow(status.chal)
        return problem

    def _follow(self, chal: Chal) -> None:
        """Answer the device's Chal with the type it asks for, when the lab can make it."""
        raw = (chal.meta.type or "").strip()
        self._outcome.asked_type = raw or None
        asked = _TYPE_NAMES.get(raw.lower())
        if asked is None:
            self._outcome.notes.append(
                f"the device's Chal asks the lab for {raw or 'no type'}, which the lab cannot make"
            )
            return
        self.prefer(asked, f"the device's Chal asks the lab for {raw}")

    def prefer(self, kind: str, why: str) -> None:
        """Make the lab's credentials of ``kind`` from now on (``why``: for the evidence)."""
        if kind == self.kind:
            return
        self._outcome.notes.append(
            f"{why}; the lab answers with {kind} (the declaration says {self.kind} for the "
            f"{self.account.role} account)"
        )
        self.kind = kind
        self.switched = True
