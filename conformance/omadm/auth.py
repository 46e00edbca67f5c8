"""OMA DM 1.2 authentication values: basic, MD5 digest and the HMAC-MD5 transport header.

Formulas (OMA-TS-DM_Security-V1_2, sections on syncml:auth-md5 and HMAC), checked against
libdmclient (intel/libdmclient dmcore/src/credentials.c ``prv_get_digest_md5``):

- basic:  B64(name ":" secret)
- md5:    B64(H(B64(H(name ":" secret)) ":" nonce))
- HMAC:   B64(H(B64(H(name ":" secret)) ":" nonce ":" B64(H(body))))

``nonce`` is always the raw nonce octets, i.e. the base64-decoded NextNonce (the initial
AAuthData ``bnVsbA==`` is the four bytes ``null``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from conformance.errors import ProtocolError

PROTOCOL = "syncml-auth"
NULL_NONCE = b"null"
HMAC_HEADER = "x-syncml-hmac"


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def _h(data: bytes) -> bytes:
    return hashlib.md5(data).digest()


def _b64_h_credentials(name: str, secret: str) -> bytes:
    return _b64(_h(f"{name}:{secret}".encode()))


def basic_credential(name: str, secret: str) -> str:
    """``syncml:auth-basic`` Cred data: B64(name:secret)."""
    return _b64(f"{name}:{secret}".encode()).decode("ascii")


def md5_digest(name: str, secret: str, nonce: bytes) -> str:
    """``syncml:auth-md5`` Cred data: B64(H(B64(H(name:secret)):nonce))."""
    return _b64(_h(_b64_h_credentials(name, secret) + b":" + nonce)).decode("ascii")


def body_digest(name: str, secret: str, nonce: bytes, body: bytes) -> bytes:
    """H(B64(H(name:secret)):nonce:B64(H(body))): the HMAC mac and the Package 0 digest."""
    return _h(_b64_h_credentials(name, secret) + b":" + nonce + b":" + _b64(_h(body)))


def hmac_mac(name: str, secret: str, nonce: bytes, body: bytes) -> str:
    """The ``mac`` of x-syncml-hmac: B64(H(B64(H(name:secret)):nonce:B64(H(body))))."""
    return _b64(body_digest(name, secret, nonce, body)).decode("ascii")


def hmac_header(name: str, secret: str, nonce: bytes, body: bytes, algorithm: str = "MD5") -> str:
    """The x-syncml-hmac header value for ``body``."""
    mac = hmac_mac(name, secret, nonce, body)
    return f'algorithm={algorithm}, username="{name}", mac={mac}'


@dataclass(frozen=True)
class HmacHeader:
    algorithm: str
    username: str
    mac: str


# key=value or key="value" (quotes optional: clients differ), separated by commas.
_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*("([^"]*)"|[^,\s]*)\s*(?:,|$)')


def parse_hmac_header(value: str) -> HmacHeader:
    """Parse an x-syncml-hmac value; the algorithm defaults to MD5 as the spec says."""
    params: dict[str, str] = {}
    pos = 0
    text = value.strip()
    while pos < len(text):
        match = _PARAM.match(text, pos)
        if match is None or match.end() == pos:
            raise ProtocolError(
                PROTOCOL,
                f"unreadable {HMAC_HEADER} header",
                where=f"{HMAC_HEADER} offset {pos}",
                data=value.encode()[:64],
            )
        key = match.group(1).lower()
        if key in params:
            raise ProtocolError(PROTOCOL, f"{key} given twice", where=HMAC_HEADER)
        raw = match.group(2)
        params[key] = match.group(3) if raw.startswith('"') else raw
        pos = match.end()
    for key in ("username", "mac"):
        if not params.get(key):
            raise ProtocolError(PROTOCOL, f"{HMAC_HEADER} without {key}", where=HMAC_HEADER)
    return HmacHeader(params.get("algorithm", "MD5"), params["username"], params["mac"])


def verify_md5(name: str, secret: str, nonce: bytes, digest: str) -> bool:
    return hmac.compare_digest(md5_digest(name, secret, nonce).encode(), digest.encode())


def verify_hmac(name: str, secret: str, nonce: bytes, body: bytes, mac: str) -> bool:
    """Constant-time check of a received mac over the exact body bytes."""
    return hmac.compare_digest(hmac_mac(name, secret, nonce, body).encode(), mac.encode())


def new_nonce() -> bytes:
    """A fresh 16-byte nonce (send it base64-encoded in NextNonce)."""
    return secrets.token_bytes(16)


def nonce_to_b64(nonce: bytes) -> str:
    return _b64(nonce).decode("ascii")


def nonce_from_b64(text: str) -> bytes:
    """The raw nonce of a NextNonce/AAuthData value; bad base64 is a ProtocolError."""
    try:
        return base64.b64decode(text.strip().encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ProtocolError(
            PROTOCOL,
            "NextNonce is not base64",
            where="NextNonce",
            data=text.encode("utf-8", "replace"),
        ) from None
