"""Multi-object SenML packs: composite path lists and Send/composite values."""

from __future__ import annotations

import json

import cbor2
import pytest

from conformance.errors import ProtocolError
from conformance.lwm2m.codecs import senml_paths
from conformance.lwm2m.model import Content, ContentFormat, Path
from conformance.lwm2m.objects import ObjectRegistry

REGISTRY = ObjectRegistry.builtin()
SENML = [ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR]
CONTENT: Content = {Path(1, 0, 1): 300, Path(3, 0, 0): "ACME", Path(3, 0, 11, 0): 0}


@pytest.mark.parametrize("fmt", SENML)
def test_paths_round_trip(fmt: int) -> None:
    paths = [Path(3, 0, 0), Path(1, 0), Path(3, 0, 11, 0)]
    assert senml_paths.decode_paths(fmt, senml_paths.encode_paths(fmt, paths)) == paths


@pytest.mark.parametrize("fmt", SENML)
def test_values_under_several_objects_round_trip(fmt: int) -> None:
    payload = senml_paths.encode_content(fmt, CONTENT, REGISTRY)
    assert senml_paths.decode_content(fmt, payload, REGISTRY) == CONTENT


def test_base_name_carries_over_in_a_path_list() -> None:
    payload = json.dumps([{"bn": "/3/0/", "n": "0"}, {"n": "1"}]).encode()
    assert senml_paths.decode_paths(ContentFormat.SENML_JSON, payload) == [
        Path(3, 0, 0), Path(3, 0, 1)]


@pytest.mark.parametrize(("payload", "fmt"), [
    (b"[]", ContentFormat.SENML_JSON),
    (b"{}", ContentFormat.SENML_JSON),
    (b'[{"n": 3}]', ContentFormat.SENML_JSON),
    (b'[{"n": "/a/b"}]', ContentFormat.SENML_JSON),
    (b"not json", ContentFormat.SENML_JSON),
    (cbor2.dumps([{0: "/3/0"}] * (senml_paths.MAX_PATHS + 1)), ContentFormat.SENML_CBOR),
    (b"\xff", ContentFormat.SENML_CBOR),
    (b'[{"n": "/3/0/0"}]', ContentFormat.TLV),
])
def test_bad_path_lists_are_protocol_errors(payload: bytes, fmt: int) -> None:
    with pytest.raises(ProtocolError):
        senml_paths.decode_paths(fmt, payload)


@pytest.mark.parametrize("payload", [
    b'[{"n": "/x", "v": 1}]',
    b'[{"n": "/3/0", "v": 1}]',
    b'[{"n": "/3/0/0"}]',
])
def test_bad_value_packs_are_protocol_errors(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        senml_paths.decode_content(ContentFormat.SENML_JSON, payload, REGISTRY)
