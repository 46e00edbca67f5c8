"""Plain text (0) and opaque (42): one value of a single resource or resource instance."""

from __future__ import annotations

import pytest

from conformance.errors import ProtocolError
from conformance.lwm2m.codecs import opaque, text
from conformance.lwm2m.model import ObjLink, Path
from conformance.lwm2m.objects import ObjectRegistry


@pytest.mark.parametrize(
    ("path", "value", "wire"),
    [
        ("/3/0/0", "MyManufacturer", "MyManufacturer"),  # Leshan text_manufacturer_resource
        ("/3/0/9", 100, "100"),  # Leshan text_battery_resource
        ("/10241/0/5905", "Ünïcode Host", "Ünïcode Host"),
        ("/3/0/13", 1367491215, "1367491215"),
        ("/3/0/6/1", -5, "-5"),
        ("/1/0/6", True, "1"),
        ("/1/0/6", False, "0"),
        ("/1/0/1", 2**64 - 1, str(2**64 - 1)),
        ("/60000/0/3", 1.5, "1.5"),
        ("/60000/0/3", -2.5e-10, "-2.5e-10"),
        ("/3/0/22/0", ObjLink(10241, 0), "10241:0"),
        ("/3/0/14", "", ""),
    ],
)
def test_text_values(registry: ObjectRegistry, path: str, value: object, wire: str) -> None:
    p = Path.parse(path)
    assert text.encode(p, {p: value}, registry) == wire.encode()  # type: ignore[dict-item]
    assert text.decode(p, wire.encode(), registry) == {p: value}


def test_text_float_accepts_integers_and_exponents(registry: ObjectRegistry) -> None:
    p = Path(60000, 0, 3)
    assert text.decode(p, b"3", registry) == {p: 3.0}
    assert text.decode(p, b"1E3", registry) == {p: 1000.0}
    assert text.encode(p, {p: 3}, registry) == b"3.0"


@pytest.mark.parametrize(
    ("path", "payload", "message"),
    [
        ("/3/0/9", b"12a", "not a decimal integer"),
        ("/3/0/9", b" 12", "not a decimal integer"),
        ("/3/0/9", b"1_000", "not a decimal integer"),
        ("/3/0/9", b"", "not a decimal integer"),
        ("/3/0/9", str(2**63).encode(), "out of range"),
        ("/1/0/1", b"-1", "out of range"),
        ("/1/0/6", b"true", "not 0 or 1"),
        ("/60000/0/3", b"nan", "not a decimal number"),
        ("/60000/0/3", b"1e999", "overflows"),
        ("/3/0/22/0", b"3:", "not an object link"),
        ("/3/0/22/0", b"3:70000", "not an object link"),
        ("/5/0/0", b"AQIDBAU=", "no plain-text form"),
        ("/3/0/0", b"\xff\xfe", "not UTF-8"),
        ("/3/0", b"x", "carries one value"),
        ("/3/0/6", b"1", "multiple resource"),
        ("/3/0/4", b"", "executable"),
    ],
)
def test_text_rejects(registry: ObjectRegistry, path: str, payload: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message) as info:
        text.decode(Path.parse(path), payload, registry)
    assert info.value.protocol == "lwm2m-text"


def test_text_encoder_checks_content(registry: ObjectRegistry) -> None:
    p = Path(3, 0, 9)
    with pytest.raises(ProtocolError, match="exactly /3/0/9"):
        text.encode(p, {p: 1, Path(3, 0, 10): 2}, registry)
    with pytest.raises(ProtocolError, match="no plain-text form"):
        text.encode(Path(5, 0, 0), {Path(5, 0, 0): b"\x01"}, registry)
    with pytest.raises(ProtocolError, match="bool value for a Integer"):
        text.encode(p, {p: True}, registry)


def test_text_without_definition_is_a_string(registry: ObjectRegistry) -> None:
    p = Path(33333, 0, 1)
    assert text.decode(p, b"42", registry) == {p: "42"}
    assert text.encode(p, {p: 42}, registry) == b"42"


def test_opaque(registry: ObjectRegistry) -> None:
    p = Path(5, 0, 0)
    firmware = bytes(range(256)) * 4
    assert opaque.encode(p, {p: firmware}, registry) == firmware
    assert opaque.decode(p, firmware, registry) == {p: firmware}
    assert opaque.decode(p, b"", registry) == {p: b""}
    assert opaque.decode(Path(9999, 0, 0), b"\x00", registry) == {Path(9999, 0, 0): b"\x00"}
    with pytest.raises(ProtocolError, match="not Opaque"):
        opaque.decode(Path(3, 0, 0), b"x", registry)
    with pytest.raises(ProtocolError, match="carries one value"):
        opaque.decode(Path(5, 0), b"x", registry)
    with pytest.raises(ProtocolError, match="str value for a Opaque"):
        opaque.encode(p, {p: "x"}, registry)
