"""Property tests: typed round trips for every format at every path depth, and decoders that
raise nothing but ProtocolError whatever the bytes."""

from __future__ import annotations

import importlib.util
import pathlib

from hypothesis import given
from hypothesis import strategies as st

from conformance import lwm2m
from conformance.errors import ProtocolError
from conformance.lwm2m import codecs
from conformance.lwm2m.model import Content, ContentFormat, ObjLink, Path, ResourceType
from conformance.lwm2m.objects import ObjectDef, ObjectRegistry

assert lwm2m  # the package itself, for the test module loader below

# conftest.py is not importable by name under --import-mode=importlib; load it by path.
_spec = importlib.util.spec_from_file_location(
    "_codec_conftest", pathlib.Path(__file__).with_name("conftest.py"))
assert _spec is not None and _spec.loader is not None
_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conftest)
REGISTRY: ObjectRegistry = _conftest.make_registry()
OBJECTS = [o for o in REGISTRY.objects() if o.id in (0, 1, 3, 4, 5, 10241, 60000)]

FORMATS = [ContentFormat.TEXT, ContentFormat.OPAQUE, ContentFormat.TLV, ContentFormat.LWM2M_JSON,
           ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR]

_VALUES: dict[ResourceType, st.SearchStrategy[object]] = {
    ResourceType.STRING: st.text(max_size=40),
    ResourceType.CORELNK: st.text(max_size=40),
    ResourceType.INTEGER: st.integers(-(2**63), 2**63 - 1),
    ResourceType.TIME: st.integers(-(2**63), 2**63 - 1),
    ResourceType.UNSIGNED: st.integers(0, 2**64 - 1),
    ResourceType.FLOAT: st.floats(allow_nan=False, allow_infinity=False),
    ResourceType.BOOLEAN: st.booleans(),
    ResourceType.OPAQUE: st.binary(max_size=300),  # > 255 exercises the 16-bit TLV length
    ResourceType.OBJLNK: st.builds(ObjLink, st.integers(0, 65535), st.integers(0, 65535)),
}


@st.composite
def instance_content(draw: st.DrawFn, obj: ObjectDef, instance: int) -> Content:
    content: Content = {}
    valued = [r for r in obj.resources.values() if r.type in _VALUES]
    chosen = draw(st.lists(st.sampled_from(valued), unique_by=lambda r: r.id, max_size=6))
    for res in chosen:
        base = Path(obj.id, instance, res.id)
        if res.multiple:
            ids = draw(st.lists(st.integers(0, 65535), min_size=1, max_size=3, unique=True))
            for rid in ids:
                content[base.child(rid)] = draw(_VALUES[res.type])  # type: ignore[assignment]
        else:
            content[base] = draw(_VALUES[res.type])  # type: ignore[assignment]
    if not content:
        content[Path(obj.id, instance)] = None  # an empty instance
    return content


@st.composite
def object_content(draw: st.DrawFn) -> tuple[ObjectDef, Content]:
    obj = draw(st.sampled_from(OBJECTS))
    ids = draw(st.lists(st.integers(0, 65534), min_size=1, max_size=3, unique=True))
    content: Content = {}
    for iid in ids:
        content.update(draw(instance_content(obj, iid)))
    return obj, content


def _paths(content: Content) -> list[Path]:
    """Every path a request could address in this content: object, instances, resources,
    resource instances."""
    found: set[Path] = set()
    for key in content:
        found.add(Path(key.object_id))
        found.add(Path(key.object_id, key.instance_id))
        if key.resource_id is not None:
            found.add(key.resource_path)
        if key.resource_instance_id is not None:
            found.add(key)
    return sorted(found, key=lambda p: (p.depth, str(p)))


def _expected(fmt: ContentFormat, path: Path, content: Content) -> Content:
    below = {k: v for k, v in content.items() if path.contains(k)}
    if fmt is not ContentFormat.TLV:  # only TLV can carry an empty instance
        below = {k: v for k, v in below.items() if v is not None}
    return below


@given(object_content(), st.sampled_from(FORMATS))
def test_round_trip_at_every_depth(sample: tuple[ObjectDef, Content],
                                   fmt: ContentFormat) -> None:
    _, content = sample
    checked = 0
    for path in _paths(content):
        if not codecs.supports(fmt, path, REGISTRY):
            continue
        expected = _expected(fmt, path, content)
        if not expected and fmt is not ContentFormat.TLV:
            continue
        if fmt is ContentFormat.TEXT and any(isinstance(v, bytes) for v in expected.values()):
            continue
        if path.depth == 3 and not expected:
            continue
        payload = codecs.encode(fmt, path, expected, REGISTRY)
        assert codecs.decode(fmt, path, payload, REGISTRY) == expected, (fmt, path, payload)
        checked += 1
    assert checked or fmt in (ContentFormat.TEXT, ContentFormat.OPAQUE) or all(
        v is None for v in content.values())


@given(object_content())
def test_formats_agree_on_an_instance(sample: tuple[ObjectDef, Content]) -> None:
    obj, content = sample
    first = min(k.instance_id for k in content if k.instance_id is not None)
    path = Path(obj.id, first)
    expected = {k: v for k, v in content.items() if path.contains(k) and v is not None}
    for fmt in (ContentFormat.TLV, ContentFormat.LWM2M_JSON, ContentFormat.SENML_JSON,
                ContentFormat.SENML_CBOR):
        payload = codecs.encode(fmt, path, expected, REGISTRY)
        decoded = codecs.decode(fmt, path, payload, REGISTRY)
        assert {k: v for k, v in decoded.items() if v is not None} == expected


_FUZZ_PATHS = st.sampled_from([
    Path(3), Path(3, 0), Path(3, 0, 0), Path(3, 0, 6), Path(3, 0, 6, 1), Path(3, 0, 9),
    Path(5, 0, 0), Path(1, 0, 6), Path(10241, 0), Path(60000, 0, 7), Path(60000, 0, 13),
    Path(60000), Path(4242, 1, 2),
])


def _decode_or_protocol_error(fmt: int, path: Path, payload: bytes) -> None:
    try:
        codecs.decode(fmt, path, payload, REGISTRY)
    except ProtocolError:
        pass


@given(st.sampled_from(FORMATS), _FUZZ_PATHS, st.binary(max_size=200))
def test_decoders_raise_only_protocol_error_on_random_bytes(fmt: ContentFormat, path: Path,
                                                            payload: bytes) -> None:
    _decode_or_protocol_error(fmt, path, payload)
    assert isinstance(codecs.describe(fmt, payload, path, REGISTRY), str)
    assert isinstance(codecs.describe(fmt, payload), str)


@given(object_content(), st.sampled_from(FORMATS[2:]), st.data())
def test_decoders_raise_only_protocol_error_on_mutated_payloads(
        sample: tuple[ObjectDef, Content], fmt: ContentFormat, data: st.DataObject) -> None:
    obj, content = sample
    payload = bytearray(codecs.encode(fmt, Path(obj.id), content, REGISTRY))
    if payload:
        for _ in range(data.draw(st.integers(1, 4))):
            at = data.draw(st.integers(0, len(payload) - 1))
            payload[at] = data.draw(st.integers(0, 255))
        cut = data.draw(st.integers(0, len(payload)))
        payload = payload[:cut] + data.draw(st.binary(max_size=8))
    path = data.draw(st.sampled_from(_paths(content)))
    _decode_or_protocol_error(fmt, path, bytes(payload))


@given(st.text(max_size=120))
def test_link_parser_raises_only_protocol_error(text: str) -> None:
    try:
        links = codecs.parse_links(text)
    except ProtocolError:
        return
    codecs.object_links(links)
    again = codecs.parse_links(codecs.format_links(links))
    assert [(link.target, link.params) for link in again] == [
        (link.target, link.params) for link in links]


@given(st.lists(st.tuples(st.from_regex(r"/[0-9]{1,3}(/[0-9]{1,3}){0,2}", fullmatch=True),
                          st.dictionaries(st.from_regex(r"[a-z]{1,5}", fullmatch=True),
                                          st.one_of(st.none(),
                                                    st.from_regex(r"[0-9.]{1,4}", fullmatch=True),
                                                    st.from_regex(r'"[a-z0-9 .]{0,6}"',
                                                                  fullmatch=True)),
                                          max_size=3)),
                max_size=5))
def test_links_round_trip(raw: list[tuple[str, dict[str, str | None]]]) -> None:
    links = [codecs.Link(target, params) for target, params in raw]
    parsed = codecs.parse_links(codecs.format_links(links))
    assert [(link.target, link.params) for link in parsed] == raw
