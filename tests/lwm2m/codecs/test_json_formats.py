"""LwM2M JSON (11543), SenML JSON (110) and SenML CBOR (112): vectors from the LwM2M TS as
Leshan's and wakaama's tests carry them, and what the decoders must refuse."""

from __future__ import annotations

import json

import cbor2
import pytest

from conformance.errors import ProtocolError
from conformance.lwm2m.codecs import lwm2m_json, senml_cbor, senml_json
from conformance.lwm2m.model import ObjLink, Path
from conformance.lwm2m.objects import ObjectRegistry

DEVICE = {
    Path(3, 0, 0): "Open Mobile Alliance", Path(3, 0, 1): "Lightweight M2M Client",
    Path(3, 0, 2): "345000123", Path(3, 0, 3): "1.0",
    Path(3, 0, 6, 0): 1, Path(3, 0, 6, 1): 5, Path(3, 0, 7, 0): 3800, Path(3, 0, 7, 1): 5000,
    Path(3, 0, 8, 0): 125, Path(3, 0, 8, 1): 900, Path(3, 0, 9): 100, Path(3, 0, 10): 15,
    Path(3, 0, 11, 0): 0, Path(3, 0, 13): 1367491215, Path(3, 0, 14): "+02:00",
    Path(3, 0, 16): "U",
}
_NAMES = ["0", "1", "2", "3", "6/0", "6/1", "7/0", "7/1", "8/0", "8/1", "9", "10", "11/0", "13",
          "14", "16"]
_ROWS = [(n, "vs" if isinstance(v, str) else "v", v) for n, v in zip(_NAMES, DEVICE.values(),
                                                                   strict=True)]

# LwM2M 1.0 JSON of /3/0: eclipse-leshan/leshan leshan-core/src/test/java/org/eclipse/leshan/
# core/node/codec/LwM2mNodeDecoderTest.java json_device_object_instance0.
LWM2M_JSON_DEVICE = json.dumps(
    {"bn": "/3/0/", "e": [{"n": n, ("sv" if k == "vs" else "v"): v} for n, k, v in _ROWS]},
    separators=(",", ":"),
).encode()
# SenML JSON of /3/0: LwM2M TS 1.1 Table 7.4.4-2, as in eclipse-wakaama/wakaama
# tests/senml_json_tests.c senml_json_test_1 and Leshan's AbstractSenMLTest.
SENML_JSON_DEVICE = json.dumps(
    [{"bn": "/3/0/", "n": "0", "vs": "Open Mobile Alliance"}]
    + [{"n": n, k: v} for n, k, v in _ROWS[1:]],
    separators=(",", ":"),
).encode()
# SenML CBOR of /3/0: eclipse-leshan/leshan leshan-core/src/test/java/org/eclipse/leshan/core/
# senml/cbor/AbstractSenMLTest.java givenSenMLCborExample.
SENML_CBOR_DEVICE = bytes.fromhex(
    "90a321652f332f302f00613003744f70656e204d6f62696c6520416c6c69616e6365a2006131037"
    "64c69676874776569676874204d324d20436c69656e74a20061320369333435303030313233a200"
    "61330363312e30a20063362f300201a20063362f310205a20063372f3002190ed8a20063372f3102"
    "191388a20063382f3002187da20063382f3102190384a2006139021864a200623130020fa2006431"
    "312f300200a200623133021a5182428fa20062313403662b30323a3030a200623136036155"
)


@pytest.mark.parametrize(
    ("codec", "payload"),
    [(lwm2m_json, LWM2M_JSON_DEVICE), (senml_json, SENML_JSON_DEVICE),
     (senml_cbor, SENML_CBOR_DEVICE)],
    ids=["lwm2m-json", "senml-json", "senml-cbor"],
)
def test_device_instance_vectors_both_ways(registry: ObjectRegistry, codec: object,
                                           payload: bytes) -> None:
    assert codec.decode(Path(3, 0), payload, registry) == DEVICE  # type: ignore[attr-defined]
    assert codec.encode(Path(3, 0), DEVICE, registry) == payload  # type: ignore[attr-defined]


def test_lwm2m_json_base_name_variants(registry: ObjectRegistry) -> None:
    # Leshan json_device_object_instance0_with_empty_root_basename / _without_basename
    rooted = {"bn": "/", "e": [{"n": "3/0/" + n, "sv" if k == "vs" else "v": v}
                               for n, k, v in _ROWS]}
    bare = {"e": [{"n": "/3/0/" + n, "sv" if k == "vs" else "v": v} for n, k, v in _ROWS]}
    for doc in (rooted, bare):
        assert lwm2m_json.decode(Path(3, 0), json.dumps(doc).encode(), registry) == DEVICE


def test_lwm2m_json_custom_object_and_types(registry: ObjectRegistry) -> None:
    # Leshan json_custom_object_instance (no model for object 1024: typed by the format)
    doc = (b'{"bn":"1024/0/", "e":[{"n":"0","sv":"a string"},{"n":"1","v":10.5},'
           b'{"n":"2","bv":true}]}')
    assert lwm2m_json.decode(Path(1024, 0), doc, registry) == {
        Path(1024, 0, 0): "a string", Path(1024, 0, 1): 10.5, Path(1024, 0, 2): True}
    links = {Path(3, 0, 22, 0): ObjLink(10241, 0), Path(5, 0, 0): b"\x01\x02"}
    out = lwm2m_json.encode(Path(3, 0, 22), {Path(3, 0, 22, 0): ObjLink(10241, 0)}, registry)
    assert out == b'{"bn":"/3/0/22/","e":[{"n":"0","ov":"10241:0"}]}'
    pkg = lwm2m_json.encode(Path(5, 0, 0), {Path(5, 0, 0): b"\x01\x02"}, registry)
    assert pkg == b'{"bn":"/5/0/0","e":[{"sv":"AQI="}]}'
    assert lwm2m_json.decode(Path(5, 0, 0), pkg, registry) == {Path(5, 0, 0): links[Path(5, 0, 0)]}


def test_resource_instance_and_object_level_names(registry: ObjectRegistry) -> None:
    # Leshan json_timestamped_Object shape: bn at object level, names "instance/resource"
    doc = b'{"bn":"/3/","e":[{"n":"0/9","v":50},{"n":"0/6/1","v":5}]}'
    assert lwm2m_json.decode(Path(3), doc, registry) == {Path(3, 0, 9): 50,
                                                         Path(3, 0, 6, 1): 5}
    assert lwm2m_json.decode(Path(3, 0, 6, 1), b'{"bn":"/3/0/6/1","e":[{"v":5}]}',
                             registry) == {Path(3, 0, 6, 1): 5}


def test_lwm2m_json_time_series_keeps_the_latest(registry: ObjectRegistry) -> None:
    # Leshan json_timestamped_resources: bt 25462634, t -30/-5/-50 -> the newest is t=-5
    doc = b'{"bn":"/1024/0/1","e":[{"v":22.9,"t":-30},{"v":22.4,"t":-5},{"v":24.1,"t":-50}],' \
          b'"bt":25462634}'
    assert lwm2m_json.decode(Path(1024, 0, 1), doc, registry) == {Path(1024, 0, 1): 22.4}


def test_senml_object_links_across_objects(registry: ObjectRegistry) -> None:
    # LwM2M TS 1.1 Table 7.4.4-4 via eclipse-wakaama/wakaama tests/senml_json_tests.c
    # senml_json_test_17 (bn redefined per instance, then an empty bn with full names)
    doc = (
        b'[{"bn":"/65/0/","n":"0/0","vlo":"66:0"},{"n":"0/1","vlo":"66:1"},'
        b'{"n":"1","vs":"8613800755500"},{"n":"2","v":1},'
        b'{"bn":"/66/0/","n":"0","vs":"myService1"},{"n":"1","vs":"Internet.15.234"},'
        b'{"n":"2","vlo":"67:0"},{"bn":"/66/1/","n":"0","vs":"myService2"},'
        b'{"n":"1","vs":"Internet.15.235"},{"n":"2","vlo":"65535:65535"}]'
    )
    expected = {
        Path(65, 0, 0, 0): ObjLink(66, 0), Path(65, 0, 0, 1): ObjLink(66, 1),
        Path(65, 0, 1): "8613800755500", Path(65, 0, 2): 1,
        Path(66, 0, 0): "myService1", Path(66, 0, 1): "Internet.15.234",
        Path(66, 0, 2): ObjLink(67, 0), Path(66, 1, 0): "myService2",
        Path(66, 1, 1): "Internet.15.235", Path(66, 1, 2): ObjLink(65535, 65535),
    }
    content = senml_json.decode(Path(65), doc[: doc.index(b',{"bn":"/66')] + b"]", registry)
    assert content == {k: v for k, v in expected.items() if k.object_id == 65}
    assert senml_json.decode(Path(66), b'[{"bn":"/66/0/"' + doc.split(b'{"bn":"/66/0/"')[1],
                             registry) == {k: v for k, v in expected.items() if k.object_id == 66}


def test_senml_single_resource_and_opaque(registry: ObjectRegistry) -> None:
    # TS 1.1 Table 7.4.4-5 (wakaama senml_json_test_4) and senml_json_test_23 (opaque)
    single = b'[{"bn":"/3/0/0","vs":"Open Mobile Alliance"}]'
    assert senml_json.decode(Path(3, 0, 0), single, registry) == {
        Path(3, 0, 0): "Open Mobile Alliance"}
    assert senml_json.encode(Path(3, 0, 0), {Path(3, 0, 0): "Open Mobile Alliance"},
                             registry) == single
    package = Path(5, 0, 0)
    assert senml_json.decode(package, b'[{"bn":"/5/0/0","vd":"AQIDBAU="}]', registry) == {
        package: bytes([1, 2, 3, 4, 5])}
    assert senml_json.decode(package, b'[{"bn":"/5/0/0","vd":"MA=="}]', registry) == {
        package: b"0"}
    # RFC 8428: base64url, padding omitted
    assert senml_json.encode(package, {package: b"\xfb\xff"}, registry) == \
        b'[{"bn":"/5/0/0","vd":"-_8"}]'
    assert senml_cbor.encode(package, {package: b"\xfb\xff"}, registry) == cbor2.dumps(
        [{-2: "/5/0/0", 8: b"\xfb\xff"}])


def test_senml_names_may_be_split_anywhere(registry: ObjectRegistry) -> None:
    # wakaama senml_json_test_9 / _15: bn without a trailing slash, n with a leading one
    assert senml_json.decode(Path(5, 0), b'[{"bn":"/5/0","n":"/1","vs":"http"}]', registry) == {
        Path(5, 0, 1): "http"}


def test_senml_base_value_and_version(registry: ObjectRegistry) -> None:
    # wakaama senml_json_test_18/19/22
    assert senml_json.decode(Path(3, 0, 9), b'[{"bv":1,"n":"/3/0/9","v":1}]', registry) == {
        Path(3, 0, 9): 2}
    assert senml_json.decode(Path(3, 0, 9), b'[{"bver":10,"n":"/3/0/9","v":1}]', registry) == {
        Path(3, 0, 9): 1}
    with pytest.raises(ProtocolError, match="unsupported SenML version"):
        senml_json.decode(Path(3, 0, 9), b'[{"bver":11,"n":"/3/0/9","v":1}]', registry)


def test_senml_cbor_time_series_and_integer_labels(registry: ObjectRegistry) -> None:
    pack = cbor2.dumps([{-2: "/3/0/", -3: 1000, 0: "9", 2: 50, 6: -10},
                        {0: "9", 2: 40, 6: -5}, {0: "13", 2: 1367491215}])
    assert senml_cbor.decode(Path(3, 0), pack, registry) == {
        Path(3, 0, 9): 40, Path(3, 0, 13): 1367491215}


@pytest.mark.parametrize(
    ("path", "payload", "message"),
    [
        ("/3/0", b"[", "invalid JSON"),
        ("/3/0", b"\xff", "not UTF-8"),
        ("/3/0", b'{"bn":"/3/0/"}', "top level is not an object|no \"e\" array"),
        ("/3/0/9", b'{"e":[{"n":"/3/0/9","v":NaN}]}', "NaN is not JSON"),
        ("/3/0", b'{"e":[{"n":"/3/0/9","v":1,"sv":"x"}]}', "2 values"),
        ("/3/0", b'{"e":[{"n":"/3/0/9"}]}', "0 values"),
        ("/3/0", b'{"e":[{"n":"/4/0/9","v":1}]}', "outside the addressed path"),
        ("/3/0", b'{"e":[{"n":"/3/0/9","sv":"1"}]}', "vs value for a Integer"),
        ("/3/0", b'{"e":[{"n":"/3/0/9","v":1.5}]}', "1.5 is not an integer"),
        ("/3/0", b'{"e":[{"n":"/3/0/9","v":1},{"n":"/3/0/9","v":2}]}', "appears twice"),
        ("/3/0", b'{"e":[{"n":"/3/0/6","v":1}]}', "does not fit a multiple resource"),
        ("/3/0", b'{"e":[{"n":"/3/0/9/0","v":1}]}', "does not fit a single resource"),
        ("/3/0", b'{"e":[{"n":"/3/0","v":1}]}', "names no resource"),
        ("/3/0", b'{"e":[{"n":"x","v":1}]}', "not an LwM2M path"),
        ("/5/0/0", b'{"e":[{"n":"/5/0/0","sv":"***"}]}', "invalid base64"),
        ("/3/0/22/0", b'{"e":[{"n":"/3/0/22/0","ov":"3"}]}', "not an object link"),
        ("/3/0/4", b'{"e":[{"n":"/3/0/4","v":1}]}', "executable"),
    ],
)
def test_lwm2m_json_rejects(registry: ObjectRegistry, path: str, payload: bytes,
                            message: str) -> None:
    with pytest.raises(ProtocolError, match=message) as info:
        lwm2m_json.decode(Path.parse(path), payload, registry)
    assert info.value.protocol == "lwm2m-json"


@pytest.mark.parametrize(
    ("payload", "message", "where"),
    [
        (b'{"bn":"/3/0/9","v":1}', "array of records", None),
        (b'[1]', "not a map", "record 0"),
        (b'[{"bn":"/3/0/9","v":1,"vs":"a"}]', "2 values", "record 0"),
        (b'[{"bn":"/3/0/9","v":true}]', "not a number", "record 0"),
        (b'[{"bn":"/3/0/","n":"9","v":1},{"n":"10","vb":1}]', "vb value for a Integer",
         "record 1"),
        (b'[{"bn":"/3/0/9","v":1,"x_":0}]', "unsupported field 'x_'", "record 0"),
        (b'[{"bn":7,"v":1}]', "bn is not a string", "record 0"),
        (b'[{"bn":"/3/0/9","v":1,"t":"now"}]', "t is not a number", "record 0"),
        (b'[{"bn":"/5/0/0","vd":"A"}]', "invalid base64", "record 0"),
        (b'[{"bn":"/3/0/9","v":9223372036854775808}]', "out of range", "record 0"),
        (b'[{"bn":"/3/0/9","v":1e999}]', "not a finite number", "record 0"),
        (b'[{"bn":"/9/0/9","v":100000000000000000000}]', "beyond 64 bits", "record 0"),
        (b'[{"bv":1.5,"bn":"/9/0/9","v":' + b"9" * 400 + b"}]", "out of range", "record 0"),
    ],
)
def test_senml_json_rejects(registry: ObjectRegistry, payload: bytes, message: str,
                            where: str | None) -> None:
    path = Path(5, 0, 0) if b"/5/0/0" in payload else Path(9) if b"/9/" in payload else Path(3, 0)
    with pytest.raises(ProtocolError, match=message) as info:
        senml_json.decode(path, payload, registry)
    assert info.value.protocol == "senml-json" and info.value.where == where


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "invalid CBOR"),
        (b"\x9f", "invalid CBOR"),  # indefinite array never closed
        (b"\x81\xa1\x00", "invalid CBOR"),  # truncated map
        (b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff", "invalid CBOR"),  # 2**64-byte string claimed
        (b"\x81" * 5000 + b"\x00", "invalid CBOR|array of records|not a map"),
        (cbor2.dumps([{-2: "/5/0/0", 8: "AQI"}]), "vd is a text string"),
        (cbor2.dumps([{-2: "/3/0/9", False: "x", 2: 1}]), "never"),
        (cbor2.dumps([{-2: "/3/0/9", 2: 1, 3: "x"}]), "2 values"),
        (cbor2.dumps({"not": "a pack"}), "array of records"),
    ],
)
def test_senml_cbor_rejects(registry: ObjectRegistry, payload: bytes, message: str) -> None:
    if message == "never":  # a false key must not alias label 0 (n): the record stays valid
        assert senml_cbor.decode(Path(3, 0, 9), payload, registry) == {Path(3, 0, 9): 1}
        return
    with pytest.raises(ProtocolError, match=message) as info:
        senml_cbor.decode(Path(3, 0), payload, registry)
    assert info.value.protocol == "senml-cbor"


def test_encoders_refuse_non_finite_numbers(registry: ObjectRegistry) -> None:
    path = Path(60000, 0, 3)
    for codec in (lwm2m_json, senml_json, senml_cbor):
        with pytest.raises(ProtocolError, match="no JSON/SenML number form"):
            codec.encode(path, {path: float("nan")}, registry)
