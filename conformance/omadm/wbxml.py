"""WBXML 1.2/1.3 codec for SyncML DM 1.2 (code page 0 SyncML, code page 1 MetInf).

Token values are those of the SyncML Representation Protocol WBXML annex, as libwbxml's
``sv_syncml_syncml12_tag_table`` (src/wbxml_tables.c) also lists them. The element mapping is
shared with the XML codec through :class:`~conformance.omadm.xmlcodec.Node`.

The encoder writes WBXML 1.2, UTF-8, the literal public id ``-//SYNCML//DTD SyncML 1.2//EN``
through the string table (the SyncML 1.2 way; numeric ids are decoded too), inline strings
(STR_I), and OPAQUE for item data that is binary, base64/bin formatted or contains NUL.
The decoder reads STR_I, STR_T, OPAQUE, ENTITY, SWITCH_PAGE, LITERAL tags and END; anything
else, and every truncation, is a :class:`ProtocolError` naming the byte offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from lxml import etree

from conformance.errors import ProtocolError
from conformance.omadm import xmlcodec
from conformance.omadm.model import METINF_NS, SYNCML_NS, SyncML
from conformance.omadm.xmlcodec import Node

PROTOCOL = "wbxml"
PUBLIC_ID_TEXT = "-//SYNCML//DTD SyncML 1.2//EN"
# Numeric public ids registered for SyncML (libwbxml wbxml.h); DM 1.2 uses the literal one.
PUBLIC_IDS = {
    0x0FD1: "-//SYNCML//DTD SyncML 1.0//EN",
    0x0FD3: "-//SYNCML//DTD SyncML 1.1//EN",
    0x1201: PUBLIC_ID_TEXT,
}
MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
# Bound on the decoded text of one document (content, string-table references, LITERAL tag
# names), counted as it is decoded: STR_T lets a small document name one long string many
# times (100 KB x 1000 references = 100 MB). The server passes a bound derived from the
# declaration (conformance.limits); this default serves everyone else.
MAX_TEXT = 4 * 1024 * 1024

# Global tokens (WBXML 1.3 section 7.1).
SWITCH_PAGE, END, ENTITY, STR_I, LITERAL = 0x00, 0x01, 0x02, 0x03, 0x04
STR_T, OPAQUE = 0x83, 0xC3
LITERAL_C, LITERAL_A, LITERAL_AC = 0x44, 0x84, 0xC4
HAS_ATTRIBUTES, HAS_CONTENT = 0x80, 0x40
# Extension tokens and PI: SyncML defines no use for them.
_UNSUPPORTED = frozenset({0x40, 0x41, 0x42, 0x43, 0x80, 0x81, 0x82, 0xC0, 0xC1, 0xC2})
CHARSETS = {106: "utf-8", 3: "ascii", 4: "latin-1", 0: "utf-8"}  # IANA MIBenum
UTF8_MIB = 106

_PAGE0 = [
    "Add",
    "Alert",
    "Archive",
    "Atomic",
    "Chal",
    "Cmd",
    "CmdID",
    "CmdRef",
    "Copy",
    "Cred",
    "Data",
    "Delete",
    "Exec",
    "Final",
    "Get",
    "Item",
    "Lang",
    "LocName",
    "LocURI",
    "Map",
    "MapItem",
    "Meta",
    "MsgID",
    "MsgRef",
    "NoResp",
    "NoResults",
    "Put",
    "Replace",
    "RespURI",
    "Results",
    "Search",
    "Sequence",
    "SessionID",
    "SftDel",
    "Source",
    "SourceRef",
    "Status",
    "Sync",
    "SyncBody",
    "SyncHdr",
    "SyncML",
    "Target",
    "TargetRef",
    None,
    "VerDTD",
    "VerProto",
    "NumberOfChanges",
    "MoreData",
    "Field",
    "Filter",
    "Record",
    "FilterType",
    "SourceParent",
    "TargetParent",
    "Move",
    "Correlator",
]
_PAGE1 = [
    "Anchor",
    "EMI",
    "Format",
    "FreeID",
    "FreeMem",
    "Last",
    "Mark",
    "MaxMsgSize",
    "Mem",
    "MetInf",
    "Next",
    "NextNonce",
    "SharedMem",
    "Size",
    "Type",
    "Version",
    "MaxObjSize",
    "FieldLevel",
]
# (page, token) -> name and back; tokens start at 0x05 on both pages.
TAGS: dict[tuple[int, int], str] = {
    **{(0, 0x05 + i): n for i, n in enumerate(_PAGE0) if n is not None},
    **{(1, 0x05 + i): n for i, n in enumerate(_PAGE1)},
}
TOKENS: dict[str, tuple[int, int]] = {name: key for key, name in TAGS.items()}
_PAGE_NS = {0: SYNCML_NS, 1: METINF_NS}


# A tag as the decoder creates it: element name, namespace, has content (an END follows).
_Tag = tuple[str, str, bool]


@dataclass(frozen=True)
class Language:
    """A WBXML application: its public id and code pages (SyncML DM here; TNDS in tnds.py)."""

    public_id: str
    tags: dict[tuple[int, int], str]  # (page, token) -> element name
    namespaces: dict[int, str]  # page -> XML namespace

    def tokens(self) -> dict[str, tuple[int, int]]:
        return {name: key for key, name in self.tags.items()}

    @cached_property
    def page_tags(self) -> dict[int, tuple[_Tag | None, ...]]:
        """page -> the tag of each token byte (with and without HAS_CONTENT), None for the
        other bytes: the decoder's one look-up per tag (an index, cheaper than a dict's)."""
        pages: dict[int, list[_Tag | None]] = {page: [None] * 256 for page in self.namespaces}
        for (page, token), name in self.tags.items():
            ns = self.namespaces[page]
            pages[page][token] = (name, ns, False)
            pages[page][token | HAS_CONTENT] = (name, ns, True)
        return {page: tuple(table) for page, table in pages.items()}


SYNCML = Language(PUBLIC_ID_TEXT, TAGS, _PAGE_NS)


# --------------------------------------------------------------------------- decoding


def _error(message: str, offset: int, data: bytes | None = None) -> ProtocolError:
    excerpt = data[offset : offset + 16] if data is not None else None
    return ProtocolError(PROTOCOL, message, where=f"byte {offset}", data=excerpt)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self, what: str) -> int:
        if self.pos >= len(self.data):
            raise _error(f"truncated: {what} expected", self.pos)
        value = self.data[self.pos]
        self.pos += 1
        return value

    def mb_u_int32(self, what: str) -> int:
        start = self.pos
        if start < len(self.data) and self.data[start] < 0x80:  # one octet: the common case
            self.pos = start + 1
            return self.data[start]
        value = 0
        for _ in range(5):
            octet = self.byte(what)
            value = (value << 7) | (octet & 0x7F)
            if not octet & 0x80:
                if value > 0xFFFFFFFF:
                    break
                return value
        raise _error(f"bad mb_u_int32 for {what}", start, self.data)

    def take(self, length: int, what: str) -> bytes:
        if length > len(self.data) - self.pos:
            raise _error(f"truncated: {what} of {length} bytes runs past the end", self.pos)
        chunk = self.data[self.pos : self.pos + length]
        self.pos += length
        return chunk

    def cstring(self, what: str) -> bytes:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise _error(f"truncated: unterminated {what}", self.pos)
        chunk = self.data[self.pos : end]
        self.pos = end + 1
        return chunk


class _Document:
    """Header fields and the string table of one WBXML document, and its decoded-text budget."""

    def __init__(self, reader: _Reader, max_text: int = MAX_TEXT) -> None:
        self.max_text = max_text
        self.decoded = 0  # characters of text decoded so far (content and literal names)
        self.version = reader.byte("version")
        if self.version not in (0x01, 0x02, 0x03):
            raise _error(f"unsupported WBXML version byte 0x{self.version:02x}", 0)
        offset = reader.pos
        publicid = reader.mb_u_int32("public id")
        literal_index = reader.mb_u_int32("public id index") if publicid == 0 else None
        charset_at = reader.pos
        mib = reader.mb_u_int32("charset")
        if mib not in CHARSETS:
            raise _error(f"unsupported charset MIBenum {mib}", charset_at)
        self.charset = CHARSETS[mib]
        length = reader.mb_u_int32("string table length")
        self.table_offset = reader.pos
        self.strtbl = reader.take(length, "string table")
        if literal_index is not None:
            self.public_id = self.string_at(literal_index, offset)
        else:
            self.public_id = PUBLIC_IDS.get(publicid, f"0x{publicid:x}")

    def string_at(self, index: int, where: int) -> str:
        if index >= len(self.strtbl):
            raise _error(f"string table offset {index} out of range ({len(self.strtbl)})", where)
        end = self.strtbl.find(b"\x00", index)
        stop = len(self.strtbl) if end < 0 else end
        self.spend(stop - index, where)  # before the copy: the bound holds as it decodes
        return self.text(self.strtbl[index:stop], where)

    def spend(self, size: int, where: int) -> None:
        """Count ``size`` more decoded bytes; past the bound, refuse the document at once."""
        self.decoded += size
        if self.decoded > self.max_text:
            raise self.over(where)

    def over(self, where: int) -> ProtocolError:
        message = f"decoded text exceeds the bound of {self.max_text} bytes"
        return ProtocolError(PROTOCOL, message, where=f"byte {where}")

    def text(self, raw: bytes, where: int) -> str:
        try:
            return raw.decode(self.charset)
        except UnicodeDecodeError:
            raise _error(f"string is not valid {self.charset}", where) from None


def decode_tree(data: bytes, *, max_text: int = MAX_TEXT, language: Language = SYNCML) -> Node:
    """Parse a WBXML document into the neutral element tree.

    ``max_text`` bounds the decoded text (see :data:`MAX_TEXT`); past it the document is
    refused with a :class:`ProtocolError` naming the bound, before the text is built.
    """
    # One loop, locals only: it runs once per token, so every call, attribute look-up or
    # object it avoids is a visible share of the decode (bench/README.md, section 1). The
    # frequent tokens (a tag of the current page, END, STR_I) are handled inline; the rest
    # go through the helpers below, with the same bounds and offsets.
    if len(data) > MAX_BYTES:
        raise ProtocolError(PROTOCOL, f"document of {len(data)} bytes exceeds {MAX_BYTES}")
    reader = _Reader(data)
    doc = _Document(reader, max_text)
    charset = doc.charset
    decoded = doc.decoded  # doc's count while in the loop: handed over around the helpers
    page_tags = language.page_tags
    page = 0
    tags = page_tags.get(page, _NO_TAGS)
    size = len(data)
    pos = reader.pos
    stack: list[Node] = []  # the open elements
    siblings: list[Node] = []  # the children of the innermost open element
    # The content pieces of the open elements (by id) that have two or an OPAQUE one; the
    # others (the common case) hold their one string, if any, in node.text.
    pieces: dict[int, list[str | bytes]] = {}
    # Nodes are made without the dataclass __init__ (a third of their cost): the defaults of
    # the fields not set here (text None, opaque False) are class attributes of Node.
    new = object.__new__
    while True:
        try:
            token = data[pos]
        except IndexError:
            what = f"END of <{stack[-1].name}>" if stack else "root element"
            raise _error(f"truncated: {what} expected", pos) from None
        offset = pos
        pos += 1
        entry = tags[token]
        if entry is None:
            if token == END:
                if not stack:
                    raise _error("END without an open element", offset, data)
                node = stack.pop()
                if pieces and id(node) in pieces:
                    _join_pieces(node, pieces.pop(id(node)))
                text = node.text
                if text is not None and node.children and type(text) is str and not text.strip():
                    node.text = None  # whitespace between elements
                if not stack:
                    break
                siblings = stack[-1].children
                continue
            if token == SWITCH_PAGE:  # MetInf elements: two per Meta
                if pos >= size:
                    raise _error("truncated: code page expected", pos)
                page = data[pos]
                pos += 1
                if page not in language.namespaces:
                    raise _error(f"unknown code page {page}", offset + 1, data)
                tags = page_tags[page]
                continue
            if token == STR_I or token in _CONTENT:
                if not stack:
                    raise _error("content outside the root element", offset, data)
                piece: str | bytes
                if token == STR_I:
                    end = data.find(b"\x00", pos)
                    if end < 0:
                        raise _error("truncated: unterminated inline string", pos)
                    decoded += end - pos
                    if decoded > max_text:
                        raise doc.over(offset)
                    try:
                        piece = data[pos:end].decode(charset)
                    except UnicodeDecodeError:
                        raise _error(f"string is not valid {charset}", offset) from None
                    pos = end + 1
                else:
                    reader.pos, doc.decoded = pos, decoded
                    piece = _content(reader, doc, token, offset)
                    pos, decoded = reader.pos, doc.decoded
                top = stack[-1]
                more = pieces.get(id(top)) if pieces else None
                if more is not None:
                    more.append(piece)
                elif token == OPAQUE:  # the pieces are joined as bytes when the element ends
                    pieces[id(top)] = [piece] if top.text is None else [top.text, piece]
                elif top.text is None:
                    top.text = piece
                else:
                    pieces[id(top)] = [top.text, piece]
                if token == OPAQUE:
                    top.opaque = True
                continue
            reader.pos, doc.decoded = pos, decoded
            entry = _other_tag(reader, doc, token, page, offset)
            pos, decoded = reader.pos, doc.decoded
        if entry[2] and pos < size and data[pos] == STR_I and stack and len(stack) < MAX_DEPTH:
            # A leaf of one inline string then END (<CmdID>2</CmdID>, most elements) in one
            # step instead of three tokens; one that would fail a check (the text budget, the
            # charset, a missing END) goes token by token and fails there, at the same offset.
            end = data.find(b"\x00", pos + 1)
            if 0 < end < size - 1 and data[end + 1] == END and decoded + end - pos - 1 <= max_text:
                try:
                    text = data[pos + 1 : end].decode(charset)
                except UnicodeDecodeError:
                    pass
                else:
                    decoded += end - pos - 1
                    pos = end + 2
                    node = new(Node)
                    node.name, node.ns, node.children, node.text = entry[0], entry[1], [], text
                    siblings.append(node)
                    continue
        node = new(Node)
        node.name, node.ns, node.children = entry[0], entry[1], []
        if stack:
            siblings.append(node)
        if entry[2]:  # HAS_CONTENT: open until its END
            if len(stack) >= MAX_DEPTH:
                raise _error(f"nesting deeper than {MAX_DEPTH} levels", offset)
            stack.append(node)
            siblings = node.children
        elif not stack:
            break  # a root element without content
    if pos != size:
        raise _error(f"{size - pos} bytes after the root element", pos, data)
    return node


_CONTENT = frozenset({STR_T, OPAQUE, ENTITY})  # content tokens other than STR_I
_NO_TAGS: tuple[_Tag | None, ...] = (None,) * 256  # a page of the language's without tags


def _join_pieces(node: Node, pieces: list[str | bytes]) -> None:
    """The text of an element of several pieces, or of OPAQUE data (bytes unless UTF-8)."""
    if node.opaque:
        raw = b"".join(p if isinstance(p, bytes) else p.encode() for p in pieces)
        try:
            node.text = raw.decode("utf-8")
        except UnicodeDecodeError:
            node.text = raw  # binary data stays bytes
    else:  # only str pieces (no OPAQUE)
        node.text = "".join(pieces)  # type: ignore[arg-type]


def _content(reader: _Reader, doc: _Document, token: int, offset: int) -> str | bytes:
    """The piece of an STR_T, ENTITY or OPAQUE token (bytes: OPAQUE data)."""
    if token == STR_T:
        return doc.string_at(reader.mb_u_int32("string reference"), offset)
    if token == ENTITY:
        code = reader.mb_u_int32("entity")
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise _error(f"entity {code} is not a character", offset, reader.data)
        doc.spend(1, offset)
        return chr(code)
    length = reader.mb_u_int32("opaque length")  # OPAQUE
    doc.spend(length, offset)
    return reader.take(length, "opaque data")


def _other_tag(reader: _Reader, doc: _Document, token: int, page: int, offset: int) -> _Tag:
    """A LITERAL tag, or the error naming why ``token`` is no tag of the current page."""
    if token in _UNSUPPORTED:
        raise _error(f"unsupported token 0x{token:02x} (extension or PI)", offset, reader.data)
    if token & HAS_ATTRIBUTES:
        raise _error("attributes are not used in SyncML", offset, reader.data)
    if token & 0x3F == LITERAL:
        literal = doc.string_at(reader.mb_u_int32("literal tag name"), offset)
        return literal, "", bool(token & HAS_CONTENT)  # WBXML carries no namespace for it
    raise _error(f"unknown tag token 0x{token:02x} on code page {page}", offset, reader.data)


# --------------------------------------------------------------------------- encoding


def _mb_u_int32(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def encode_tree(root: Node, *, version: int = 0x02, language: Language = SYNCML) -> bytes:
    """Serialise a neutral tree as WBXML (UTF-8, the language's literal public id)."""
    tokens = TOKENS if language is SYNCML else language.tokens()
    body = bytearray()
    strtbl = bytearray()
    strings: dict[str, int] = {}
    page = 0

    def string_ref(text: str) -> int:
        index = strings.get(text)
        if index is None:
            index = strings[text] = len(strtbl)
            strtbl.extend(text.encode("utf-8"))
            strtbl.append(0)
        return index

    # Closures over locals, not methods: this runs once per element (bench/README.md, 1).
    def element(node: Node) -> None:
        nonlocal page
        text = node.text
        children = node.children
        flag = HAS_CONTENT if children or text else 0
        key = tokens.get(node.name)
        if key is None:  # an element without a token travels as a LITERAL tag
            body.append(LITERAL | flag)
            body.extend(_mb_u_int32(string_ref(node.name)))
        else:
            if key[0] != page:
                page = key[0]
                body.append(SWITCH_PAGE)
                body.append(page)
            body.append(key[1] | flag)
        if not flag:
            return
        if text:
            if isinstance(text, bytes) or node.opaque or "\x00" in text:
                raw = text if isinstance(text, bytes) else text.encode("utf-8")
                body.append(OPAQUE)
                body.extend(_mb_u_int32(len(raw)))
                body.extend(raw)
            else:
                body.append(STR_I)
                body.extend(text.encode("utf-8"))
                body.append(0)
        for child in children:
            element(child)
        body.append(END)

    public_index = string_ref(language.public_id)
    element(root)
    header = bytes([version]) + b"\x00" + _mb_u_int32(public_index) + _mb_u_int32(UTF8_MIB)
    return header + _mb_u_int32(len(strtbl)) + bytes(strtbl) + bytes(body)


def _mark_opaque(root: Node) -> None:
    """Tree-level rule for item data coming from XML: b64/bin formats travel as OPAQUE."""
    for item in root.iter():
        if item.name != "Item":
            continue
        fmt = None
        for meta in (c for c in item.children if c.name == "Meta"):
            fmt = next((f.text for f in meta.children if f.name == "Format"), None)
        for data in (c for c in item.children if c.name == "Data"):
            data.opaque = data.opaque or fmt in ("b64", "bin")


# --------------------------------------------------------------------------- public API


def decode(data: bytes, *, max_text: int = MAX_TEXT) -> SyncML:
    """Decode a SyncML DM WBXML message (decoded text bounded by ``max_text``)."""
    return decode_with_tree(data, max_text=max_text)[0]


def encode(msg: SyncML) -> bytes:
    """Encode a message as WBXML 1.2."""
    return encode_tree(xmlcodec.to_tree(msg))


# Characters of text that lxml does not write as they are: &, < and > (escaped below), and
# those it refuses or writes as a character reference (CR), NUL: text with one of the latter
# takes the lxml path.
_XML_SPECIAL = re.compile("[\x00-\x08\x0b-\x1f&<>\ud800-\udfff\ufffe\uffff]")
_XML_NOT_PLAIN = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")


def _plain_xml(node: Node, scope: str, out: list[str]) -> bool:
    """Append the XML :func:`xmlcodec.tree_to_xml` writes for ``node`` (``scope``: the default
    namespace in force) when the subtree is of the shape it writes without lxml's help: names
    from the code pages, the root's namespace redeclared by MetInf elements only, text of
    plain characters. False otherwise (``out`` is then to be dropped).

    The transcript's hot path: building lxml elements for a document costs 3-4x the decode.
    Byte-identical output is tested against tree_to_xml (tests/omadm/codecs/test_wbxml.py).
    """
    name = node.name
    ns = node.ns
    if ns == scope:
        if not ns:
            return False  # a LITERAL tag (no namespace) at the root
        out.append("<")  # separate appends: cheaper than concatenating
        out.append(name)
    elif ns and (not scope or ns == METINF_NS):
        out.append(f'<{name} xmlns="{ns}"')  # the root, a MetInf element below SyncML
        scope = ns
    else:
        return False  # lxml would write a prefix or xmlns="" here
    text = node.text
    children = node.children
    if text is None:
        if not children:
            out.append("/>")
            return True
        out.append(">")
    elif isinstance(text, str):
        if _XML_SPECIAL.search(text) is not None:
            if _XML_NOT_PLAIN.search(text) is not None:
                return False
            text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        out.append(">")
        out.append(text)
    else:
        return False  # binary OPAQUE data
    for child in children:
        if not _plain_xml(child, scope, out):
            return False
    out.append("</")
    out.append(name)
    out.append(">")
    return True


def wbxml_to_xml(
    data: bytes, *, binary: Literal["error", "hex"] = "error", max_text: int = MAX_TEXT
) -> bytes:
    """The XML form of a WBXML document (tree level, no model checks).

    Binary OPAQUE data cannot appear in XML: ``binary="error"`` raises, ``"hex"`` writes a
    readable ``[opaque N bytes: …]`` placeholder instead (for transcripts).
    """
    return tree_xml(decode_tree(data, max_text=max_text), binary)


def decode_with_tree(data: bytes, *, max_text: int = MAX_TEXT) -> tuple[SyncML, Node]:
    """:func:`decode`, and the element tree it was read from (for :func:`tree_xml`: the lab's
    hot path shows the message as XML without decoding it twice)."""
    try:
        root = decode_tree(data, max_text=max_text)
        return xmlcodec.from_tree(root), root
    except ProtocolError:
        raise
    except (ValueError, TypeError, IndexError, KeyError, RecursionError) as exc:
        raise ProtocolError(PROTOCOL, f"undecodable message: {exc}") from None


def tree_xml(root: Node, binary: Literal["error", "hex"] = "error") -> bytes:
    """:func:`wbxml_to_xml` of a decoded tree (``binary="hex"`` replaces binary text in it)."""
    out: list[str] = []
    if _plain_xml(root, "", out):
        return xmlcodec.XML_DECLARATION + "".join(out).encode()
    for node in root.iter():
        if isinstance(node.text, bytes):
            if binary == "error":
                raise ProtocolError(
                    PROTOCOL,
                    "binary OPAQUE data cannot be shown as XML text",
                    where=f"<{node.name}>",
                )
            node.text = f"[opaque {len(node.text)} bytes: {node.text[:64].hex(' ')}]"
    return xmlcodec.tree_to_xml(root)


def xml_to_wbxml(data: bytes) -> bytes:
    """The WBXML form of an XML document (tree level, hardened XML parsing)."""
    element, marker = xmlcodec.parse_xml(data)
    if marker is None:
        plain = _plain_wbxml(element)
        if plain is not None:
            return plain
    root = xmlcodec.element_to_node(element, marker)
    _mark_opaque(root)
    return encode_tree(root)


class _NotPlain(Exception):
    """The document needs the neutral tree's handling (see :func:`_plain_wbxml`)."""


# The header and string table encode_tree writes when no LITERAL tag adds a string.
_PLAIN_HEADER = (
    bytes([0x02, 0x00, 0x00, UTF8_MIB, len(PUBLIC_ID_TEXT) + 1]) + PUBLIC_ID_TEXT.encode() + b"\0"
)
# lxml tag ("{namespace}name" or "name") -> (code page, token, local name); bounded, since
# a document may name any namespace.
_TAG_KEYS: dict[str, tuple[int, int, str]] = {}
_TAG_KEYS_MAX = 512


def _tag_key(tag: object) -> tuple[int, int, str]:
    if not isinstance(tag, str):
        raise _NotPlain  # a comment or PI: left to element_to_node
    name = tag.rpartition("}")[2]
    key = TOKENS.get(name)
    if key is None:
        raise _NotPlain  # a LITERAL tag: the string table grows
    entry = (key[0], key[1], name)
    if len(_TAG_KEYS) < _TAG_KEYS_MAX:
        _TAG_KEYS[tag] = entry
    return entry


def _binary_item(item: etree._Element) -> bool:
    """_mark_opaque's rule on an lxml Item: the Format of its last Meta is b64 or bin."""
    fmt = None
    for meta in item:
        if isinstance(meta.tag, str) and meta.tag.rpartition("}")[2] == "Meta":
            fmt = next((f.text for f in meta
                        if isinstance(f.tag, str) and f.tag.rpartition("}")[2] == "Format"), None)
    return fmt in ("b64", "bin")


def _plain_wbxml(root: etree._Element) -> bytes | None:
    """What ``encode_tree`` writes for ``element_to_node(root)`` after ``_mark_opaque``, built
    from the lxml tree in one walk, or None when the document is not of the plain shape: tag
    names of the code pages, no text mixed with elements, no elements inside Data, no NUL (the
    caller checks the last). The XML -> WBXML hot path: the neutral tree, its walk for
    ``_mark_opaque`` and the encoder's were three quarters of it (bench/README.md, section 1).
    Byte-identical output is tested against that path (tests/omadm/codecs/test_wbxml.py).
    """
    body = bytearray(_PLAIN_HEADER)
    page = 0
    keys = _TAG_KEYS

    def element(el: etree._Element, in_binary_item: bool) -> None:
        nonlocal page
        tag = el.tag
        key = keys.get(tag) if type(tag) is str else None
        if key is None:
            key = _tag_key(tag)
        key_page, token, name = key
        if key_page != page:
            page = key_page
            body.append(SWITCH_PAGE)
            body.append(page)
        text = el.text
        if len(el):  # element children: any text beside them must be blank
            if (text is not None and text.strip()) or name == "Data":
                raise _NotPlain
            body.append(token | HAS_CONTENT)
            binary = name == "Item" and _binary_item(el)
            for child in el:
                tail = child.tail
                if tail is not None and tail.strip():
                    raise _NotPlain
                element(child, binary)
            body.append(END)
        elif text:
            body.append(token | HAS_CONTENT)
            raw = text.encode("utf-8")
            if (in_binary_item and name == "Data") or "\x00" in text:
                body.append(OPAQUE)
                body.extend(_mb_u_int32(len(raw)))
                body.extend(raw)
            else:
                body.append(STR_I)
                body.extend(raw)
                body.append(0)
            body.append(END)
        else:
            body.append(token)

    try:
        element(root, False)
    except _NotPlain:
        return None
    return bytes(body)
