"""The codecs package entry points other parts call: encode/decode/supports/describe."""

from __future__ import annotations

import pytest

from conformance.errors import ProtocolError
from conformance.lwm2m import codecs
from conformance.lwm2m.model import ContentFormat, Path
from conformance.lwm2m.objects import ObjectRegistry

HOST = {Path(10241, 0, 5905): "ACME", Path(10241, 0, 5906): "Widget 3",
        Path(10241, 0, 5907): "ID123", Path(10241, 0, 5908): "2.1.0"}


@pytest.mark.parametrize("fmt", [0, 40, 42, 1542, 60, 61, 9999])
def test_unknown_or_non_content_format_is_415_material(registry: ObjectRegistry,
                                                       fmt: int) -> None:
    if fmt in (0, 42, 60):
        return  # known (60: CBOR, test_cbor.py); covered elsewhere
    with pytest.raises(ProtocolError) as info:
        codecs.decode(fmt, Path(3, 0, 0), b"x", registry)
    assert (info.value.protocol, info.value.message) == (
        "lwm2m-content", f"unsupported content format {fmt}")
    with pytest.raises(ProtocolError, match=f"unsupported content format {fmt}"):
        codecs.encode(fmt, Path(3, 0, 0), {Path(3, 0, 0): "x"}, registry)


@pytest.mark.parametrize("fmt", [ContentFormat.TLV, ContentFormat.LWM2M_JSON,
                                 ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR, 11542, 112])
def test_host_device_info_in_every_structured_format(registry: ObjectRegistry, fmt: int) -> None:
    for path in (Path(10241), Path(10241, 0)):
        payload = codecs.encode(fmt, path, HOST, registry)
        assert codecs.decode(fmt, path, payload, registry) == HOST


def test_host_values_as_text(registry: ObjectRegistry) -> None:
    for path, value in HOST.items():
        assert codecs.decode(0, path, codecs.encode(0, path, {path: value}, registry),
                             registry) == {path: value}


def test_supports(registry: ObjectRegistry) -> None:
    text, opaque, tlv = ContentFormat.TEXT, ContentFormat.OPAQUE, ContentFormat.TLV
    assert codecs.supports(text, Path(3, 0, 0)) and not codecs.supports(text, Path(3, 0))
    assert codecs.supports(opaque, Path(5, 0, 0), registry)
    assert not codecs.supports(opaque, Path(3, 0, 0), registry)
    assert not codecs.supports(text, Path(5, 0, 0), registry)
    assert not codecs.supports(text, Path(3, 0, 6), registry)
    assert codecs.supports(text, Path(3, 0, 6, 0), registry)
    assert all(codecs.supports(tlv, p) for p in (Path(3), Path(3, 0), Path(3, 0, 6, 0)))
    assert not codecs.supports(ContentFormat.LINK_FORMAT, Path(3))
    assert not codecs.supports(4242, Path(3, 0, 0))


def test_describe(registry: ObjectRegistry) -> None:
    tlv = codecs.encode(ContentFormat.TLV, Path(10241, 0), HOST, registry)
    shown = codecs.describe(11542, tlv, Path(10241, 0), registry)
    assert "/10241/0/5905 = 'ACME'" in shown.splitlines()
    assert "resource 5906: 'Widget 3'" in codecs.describe(11542, tlv)
    assert codecs.describe(40, b"</1/0>,</3/0>") == "</1/0>\n</3/0>"
    assert codecs.describe(0, b"") == "(empty)"
    assert codecs.describe(112, codecs.encode(112, Path(3, 0, 9), {Path(3, 0, 9): 5}, registry)) \
        == '[{"-2": "/3/0/9", "2": 5}]'
    broken = codecs.describe(11542, b"\xc8\x00\x20abc", Path(3, 0), registry)
    assert broken.startswith("<tlv undecodable: lwm2m-tlv: resource 0 claims 32 bytes")
    assert broken.endswith("c8 00 20 61 62 63")
    assert codecs.describe(4242, b"\x00\x01") == "00 01"
    assert codecs.describe(None, b"plain") == "plain"
