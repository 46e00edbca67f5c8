"""LwM2M decoders under fuzzing: every content format at every path depth (the first input
byte picks the path), link-format, registration queries and the lab's own CoAP reading."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.errors import ProtocolError

C = sys.modules["conformance_fuzz_campaign"]  # loaded by conftest.py
TARGETS = C.targets()
FORMATS = ["tlv", "senml-json", "senml-cbor", "lwm2m-json", "lwm2m-text", "lwm2m-opaque"]


@pytest.mark.parametrize("name", [*FORMATS, "link-format", "coap-datagram"])
@given(data=st.data())
def test_decoder_raises_only_protocol_error(name: str, data: st.DataObject) -> None:
    target = TARGETS[name]
    C.assert_contained(target, data.draw(C.strategy(target), label="input"))


@given(data=st.data())
def test_registration_query_raises_only_protocol_error(data: st.DataObject) -> None:
    target = TARGETS["registration-query"]
    C.assert_contained(target, data.draw(C.strategy(target), label="input"))


@pytest.mark.parametrize("option", ["lt=²", "lt=8²6400", "lt=³"])
def test_lifetime_with_a_unicode_digit_is_a_protocol_error(option: str) -> None:
    """'²'.isdigit() is True but int('²') raises ValueError: found by the campaign."""
    from conformance.lwm2m import query

    with pytest.raises(ProtocolError):
        query.parse_query(["ep=x", option])


BIG = "9" * 5000  # int() refuses more than 4300 digits with ValueError, not ProtocolError


def test_integer_text_past_int_digit_limit_is_a_protocol_error() -> None:
    from conformance.lwm2m.codecs import text
    from conformance.lwm2m.model import Path as LwPath
    from conformance.lwm2m.objects import ObjectRegistry

    with pytest.raises(ProtocolError, match="out of range"):
        text.decode(LwPath(3, 0, 9), BIG.encode(), ObjectRegistry.builtin())


def test_ddf_id_past_int_digit_limit_is_a_protocol_error() -> None:
    from conformance.lwm2m.objects import load_ddf

    doc = f"<LWM2M><Object><ObjectID>{BIG}</ObjectID></Object></LWM2M>".encode()
    with pytest.raises(ProtocolError, match="not an id"):
        load_ddf(doc)


@pytest.mark.parametrize("update", [False, True])
def test_lifetime_past_int_digit_limit_is_a_protocol_error(update: bool) -> None:
    from conformance.lwm2m import query

    options = ["lt=" + BIG] if update else ["ep=x", "lt=" + BIG]
    with pytest.raises(ProtocolError, match="positive integer"):
        query.parse_query(options, update=update)


@pytest.mark.parametrize(
    "links",
    ['</1>;a=' + " " * 5000 + 'x"', '</1>;a="' + "x" * 100_000, "</1>;" + "a=b;" * 50_000],
    ids=["blanks-before-a-quote", "unterminated-quote", "many-params"],
)
def test_link_format_parses_in_linear_time(links: str) -> None:
    """The value pattern backtracked in O(n³): 2000 blanks before a stray quote took 37 s
    on the lab's event loop, 5000 about ten minutes."""
    import time

    from conformance.lwm2m.codecs.linkformat import parse_links

    started = time.perf_counter()
    try:
        parse_links(links)
    except ProtocolError:
        pass
    assert time.perf_counter() - started < 0.5
