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

WRONG_SECRET_SUFFIX = "-not-the-server-secret"  # a wrong secret that still looks like one
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
        declared: str,
        name: str,
        secret: str,
        store: NonceStore,
        device: str,
        outcome: AuthOutcome,
        force_challenge: bool = False,
    ) -> None:
        self._declared = declared
        self._name = name
        self._secret = secret
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
        if self._declared == "none":
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
        """(verified, matched label, nonce, digest is the null one, detail)."""
        if seen is None:
            return False, None, None, False, "no credentials"
        mismatch = seen != self._declared
        detail = f"declared {self._declared}, device used {seen}" if mismatch else ""
        if seen == "basic":
            data = hdr.cred.data if hdr.cred else ""
            ok = data.strip() == auth.basic_credential(self._name, self._secret)
            if not ok:
                detail = detail or _basic_detail(data, self._name)
            return ok and seen == self._declared, None, None, False, detail
        if seen == "md5":
            digest = (hdr.cred.data if hdr.cred else "").strip()

            def check(nonce: bytes) -> bool:
                return auth.verify_md5(self._name, self._secret, nonce, digest)

        elif seen == "hmac":
            try:
                parsed = auth.parse_hmac_header(_header(headers, auth.HMAC_HEADER) or "")
            except ProtocolError as exc:
                return False, None, None, False, str(exc)
            if parsed.username != self._name:
                detail = detail or f"username {parsed.username!r} is not the declared client name"
            if parsed.algorithm.upper() != "MD5":
                detail = detail or f"algorithm {parsed.algorithm} (only MD5 is defined)"

            def check(nonce: bytes) -> bool:
                return auth.verify_hmac(self._name, self._secret, nonce, body, parsed.mac)

        else:
            return False, None, None, False, detail or f"unknown credential type {seen!r}"
        with_null = check(NULL_NONCE)
        for label, nonce in self._candidates():
            if check(nonce):
                return seen == self._declared, label, nonce, with_null, detail
        return False, None, None, with_null, detail or "digest does not verify with the lab's nonce"

    def _challenge(self, code: str) -> HeaderAnswer:
        kind = self._declared
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
        if self._declared not in ("md5", "hmac"):
            return HeaderAnswer("212")
        nxt = auth.new_nonce()
        self._offered_next = nxt
        self._store.offer_client(self._device, nxt)
        return HeaderAnswer("212", _chal(self._declared, nxt))


def _basic_detail(data: str, name: str) -> str:
    try:
        user = base64.b64decode(data.encode(), validate=True).split(b":", 1)[0]
    except (binascii.Error, ValueError):
        return "basic credential is not base64"
    if user.decode("utf-8", "replace") != name:
        return "basic credential names another user"
    return "basic credential has the wrong password"


class LabCredentials:
    """The lab's credentials towards the device, and the device's verdict on them."""

    def __init__(
        self,
        *,
        declared: str,
        server_id: str,
        secret: str,
        store: NonceStore,
        device: str,
        outcome: AuthOutcome,
        wrong: bool = False,
    ) -> None:
        self._declared = declared
        self._server_id = server_id
        # A wrong credential is a right-looking digest over a different secret.
        self._secret = secret + WRONG_SECRET_SUFFIX if wrong else secret
        self._store = store
        self._device = device
        self._outcome = outcome
        outcome.server_credential_wrong = wrong
        self._nonce = store.server(device)
        self.accepted = False  # the device answered 212: no more credentials this session

    @property
    def nonce(self) -> bytes:
        return self._nonce

    def cred(self) -> Cred | None:
        if self.accepted or self._declared not in ("md5", "basic"):
            return None
        if self._declared == "basic":
            data = auth.basic_credential(self._server_id, self._secret)
            return Cred(data, Meta(type=AUTH_BASIC, format="b64"))
        data = auth.md5_digest(self._server_id, self._secret, self._nonce)
        return Cred(data, Meta(type=AUTH_MD5, format="b64"))

    def hmac_header(self, body: bytes) -> str | None:
        if self._declared != "hmac":
            return None
        return auth.hmac_header(self._server_id, self._secret, self._nonce, body)

    def on_status(self, status: Status) -> str | None:
        """Take the device's Status on the lab's SyncHdr; returns a problem, if any."""
        code = status.data.strip()
        self._outcome.server_statuses.append(code)
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
        return problem
