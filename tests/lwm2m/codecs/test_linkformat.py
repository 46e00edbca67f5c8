"""Link format (40): registration object links, tolerant parsing, Discover answers."""

from __future__ import annotations

import pytest

from conformance.errors import ProtocolError
from conformance.lwm2m.codecs import discover_links, format_links, object_links, parse_links
from conformance.lwm2m.codecs.linkformat import Link, root_link
from conformance.lwm2m.model import Path
from conformance.lwm2m.objects import ObjectRegistry


def test_registration_payload_with_root_link() -> None:
    # Shape of Leshan's DefaultLinkParserTest.parse_with_some_attributes
    # (eclipse-leshan/leshan leshan-core/src/test/java/org/eclipse/leshan/core/link/).
    links = parse_links('</>;rt="oma.lwm2m";ct=100,</1/101>,</1/102>,</2/0>,</2/1>;empty')
    assert [link.target for link in links] == ["/", "/1/101", "/1/102", "/2/0", "/2/1"]
    assert links[0].params == {"rt": '"oma.lwm2m"', "ct": "100"}
    assert links[0].value("rt") == "oma.lwm2m" and links[0].quoted("rt")
    assert links[4].params == {"empty": None}
    assert object_links(links) == {1: [101, 102], 2: [0, 1]}


def test_quoted_and_unquoted_values_are_kept_apart() -> None:
    quoted, plain = parse_links('</1>;ver="1.1",</3>;ver=1.1')
    assert quoted.params["ver"] == '"1.1"' and plain.params["ver"] == "1.1"
    assert quoted.quoted("ver") and not plain.quoted("ver")
    assert quoted.value("ver") == plain.value("ver") == "1.1"


def test_att_host_object_registration() -> None:
    links = parse_links("</1/0>,</3/0>,</10241/0>")
    assert object_links(links) == {1: [0], 3: [0], 10241: [0]}
    assert root_link(links) is None
    assert format_links(links) == "</1/0>,</3/0>,</10241/0>"


def test_real_client_variations() -> None:
    text = (' </>;rt="oma.lwm2m";ct="60 110 112 11542 11543" ,\n </1>;ver=1.1, </1/0>,'
            "</3/0>,,\t</5>,")
    links = parse_links(text)
    assert [link.target for link in links] == ["/", "/1", "/1/0", "/3/0", "/5"]
    assert links[0].values("ct") == ["60", "110", "112", "11542", "11543"]
    assert object_links(links) == {1: [None, 0], 3: [0], 5: [None]}


def test_alternate_root_path() -> None:
    links = parse_links('</lwm2m>;rt="oma.lwm2m",</lwm2m/1/0>,</lwm2m/3/0>,</other/7>')
    assert object_links(links) == {1: [0], 3: [0]}


def test_quoted_strings_may_hold_separators() -> None:
    # Leshan DefaultLinkParserTest.allow_escaped_charractes / allow_escaped_charractes3
    links = parse_links('</foo>;param=",",</bar>;p=";";q="a\\"b"')
    assert [link.target for link in links] == ["/foo", "/bar"]
    assert links[0].params == {"param": '","'}
    assert links[1].value("p") == ";" and links[1].value("q") == 'a"b'


def test_ptoken_values() -> None:
    # Leshan DefaultLinkParserTest.allow_ptoken
    (link,) = parse_links("</foo>;param=!#$%&'()*+-.:<=>?@[]^_`{|}~a1z9")
    assert link.params == {"param": "!#$%&'()*+-.:<=>?@[]^_`{|}~a1z9"}


def test_format_round_trip() -> None:
    text = '</>;rt="oma.lwm2m";ct=11543,</1/0>;pmin=10;pmax=60,</3/0>;flag'
    assert format_links(parse_links(text)) == text
    assert str(Link("/3/0/1", {"pmin": "10"})) == "</3/0/1>;pmin=10"


@pytest.mark.parametrize(
    ("text", "where"),
    [("/1/0", "char 0"), ("</1/0>x", "char 6"), ("</1/0>,junk", "char 7"),
     ("</1/0", "char 0"), ("</1/0>;=3", "char 6")],
)
def test_garbage_is_refused_with_offset(text: str, where: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_links(text)
    assert info.value.protocol == "link-format" and info.value.where == where


def test_empty_documents() -> None:
    assert parse_links("") == [] and parse_links(" , ") == []


def test_discover_object(registry: ObjectRegistry) -> None:
    present = {Path(3, 0, 0): "m", Path(3, 0, 4): None, Path(3, 0, 6, 0): 1,
               Path(3, 0, 6, 1): 5, Path(10241, 0, 5905): "x"}
    attrs = {Path(3, 0, 0): {"pmin": "10"}, Path(3): {"pmax": "60"}}
    assert discover_links(Path(3), registry, present, attrs) == (
        "</3>;pmax=60,</3/0>,</3/0/0>;pmin=10,</3/0/4>,</3/0/6>;dim=2"
    )
    assert discover_links(Path(3, 0), registry, present) == (
        "</3/0>,</3/0/0>,</3/0/4>,</3/0/6>;dim=2"
    )
    assert discover_links(Path(3, 0, 6), registry, present) == (
        "</3/0/6>;dim=2,</3/0/6/0>,</3/0/6/1>"
    )


def test_discover_empty_instance_and_missing(registry: ObjectRegistry) -> None:
    present = {Path(10241, 0): None, Path(10241, 1, 5905): "x"}
    assert discover_links(Path(10241), registry, present) == (
        "</10241>,</10241/0>,</10241/1>,</10241/1/5905>"
    )
    assert discover_links(Path(5), registry, present) == "</5>"
    with pytest.raises(ProtocolError, match="not present"):
        discover_links(Path(10241, 2), registry, present)
