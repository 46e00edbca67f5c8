"""Composite payloads (Read-/Write-/Observe-Composite, LwM2M TS 1.1 §5.4.3-5.4.4): path lists
and full-name packs in SenML JSON and SenML CBOR, the ETS int-257 vector, and what the
decoders refuse."""

from __future__ import annotations

import json

import cbor2
import pytest

from conformance.errors import ProtocolError
from conformance.lwm2m.codecs import composite
from conformance.lwm2m.model import ContentFormat, Path
from conformance.lwm2m.objects import ObjectRegistry

FORMATS = [ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR]
# OMA-ETS-LightweightM2M 1.1 int-257 "257-SetOfValues" in SenML CBOR (bn "/", three records).
ETS_257_CBOR = bytes.fromhex(
    "83a321612f0065312f302f32021865a20065312f302f3604f5a20066332f302f31330200")


@pytest.mark.parametrize("fmt", FORMATS, ids=["senml-json", "senml-cbor"])
def test_paths_both_ways(fmt: ContentFormat) -> None:
    paths: list[Path | None] = [Path(3, 0, 16), Path(3, 0, 11, 0), Path(1, 0), None]
    assert composite.decode_paths(fmt, composite.encode_paths(fmt, paths)) == paths


def test_paths_with_base_name() -> None:
    payload = json.dumps([{"bn": "/3/0/", "n": "16"}, {"n": "11/0"}]).encode()
    assert composite.decode_paths(ContentFormat.SENML_JSON, payload) == [
        Path(3, 0, 16), Path(3, 0, 11, 0)]


@pytest.mark.parametrize("fmt", FORMATS, ids=["senml-json", "senml-cbor"])
def test_content_across_objects_both_ways(registry: ObjectRegistry, fmt: ContentFormat) -> None:
    content = {Path(1, 0, 1): 61, Path(1, 0, 6): True, Path(3, 0, 11, 0): 0,
               Path(3, 0, 16): "U"}
    payload = composite.encode(fmt, content, registry)
    assert composite.decode(fmt, payload, registry) == content


def test_ets_257_vector(registry: ObjectRegistry) -> None:
    assert composite.decode(ContentFormat.SENML_CBOR, ETS_257_CBOR, registry) == {
        Path(1, 0, 2): 101, Path(1, 0, 6): True, Path(3, 0, 13): 0}


@pytest.mark.parametrize("payload, fmt, message", [
    (b"[]", ContentFormat.TLV, "carries no composite"),
    (b'{"n":"/1"}', ContentFormat.SENML_JSON, "array of records"),
    (b'[{"n":"/1/x"}]', ContentFormat.SENML_JSON, "not an LwM2M path"),
    (b'[{"n":5}]', ContentFormat.SENML_JSON, "not a string"),
    (cbor2.dumps([1]), ContentFormat.SENML_CBOR, "not a map"),
    (json.dumps([{"n": "/1"}] * 5000).encode(), ContentFormat.SENML_JSON, "more than"),
    (cbor2.dumps([{0: "/3/0"}] * (composite.MAX_PATHS + 1)), ContentFormat.SENML_CBOR,
     "paths, more than"),
    (b"[]", ContentFormat.SENML_JSON, "at least one path"),
    (b"not json", ContentFormat.SENML_JSON, "senml-json: invalid JSON"),
    (b"\xff", ContentFormat.SENML_CBOR, "senml-cbor: invalid CBOR"),
], ids=["tlv", "not-array", "bad-path", "n-number", "record-not-map", "too-many-records",
        "too-many-paths", "empty", "not-json", "not-cbor"])
def test_bad_path_lists_refused(payload: bytes, fmt: ContentFormat, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        composite.decode_paths(fmt, payload)


@pytest.mark.parametrize("payload", [
    b'[{"n": "/x", "v": 1}]',
    b'[{"n": "/3/0", "v": 1}]',
    b'[{"n": "/3/0/0"}]',
], ids=["not-a-path", "value-on-instance", "no-value"])
def test_bad_value_packs_refused(registry: ObjectRegistry, payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        composite.decode(ContentFormat.SENML_JSON, payload, registry)


def test_bad_content_refused(registry: ObjectRegistry) -> None:
    with pytest.raises(ProtocolError, match="not an LwM2M path"):
        composite.decode(ContentFormat.SENML_JSON, b'[{"n":"x","v":1}]', registry)
    with pytest.raises(ProtocolError):  # a string for an integer resource
        composite.decode(ContentFormat.SENML_JSON, b'[{"n":"/1/0/1","vs":"61"}]', registry)
