"""CBOR (60), LwM2M TS 1.1 §7.4.6: one single value per payload, typed by the object model."""

from __future__ import annotations

import cbor2
import pytest

from conformance.errors import ProtocolError
from conformance.lwm2m import codecs
from conformance.lwm2m.codecs import cbor
from conformance.lwm2m.model import ContentFormat, Path
from conformance.lwm2m.objects import ObjectRegistry


@pytest.mark.parametrize("path, value, raw", [
    ("/1/0/0", 1, b"\x01"),  # SSID, Unsigned: CBOR 0x01 (ETS int-211)
    ("/1/0/6", False, b"\xf4"),  # Notification Storing, Boolean
    ("/1/0/7", "U", b"\x61U"),  # Binding, String
    ("/3/0/13", 1367491215, cbor2.dumps(1367491215)),  # Current Time
    ("/3/0/7/1", 5000, cbor2.dumps(5000)),  # a resource instance
    ("/0/0/5", b"\x01\x02", b"\x42\x01\x02"),  # Opaque as a byte string
], ids=["unsigned", "boolean", "string", "time", "resource-instance", "opaque"])
def test_values_both_ways(registry: ObjectRegistry, path: str, value: object,
                          raw: bytes) -> None:
    target = Path.parse(path)
    assert cbor.encode(target, {target: value}, registry) == raw  # type: ignore[dict-item]
    assert cbor.decode(target, raw, registry) == {target: value}


def test_epoch_tag_and_integer_float(registry: ObjectRegistry) -> None:
    assert cbor.decode(Path(3, 0, 13), cbor2.dumps(cbor2.CBORTag(1, 7)), registry) == {
        Path(3, 0, 13): 7}
    assert codecs.supports(ContentFormat.CBOR, Path(3, 0, 0), registry)
    assert not codecs.supports(ContentFormat.CBOR, Path(3, 0), registry)
    assert not codecs.supports(ContentFormat.CBOR, Path(3, 0, 7), registry)  # multiple


@pytest.mark.parametrize("path, raw, message", [
    ("/1/0/6", b"\x01", "int value for a Boolean"),
    ("/1/0/1", b"\x61U", "str value for a Unsigned"),
    ("/1/0/1", b"\x9f", "invalid CBOR"),
    ("/3/0", b"\x01", "one value"),
    ("/3/0/7", b"\x01", "multiple resource"),
], ids=["bool-as-int", "string-for-int", "truncated", "instance", "multiple"])
def test_refused(registry: ObjectRegistry, path: str, raw: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        cbor.decode(Path.parse(path), raw, registry)
