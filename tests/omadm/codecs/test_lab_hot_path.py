"""The codec shortcuts the lab takes per message give what the plain functions give."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings

from conformance.errors import ProtocolError
from conformance.omadm import codec, xmlcodec
from conformance.omadm.model import Command, Get, Item, Meta, Replace, SyncHdr, SyncML
from tests.omadm.codecs.test_roundtrip import wbxml_messages, xml_messages


@given(xml_messages)
def test_encode_shown_is_encode_and_pretty(msg: SyncML) -> None:
    data, shown = codec.encode_shown(msg, "xml")
    assert data == codec.encode(msg, "xml")
    assert shown == codec.pretty(data, "xml")


@pytest.mark.parametrize("encoding", ["xml", "wbxml"])
@given(msg=xml_messages)
def test_decode_shown_is_decode_and_pretty(encoding: str, msg: SyncML) -> None:
    data = codec.encode(msg, encoding)
    shown = codec.decode_shown(data, encoding)
    assert shown == (codec.decode(data, encoding), codec.pretty(data, encoding))


def test_decode_shown_of_wbxml_with_binary_data_shows_it_as_hex() -> None:
    # OPAQUE bytes that are not UTF-8: the model keeps the bytes, the text shows them as hex
    hdr = SyncHdr(session_id="1", msg_id="1", target="IMEI:1", source="http://lab/oma")
    item = Item(target="./Bin", meta=Meta(format="bin"), data=b"\xff\xfe\x00\x01")
    data = codec.encode(SyncML(hdr, [Replace(cmd_id="1", items=[item])], final=True), "wbxml")
    msg, text = codec.decode_shown(data, "wbxml")
    assert (msg, text) == (codec.decode(data, "wbxml"), codec.pretty(data, "wbxml"))
    assert "[opaque 4 bytes: ff fe 00 01]" in text


@given(xml_messages)
def test_size_bound_is_never_below_the_encoded_size(msg: SyncML) -> None:
    bound = codec.size_bound(msg, "xml")
    assert bound is not None and bound >= len(codec.encode(msg, "xml"))


def _message(*values: str) -> SyncML:
    items = [Item(target=f"./{i}", meta=Meta(format="chr"), data=v) for i, v in enumerate(values)]
    hdr = SyncHdr(session_id="1", msg_id="1", target="IMEI:1", source="http://lab/oma")
    return SyncML(hdr, [Replace(cmd_id="1", items=items)], final=True)


@pytest.mark.parametrize("value", ["&" * 500, "\r" * 500, "<>" * 250, "\x00" * 500, "é€😀" * 100])
def test_size_bound_holds_for_the_most_escaped_text(value: str) -> None:
    msg = _message(value, "")
    bound = codec.size_bound(msg, "xml")
    assert bound is not None and bound >= len(codec.encode(msg, "xml"))


def test_size_bound_is_unknown_for_wbxml() -> None:
    assert codec.size_bound(_message("x"), "wbxml") is None


def test_encoding_error_names_the_element_path() -> None:
    item = Item(target="./a", meta=Meta(extra={"1bad": "x"}))
    hdr = SyncHdr(session_id="1", msg_id="1", target="IMEI:1", source="http://lab/oma")
    msg = SyncML(hdr, [Get(cmd_id="1", items=[item])], final=True)
    with pytest.raises(ProtocolError) as caught:
        codec.encode_shown(msg, "xml")
    assert "is not an XML name" in caught.value.message
    assert caught.value.where == "SyncBody/Get/Item/Meta/1bad"
    with pytest.raises(ProtocolError) as again:
        xmlcodec.encode(msg)
    assert again.value.where == caught.value.where


def test_nul_in_text_is_written_as_a_reference_and_shown_escaped() -> None:
    msg = _message("a\x00b", "\ue000")  # the first placeholder candidate is taken by a value
    data, shown = codec.encode_shown(msg, "xml")
    assert b"a&#0;b" in data and "a\\x00b" in shown
    assert codec.decode(data, "xml") == msg


_PKG = (
    b'<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>'
    b"<SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>http://lab/oma</LocURI></Target>"
    b"<Source>{src}<LocURI>IMEI:1</LocURI></Source></SyncHdr>"
    b"<SyncBody><Alert><CmdID>1</CmdID><Data>1201</Data></Alert><Final/></SyncBody></SyncML>"
)


@pytest.mark.parametrize(
    "between",
    [b"", b" \n\t\r ", b"<!-- c --> \n", b"<![CDATA[ \n]]>", b"<?pi z?>\t", b"\xc2\xa0", b"&#160;"],
)
def test_whitespace_between_elements_is_no_text(between: bytes) -> None:
    # XML whitespace: the shortcut (one XPath for the whole tree) says "no text"; a
    # non-breaking space is text to XPath, so the exact path decides: str.strip removes it
    root, marker = xmlcodec.parse_xml(_PKG.replace(b"{src}", between))
    source = xmlcodec.element_to_node(root, marker).children[0].children[5]
    assert source.name == "Source" and source.text is None and len(source.children) == 1


@pytest.mark.parametrize(
    "between", [b"x", b"<!-- c -->x", b"<![CDATA[y]]>", b"<?pi z?>&amp;", b"\xc2\xa0-"]
)
def test_text_between_elements_is_refused(between: bytes) -> None:
    # text after a comment or PI is the parent's too
    with pytest.raises(ProtocolError, match=r"text mixed with elements in <Source>"):
        codec.decode_shown(_PKG.replace(b"{src}", between), "xml")


@settings(max_examples=60)
@given(wbxml_messages)
def test_model_size_bound_is_never_below_the_tree_bound(msg: SyncML) -> None:
    # the lab's bound comes from the model: at least the element tree's (and so the size)
    assert xmlcodec.model_size_bound(msg) >= xmlcodec.xml_size_bound(xmlcodec.to_tree(msg))


def _bound_or_error(bound: Callable[[], int | None]) -> int | str | None:
    try:
        return bound()
    except ProtocolError as exc:
        return exc.message


@pytest.mark.parametrize(
    "cmd",
    [
        Get(cmd_id="1", items=[Item(target_name="n", data="x")]),  # LocName without LocURI
        Replace(cmd_id="1", items=[Item(source_name="n")]),
        Command(cmd_id="1"),  # no command the mapping knows
        Get(cmd_id="1", items=[Item(meta=Meta(extra={"1bad": "x"}))]),  # refused by lxml only
    ],
)
def test_model_size_bound_refuses_what_the_tree_refuses(cmd: Command) -> None:
    msg = SyncML(_message("x").header, [cmd], final=True)
    old = _bound_or_error(lambda: xmlcodec.xml_size_bound(xmlcodec.to_tree(msg)))
    new = _bound_or_error(lambda: codec.size_bound(msg, "xml"))
    if isinstance(old, str):
        assert new == old
    else:
        assert isinstance(new, int) and old is not None and new >= old


def test_element_to_node_names_many_distinct_tags_with_a_bounded_cache() -> None:
    kids = "".join(f'<t{i} xmlns="urn:n{i % 3}">v{i}</t{i}>' for i in range(300))
    root, marker = xmlcodec.parse_xml(f'<r xmlns="urn:r">{kids}</r>'.encode())
    tree = xmlcodec.element_to_node(root, marker)
    expected = [xmlcodec.Node(f"t{i}", f"urn:n{i % 3}", text=f"v{i}") for i in range(300)]
    assert tree == xmlcodec.Node("r", "urn:r", children=expected)  # made without __init__
    assert len(xmlcodec._TAG_SPLITS) <= 256
