"""DM Notification 1.2 (Package 0, the server-alerted session trigger), pure bytes <-> object.

Layout (OMA-TS-DM_Notification-V1_2; same bit layout in intel/libdmclient
dmcore/src/package0.c)::

    digest     128 bits  MD5, see below
    version     10 bits  the notification version (public DM 1.2.1 text: 0000001011 = 11)
    ui-mode      2 bits  0 not specified, 1 background, 2 informative, 3 user interaction
    initiator    1 bit   0 client, 1 server
    future      27 bits  zero
    session id  16 bits
    length       8 bits  of the server identifier
    server identifier    ``length`` octets
    vendor-specific trigger body (the rest)

digest = H(B64(H(server-identifier:password)):nonce:B64(H(trigger))), H = MD5, where trigger
is everything after the digest (header and body) and nonce the raw nonce octets.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from conformance.errors import ProtocolError
from conformance.omadm import auth

PROTOCOL = "dm-notification"
DIGEST_LEN = 16
HEADER_LEN = 8
# A trigger travels in one SMS (140 octets) or a few concatenated ones, or one UDP datagram;
# anything past this is not a notification but an attack on the parser.
MAX_BYTES = 2048
DEFAULT_VERSION = 11


@dataclass(frozen=True)
class Notification:
    digest: bytes
    version: int
    ui_mode: int
    initiator: int
    future: int
    session_id: int
    server_id: str
    vendor: bytes
    trigger: bytes  # header + server id + vendor body: what the digest covers


def digest(server_id: str, server_secret: str, nonce: bytes, trigger: bytes) -> bytes:
    """The 16-octet MD5 digest of a trigger (the md5 digest formula, over the trigger)."""
    return auth.body_digest(server_id, server_secret, nonce, trigger)


def _check_range(name: str, value: int, bits: int) -> None:
    if not 0 <= value < (1 << bits):
        raise ProtocolError(PROTOCOL, f"{name} {value} does not fit in {bits} bits", where=name)


def build(
    server_id: str,
    server_secret: str,
    nonce: bytes,
    session_id: int,
    *,
    version: int = DEFAULT_VERSION,
    ui_mode: int = 0,
    initiator: int = 1,
    vendor: bytes = b"",
) -> bytes:
    """A complete Package 0 message (digest + trigger)."""
    for name, value, bits in (
        ("version", version, 10),
        ("ui-mode", ui_mode, 2),
        ("initiator", initiator, 1),
        ("session id", session_id, 16),
    ):
        _check_range(name, value, bits)
    ident = server_id.encode("utf-8")
    _check_range("server identifier length", len(ident), 8)
    header = (version << 54) | (ui_mode << 52) | (initiator << 51) | (session_id << 8) | len(ident)
    trigger = header.to_bytes(HEADER_LEN, "big") + ident + vendor
    if DIGEST_LEN + len(trigger) > MAX_BYTES:
        raise ProtocolError(PROTOCOL, f"notification longer than {MAX_BYTES} bytes")
    return digest(server_id, server_secret, nonce, trigger) + trigger


def parse(data: bytes) -> Notification:
    """Read a Package 0 message; any version value is accepted and reported as sent."""
    if len(data) > MAX_BYTES:
        raise ProtocolError(
            PROTOCOL, f"{len(data)} bytes exceed {MAX_BYTES}", where=f"byte {MAX_BYTES}"
        )
    if len(data) < DIGEST_LEN + HEADER_LEN:
        part = "digest" if len(data) < DIGEST_LEN else "trigger header"
        needed = DIGEST_LEN + HEADER_LEN
        raise ProtocolError(
            PROTOCOL,
            f"truncated: {len(data)} bytes, at least {needed} needed",
            where=f"byte {len(data)} ({part})",
            data=data,
        )
    header = int.from_bytes(data[DIGEST_LEN : DIGEST_LEN + HEADER_LEN], "big")
    length = header & 0xFF
    start = DIGEST_LEN + HEADER_LEN
    if len(data) < start + length:
        raise ProtocolError(
            PROTOCOL,
            f"truncated: server identifier of {length} bytes, {len(data) - start} present",
            where=f"byte {len(data)}",
            data=data,
        )
    try:
        server_id = data[start : start + length].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(
            PROTOCOL,
            "server identifier is not UTF-8",
            where=f"byte {start}",
            data=data[start : start + length],
        ) from None
    return Notification(
        digest=data[:DIGEST_LEN],
        version=header >> 54,
        ui_mode=(header >> 52) & 0x3,
        initiator=(header >> 51) & 0x1,
        future=(header >> 24) & ((1 << 27) - 1),
        session_id=(header >> 8) & 0xFFFF,
        server_id=server_id,
        vendor=data[start + length :],
        trigger=data[DIGEST_LEN:],
    )


def verify(notification: Notification, server_id: str, server_secret: str, nonce: bytes) -> bool:
    """Whether the digest is right for these credentials and nonce (constant-time compare)."""
    expected = digest(server_id, server_secret, nonce, notification.trigger)
    return hmac.compare_digest(expected, notification.digest)
