"""OMA DM Tree and Description Serialization (TNDS 1.2), XML form: write and read.

What ``Get <uri>?list=TNDS+<properties>`` returns: a ``MgmtTree`` whose ``Node`` elements
(``NodeName``, ``Path`` on the top ones, ``RTProperties`` with the asked run-time properties,
``Value`` on leaves) give a subtree, each node with the properties the server named. The same
element names as a DDF, run-time properties instead of DDF ones.

:func:`document` writes one (the reference device); :func:`parse` reads one from a device
(hardened lxml, bounded), :func:`flatten` gives its nodes by absolute URI. The WBXML form
(``application/vnd.syncml.dmtnds+wbxml``) uses the DM DDF 1.2 code page (page 2, the token
values libwbxml's ``sv_syncml_dmddf12_tag_table`` lists): :func:`document_wbxml` and
:func:`parse_wbxml`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from conformance import xmlsafe
from conformance.errors import ProtocolError
from conformance.omadm import wbxml, xmlcodec

PROTOCOL = "tnds"
NAMESPACE = "syncml:dmddf1.2"
MIME_XML = "application/vnd.syncml.dmtnds+xml"
MIME_WBXML = "application/vnd.syncml.dmtnds+wbxml"
PROPERTIES = ("ACL", "Format", "Name", "Size", "Title", "TStamp", "Type", "VerNo", "Value")
MAX_NODES = 10000
WBXML_PUBLIC_ID = "-//OMA//DTD-DM-DDF 1.2//EN"
WBXML_PAGE = 2
# Code page 2, tokens 0x05 upwards in this order.
_DDF_TAGS = [
    "AccessType", "ACL", "Add", "b64", "bin", "bool", "chr", "CaseSense", "CIS", "Copy", "CS",
    "date", "DDFName", "DefaultValue", "Delete", "Description", "DFFormat", "DFProperties",
    "DFTitle", "DFType", "Dynamic", "Exec", "float", "Format", "Get", "int", "Man", "MgmtTree",
    "MIME", "Mod", "Name", "Node", "node", "NodeName", "null", "Occurrence", "One",
    "OneOrMore", "OneOrN", "Path", "Permanent", "Replace", "RTProperties", "Scope", "Size",
    "time", "Title", "TStamp", "Type", "Value", "VerDTD", "VerNo", "xml", "ZeroOrMore",
    "ZeroOrN", "ZeroOrOne",
]
WBXML = wbxml.Language(
    WBXML_PUBLIC_ID,
    {(WBXML_PAGE, 0x05 + i): name for i, name in enumerate(_DDF_TAGS)},
    {WBXML_PAGE: NAMESPACE},
)


@dataclass
class TndsNode:
    name: str
    path: str | None = None  # the parent's URI, on the serialised subtree's top nodes
    props: dict[str, str] = field(default_factory=dict)  # run-time property -> value
    value: str | None = None  # a leaf's value, when Value was asked
    children: list[TndsNode] = field(default_factory=list)


def _ns(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def document(nodes: list[TndsNode]) -> bytes:
    """A TNDS 1.2 XML document holding ``nodes``."""
    root = etree.Element(_ns("MgmtTree"), nsmap={None: NAMESPACE})  # type: ignore[dict-item]
    etree.SubElement(root, _ns("VerDTD")).text = "1.2"
    for node in nodes:
        root.append(_element(node))
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True)


def document_wbxml(nodes: list[TndsNode]) -> bytes:
    """The same document in WBXML 1.2."""
    return to_wbxml(document(nodes))


def to_wbxml(doc: bytes) -> bytes:
    """A TNDS XML document in WBXML 1.2."""
    return wbxml.encode_tree(xmlcodec.xml_to_tree(doc), language=WBXML)


def parse_wbxml(data: bytes) -> list[TndsNode]:
    """The top nodes of a TNDS WBXML document; :class:`ProtocolError` if it is not one."""
    return parse(xmlcodec.tree_to_xml(wbxml.decode_tree(data, language=WBXML)))


def _element(node: TndsNode) -> etree._Element:
    el = etree.Element(_ns("Node"))
    etree.SubElement(el, _ns("NodeName")).text = node.name
    if node.path is not None:
        etree.SubElement(el, _ns("Path")).text = node.path
    if node.props:
        rt = etree.SubElement(el, _ns("RTProperties"))
        for prop in PROPERTIES:
            if prop not in node.props:
                continue
            value = node.props[prop]
            holder = etree.SubElement(rt, _ns(prop))
            if prop == "Format":
                etree.SubElement(holder, _ns(value))
            elif prop == "Type":
                kind = "MIME" if "/" in value else "DDFName"
                etree.SubElement(holder, _ns(kind)).text = value
            else:
                holder.text = value
    if node.value is not None:
        etree.SubElement(el, _ns("Value")).text = xmlsafe.xml_chars(node.value)
    for child in node.children:
        el.append(_element(child))
    return el


def parse(data: str | bytes) -> list[TndsNode]:
    """The top nodes of a TNDS XML document; :class:`ProtocolError` if it is not one."""
    raw = data.encode() if isinstance(data, str) else data
    root = xmlsafe.parse(raw, protocol=PROTOCOL)
    if xmlsafe.local_name(root) != "MgmtTree":
        raise ProtocolError(PROTOCOL, f"root element {xmlsafe.local_name(root)!r}, not MgmtTree")
    count = [0]
    return [_node(el, count) for el in root if _is(el, "Node")]


def _is(el: etree._Element, name: str) -> bool:
    return isinstance(el.tag, str) and xmlsafe.local_name(el) == name


def _text(el: etree._Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _child(el: etree._Element, name: str) -> etree._Element | None:
    return next((c for c in el if _is(c, name)), None)


def _node(el: etree._Element, count: list[int]) -> TndsNode:
    count[0] += 1
    if count[0] > MAX_NODES:
        raise ProtocolError(PROTOCOL, f"more than {MAX_NODES} nodes")
    name = _child(el, "NodeName")
    if name is None:
        raise ProtocolError(PROTOCOL, "a Node without NodeName")
    path = _child(el, "Path")
    node = TndsNode(_text(name), _text(path) if path is not None else None)
    rt = _child(el, "RTProperties")
    for prop in rt if rt is not None else ():
        if not isinstance(prop.tag, str):
            continue
        key = xmlsafe.local_name(prop)
        inner = [c for c in prop if isinstance(c.tag, str)]
        if key == "Format" and inner:
            node.props[key] = xmlsafe.local_name(inner[0])
        elif key == "Type" and inner:
            node.props[key] = _text(inner[0])
        else:
            node.props[key] = _text(prop)
    value = _child(el, "Value")
    if value is not None:
        node.value = value.text or ""
    node.children = [_node(c, count) for c in el if _is(c, "Node")]
    return node


def flatten(nodes: list[TndsNode], base: str) -> dict[str, TndsNode]:
    """Every node by absolute URI; a top node without Path is taken to be ``base`` itself."""
    out: dict[str, TndsNode] = {}

    def walk(node: TndsNode, uri: str) -> None:
        out[uri] = node
        for child in node.children:
            walk(child, f"{uri}/{child.name}")

    for top in nodes:
        if top.path is None:
            uri = base if not top.name or base.endswith("/" + top.name) else f"{base}/{top.name}"
        else:
            uri = top.path.rstrip("/") + "/" + top.name if top.name else top.path
        walk(top, uri)
    return out
