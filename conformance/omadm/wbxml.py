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

from dataclasses import dataclass
from typing import Literal

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


@dataclass(frozen=True)
class Language:
    """A WBXML application: its public id and code pages (SyncML DM here; TNDS in tnds.py)."""

    public_id: str
    tags: dict[tuple[int, int], str]  # (page, token) -> element name
    namespaces: dict[int, str]  # page -> XML namespace

    def tokens(self) -> dict[str, tuple[int, int]]:
        return {name: key for key, name in self.tags.items()}


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
            raise ProtocolError(
                PROTOCOL,
                f"decoded text exceeds the bound of {self.max_text} bytes",
                where=f"byte {where}",
            )

    def text(self, raw: bytes, where: int) -> str:
        try:
            return raw.decode(self.charset)
        except UnicodeDecodeError:
            raise _error(f"string is not valid {self.charset}", where) from None


class _Open:
    """An element being read: its node and the pieces of its content, in order."""

    __slots__ = ("binary", "node", "pieces")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.pieces: list[str | bytes] = []  # bytes: OPAQUE data
        self.binary = False  # an OPAQUE piece is among them (set by _content)

    def close(self) -> None:
        node = self.node
        pieces = self.pieces
        if self.binary:
            raw = b"".join(p if isinstance(p, bytes) else p.encode() for p in pieces)
            node.opaque = True
            try:
                node.text = raw.decode("utf-8")
            except UnicodeDecodeError:
                node.text = raw  # binary data stays bytes
        elif pieces:
            # Only str pieces here (no OPAQUE): one piece, the common case, needs no join.
            node.text = pieces[0] if len(pieces) == 1 else "".join(pieces)  # type: ignore[arg-type]
        if node.children and isinstance(node.text, str) and not node.text.strip():
            node.text = None  # whitespace between elements


def decode_tree(data: bytes, *, max_text: int = MAX_TEXT, language: Language = SYNCML) -> Node:
    """Parse a WBXML document into the neutral element tree.

    ``max_text`` bounds the decoded text (see :data:`MAX_TEXT`); past it the document is
    refused with a :class:`ProtocolError` naming the bound, before the text is built.
    """
    pages = language.namespaces
    if len(data) > MAX_BYTES:
        raise ProtocolError(PROTOCOL, f"document of {len(data)} bytes exceeds {MAX_BYTES}")
    reader = _Reader(data)
    doc = _Document(reader, max_text)
    page = 0
    stack: list[_Open] = []
    root: Node | None = None
    size = len(data)
    while True:
        if root is not None and not stack:
            break
        offset = reader.pos
        if offset >= size:
            what = f"END of <{stack[-1].node.name}>" if stack else "root element"
            raise _error(f"truncated: {what} expected", offset)
        # The token byte is read inline (bounds checked just above): this loop runs once
        # per element and per content piece, so a method call here is a visible cost.
        token = data[offset]
        reader.pos = offset + 1
        if token == SWITCH_PAGE:
            page = reader.byte("code page")
            if page not in pages:
                raise _error(f"unknown code page {page}", offset + 1, data)
            continue
        if token == END:
            if not stack:
                raise _error("END without an open element", offset, data)
            stack.pop().close()
            continue
        if stack and token in (STR_I, STR_T, OPAQUE, ENTITY):
            _content(reader, doc, token, stack[-1], offset)
            continue
        if token in (STR_I, STR_T, OPAQUE, ENTITY):
            raise _error("content outside the root element", offset, data)
        if token in _UNSUPPORTED:
            raise _error(f"unsupported token 0x{token:02x} (extension or PI)", offset, data)
        node = _tag(reader, doc, token, page, offset, language)
        if root is None:
            root = node
        elif not stack:
            raise _error("second root element", offset, data)
        else:
            stack[-1].node.children.append(node)
        if token & HAS_CONTENT:
            if len(stack) >= MAX_DEPTH:
                raise _error(f"nesting deeper than {MAX_DEPTH} levels", offset)
            stack.append(_Open(node))
    if reader.pos != len(data):
        raise _error(f"{len(data) - reader.pos} bytes after the root element", reader.pos, data)
    return root


def _content(reader: _Reader, doc: _Document, token: int, current: _Open, offset: int) -> None:
    if token == STR_I:
        raw = reader.cstring("inline string")
        doc.spend(len(raw), offset)
        current.pieces.append(doc.text(raw, offset))
    elif token == STR_T:
        current.pieces.append(doc.string_at(reader.mb_u_int32("string reference"), offset))
    elif token == ENTITY:
        code = reader.mb_u_int32("entity")
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise _error(f"entity {code} is not a character", offset, reader.data)
        doc.spend(1, offset)
        current.pieces.append(chr(code))
    else:  # OPAQUE
        length = reader.mb_u_int32("opaque length")
        doc.spend(length, offset)
        current.pieces.append(reader.take(length, "opaque data"))
        current.binary = True


def _tag(
    reader: _Reader, doc: _Document, token: int, page: int, offset: int, language: Language
) -> Node:
    if token & HAS_ATTRIBUTES:
        raise _error("attributes are not used in SyncML", offset, reader.data)
    ident = token & 0x3F
    if ident == LITERAL:
        literal = doc.string_at(reader.mb_u_int32("literal tag name"), offset)
        return Node(literal, "")  # WBXML carries no namespace for a literal tag
    name = language.tags.get((page, ident))
    if name is None:
        raise _error(f"unknown tag token 0x{token:02x} on code page {page}", offset, reader.data)
    return Node(name, language.namespaces[page])


# --------------------------------------------------------------------------- encoding


def _mb_u_int32(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


class _Writer:
    def __init__(self, tokens: dict[str, tuple[int, int]]) -> None:
        self.tokens = tokens
        self.body = bytearray()
        self.strtbl = bytearray()
        self.strings: dict[str, int] = {}
        self.page = 0

    def string_ref(self, text: str) -> int:
        if text not in self.strings:
            self.strings[text] = len(self.strtbl)
            self.strtbl += text.encode("utf-8") + b"\x00"
        return self.strings[text]

    def element(self, node: Node) -> None:
        has_content = bool(node.children) or bool(node.text)
        flag = HAS_CONTENT if has_content else 0
        key = self.tokens.get(node.name)
        if key is None:  # an element without a token travels as a LITERAL tag
            self.body.append(LITERAL | flag)
            self.body += _mb_u_int32(self.string_ref(node.name))
        else:
            page, token = key
            if page != self.page:
                self.body += bytes([SWITCH_PAGE, page])
                self.page = page
            self.body.append(token | flag)
        if not has_content:
            return
        if node.text:
            self.content(node)
        for child in node.children:
            self.element(child)
        self.body.append(END)

    def content(self, node: Node) -> None:
        text = node.text
        if isinstance(text, bytes) or node.opaque or (text is not None and "\x00" in text):
            raw = text if isinstance(text, bytes) else (text or "").encode("utf-8")
            self.body.append(OPAQUE)
            self.body += _mb_u_int32(len(raw)) + raw
        else:
            assert text is not None
            self.body.append(STR_I)
            self.body += text.encode("utf-8") + b"\x00"


def encode_tree(root: Node, *, version: int = 0x02, language: Language = SYNCML) -> bytes:
    """Serialise a neutral tree as WBXML (UTF-8, the language's literal public id)."""
    writer = _Writer(TOKENS if language is SYNCML else language.tokens())
    public_index = writer.string_ref(language.public_id)
    writer.element(root)
    header = bytes([version]) + b"\x00" + _mb_u_int32(public_index) + _mb_u_int32(UTF8_MIB)
    return header + _mb_u_int32(len(writer.strtbl)) + bytes(writer.strtbl) + bytes(writer.body)


def _mark_opaque(root: Node) -> None:
    """Tree-level rule for item data coming from XML: b64/bin formats travel as OPAQUE."""
    for item in (n for n in root.iter() if n.name == "Item"):
        fmt = None
        for meta in (c for c in item.children if c.name == "Meta"):
            fmt = next((f.text for f in meta.children if f.name == "Format"), None)
        for data in (c for c in item.children if c.name == "Data"):
            data.opaque = data.opaque or fmt in ("b64", "bin")


# --------------------------------------------------------------------------- public API


def decode(data: bytes, *, max_text: int = MAX_TEXT) -> SyncML:
    """Decode a SyncML DM WBXML message (decoded text bounded by ``max_text``)."""
    try:
        return xmlcodec.from_tree(decode_tree(data, max_text=max_text))
    except ProtocolError:
        raise
    except (ValueError, TypeError, IndexError, KeyError, RecursionError) as exc:
        raise ProtocolError(PROTOCOL, f"undecodable message: {exc}") from None


def encode(msg: SyncML) -> bytes:
    """Encode a message as WBXML 1.2."""
    return encode_tree(xmlcodec.to_tree(msg))


def wbxml_to_xml(
    data: bytes, *, binary: Literal["error", "hex"] = "error", max_text: int = MAX_TEXT
) -> bytes:
    """The XML form of a WBXML document (tree level, no model checks).

    Binary OPAQUE data cannot appear in XML: ``binary="error"`` raises, ``"hex"`` writes a
    readable ``[opaque N bytes: …]`` placeholder instead (for transcripts).
    """
    root = decode_tree(data, max_text=max_text)
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
    root = xmlcodec.xml_to_tree(data)
    _mark_opaque(root)
    return encode_tree(root)
