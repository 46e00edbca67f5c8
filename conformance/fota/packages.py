"""Firmware packages the lab serves: a small reference image format and its broken variants.

The reference devices accept only images that pass :func:`image_info`, so a FOTA case can tell
a device that checks integrity from one that does not. Layout (big-endian)::

    magic   8 bytes   b"CONFWIM1"
    vlen    2 bytes   length of the version string
    version vlen      UTF-8, the firmware version the device reports after the update
    blen    4 bytes   body length
    sha256  32 bytes  over version || body
    body    blen      deterministic filler derived from the version

:func:`corrupted` and :func:`truncated` take *any* bytes (a vendor image too): the negative
FOTA cases need a broken package whatever the format. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from conformance.errors import ProtocolError

MAGIC = b"CONFWIM1"
# Reference images whose version ends so ask the reference devices to fail in a way no
# well-formed package can provoke (the ETS error cases; vendors declare their own packages):
OUT_OF_RAM_MARK = "+out-of-ram"  # the download runs out of RAM (Update Result 3)
UPDATE_FAILURE_MARK = "+update-failure"  # it installs but the update fails (Update Result 8)
_PROTOCOL = "fota-image"
_DIGEST_LEN = 32


@dataclass(frozen=True)
class ImageInfo:
    version: str
    size: int  # the whole image, in bytes
    body_size: int
    digest: str  # sha256 hex of the whole image (what a download is compared with)


def header_size(version: str) -> int:
    return len(MAGIC) + 2 + len(version.encode()) + 4 + _DIGEST_LEN


def _filler(version: bytes, length: int) -> bytes:
    # Counter-mode SHA-256: the same version always gives the same image, so reruns compare.
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(version + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:length])


def make_reference_image(version: str, size: int = 64 * 1024) -> bytes:
    """An image of exactly ``size`` bytes (at least the header) announcing ``version``."""
    raw_version = version.encode()
    if not raw_version or len(raw_version) > 0xFFFF:
        raise ValueError("version must be 1..65535 bytes of UTF-8")
    body = _filler(raw_version, max(0, size - header_size(version)))
    digest = hashlib.sha256(raw_version + body).digest()
    return b"".join(
        (
            MAGIC,
            struct.pack(">H", len(raw_version)),
            raw_version,
            struct.pack(">I", len(body)),
            digest,
            body,
        )
    )


def image_info(data: bytes) -> ImageInfo:
    """Check a reference image; :class:`ProtocolError` says what is wrong and where."""
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise ProtocolError(
            _PROTOCOL, "not a reference image (bad magic)", where="byte 0", data=data[:16]
        )
    pos = len(MAGIC)
    if len(data) < pos + 2:
        raise ProtocolError(_PROTOCOL, "truncated in the version length", where=f"byte {pos}")
    (vlen,) = struct.unpack_from(">H", data, pos)
    pos += 2
    if len(data) < pos + vlen:
        raise ProtocolError(_PROTOCOL, "truncated in the version", where=f"byte {pos}")
    try:
        version = data[pos : pos + vlen].decode()
    except UnicodeDecodeError:
        raise ProtocolError(_PROTOCOL, "version is not UTF-8", where=f"byte {pos}") from None
    raw_version = data[pos : pos + vlen]
    pos += vlen
    if len(data) < pos + 4 + _DIGEST_LEN:
        raise ProtocolError(_PROTOCOL, "truncated in the header", where=f"byte {pos}")
    (blen,) = struct.unpack_from(">I", data, pos)
    pos += 4
    digest = data[pos : pos + _DIGEST_LEN]
    pos += _DIGEST_LEN
    body = data[pos:]
    if len(body) < blen:
        raise ProtocolError(
            _PROTOCOL, f"truncated: body has {len(body)} of {blen} bytes", where=f"byte {len(data)}"
        )
    if len(body) > blen:
        raise ProtocolError(
            _PROTOCOL, f"{len(body) - blen} bytes after the body", where=f"byte {pos + blen}"
        )
    if hashlib.sha256(raw_version + body).digest() != digest:
        raise ProtocolError(
            _PROTOCOL,
            "sha256 does not match the body (corrupted)",
            where=f"byte {pos - _DIGEST_LEN}",
        )
    return ImageInfo(version, len(data), blen, hashlib.sha256(data).hexdigest())


def corrupted(data: bytes) -> bytes:
    """Same length, one byte flipped past the middle (in the body of any usual format)."""
    if not data:
        return b"\xff"
    out = bytearray(data)
    at = len(out) * 3 // 4
    out[at] ^= 0xFF
    return bytes(out)


def truncated(data: bytes) -> bytes:
    """The first half (at least one byte short of the original)."""
    return data[: max(0, min(len(data) // 2, len(data) - 1))]
