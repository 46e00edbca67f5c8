"""TLV (11542): fixed vectors from the LwM2M TS examples (as Leshan's tests carry them), the
integer-size rule, and what the decoder must refuse."""

from __future__ import annotations

import pytest

from conformance.errors import ProtocolError
from conformance.lwm2m.codecs import tlv
from conformance.lwm2m.model import ObjLink, Path
from conformance.lwm2m.objects import ObjectRegistry

# Vectors from eclipse-leshan/leshan leshan-core/src/test/java/org/eclipse/leshan/core/node/
# codec/LwM2mNodeDecoderTest.java, which takes them from the LwM2M TS 1.0 TLV examples.
# Device object instance 0 as bare resource TLVs (TS §6.4.3.1 example):
DEVICE_RESOURCES = bytes.fromhex(
    "C800144F70656E204D6F62696C6520416C6C69616E6365C801164c69676874776569676874204d324d20436c69"
    "656e74C80209333435303030313233C303312E30860641000141010588070842000ED842011388870841007D42"
    "010384C10964C10A0F830B410000C40D5182428FC60E2B30323A3030C11055"
)
# The same inside one object-instance TLV (TS §6.4.3.2 A):
DEVICE_INSTANCE = bytes.fromhex("080079") + DEVICE_RESOURCES
# One Server object instance (TS §6.4.3.2 C):
SERVER = bytes.fromhex("08000FC10001C40100015180C10601C10755")
# Object 65 instance 0 with an object-link multiple resource (TS §6.4.3.3 1):
OBJ65 = bytes.fromhex("88000C440000420000440100420001C8010D38363133383030373535353030C40212345678")
# Object 66 with two instances (TS §6.4.3.3 2):
OBJ66 = bytes.fromhex(
    "080026C8000B6D79536572766963652031C8010F496E7465726E65742E31352E323334C40200430000080126C8"
    "000B6D79536572766963652032C8010F496E7465726E65742E31352E323335C402FFFFFFFF"
)

DEVICE = {
    Path(3, 0, 0): "Open Mobile Alliance",
    Path(3, 0, 1): "Lightweight M2M Client",
    Path(3, 0, 2): "345000123",
    Path(3, 0, 3): "1.0",
    Path(3, 0, 6, 0): 1, Path(3, 0, 6, 1): 5,
    Path(3, 0, 7, 0): 3800, Path(3, 0, 7, 1): 5000,
    Path(3, 0, 8, 0): 125, Path(3, 0, 8, 1): 900,
    Path(3, 0, 9): 100,
    Path(3, 0, 10): 15,
    Path(3, 0, 11, 0): 0,
    Path(3, 0, 13): 1367491215,
    Path(3, 0, 14): "+02:00",
    Path(3, 0, 16): "U",
}


def test_device_instance_from_bare_resources(registry: ObjectRegistry) -> None:
    assert tlv.decode(Path(3, 0), DEVICE_RESOURCES, registry) == DEVICE


def test_device_instance_inside_an_instance_tlv(registry: ObjectRegistry) -> None:
    assert tlv.decode(Path(3, 0), DEVICE_INSTANCE, registry) == DEVICE
    assert tlv.decode(Path(3), DEVICE_INSTANCE, registry) == DEVICE


def test_device_instance_encodes_to_the_ts_bytes(registry: ObjectRegistry) -> None:
    assert tlv.encode(Path(3, 0), DEVICE, registry) == DEVICE_RESOURCES
    assert tlv.encode(Path(3), DEVICE, registry) == DEVICE_INSTANCE


def test_server_object(registry: ObjectRegistry) -> None:
    expected = {Path(1, 0, 0): 1, Path(1, 0, 1): 86400, Path(1, 0, 6): True,
                Path(1, 0, 7): "U"}
    assert tlv.decode(Path(1), SERVER, registry) == expected
    assert tlv.encode(Path(1), expected, registry) == SERVER


def test_object_links(registry: ObjectRegistry) -> None:
    expected = {Path(65, 0, 0, 0): ObjLink(66, 0), Path(65, 0, 0, 1): ObjLink(66, 1),
                Path(65, 0, 1): "8613800755500", Path(65, 0, 2): 0x12345678}
    assert tlv.decode(Path(65, 0), OBJ65, registry) == expected
    in_instance = bytes([0x08, 0x00, len(OBJ65)]) + OBJ65
    assert tlv.decode(Path(65), in_instance, registry) == expected
    assert tlv.encode(Path(65, 0), expected, registry) == OBJ65
    assert tlv.encode(Path(65), expected, registry) == in_instance


def test_two_instances_with_links(registry: ObjectRegistry) -> None:
    expected = {
        Path(66, 0, 0): "myService 1", Path(66, 0, 1): "Internet.15.234",
        Path(66, 0, 2): ObjLink(67, 0),
        Path(66, 1, 0): "myService 2", Path(66, 1, 1): "Internet.15.235",
        Path(66, 1, 2): ObjLink(65535, 65535),
    }
    assert tlv.decode(Path(66), OBJ66, registry) == expected
    assert tlv.encode(Path(66), expected, registry) == OBJ66


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"), (100, "64"), (127, "7f"), (-128, "80"),
        (128, "0080"), (202, "00ca"), (-129, "ff7f"), (32767, "7fff"), (-32768, "8000"),
        (32768, "00008000"), (1245823, "0013027f"), (2**31 - 1, "7fffffff"),
        (-(2**31), "80000000"), (2**31, "0000000080000000"), (2**63 - 1, "7fffffffffffffff"),
        (-(2**63), "8000000000000000"),
    ],
)
def test_integers_take_the_smallest_of_1_2_4_8_bytes(value: int, encoded: str) -> None:
    # Size boundaries as in Leshan's TlvEncoderTest (leshan-core/src/test/java/org/eclipse/
    # leshan/core/tlv/TlvEncoderTest.java); 202 -> 00 ca is the AT&T requirement's own example.
    assert tlv.encode_int(value).hex() == encoded
    assert tlv.decode_value(tlv.ResourceType.INTEGER, bytes.fromhex(encoded), "x") == value


def test_resource_202_on_the_wire(registry: ObjectRegistry) -> None:
    assert tlv.encode(Path(3, 0, 9), {Path(3, 0, 9): 202}, registry).hex() == "c20900ca"


def test_unsigned_integers(registry: ObjectRegistry) -> None:
    path = Path(1, 0, 1)  # Lifetime, Unsigned Integer
    assert tlv.encode(path, {path: 2**64 - 1}, registry).hex() == "c801" + "08" + "ff" * 8
    assert tlv.decode(path, bytes.fromhex("c80108" + "ff" * 8), registry) == {path: 2**64 - 1}
    assert tlv.encode(path, {path: 200}, registry).hex() == "c20100c8"


def test_floats_use_four_bytes_when_exact(registry: ObjectRegistry) -> None:
    assert tlv.encode_float(1.5).hex() == "3fc00000"
    assert tlv.encode_float(0.1).hex() == "3fb999999999999a"
    assert tlv.encode_float(float("inf")).hex() == "7ff0000000000000"
    path = Path(60000, 0, 3)
    assert tlv.decode(path, bytes.fromhex("c4033fc00000"), registry) == {path: 1.5}
    with pytest.raises(ProtocolError, match="float of 2 bytes"):
        tlv.decode(path, bytes.fromhex("c2033fc0"), registry)


def test_multiple_resource_forms(registry: ObjectRegistry) -> None:
    path = Path(3, 0, 6)
    expected = {Path(3, 0, 6, 0): 1, Path(3, 0, 6, 1): 5}
    bare = bytes([65, 0, 1, 65, 1, 5])  # Leshan tlv_power_source__array_values
    wrapped = bytes([0x86, 6]) + bare  # Leshan tlv_power_source__multiple_resource
    assert tlv.decode(path, bare, registry) == expected
    assert tlv.decode(path, wrapped, registry) == expected
    assert tlv.encode(path, expected, registry) == wrapped
    assert tlv.decode(path, b"", registry) == {}
    assert tlv.encode(Path(3, 0, 6, 1), {Path(3, 0, 6, 1): 5}, registry).hex() == "410105"
    assert tlv.decode(Path(3, 0, 6, 1), bytes.fromhex("410105"), registry) == {
        Path(3, 0, 6, 1): 5}


def test_empty_instance_and_object(registry: ObjectRegistry) -> None:
    assert tlv.decode(Path(3, 0), b"", registry) == {Path(3, 0): None}
    assert tlv.decode(Path(1), b"", registry) == {}
    assert tlv.decode(Path(1), bytes.fromhex("0000"), registry) == {Path(1, 0): None}
    assert tlv.encode(Path(1), {Path(1, 0): None}, registry).hex() == "0000"
    assert tlv.encode(Path(1, 0), {Path(1, 0): None}, registry) == b""


def test_long_values_use_length_fields() -> None:
    assert tlv.header(3, 1, 7).hex() == "c701"
    assert tlv.header(3, 1, 8).hex() == "c80108"
    assert tlv.header(3, 1, 256).hex() == "d0010100"
    assert tlv.header(3, 1, 65536).hex() == "d801010000"
    assert tlv.header(3, 300, 1).hex() == "e1012c"
    with pytest.raises(ProtocolError):
        tlv.header(3, 1, 1 << 24)


def test_unknown_resources_decode_to_bytes(registry: ObjectRegistry) -> None:
    # 16-bit id (bit 5) 999 = 03e7, two value bytes
    payload = bytes.fromhex("e203e7abcd")
    assert tlv.decode(Path(3, 0, 999), payload, registry) == {Path(3, 0, 999): b"\xab\xcd"}
    assert tlv.decode(Path(3, 0), payload, registry) == {Path(3, 0, 999): b"\xab\xcd"}


@pytest.mark.parametrize(
    ("path", "payload", "message", "where"),
    [
        ("/3/0/9", "c50964", "claims 5 bytes, 1 remain", "byte 0"),
        ("/3/0", "c10964c8", "truncated entry header", "byte 3"),
        ("/3/0", "c1096400", "truncated entry header", "byte 3"),
        ("/3/0/9", "c10964c10a0f", "2 entries for the single resource", "byte 0"),
        ("/3/0/9", "c30900ca00", "integer of 3 bytes", "byte 0"),
        ("/3/0/9", "c509000000ca00", "integer of 5 bytes", "byte 0"),
        ("/3/0/9", "c609" + "00" * 6, "integer of 6 bytes", "byte 0"),
        ("/3/0/9", "c709" + "00" * 7, "integer of 7 bytes", "byte 0"),
        ("/1/0/6", "c10602", "boolean is 02", "byte 0"),
        ("/1/0/6", "c006", "boolean is empty", "byte 0"),
        ("/3/0", "410101", "resource instance 1 where /3/0 allows", "byte 0"),
        ("/3", "c10964", "resource 9 where /3 allows object instance", "byte 0"),
        ("/3/0", "0000c10964", "object instance 0 where /3/0 allows", "byte 0"),
        ("/3/0/9", "c10a0f", "resource 10 where /3/0/9 was addressed", "byte 0"),
        ("/3/0", "080103c10964", "object instance 1 where /3/0 was addressed", "byte 0"),
        ("/3/0/6", "8606410001410001", "/3/0/6/0 appears twice", "byte 5"),
        ("/3/0", "c10964c10964", "resource 9 appears twice", "byte 3"),
        ("/1", "00000000", "object instance 0 appears twice", "byte 2"),
        ("/3/0", "c30600ca00", "is a multiple resource, sent as single", "byte 0"),
        ("/3/0", "830941000a", "is a single resource, sent as multiple", "byte 0"),
        ("/3/0", "8306c10964", "resource 9 where /3/0/6 allows resource instance", "byte 2"),
        ("/3/0/0", "c30080ff41", "not UTF-8", "byte 0"),
        ("/3/0/22/0", "4300000301", "object link of 3 bytes", "byte 0"),
        ("/3/0/6/0", "410001410101", "2 entries for the resource instance", "byte 0"),
        ("/3/0/0", "", "0 entries for the single resource", "byte 0"),
        ("/2", "0800050800020000", "nested too deep", "byte 6"),
        ("/2", "0800020000", "object instance 0 where /2/0 allows resource", "byte 3"),
    ],
)
def test_decoder_rejects_with_the_byte_offset(registry: ObjectRegistry, path: str, payload: str,
                                              message: str, where: str) -> None:
    with pytest.raises(ProtocolError, match=message) as info:
        tlv.decode(Path.parse(path), bytes.fromhex(payload), registry)
    assert info.value.protocol == "lwm2m-tlv"
    assert info.value.where == where


def test_nesting_deeper_than_the_format_allows() -> None:
    deep = bytes.fromhex("0600" + "8400" + "0200" + "0000")
    with pytest.raises(ProtocolError, match="nested too deep"):
        tlv.parse(deep)


def test_encoder_refuses_content_outside_the_path(registry: ObjectRegistry) -> None:
    with pytest.raises(ProtocolError, match="not below"):
        tlv.encode(Path(3, 0), {Path(4, 0, 0): 1}, registry)
    with pytest.raises(ProtocolError, match="str value for a Integer"):
        tlv.encode(Path(3, 0, 9), {Path(3, 0, 9): "x"}, registry)
    with pytest.raises(ProtocolError, match="executable"):
        tlv.encode(Path(3, 0, 4), {Path(3, 0, 4): b""}, registry)
    with pytest.raises(ProtocolError, match="needs instance paths"):
        tlv.encode(Path(3, 0), {Path(3, 0, 6): 1}, registry)


def test_resource_inside_its_object_instance_is_tolerated(registry: ObjectRegistry) -> None:
    # Leshan tlv_resource_with_undesired_object_instance / ..._invalid_object_instance
    inner = tlv.entry(tlv.RESOURCE_VALUE, 1, b"client")
    assert tlv.decode(Path(3, 0, 1), tlv.entry(tlv.OBJECT_INSTANCE, 0, inner), registry) == {
        Path(3, 0, 1): "client"}
    with pytest.raises(ProtocolError, match="object instance 1 where /3/0 was addressed"):
        tlv.decode(Path(3, 0, 1), tlv.entry(tlv.OBJECT_INSTANCE, 1, inner), registry)


def test_large_values_round_trip(registry: ObjectRegistry) -> None:
    package = Path(5, 0, 0)
    for size in (7, 8, 255, 256, 65535, 65536, 200_000):
        blob = bytes(range(256)) * (size // 256) + bytes(size % 256)
        wire = tlv.encode(package, {package: blob}, registry)
        assert len(wire) == len(blob) + 2 + (0 if size <= 7 else 1 if size <= 255
                                             else 2 if size <= 65535 else 3)
        assert tlv.decode(package, wire, registry) == {package: blob}
