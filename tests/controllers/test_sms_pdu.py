"""WAP Push SMS encoding of Package 0 (pure), checked against a hand-built vector."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.controllers import sms
from conformance.errors import ProtocolError


def test_single_sms_matches_the_hand_built_pdu() -> None:
    pdus = sms.wap_push_sms("+1234", b"\x01\x02", transaction_id=0)
    expected = (
        "00"  # SMSC: the modem's default
        "41"  # SMS-SUBMIT, TP-UDHI, no validity period
        "00"  # TP-MR
        "049121 43".replace(" ", "")  # TP-DA: 4 digits, international, BCD swapped
        + "00"  # TP-PID
        "04"  # TP-DCS 8-bit data
        "0F"  # TP-UDL: 15 octets
        "06"
        "05040B8423F0"  # UDH: ports 2948 <- 9200
        "00"
        "06"
        "03"
        "C4"
        "AF87"  # WSP: TID 0, Push, 3 header octets, type 0x44, app id 7
        "0102"  # Package 0
    )
    assert pdus == [sms.SubmitPdu(hex=expected, tpdu_length=len(expected) // 2 - 1)]


def test_national_number_and_odd_digit_count() -> None:
    assert sms.encode_address("12345") == bytes.fromhex("05812143F5")
    number, end = sms.decode_address(bytes.fromhex("05812143F5"), 0)
    assert (number, end) == ("12345", 5)


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 16383, 16384, 2**32 - 1])
def test_uintvar_round_trip(value: int) -> None:
    encoded = sms.encode_uintvar(value)
    assert sms.decode_uintvar(encoded, 0) == (value, len(encoded))


@given(
    body=st.binary(max_size=3000),
    number=st.from_regex(r"\+?[0-9]{3,15}", fullmatch=True),
    reference=st.integers(0, 255),
)
def test_any_package0_survives_the_round_trip(body: bytes, number: str, reference: int) -> None:
    pdus = sms.wap_push_sms(number, body, reference=reference)
    parts = [sms.parse_submit_pdu(p.hex) for p in pdus]
    for pdu, part in zip(pdus, parts, strict=True):
        assert part.tpdu_length == pdu.tpdu_length
        assert part.destination == number
        assert len(part.payload) + 1 + sum(2 + len(d) for _, d in part.information_elements) <= 140
    if len(parts) > 1:
        assert {p.concatenation[0] for p in parts if p.concatenation} == {reference}
    assert sms.parse_wsp_push(sms.reassemble(parts)).body == body


@given(st.binary(max_size=200))
def test_garbage_raises_only_protocol_error(data: bytes) -> None:
    try:
        sms.parse_submit_pdu(data.hex())
    except ProtocolError:
        pass
    try:
        sms.parse_wsp_push(data)
    except ProtocolError:
        pass


def test_inconsistent_parts_are_refused() -> None:
    parts = [sms.parse_submit_pdu(p.hex) for p in sms.wap_push_sms("123", bytes(500))]
    with pytest.raises(ProtocolError, match="inconsistent concatenation"):
        sms.reassemble(parts[:-1])
