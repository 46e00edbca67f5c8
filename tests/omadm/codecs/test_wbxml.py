"""WBXML codec: token tables, header variants, content tokens and every malformed-input path."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.errors import ProtocolError
from conformance.omadm import wbxml, xmlcodec
from conformance.omadm.model import Item, Meta, Replace, SyncHdr, SyncML
from conformance.omadm.xmlcodec import Node

# Hand-assembled document: WBXML 1.2, numeric public id 0x1201, UTF-8, a string table,
# STR_T, STR_I, OPAQUE, ENTITY and SWITCH_PAGE (tokens from the SyncML 1.2 WBXML annex).
STRTBL = b"IMEI:1\x00http://lab\x00"
HAND = (
    b"\x02\xa4\x01\x6a" + bytes([len(STRTBL)]) + STRTBL
    + b"\x6d"  # SyncML
    + b"\x6c"  # SyncHdr
    + b"\x71\x03" + b"1.2\x00\x01"  # VerDTD
    + b"\x72\x03" + b"DM/1.2\x00\x01"  # VerProto
    + b"\x65\x03" + b"7\x00\x01"  # SessionID
    + b"\x5b\x03" + b"1\x00\x01"  # MsgID
    + b"\x6e\x57\x83\x07\x01\x01"  # Target/LocURI STR_T 7 -> http://lab
    + b"\x67\x57\x83\x00\x01\x01"  # Source/LocURI STR_T 0 -> IMEI:1
    + b"\x5a\x00\x01\x4c\x03" + b"2048\x00\x01\x01"  # Meta, page 1, MaxMsgSize
    + b"\x01"  # end SyncHdr
    + b"\x00\x00\x6b"  # page 0, SyncBody
    + b"\x60\x4b\x03" + b"2\x00\x01"  # Replace, CmdID
    + b"\x54\x6e\x57\x03" + b"./a\x00\x01\x01"  # Item, Target/LocURI
    + b"\x5a\x00\x01\x47\x03" + b"bin\x00\x01\x01"  # Meta/Format (page 1)
    + b"\x00\x00\x4f\xc3\x03\xff\x00\x01\x01\x01"  # Data OPAQUE ff 00 01
    + b"\x54\x4f\x03" + b"a\x00\x02\x81\x00\x03" + b"b\x00\x01\x01"  # Item/Data a, ENTITY é? b
    + b"\x01"  # end Replace
    + b"\x12"  # Final (no content)
    + b"\x01\x01"  # end SyncBody, end SyncML
)


def test_hand_assembled_document() -> None:
    msg = wbxml.decode(HAND)
    assert msg.header.target == "http://lab" and msg.header.source == "IMEI:1"
    assert msg.header.meta == Meta(max_msg_size=2048)
    replace = msg.body[0]
    assert isinstance(replace, Replace)
    assert replace.items[0].data == b"\xff\x00\x01"  # binary OPAQUE stays bytes
    assert replace.items[0].meta == Meta(format="bin")
    assert replace.items[1].data == "a\x80b"  # ENTITY 0x80 between two inline strings
    assert msg.final


def test_encoder_shape() -> None:
    msg = SyncML(SyncHdr("1", "1", "t", "s"),
                 [Replace("2", items=[Item(target="./a", meta=Meta(format="b64"), data="QQ==")])])
    out = wbxml.encode(msg)
    public_id = wbxml.PUBLIC_ID_TEXT.encode() + b"\x00"
    # version 1.2, literal public id at string-table index 0, UTF-8 (106), table length
    assert out[:5] == bytes([0x02, 0x00, 0x00, 0x6A, len(public_id)])
    assert out[5:5 + len(public_id)] == public_id
    assert out[5 + len(public_id)] == 0x6D  # <SyncML> with content
    assert b"\x4f\xc3\x04QQ==" in out  # b64 data travels as OPAQUE
    assert b"\x00\x01\x47\x03b64\x00\x01" in out  # SWITCH_PAGE 1, Format STR_I, END


@pytest.mark.parametrize("version", [0x01, 0x02, 0x03])
def test_versions_1_1_to_1_3_decode(version: int) -> None:
    assert wbxml.decode(bytes([version]) + HAND[1:]).header.source == "IMEI:1"


def test_data_as_inline_string_or_opaque_decodes_the_same() -> None:
    msg = SyncML(SyncHdr("1", "1", "t", "s"),
                 [Replace("2", items=[Item(target="./a", data="hello")])])
    as_str = wbxml.encode(msg)
    assert b"\x4f\x03hello\x00\x01" in as_str
    as_opaque = as_str.replace(b"\x4f\x03hello\x00\x01", b"\x4f\xc3\x05hello\x01")
    assert wbxml.decode(as_opaque) == wbxml.decode(as_str) == msg


def test_nul_in_data_travels_opaque() -> None:
    msg = SyncML(SyncHdr("1", "1", "t", "s"),
                 [Replace("2", items=[Item(target="./a", data="a\x00b")])])
    out = wbxml.encode(msg)
    assert b"\xc3\x03a\x00b" in out and wbxml.decode(out) == msg


def test_literal_tags_and_tree_conversion() -> None:
    xml = (b'<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD>'
           b"<SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>t</LocURI></Target>"
           b"<Source><LocURI>s</LocURI></Source><Meta><Vendor>x</Vendor></Meta></SyncHdr>"
           b"<SyncBody/></SyncML>")
    out = wbxml.xml_to_wbxml(xml)
    assert b"Vendor\x00" in out  # no token: a LITERAL tag named through the string table
    msg = wbxml.decode(out)
    assert msg.header.meta == Meta(extra={"Vendor": "x"}) and msg.header.ver_proto == ""
    assert xmlcodec.decode(wbxml.wbxml_to_xml(out)) == msg


def test_wbxml_to_xml_binary_opaque() -> None:
    with pytest.raises(ProtocolError):
        wbxml.wbxml_to_xml(HAND)
    shown = wbxml.wbxml_to_xml(HAND, binary="hex")
    assert b"[opaque 3 bytes: ff 00 01]" in shown


def test_pieces_of_one_element_join_in_order() -> None:
    def data_of(content: bytes) -> str | bytes | None:
        doc = b"\x02\x01\x6a\x00" + b"\x6d\x4f" + content + b"\x01\x01"  # SyncML/Data
        return wbxml.decode_tree(doc).children[0].text

    assert data_of(b"\x03a\x00\x03b\x00\x02\x21") == "ab!"  # STR_I, STR_I, ENTITY
    assert data_of(b"\x03a\x00\xc3\x01\xff\x03b\x00") == b"a\xffb"  # OPAQUE among them
    assert data_of(b"\x03a\x00\x03b\x00\xc3\x02\xc3\xa9") == "ab\u00e9"  # UTF-8: text
    assert data_of(b"\x03\x00") == "" and data_of(b"") is None


_NAMES = ["SyncML", "SyncHdr", "Item", "Data", "Meta", "Mem", "FreeMem", "Format"]  # pages 0, 1
_LITERALS = ["Vendor", "x-y", "1bad"]  # LITERAL tags, one not an XML name
_PLAIN = "ab &<>'\"\t\n\u00e9\U0001f600"  # written as is or escaped
_TEXTS = st.none() | st.text(st.sampled_from(_PLAIN), max_size=6)
_ODD_TEXTS = st.text(st.sampled_from(_PLAIN + "\r\x00\x01\x7f\ufffe"), max_size=4)  # lxml's


@st.composite
def _trees(draw: st.DrawFn, depth: int = 0) -> Node:
    names = _NAMES if draw(st.integers(0, 9)) else _LITERALS
    node = Node(draw(st.sampled_from(names)),
                text=draw(_TEXTS if draw(st.integers(0, 19)) else _ODD_TEXTS))
    if depth < 3:
        node.children = draw(st.lists(_trees(depth + 1), max_size=3))
    return node


@given(_trees())
def test_xml_text_is_the_one_lxml_writes(tree: Node) -> None:
    # wbxml_to_xml writes plain documents itself: byte for byte what tree_to_xml (lxml)
    # writes, and the same error where tree_to_xml refuses.
    data = wbxml.encode_tree(tree)
    try:
        expected: bytes | str = xmlcodec.tree_to_xml(wbxml.decode_tree(data))
    except ProtocolError as exc:
        expected = str(exc)
    try:
        assert wbxml.wbxml_to_xml(data) == expected
    except ProtocolError as exc:
        assert str(exc) == expected


def test_corpus_round_trips(corpus_file: Path) -> None:
    msg = xmlcodec.decode(corpus_file.read_bytes())
    assert wbxml.decode(wbxml.encode(msg)) == msg
    assert wbxml.decode(wbxml.xml_to_wbxml(corpus_file.read_bytes())) == msg


def _offset_error(data: bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        wbxml.decode(data)
    assert info.value.protocol == "wbxml"
    return info.value


@pytest.mark.parametrize("cut", [0, 1, 2, 4, 10, 40, len(HAND) // 2, len(HAND) - 1])
def test_truncated_input_names_an_offset(cut: int) -> None:
    error = _offset_error(HAND[:cut])
    assert error.where is not None and error.where.startswith("byte ")
    assert "truncated" in error.message


@pytest.mark.parametrize(
    ("data", "fragment", "offset"),
    [
        (b"\x02\xff\xff\xff\xff\xff\x01", "bad mb_u_int32", 1),  # public id of 6 octets
        (b"\x02\x90\x80\x80\x80\x00\x6a\x00", "bad mb_u_int32", 1),  # value over 32 bits
        (b"\x07\x01\x6a\x00\x2d", "unsupported WBXML version", 0),
        (b"\x02\x01\x83\x74\x00\x2d", "unsupported charset", 2),  # UTF-16 (1012+)
        (b"\x02\x00\x05\x6a\x00\x2d", "string table offset 5 out of range", 1),
        (b"\x02\x01\x6a\x00\x6d\x7f\x01", "unknown tag token 0x7f", 5),
        (b"\x02\x01\x6a\x00\x6d\x70\x01", "unknown tag token 0x70", 5),  # reserved 0x30
        (b"\x02\x01\x6a\x00\x6d\x00\x05\x6c\x01", "unknown code page 5", 6),
        (b"\x02\x01\x6a\x02a\x00\x6d\x71\x83\x09\x01\x01", "string table offset 9", 8),
        (b"\x02\x01\x6a\x00\x6d\xad\x00\x01", "attributes", 5),
        (b"\x02\x01\x6a\x00\x6d\x71\xc0\x01\x01", "unsupported token 0xc0", 6),  # EXT_0
        (b"\x02\x01\x6a\x00\x01", "END without an open element", 4),
        (b"\x02\x01\x6a\x00\x2d\x2d", "bytes after the root element", 5),
        (b"\x02\x01\x6a\x00\x03a\x00", "content outside the root element", 4),
        (b"\x02\x01\x6a\x00\x6d\x71\xc3\x05ab\x01\x01", "opaque data of 5 bytes", 8),
        (b"\x02\x01\x6a\x00\x6d\x71\x03ab", "unterminated inline string", 7),
    ],
)
def test_malformed_input_names_the_offset(data: bytes, fragment: str, offset: int) -> None:
    error = _offset_error(data)
    assert fragment in error.message
    assert error.where == f"byte {offset}"


def test_missing_end_is_reported() -> None:
    error = _offset_error(b"\x02\x01\x6a\x00\x6d\x6c")
    assert "END of <SyncHdr>" in error.message and error.where == "byte 6"


def test_depth_is_bounded() -> None:
    deep = b"\x02\x01\x6a\x00" + b"\x74" * 100 + b"\x01" * 100
    assert "nesting deeper" in _offset_error(deep).message


_LEAF = b"\x71\x03a\x00\x01"  # <VerDTD>a</VerDTD>: the decoder reads such a leaf in one step


def test_leaves_are_held_to_the_same_bounds() -> None:
    head = b"\x02\x01\x6a\x00"
    at_limit = head + b"\x74" * 63 + _LEAF + b"\x01" * 63  # 64 levels: allowed
    assert len(list(wbxml.decode_tree(at_limit).iter())) == 64
    error = _offset_error(head + b"\x74" * 64 + _LEAF + b"\x01" * 64)
    assert "nesting deeper than 64" in error.message and error.where == "byte 68"
    error = _offset_error(head + b"\x6d\x71\x03\xff\x00\x01\x01")  # not UTF-8
    assert "not valid utf-8" in error.message and error.where == "byte 6"
    with pytest.raises(ProtocolError) as info:
        wbxml.decode_tree(head + b"\x6d\x71\x03ab\x00\x01\x01", max_text=1)
    assert "bound of 1 bytes" in info.value.message and info.value.where == "byte 6"


@given(_trees())
def test_leaves_read_in_one_step_decode_as_token_by_token(tree: Node) -> None:
    # A leaf's inline string split in two (STR_I "" STR_I text) is read token by token.
    if any(isinstance(n.text, str) and "\x00" in n.text for n in tree.iter()):
        return  # OPAQUE: its length byte may be 0x03
    data = wbxml.encode_tree(tree)
    assert data[4] < 0x80  # the string table's length in one octet
    body = 5 + data[4]  # 0x03 past the string table is STR_I only (no U+0003, small indexes)
    split = data[:body] + data[body:].replace(b"\x03", b"\x03\x00\x03")
    try:
        expected: Node | str = wbxml.decode_tree(split)
    except ProtocolError as exc:
        expected = exc.message
    try:
        assert wbxml.decode_tree(data) == expected
    except ProtocolError as exc:
        assert exc.message == expected


def test_structure_errors_come_from_the_shared_mapping() -> None:
    no_header = b"\x02\x01\x6a\x00\x6d\x6b\x01\x01"  # <SyncML><SyncBody/></SyncML>
    with pytest.raises(ProtocolError) as info:
        wbxml.decode(no_header)
    assert info.value.where == "SyncHdr"


@given(st.binary(max_size=200))
def test_random_bytes_raise_only_protocol_errors(data: bytes) -> None:
    try:
        wbxml.decode(data)
    except ProtocolError:
        pass


@given(st.data())
def test_mutated_valid_documents_raise_only_protocol_errors(data: st.DataObject) -> None:
    doc = bytearray(HAND)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(doc) - 1))
        doc[index] = data.draw(st.integers(0, 255))
    try:
        wbxml.decode(bytes(doc))
        wbxml.wbxml_to_xml(bytes(doc), binary="hex")
    except ProtocolError:
        pass


# --------------------------------------------------------------------------- XML -> WBXML


def _tree_path_wbxml(data: bytes) -> bytes:
    """xml_to_wbxml through the neutral tree: its path for documents not of the plain shape."""
    root = xmlcodec.xml_to_tree(data)
    wbxml._mark_opaque(root)
    return wbxml.encode_tree(root)


_XML_NAMES = ["SyncML", "Item", "Meta", "Format", "Data", "LocURI", "MaxMsgSize", "Vendor"]
_XML_NS = ["", ' xmlns="SYNCML:SYNCML1.2"', ' xmlns="syncml:metinf"', ' xmlns="urn:x"']
_XML_TEXTS = ["", "b64", "bin", "chr", "a&amp;b&lt;&gt;", "\u00e9\U0001f600", "&#0;", "\n ",
              "<![CDATA[<x>]]>", "y" * 130, "<!--c-->x"]


@st.composite
def _xml_elements(draw: st.DrawFn, depth: int = 0) -> str:
    name, ns = draw(st.sampled_from(_XML_NAMES)), draw(st.sampled_from(_XML_NS))
    if depth < 3 and draw(st.booleans()):
        kids = draw(st.lists(_xml_elements(depth + 1), max_size=3))
        gaps = [draw(st.sampled_from(["", "\n  ", "x"])) for _ in range(len(kids) + 1)]
        inner = gaps[0] + "".join(k + g for k, g in zip(kids, gaps[1:], strict=True))
    else:
        inner = draw(st.sampled_from(_XML_TEXTS))
    return f"<{name}{ns}>{inner}</{name}>"


@settings(max_examples=300)
@given(_xml_elements())
def test_xml_to_wbxml_writes_what_the_tree_path_writes(xml: str) -> None:
    # Plain documents are encoded from the lxml tree directly: byte for byte what the neutral
    # tree path writes (mixed text, nested XML in Data, NUL and LITERAL tags take that path).
    data = xml.encode()
    assert wbxml.xml_to_wbxml(data) == _tree_path_wbxml(data)


def test_xml_to_wbxml_plain_path_on_the_corpus_and_mutations() -> None:
    import random

    rng = random.Random(7)
    corpus = sorted((Path(__file__).parent / "corpus").glob("*.xml"))
    plain = 0
    for path in corpus:
        data = path.read_bytes()
        element, marker = xmlcodec.parse_xml(data)
        fast = wbxml._plain_wbxml(element) if marker is None else None
        plain += fast is not None
        assert wbxml.xml_to_wbxml(data) == (fast or _tree_path_wbxml(data))
        for _ in range(25):  # formats that make Data OPAQUE, long and non-ASCII text
            mutated = data
            for old, new in ((b"chr", b"b64"), (b"text/plain", b"bin"), (b">1<", b">\xc3\xa9<"),
                             (b"<Data>", b"<Data>" + b"Q" * rng.choice([127, 128, 20000]))):
                if rng.random() < 0.5:
                    mutated = mutated.replace(old, new, rng.randint(1, 3))
            assert wbxml.xml_to_wbxml(mutated) == _tree_path_wbxml(mutated), path.name
    assert plain == len(corpus) - 1  # all but the nested-XML message
