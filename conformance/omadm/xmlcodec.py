"""SyncML DM 1.2 XML codec: bytes <-> :class:`~conformance.omadm.model.SyncML`.

The mapping goes through a small neutral element tree (:class:`Node`) so that the WBXML
codec shares it: model <-> Node here, Node <-> XML here, Node <-> WBXML in ``wbxml``.

Decoding is tolerant of what real clients do (no namespace, prefixes, MetInf without its
namespace, Format/Type swapped, NUL escapes in Data, nested XML in Data) and keeps the values
as sent; it is strict about structure: an element the DTD does not put there, a duplicate of a
single element or a missing mandatory one is a :class:`ProtocolError` naming the element path
(``SyncBody/Get[2]/Item[1]``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from conformance import xmlsafe
from conformance.errors import ProtocolError
from conformance.omadm.model import (
    COMMAND_TYPES,
    METINF_NS,
    SYNCML_NS,
    Alert,
    Atomic,
    Chal,
    Command,
    Cred,
    Exec,
    Item,
    ItemCommand,
    Meta,
    Results,
    Sequence,
    Status,
    SyncHdr,
    SyncML,
)

PROTOCOL = "syncml-xml"
DOCTYPE = (
    '<!DOCTYPE SyncML PUBLIC "-//SYNCML//DTD SyncML 1.2//EN" '
    '"http://www.openmobilealliance.org/tech/DTD/OMA-TS-SyncML_RepPro_DTD-V1_2.dtd">'
)
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

# MetInf elements the model has fields for, in the MetInf DTD order (used when encoding).
_META_FIELDS: dict[str, str] = {
    "Format": "format",
    "Type": "type",
    "Mark": "mark",
    "Size": "size",
    "Version": "version",
    "NextNonce": "next_nonce",
    "MaxMsgSize": "max_msg_size",
    "MaxObjSize": "max_obj_size",
}
_META_INTS = frozenset({"size", "max_msg_size", "max_obj_size"})
# Commands that may appear inside Atomic/Sequence (SyncML DM 1.2 DTD, minus Sync/Map).
_NESTABLE = frozenset(
    {"Add", "Delete", "Copy", "Atomic", "Replace", "Sequence", "Get", "Exec", "Alert"}
)


@dataclass
class Node:
    """A SyncML element, independent of XML or WBXML.

    ``text`` is the content of a leaf: ``None`` for an empty element, ``bytes`` only for WBXML
    opaque data that is not UTF-8. ``opaque`` says the content came (or should go) as WBXML
    OPAQUE; XML ignores it.
    """

    name: str
    ns: str = SYNCML_NS
    children: list[Node] = field(default_factory=list)
    text: str | bytes | None = None
    opaque: bool = False

    def iter(self) -> Iterator[Node]:
        """This node and all below it, in document order."""
        # One explicit stack, not a generator per level: `yield from` through every level
        # made a walk cost O(nodes × depth).
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


# --------------------------------------------------------------------------- model -> Node

_new = object.__new__


def _leaf(name: str, text: str | bytes | None, ns: str = SYNCML_NS) -> Node:
    # Most nodes of an answer: made without the dataclass __init__ (opaque keeps its
    # default, a class attribute), as element_to_node and the WBXML decoder make them.
    node = _new(Node)
    node.name, node.ns, node.children, node.text = name, ns, [], text
    return node


def _meta_node(meta: Meta) -> Node:
    node = Node("Meta")
    for name, attr in _META_FIELDS.items():
        value = getattr(meta, attr)
        if value is not None:
            node.children.append(_leaf(name, str(value), METINF_NS))
    for name, value in meta.extra.items():
        node.children.append(_leaf(name, value, METINF_NS))
    return node


def _meta_is_empty(meta: Meta) -> bool:
    return all(getattr(meta, attr) is None for attr in _META_FIELDS.values()) and not meta.extra


def _cred_node(cred: Cred) -> Node:
    node = Node("Cred")
    # An absent <Meta> decodes to Meta(); encoding it back as absent keeps the round trip.
    if not _meta_is_empty(cred.meta):
        node.children.append(_meta_node(cred.meta))
    node.children.append(_leaf("Data", cred.data))
    return node


def _loc_node(name: str, uri: str, loc_name: str | None) -> Node:
    node = Node(name, children=[_leaf("LocURI", uri)])
    if loc_name is not None:
        node.children.append(_leaf("LocName", loc_name))
    return node


def _item_node(item: Item) -> Node:
    node = Node("Item")
    if (item.target is None and item.target_name is not None) or (
        item.source is None and item.source_name is not None
    ):
        raise ProtocolError(PROTOCOL, "an Item LocName needs its LocURI", where="Item")
    if item.target is not None:
        node.children.append(_loc_node("Target", item.target, item.target_name))
    if item.source is not None:
        node.children.append(_loc_node("Source", item.source, item.source_name))
    if item.meta is not None:
        node.children.append(_meta_node(item.meta))
    if item.data is not None:
        data = Node("Data", text=item.data)
        data.opaque = _wants_opaque(item)
        node.children.append(data)
    if item.more_data:
        node.children.append(Node("MoreData"))
    return node


def _wants_opaque(item: Item) -> bool:
    """WBXML: binary formats and values a STR_I cannot carry (it ends at NUL) go OPAQUE."""
    if isinstance(item.data, bytes):
        return True
    fmt = item.meta.format if item.meta is not None else None
    return fmt in ("b64", "bin") or (item.data is not None and "\x00" in item.data)


def _optional(node: Node, name: str, text: str | None) -> None:
    # Mandatory-by-DTD values the model keeps as "" when a device left them out: re-encode
    # "" as absent so that what a device sent round-trips unchanged.
    if text:
        node.children.append(_leaf(name, text))


def _command_node(cmd: Command) -> Node:
    node = Node(cmd.name, children=[_leaf("CmdID", cmd.cmd_id)])
    add = node.children.append
    if isinstance(cmd, Status):
        _optional(node, "MsgRef", cmd.msg_ref)
        _optional(node, "CmdRef", cmd.cmd_ref)
        _optional(node, "Cmd", cmd.cmd)
        for ref in cmd.target_refs:
            add(_leaf("TargetRef", ref))
        for ref in cmd.source_refs:
            add(_leaf("SourceRef", ref))
        if cmd.cred is not None:
            add(_cred_node(cmd.cred))
        if cmd.chal is not None:
            chal = Node("Chal")
            if not _meta_is_empty(cmd.chal.meta):
                chal.children.append(_meta_node(cmd.chal.meta))
            add(chal)
        _optional(node, "Data", cmd.data)
        node.children.extend(_item_node(i) for i in cmd.items)
    elif isinstance(cmd, Results):
        _optional(node, "MsgRef", cmd.msg_ref)
        _optional(node, "CmdRef", cmd.cmd_ref)
        if cmd.meta is not None:
            add(_meta_node(cmd.meta))
        for ref in cmd.target_refs:
            add(_leaf("TargetRef", ref))
        for ref in cmd.source_refs:
            add(_leaf("SourceRef", ref))
        node.children.extend(_item_node(i) for i in cmd.items)
    elif isinstance(cmd, Alert):
        if cmd.no_resp:
            add(Node("NoResp"))
        if cmd.cred is not None:
            add(_cred_node(cmd.cred))
        _optional(node, "Data", cmd.data)
        if cmd.correlator is not None:
            add(_leaf("Correlator", cmd.correlator))
        node.children.extend(_item_node(i) for i in cmd.items)
    elif isinstance(cmd, Atomic | Sequence):
        if cmd.no_resp:
            add(Node("NoResp"))
        if cmd.meta is not None:
            add(_meta_node(cmd.meta))
        node.children.extend(_command_node(c) for c in cmd.commands)
    elif isinstance(cmd, ItemCommand):
        if cmd.no_resp:
            add(Node("NoResp"))
        if cmd.cred is not None:
            add(_cred_node(cmd.cred))
        if cmd.meta is not None:
            add(_meta_node(cmd.meta))
        if isinstance(cmd, Exec) and cmd.correlator is not None:
            add(_leaf("Correlator", cmd.correlator))
        node.children.extend(_item_node(i) for i in cmd.items)
    else:
        raise ProtocolError(PROTOCOL, f"cannot encode command type {type(cmd).__name__}")
    return node


def to_tree(msg: SyncML) -> Node:
    """The element tree of a message (shared by the XML and WBXML encoders)."""
    hdr = msg.header
    header = Node("SyncHdr", children=[_leaf("VerDTD", hdr.ver_dtd)])
    _optional(header, "VerProto", hdr.ver_proto)
    header.children += [_leaf("SessionID", hdr.session_id), _leaf("MsgID", hdr.msg_id)]
    header.children.append(_loc_node("Target", hdr.target, hdr.target_name))
    header.children.append(_loc_node("Source", hdr.source, hdr.source_name))
    if hdr.resp_uri is not None:
        header.children.append(_leaf("RespURI", hdr.resp_uri))
    if hdr.no_resp:
        header.children.append(Node("NoResp"))
    if hdr.cred is not None:
        header.children.append(_cred_node(hdr.cred))
    if hdr.meta is not None:
        header.children.append(_meta_node(hdr.meta))
    body = Node("SyncBody", children=[_command_node(c) for c in msg.body])
    if msg.final:
        body.children.append(Node("Final"))
    return Node("SyncML", children=[header, body])


# --------------------------------------------------------------------------- Node -> model


class _Children:
    """The children of one element, checked against what the DTD allows there."""

    __slots__ = ("by_name", "node", "path")

    def __init__(
        self,
        node: Node,
        path: str,
        allowed: frozenset[str] | set[str],
        repeatable: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        by_name: dict[str, list[tuple[Node, str]]] = {}
        self.node, self.path, self.by_name = node, path, by_name
        children = node.children
        if children and node.text is not None:
            raise ProtocolError(
                PROTOCOL, f"text mixed with elements in <{node.name}>", where=path or node.name
            )
        prefix = path + "/" if path else ""
        for child in children:  # every element of every message: the decoder's inner loop
            name = child.name
            seen = by_name.get(name)
            if seen is None:  # the first of its name (most): allowed here?
                child_path = f"{prefix}{name}[1]" if name in repeatable else prefix + name
                if name not in allowed:
                    raise ProtocolError(PROTOCOL, f"unexpected element <{name}>", where=child_path)
                entry = (child, child_path)
                by_name[name] = [entry]
            elif name in repeatable:
                entry = (child, f"{prefix}{name}[{len(seen) + 1}]")
                seen.append(entry)
            else:
                raise ProtocolError(PROTOCOL, f"more than one <{name}>",
                                    where=f"{prefix}{name}[{len(seen) + 1}]")

    @property
    def ordered(self) -> list[tuple[Node, str]]:
        """Every child with its path, in document order (made when asked: SyncBody, Atomic
        and Sequence only)."""
        taken: dict[str, int] = {}
        out = []
        for child in self.node.children:
            index = taken.get(child.name, 0)
            taken[child.name] = index + 1
            out.append(self.by_name[child.name][index])
        return out

    def one(self, name: str) -> tuple[Node, str] | None:
        found = self.by_name.get(name)
        return found[0] if found else None

    def all(self, name: str) -> list[tuple[Node, str]]:
        return self.by_name.get(name, [])

    def has(self, name: str) -> bool:
        return name in self.by_name

    def text(self, name: str, *, required: bool = False) -> str | None:
        found = self.by_name.get(name)
        if not found:
            if required:
                raise ProtocolError(PROTOCOL, f"missing <{name}>", where=_join(self.path, name))
            return None
        node = found[0][0]
        if not node.children and type(node.text) is str:  # the usual case, without a call
            return node.text
        return _text(*found[0])

    def texts(self, name: str) -> list[str]:
        return [_text(n, p) for n, p in self.all(name)]


def _join(path: str, name: str, index: int | None = None) -> str:
    step = f"{name}[{index}]" if index is not None else name
    return f"{path}/{step}" if path else step


def _text(node: Node, path: str) -> str:
    if node.children:
        raise ProtocolError(PROTOCOL, f"<{node.name}> must hold text, not elements", where=path)
    if isinstance(node.text, bytes):
        try:
            return node.text.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(
                PROTOCOL, f"<{node.name}> is not UTF-8 text", where=path, data=node.text
            ) from None
    return node.text or ""


def _meta(node: Node, path: str) -> Meta:
    meta = Meta()
    for child in node.children:
        attr = _META_FIELDS.get(child.name)
        if attr is None:
            if child.name in meta.extra:
                raise ProtocolError(PROTOCOL, f"more than one <{child.name}>",
                                    where=_join(path, child.name))
            meta.extra[child.name] = _any_content(child)
            continue
        if getattr(meta, attr) is not None:
            raise ProtocolError(PROTOCOL, f"more than one <{child.name}>",
                                where=_join(path, child.name))
        if not child.children and type(child.text) is str:  # the usual case, no path needed
            text = child.text
        else:
            text = _text(child, _join(path, child.name))
        if attr in _META_INTS:
            # A size: ASCII digits, at most 18 (int() takes "-5", " 5", "٥" and 4300 digits).
            digits = text.strip()
            if not (digits.isascii() and digits.isdigit() and len(digits) <= 18):
                raise ProtocolError(
                    PROTOCOL, f"<{child.name}> is not a size in bytes: {text[:40]!r}",
                    where=_join(path, child.name),
                )
            setattr(meta, attr, int(digits))
        else:
            setattr(meta, attr, text)
    return meta


def _any_content(node: Node) -> str:
    """Text of an element the model does not know (kept, never dropped); nested as XML."""
    if not node.children:
        if isinstance(node.text, bytes):
            return node.text.decode("utf-8", "replace")
        return node.text or ""
    return "".join(
        etree.tostring(_to_element(child, None), encoding=str) for child in node.children
    )


# The children each element may have (DTD), built once: a set literal per call was per element.
_CRED_CHILDREN = frozenset({"Meta", "Data"})
_LOC_CHILDREN = frozenset({"LocURI", "LocName"})
_ITEM_CHILDREN = frozenset({"Target", "Source", "Meta", "Data", "MoreData"})
_CHAL_CHILDREN = frozenset({"Meta"})
_ROOT_CHILDREN = frozenset({"SyncHdr", "SyncBody"})


def _cred(node: Node, path: str) -> Cred:
    kids = _Children(node, path, _CRED_CHILDREN)
    meta_node = kids.one("Meta")
    meta = _meta(*meta_node) if meta_node else Meta()
    return Cred(data=kids.text("Data") or "", meta=meta)


def _loc(node: Node, path: str) -> tuple[str, str | None]:
    children = node.children
    if len(children) == 1 and node.text is None:  # most: <LocURI>text</LocURI> alone
        only = children[0]
        if only.name == "LocURI" and not only.children and type(only.text) is str:
            return only.text, None
    kids = _Children(node, path, _LOC_CHILDREN)
    uri = kids.text("LocURI", required=True)
    assert uri is not None
    return uri, kids.text("LocName")


def _item(node: Node, path: str) -> Item:
    found = _Children(node, path, _ITEM_CHILDREN).by_name  # one entry per name at most
    item = Item(more_data="MoreData" in found)
    if target := found.get("Target"):
        item.target, item.target_name = _loc(*target[0])
    if source := found.get("Source"):
        item.source, item.source_name = _loc(*source[0])
    if meta := found.get("Meta"):
        item.meta = _meta(*meta[0])
    if data := found.get("Data"):
        data_node = data[0][0]
        if data_node.children:  # nested document (WBXML LITERAL tags): kept as its XML text
            item.data = _any_content(data_node)
        else:
            item.data = data_node.text if data_node.text is not None else ""
    return item


def _items(kids: _Children) -> list[Item]:
    return [_item(n, p) for n, p in kids.all("Item")]


_ITEM_CMD_CHILDREN = frozenset({"CmdID", "NoResp", "Cred", "Meta", "Item"})
_ALLOWED: dict[str, frozenset[str]] = {
    "Alert": frozenset({"CmdID", "NoResp", "Cred", "Data", "Correlator", "Item"}),
    "Exec": _ITEM_CMD_CHILDREN | {"Correlator"},
    "Atomic": frozenset({"CmdID", "NoResp", "Meta"}) | _NESTABLE,
    "Sequence": frozenset({"CmdID", "NoResp", "Meta"}) | _NESTABLE,
    "Status": frozenset(
        {
            "CmdID",
            "MsgRef",
            "CmdRef",
            "Cmd",
            "TargetRef",
            "SourceRef",
            "Cred",
            "Chal",
            "Data",
            "Item",
        }
    ),
    "Results": frozenset({"CmdID", "MsgRef", "CmdRef", "Meta", "TargetRef", "SourceRef", "Item"}),
}
_REPEATABLE = frozenset({"Item", "TargetRef", "SourceRef"}) | _NESTABLE
_COMMANDS = frozenset(COMMAND_TYPES)
_BODY_CHILDREN = _COMMANDS | {"Final"}


def _command(node: Node, path: str) -> Command:
    allowed = _ALLOWED.get(node.name, _ITEM_CMD_CHILDREN)
    kids = _Children(node, path, allowed, _REPEATABLE)
    cmd_id = kids.text("CmdID", required=True)
    assert cmd_id is not None
    cred = _cred(*c) if (c := kids.one("Cred")) else None
    meta = _meta(*m) if (m := kids.one("Meta")) else None
    no_resp = kids.has("NoResp")
    cmd: Command
    if node.name == "Status":
        chal = None
        if ch := kids.one("Chal"):
            chal_kids = _Children(ch[0], ch[1], _CHAL_CHILDREN)
            chal_meta = chal_kids.one("Meta")
            chal = Chal(meta=_meta(*chal_meta) if chal_meta else Meta())
        cmd = Status(
            cmd_id=cmd_id,
            msg_ref=kids.text("MsgRef") or "",
            cmd_ref=kids.text("CmdRef") or "",
            cmd=kids.text("Cmd") or "",
            data=kids.text("Data") or "",
            target_refs=kids.texts("TargetRef"),
            source_refs=kids.texts("SourceRef"),
            chal=chal,
            cred=cred,
            items=_items(kids),
        )
    elif node.name == "Results":
        cmd = Results(
            cmd_id=cmd_id,
            msg_ref=kids.text("MsgRef") or "",
            cmd_ref=kids.text("CmdRef") or "",
            meta=meta,
            target_refs=kids.texts("TargetRef"),
            source_refs=kids.texts("SourceRef"),
            items=_items(kids),
        )
    elif node.name == "Alert":
        cmd = Alert(
            cmd_id=cmd_id,
            data=kids.text("Data") or "",
            items=_items(kids),
            correlator=kids.text("Correlator"),
            no_resp=no_resp,
            cred=cred,
        )
    elif node.name in ("Atomic", "Sequence"):
        nested = [_command(n, p) for n, p in kids.ordered if n.name in _NESTABLE]
        container = Atomic if node.name == "Atomic" else Sequence
        cmd = container(cmd_id=cmd_id, commands=nested, meta=meta, no_resp=no_resp)
    else:
        kind = COMMAND_TYPES[node.name]
        assert issubclass(kind, ItemCommand)
        cmd = kind(cmd_id=cmd_id, items=_items(kids), meta=meta, no_resp=no_resp, cred=cred)
        if isinstance(cmd, Exec):
            cmd.correlator = kids.text("Correlator")
    return cmd


_HEADER_CHILDREN = frozenset(
    {
        "VerDTD",
        "VerProto",
        "SessionID",
        "MsgID",
        "Target",
        "Source",
        "RespURI",
        "NoResp",
        "Cred",
        "Meta",
    }
)


def _header(node: Node, path: str) -> SyncHdr:
    kids = _Children(node, path, _HEADER_CHILDREN)
    target_node, source_node = kids.by_name.get("Target"), kids.by_name.get("Source")
    if target_node is None or source_node is None:
        name = "Target" if target_node is None else "Source"
        raise ProtocolError(PROTOCOL, f"missing <{name}>", where=_join(path, name))
    target, target_name = _loc(*target_node[0])
    source, source_name = _loc(*source_node[0])
    return SyncHdr(
        ver_dtd=kids.text("VerDTD", required=True) or "",
        ver_proto=kids.text("VerProto") or "",
        session_id=kids.text("SessionID", required=True) or "",
        msg_id=kids.text("MsgID", required=True) or "",
        target=target,
        target_name=target_name,
        source=source,
        source_name=source_name,
        resp_uri=kids.text("RespURI"),
        no_resp=kids.has("NoResp"),
        cred=_cred(*c) if (c := kids.one("Cred")) else None,
        meta=_meta(*m) if (m := kids.one("Meta")) else None,
    )


def from_tree(root: Node) -> SyncML:
    """The message of an element tree (shared by the XML and WBXML decoders)."""
    if root.name != "SyncML":
        raise ProtocolError(
            PROTOCOL, f"root element is <{root.name}>, not <SyncML>", where=root.name
        )
    kids = _Children(root, "", _ROOT_CHILDREN)
    hdr = kids.one("SyncHdr")
    if hdr is None:
        raise ProtocolError(PROTOCOL, "missing <SyncHdr>", where="SyncHdr")
    body = kids.one("SyncBody")
    if body is None:
        raise ProtocolError(PROTOCOL, "missing <SyncBody>", where="SyncBody")
    header = _header(*hdr)
    body_kids = _Children(body[0], "SyncBody", _BODY_CHILDREN, _COMMANDS)
    return SyncML(
        header=header,
        body=[_command(n, p) for n, p in body_kids.ordered if n.name != "Final"],
        final=body_kids.has("Final"),
    )


# --------------------------------------------------------------------------- XML <-> Node

# NUL is not an XML character, yet clients send it raw or as &#0; inside Data. Before lxml
# sees the document each NUL becomes a private-use character absent from the input, and is
# turned back into NUL in the decoded text.
_NUL_REFS = re.compile(rb"\x00|&#0+;|&#[xX]0+;")
_MARKERS = [chr(c) for c in range(0xE000, 0xF900)]
_ELEMENT: Any = etree.Element  # as an iterchildren() filter: elements only (no stubs for it)
# Whether some element with element children (the root included) also holds text that is
# not XML whitespace, as the direct text of a parent: its text and its children's tails.
_MIXED_TEXT = etree.XPath("boolean(descendant-or-self::*[*][text()[normalize-space()]])")


def _free_marker(taken: Callable[[str], bool]) -> str:
    for marker in _MARKERS:
        if not taken(marker):
            return marker
    raise ProtocolError(PROTOCOL, "no free placeholder for NUL characters")


def _protect_nul(data: bytes) -> tuple[bytes, str | None]:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or data[:1] == b"\x00" or data[1:2] == b"\x00":
        return data, None  # UTF-16: NUL bytes are part of characters
    # Every match of _NUL_REFS holds NUL or "&#": two byte searches rule most documents out
    # faster than the regular expression does.
    if (b"\x00" not in data and b"&#" not in data) or not _NUL_REFS.search(data):
        return data, None
    marker = _free_marker(lambda m: m.encode() in data)
    return _NUL_REFS.sub(marker.encode(), data), marker


# "{ns}name" -> (name, ns) of the tags seen; bounded: tags come from untrusted documents.
_TAG_SPLITS: dict[str, tuple[str, str]] = {}


def _split_tag(tag: str) -> tuple[str, str]:
    split = (tag.rpartition("}")[2], tag[1:].partition("}")[0] if tag[:1] == "{" else "")
    if len(_TAG_SPLITS) < 256:
        _TAG_SPLITS[tag] = split
    return split


def element_to_node(element: etree._Element, marker: str | None = None) -> Node:
    """Neutral tree of a parsed XML element; nested XML in ``<Data>`` becomes its text."""
    if not isinstance(element.tag, str):
        return Node("", "")
    # The lab's hot path: one walk in C (``iter``) in document order, each tag read once,
    # instead of a recursive call and a list of children per element (half the time).
    made: dict[Any, Node] = {}  # element -> its node; a parent not in it is not mapped
    parents: list[tuple[etree._Element, Node]] = []  # elements with element children
    nested: dict[int, tuple[etree._Element, Node]] = {}  # Data holding elements
    top = Node("")
    new = object.__new__
    for el in element.iter():
        parent: Any = None if el is element else el.getparent()
        parent_node = made.get(parent) if parent is not None else None
        if parent is not None and parent_node is None:  # below a Data kept as text
            continue
        tag = el.tag
        if not isinstance(tag, str):  # comment, PI: its tail counts with its parent's text
            continue
        if parent_node is not None and parent_node.name == "Data":
            nested[id(parent_node)] = (parent, parent_node)
            continue
        split = _TAG_SPLITS.get(tag)
        if split is None:
            split = _split_tag(tag)
        # Made without the dataclass __init__ (as the WBXML decoder does): text and opaque
        # keep their defaults, class attributes of Node.
        node = new(Node)
        node.name, node.ns, node.children = split[0], split[1], []
        text = el.text
        if text is not None:
            node.text = _restore(text, marker)
        made[el] = node
        if parent_node is None:
            top = node
        else:
            if not parent_node.children:
                parents.append((parent, parent_node))
            parent_node.children.append(node)
    # Text mixed with elements is kept so that the mapping refuses it. Usually there is
    # none: one XPath in C says so for the whole tree (XML whitespace is whitespace to
    # str.strip too) instead of reading every child's tail in Python.
    mixed = bool(_MIXED_TEXT(element)) if parents else False
    for el, node in parents:
        if not mixed:
            node.text = None
            continue
        stray = (el.text or "") + "".join(c.tail or "" for c in el)
        node.text = _restore(stray, marker) if stray.strip() else None
    for el, node in nested.values():
        node.text = _restore(_inner_xml(el, node.ns), marker)
    return top


def _restore(text: str, marker: str | None) -> str:
    return text.replace(marker, "\x00") if marker else text


def _inner_xml(element: etree._Element, outer_ns: str) -> str:
    """Data's content as the device wrote it, without the SyncML namespace it inherits."""
    parts = [element.text or ""]
    for child in element:
        # Detached copy; the tail stays out (text after a root element would not re-parse).
        copy = etree.fromstring(etree.tostring(child, with_tail=False))
        if outer_ns:
            for el in copy.iter():
                if isinstance(el.tag, str) and el.tag.startswith("{" + outer_ns + "}"):
                    el.tag = xmlsafe.local_name(el)
            etree.cleanup_namespaces(copy)
        parts.append(etree.tostring(copy, encoding=str))
        parts.append(child.tail or "")
    return "".join(parts)


class _Unencodable(Exception):
    """A node XML cannot carry; the names of its ancestors are collected as it unwinds."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.names: list[str] = []  # the failing node first, the root last

    def where(self) -> str:
        path = ""
        for name in reversed(self.names):
            path = _join(path, name) if name != "SyncML" else ""
        return path


class _NulText(_Unencodable):
    """Text with NUL, built without a placeholder for it: build again with one."""


def _to_element(
    node: Node, parent: etree._Element | None, marker: str | None = None
) -> etree._Element:
    """The lxml element of a neutral tree; what XML cannot carry is a ProtocolError."""
    try:
        return _build(node, parent, marker)
    except _Unencodable as exc:
        raise ProtocolError(PROTOCOL, exc.message, where=exc.where()) from None


def _build(node: Node, parent: etree._Element | None, marker: str | None) -> etree._Element:
    # The lab's hot path (once per answer): the element path of an error is only put
    # together when there is one, and nsmap is only passed where a declaration goes.
    try:
        tag = f"{{{node.ns}}}{node.name}" if node.ns else node.name
        try:
            nsmap: Any = {None: node.ns} if node.ns else None
            if parent is None:
                element = etree.Element(tag, nsmap=nsmap)
            elif node.ns == METINF_NS:
                # MetInf children carry their own default namespace, as real clients write them.
                element = etree.SubElement(parent, tag, nsmap=nsmap)
            else:
                element = etree.SubElement(parent, tag)
        except ValueError:  # a WBXML LITERAL tag may name anything, XML names may not
            raise _Unencodable(f"element name {node.name[:40]!r} is not an XML name") from None
        text = node.text
        if text is not None:
            if isinstance(text, bytes):
                try:
                    text = text.decode("utf-8")
                except UnicodeDecodeError:
                    raise _Unencodable("binary data cannot travel in XML (use b64)") from None
            if marker:
                text = text.replace("\x00", marker)
            try:
                element.text = text
            except ValueError:
                error = _NulText if marker is None and "\x00" in text else _Unencodable
                raise error("text has characters XML cannot carry") from None
        for child in node.children:
            _build(child, element, marker)
        return element
    except _Unencodable as exc:
        exc.names.append(node.name)
        raise


def _element_of(root: Node) -> tuple[etree._Element, str | None]:
    """The lxml element of a tree and the NUL placeholder used (None: no text has NUL).

    Built without one first: looking for NUL in every text beforehand cost a walk of the
    tree per answer, and NUL is rare.
    """
    try:
        return _build(root, None, None), None
    except _NulText:
        marker = _tree_marker(root)
        return _to_element(root, None, marker), marker
    except _Unencodable as exc:
        raise ProtocolError(PROTOCOL, exc.message, where=exc.where()) from None


def _tree_marker(root: Node) -> str | None:
    """A placeholder for NUL when some text of the tree holds one (XML cannot carry it)."""
    texts = [n.text for n in root.iter() if isinstance(n.text, str)]
    if any("\x00" in t for t in texts):
        return _free_marker(lambda m: any(m in t for t in texts))
    return None


def _xml_bytes(element: etree._Element, marker: str | None, doctype: bool = False) -> bytes:
    body = etree.tostring(element, encoding="UTF-8", xml_declaration=False)
    if marker:
        body = body.replace(marker.encode(), b"&#0;")
    head = XML_DECLARATION + (DOCTYPE.encode() + b"\n" if doctype else b"")
    return head + body


def _pretty_text(element: etree._Element, marker: str | None) -> str:
    """Indented text of an element built from a tree (changes the element: build it last)."""
    for el in element.iter():
        if el.text == "":
            el.text = None  # as a parse of the bytes reads ``<a></a>`` back: no text
    text = etree.tostring(element, pretty_print=True, encoding=str)
    return text.replace(marker, "\\x00") if marker else text


def tree_to_xml(root: Node, *, doctype: bool = False) -> bytes:
    """Serialise a neutral tree as UTF-8 XML with declaration (NUL written as ``&#0;``)."""
    element, marker = _element_of(root)
    return _xml_bytes(element, marker, doctype)


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def xml_size_bound(root: Node) -> int:
    """An upper bound of ``len(tree_to_xml(root))`` without building it (MaxMsgSize checks).

    Per element: its start and end tags, and room for a namespace declaration and a prefix;
    text: 6 bytes per UTF-8 byte (libxml2 writes at most ``&amp;`` / ``&#13;``, NUL ``&#0;``).
    """
    size = len(XML_DECLARATION) + len(DOCTYPE) + 1
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        size += 45 + 2 * _utf8_len(node.name) + 6 * _utf8_len(node.ns)
        text = node.text
        if text:
            size += 6 * (_utf8_len(text) if isinstance(text, str) else len(text))
    return size


# model_size_bound's room per element: xml_size_bound's, with the longest name the mapping
# writes (MaxMsgSize, MaxObjSize, Correlator: 10) and the longer of the two namespaces.
_ELEMENT_ROOM = 45 + 2 * 10 + 6 * max(len(SYNCML_NS), len(METINF_NS))
_BOUNDED = (SyncML, SyncHdr, Status, Results, Alert, Atomic, Sequence, ItemCommand, Item, Cred,
            Chal, Meta)
_LOC_FIELDS = frozenset({"target", "source"})  # <Target><LocURI>…</LocURI></Target>
_FLAGS = frozenset({"no_resp", "more_data", "final"})  # an empty element when true


def model_size_bound(msg: SyncML) -> int:
    """:func:`xml_size_bound` from the message itself, no element tree (the lab's MaxMsgSize
    check, once per answer): never below it, nor below the encoded size.

    Each model object is at most one element; each value one and its text (``target`` and
    ``source``: two, ``Target/LocURI``); each true flag one (NoResp, MoreData, Final); each
    Meta extra one, named by its key; SyncBody is the one element no field stands for.
    What the mapping would refuse or this walk does not know takes the exact route (the
    same error, if any).
    """
    room = _ELEMENT_ROOM
    size = len(XML_DECLARATION) + len(DOCTYPE) + 1 + room  # SyncBody
    stack: list[Any] = [msg]
    while stack:
        obj = stack.pop()
        if not isinstance(obj, _BOUNDED) or (
            isinstance(obj, Item)
            and ((obj.target is None and obj.target_name is not None)
                 or (obj.source is None and obj.source_name is not None))
        ):
            return xml_size_bound(to_tree(msg))
        size += room
        for key, value in obj.__dict__.items():
            if value is None:
                continue
            if value is True or value is False:
                if key not in _FLAGS:
                    return xml_size_bound(to_tree(msg))
                size += room if value else 0
            elif isinstance(value, str):
                size += (2 * room if key in _LOC_FIELDS else room) + 6 * _utf8_len(value)
            elif isinstance(value, bytes):
                size += room + 6 * len(value)
            elif isinstance(value, list):
                for part in value:
                    if isinstance(part, str):
                        size += room + 6 * _utf8_len(part)
                    else:
                        stack.append(part)
            elif isinstance(value, dict):  # Meta.extra
                for name, text in value.items():
                    if not isinstance(name, str) or not isinstance(text, str):
                        return xml_size_bound(to_tree(msg))
                    size += room + 2 * _utf8_len(name) + 6 * _utf8_len(text)
            elif type(value) is int and type(obj) is Meta:
                size += room + 6 * len(str(value))
            else:
                stack.append(value)  # a model object, or what the check above sends on
    return size


def parse_xml(data: bytes) -> tuple[etree._Element, str | None]:
    """Parse untrusted XML (hardened), NUL protected: the root and the NUL placeholder used
    (None: the document has no NUL; otherwise for :func:`element_to_node`)."""
    protected, marker = _protect_nul(data)
    return xmlsafe.parse(protected, protocol=PROTOCOL), marker


def xml_to_tree(data: bytes) -> Node:
    """Parse untrusted XML (hardened) into a neutral tree."""
    return element_to_node(*parse_xml(data))


def pretty_tree(root: Node) -> str:
    """:func:`pretty` of :func:`tree_to_xml`'s output, built from the tree without re-parsing.

    Same text: an empty string prints as an empty element (a parse reads ``<a></a>`` back
    as no text) and NUL as ``\\x00``. Binary (non-UTF-8) text raises ProtocolError.
    """
    element, marker = _element_of(root)
    return _pretty_text(element, marker)


def tree_to_xml_shown(root: Node) -> tuple[bytes, str]:
    """:func:`tree_to_xml` and :func:`pretty_tree` of one tree from one lxml element."""
    element, marker = _element_of(root)
    return _xml_bytes(element, marker), _pretty_text(element, marker)


# --------------------------------------------------------------------------- public API


def decode(data: bytes) -> SyncML:
    """Decode a SyncML DM XML message; any defect raises :class:`ProtocolError`."""
    try:
        return from_tree(xml_to_tree(data))
    except ProtocolError:
        raise
    except (ValueError, TypeError, RecursionError) as exc:  # never let lxml/codec bugs escape
        raise ProtocolError(PROTOCOL, f"undecodable message: {exc}") from None


def decode_shown(data: bytes) -> tuple[SyncML, str]:
    """:func:`decode` and :func:`pretty` of the same bytes from one parse (the lab's path)."""
    try:
        protected, marker = _protect_nul(data)
        root = xmlsafe.parse(protected, protocol=PROTOCOL)
        msg = from_tree(element_to_node(root, marker))
    except ProtocolError:
        raise
    except (ValueError, TypeError, RecursionError) as exc:  # as decode()
        raise ProtocolError(PROTOCOL, f"undecodable message: {exc}") from None
    text = etree.tostring(root, pretty_print=True, encoding=str)
    return msg, text.replace(marker, "\\x00") if marker else text


def encode(msg: SyncML, *, doctype: bool = False) -> bytes:
    """Encode a message as UTF-8 XML, default namespace SYNCML:SYNCML1.2."""
    return tree_to_xml(to_tree(msg), doctype=doctype)


def pretty(data: bytes) -> str:
    """Indented XML for transcripts and reports; never raises."""
    try:
        protected, marker = _protect_nul(data)
        root = xmlsafe.parse(protected, protocol=PROTOCOL)
        text = etree.tostring(root, pretty_print=True, encoding=str)
        return text.replace(marker, "\\x00") if marker else text
    except Exception as exc:  # a transcript must show something whatever the bytes are
        return fallback_repr(data, exc)


def fallback_repr(data: bytes, exc: BaseException | None = None) -> str:
    """Readable form of bytes that could not be parsed."""
    reason = f"[not parseable: {exc}]\n" if exc is not None else ""
    text = data[:65536].decode("utf-8", "backslashreplace")
    printable = "".join(c if c.isprintable() or c in "\n\t" else repr(c)[1:-1] for c in text)
    more = f"\n[... {len(data) - 65536} more bytes]" if len(data) > 65536 else ""
    return reason + printable + more
