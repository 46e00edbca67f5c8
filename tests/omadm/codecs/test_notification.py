"""Package 0 (DM Notification 1.2): bit layout, digest formula, round trips, bad input."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.errors import ProtocolError
from conformance.omadm import notification
from conformance.omadm.notification import Notification


def reference_digest(server_id: str, secret: str, nonce: bytes, trigger: bytes) -> bytes:
    def b64md5(data: bytes) -> bytes:
        return base64.b64encode(hashlib.md5(data).digest())

    return hashlib.md5(b64md5(f"{server_id}:{secret}".encode()) + b":" + nonce + b":"
                       + b64md5(trigger)).digest()


def test_layout_by_hand() -> None:
    data = notification.build("ATTLabA", "srv-secret", b"null", 0x1A2B,
                              ui_mode=2, initiator=1, vendor=b"\x01\x02")
    trigger = data[16:]
    # version 11 = 0000001011, ui-mode 10, initiator 1, 27 zero bits, session id, length 7
    bits = f"{int.from_bytes(trigger[:8], 'big'):064b}"
    assert bits[:10] == "0000001011" and bits[10:12] == "10" and bits[12] == "1"
    assert bits[13:40] == "0" * 27
    assert int(bits[40:56], 2) == 0x1A2B and int(bits[56:], 2) == 7
    assert trigger[8:15] == b"ATTLabA" and trigger[15:] == b"\x01\x02"
    assert data[:16] == reference_digest("ATTLabA", "srv-secret", b"null", trigger)


def test_parse_and_verify() -> None:
    data = notification.build("ATTLabA", "srv-secret", b"n0nce", 77, version=11)
    parsed = notification.parse(data)
    assert parsed == Notification(
        digest=data[:16], version=11, ui_mode=0, initiator=1, future=0, session_id=77,
        server_id="ATTLabA", vendor=b"", trigger=data[16:])
    assert notification.verify(parsed, "ATTLabA", "srv-secret", b"n0nce")
    assert not notification.verify(parsed, "ATTLabA", "srv-secret", b"other")
    assert not notification.verify(parsed, "ATTLabA", "wrong", b"n0nce")
    assert not notification.verify(parsed, "ATTLabB", "srv-secret", b"n0nce")


def test_tampered_trigger_fails_verification() -> None:
    data = bytearray(notification.build("srv", "pw", b"null", 5))
    data[-1] ^= 0x01  # last byte of the server identifier
    assert not notification.verify(notification.parse(bytes(data)), "srv", "pw", b"null")


def test_any_version_and_future_bits_are_reported() -> None:
    data = bytearray(notification.build("s", "p", b"", 1, version=1023))
    data[16 + 2] |= 0x40  # a future-use bit
    parsed = notification.parse(bytes(data))
    assert parsed.version == 1023 and parsed.future != 0


ids = st.text(max_size=40).filter(lambda s: len(s.encode()) <= 255)


@given(ids, st.text(max_size=20), st.binary(max_size=20), st.integers(0, 0xFFFF),
       st.integers(0, 1023), st.integers(0, 3), st.integers(0, 1), st.binary(max_size=100))
def test_round_trip(server_id: str, secret: str, nonce: bytes, session: int, version: int,
                    ui_mode: int, initiator: int, vendor: bytes) -> None:
    data = notification.build(server_id, secret, nonce, session, version=version,
                              ui_mode=ui_mode, initiator=initiator, vendor=vendor)
    parsed = notification.parse(data)
    assert (parsed.server_id, parsed.session_id, parsed.version, parsed.ui_mode,
            parsed.initiator, parsed.future, parsed.vendor) == (
        server_id, session, version, ui_mode, initiator, 0, vendor)
    assert parsed.digest == reference_digest(server_id, secret, nonce, data[16:])
    assert notification.verify(parsed, server_id, secret, nonce)


@pytest.mark.parametrize(
    "kwargs",
    [{"session_id": 0x10000}, {"version": 1024}, {"ui_mode": 4}, {"initiator": 2},
     {"session_id": -1}, {"server_id": "x" * 256}, {"vendor": b"v" * 3000}],
)
def test_build_refuses_values_that_do_not_fit(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"server_id": "s", "server_secret": "p", "nonce": b"",
                               "session_id": 1, **kwargs}
    with pytest.raises(ProtocolError):
        notification.build(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("length", [0, 10, 16, 23])
def test_truncated_header(length: int) -> None:
    data = notification.build("server", "pw", b"", 1)
    with pytest.raises(ProtocolError) as info:
        notification.parse(data[:length])
    assert info.value.where == f"byte {length}" + (" (digest)" if length < 16 else
                                                   " (trigger header)")


def test_truncated_server_id_and_oversized() -> None:
    data = notification.build("server", "pw", b"", 1)
    with pytest.raises(ProtocolError, match="server identifier of 6 bytes"):
        notification.parse(data[:-2])
    with pytest.raises(ProtocolError, match="exceed"):
        notification.parse(data + b"\x00" * notification.MAX_BYTES)
    bad_utf8 = data[:24] + b"\xff" * 6
    with pytest.raises(ProtocolError, match="not UTF-8"):
        notification.parse(bad_utf8)


@given(st.binary(max_size=300))
def test_random_bytes_raise_only_protocol_errors(data: bytes) -> None:
    try:
        notification.parse(data)
    except ProtocolError:
        pass
