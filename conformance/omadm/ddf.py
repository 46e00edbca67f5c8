"""OMA DM DDF 1.2 (Device Description Framework) parser and structural validator.

Used by CDR-DVM-440: the vendor's DDF must be well-formed (else :class:`ProtocolError`), and
:func:`validate` lists what breaks the DDF 1.2 rules. Parsing is lenient about content so
that every problem becomes a finding instead of stopping at the first: an element the DTD
does not put somewhere, or an unknown format, is recorded in ``Ddf.problems`` and kept.

Paths are absolute (``./DevDetail/Ext/HostMan``); an unnamed node (``<NodeName/>``, an
instance the device or server names at run time) appears as ``<x>`` and is ``dynamic``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from conformance import xmlsafe
from conformance.errors import ProtocolError

PROTOCOL = "ddf"
DYNAMIC_SEGMENT = "<x>"
ACCESS_TYPES = frozenset({"Add", "Copy", "Delete", "Exec", "Get", "Replace"})
FORMATS = frozenset(
    {"b64", "bin", "bool", "chr", "int", "node", "null", "xml", "date", "time", "float"}
)
OCCURRENCES = frozenset({"One", "ZeroOrOne", "ZeroOrMore", "OneOrMore", "ZeroOrN", "OneOrN"})
SCOPES = frozenset({"Permanent", "Dynamic"})
_DF_CHILDREN = frozenset(
    {
        "AccessType",
        "DefaultValue",
        "Description",
        "DFFormat",
        "Occurrence",
        "Scope",
        "DFTitle",
        "DFType",
        "CaseSense",
    }
)
_RT_CHILDREN = frozenset({"ACL", "Format", "Name", "Size", "Title", "TStamp", "Type", "VerNo"})
_NODE_CHILDREN = frozenset({"NodeName", "Path", "RTProperties", "DFProperties", "Node", "Value"})


@dataclass
class DdfNode:
    path: str
    name: str  # "" for an unnamed (dynamic) node
    format: str | None = None  # the DFFormat child as written (None if absent)
    access: frozenset[str] = frozenset()
    occurrence: str | None = None
    occurrence_max: str | None = None  # the N of ZeroOrN / OneOrN, as written
    scope: str | None = None
    mime: str | None = None  # DFType MIME
    ddf_name: str | None = None  # DFType DDFName
    description: str | None = None
    title: str | None = None
    case_sense: str | None = None  # CS / CIS
    default: str | None = None
    value: str | None = None
    dynamic: bool = False
    has_df_properties: bool = False
    has_access_type: bool = False
    has_rt_properties: bool = False
    children: list[DdfNode] = field(default_factory=list)

    @property
    def is_interior(self) -> bool:
        return self.format == "node"


@dataclass
class Ddf:
    ver_dtd: str | None
    man: str | None
    mod: str | None
    roots: list[DdfNode]
    problems: list[str] = field(default_factory=list)  # found while parsing

    def nodes(self) -> list[DdfNode]:
        """Every node, depth first, parents before children."""
        out: list[DdfNode] = []
        stack = list(reversed(self.roots))
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(node.children))
        return out

    def find(self, path: str) -> DdfNode | None:
        return next((n for n in self.nodes() if n.path == path), None)


def _children(element: etree._Element) -> list[etree._Element]:
    return [c for c in element if isinstance(c.tag, str)]


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    return "".join(str(t) for t in element.itertext()).strip()


def _choice(
    element: etree._Element, allowed: frozenset[str], what: str, where: str, problems: list[str]
) -> str | None:
    """The single empty child naming a value (``<DFFormat><chr/></DFFormat>``)."""
    kids = _children(element)
    if len(kids) != 1:
        problems.append(f"{where}: {what} must name exactly one value, found {len(kids)}")
        return xmlsafe.local_name(kids[0]) if kids else None
    name = xmlsafe.local_name(kids[0])
    if name not in allowed:
        problems.append(f"{where}: unknown {what} <{name}>")
    return name


class _Parser:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def node(self, element: etree._Element, parent_path: str) -> DdfNode:
        by_name: dict[str, list[etree._Element]] = {}
        for child in _children(element):
            by_name.setdefault(xmlsafe.local_name(child), []).append(child)
        name_el = by_name.get("NodeName", [None])[0]
        name = _text(name_el) or ""
        path_el = by_name.get("Path", [None])[0]
        base = (_text(path_el) or parent_path).rstrip("/") or "."
        path = f"{base}/{name or DYNAMIC_SEGMENT}"
        node = DdfNode(path=path, name=name, dynamic=not name)
        if name_el is None:
            self.problems.append(f"{path}: Node without NodeName")
        for tag, items in by_name.items():
            if tag not in _NODE_CHILDREN:
                self.problems.append(f"{path}: unexpected element <{tag}> in Node")
            elif tag != "Node" and len(items) > 1:
                self.problems.append(f"{path}: more than one <{tag}>")
        if "DFProperties" in by_name:
            self.df_properties(by_name["DFProperties"][0], node)
        node.has_rt_properties = "RTProperties" in by_name
        for rt in by_name.get("RTProperties", [])[:1]:
            for child in _children(rt):
                if xmlsafe.local_name(child) not in _RT_CHILDREN:
                    self.problems.append(
                        f"{path}: unexpected element <{xmlsafe.local_name(child)}> in RTProperties"
                    )
        node.value = _text(by_name.get("Value", [None])[0])
        node.children = [self.node(c, path) for c in by_name.get("Node", [])]
        return node

    def df_properties(self, element: etree._Element, node: DdfNode) -> None:
        node.has_df_properties = True
        where = node.path
        props: dict[str, etree._Element] = {}
        for child in _children(element):
            tag = xmlsafe.local_name(child)
            if tag not in _DF_CHILDREN:
                self.problems.append(f"{where}: unexpected element <{tag}> in DFProperties")
            elif tag in props:
                self.problems.append(f"{where}: more than one <{tag}> in DFProperties")
            else:
                props[tag] = child
        if "AccessType" in props:
            node.has_access_type = True
            names = [xmlsafe.local_name(c) for c in _children(props["AccessType"])]
            for unknown in sorted(set(names) - ACCESS_TYPES):
                self.problems.append(f"{where}: unknown access type <{unknown}>")
            node.access = frozenset(names)
        if "DFFormat" in props:
            node.format = _choice(props["DFFormat"], FORMATS, "DFFormat", where, self.problems)
        if "Occurrence" in props:
            occurrence = props["Occurrence"]
            node.occurrence = _choice(occurrence, OCCURRENCES, "Occurrence", where, self.problems)
            kids = _children(occurrence)
            if node.occurrence in ("ZeroOrN", "OneOrN") and kids:
                node.occurrence_max = _text(kids[0])
        if "Scope" in props:
            node.scope = _choice(props["Scope"], SCOPES, "Scope", where, self.problems)
        if "CaseSense" in props:
            node.case_sense = _choice(
                props["CaseSense"], frozenset({"CS", "CIS"}), "CaseSense", where, self.problems
            )
        if "DFType" in props:
            kind = _choice(
                props["DFType"], frozenset({"MIME", "DDFName"}), "DFType", where, self.problems
            )
            value = _text(_children(props["DFType"])[0]) if _children(props["DFType"]) else None
            if kind == "MIME":
                node.mime = value
            elif kind == "DDFName":
                node.ddf_name = value
        node.description = _text(props.get("Description"))
        node.title = _text(props.get("DFTitle"))
        node.default = _text(props.get("DefaultValue"))


def parse(data: bytes) -> Ddf:
    """Parse a DDF 1.2 document (hardened XML); malformed XML is a :class:`ProtocolError`."""
    root = xmlsafe.parse(data, protocol=PROTOCOL)
    if xmlsafe.local_name(root) != "MgmtTree":
        raise ProtocolError(
            PROTOCOL,
            f"root element is <{xmlsafe.local_name(root)}>, not <MgmtTree>",
            where=xmlsafe.local_name(root),
        )
    parser = _Parser()
    fields: dict[str, etree._Element] = {}
    nodes: list[DdfNode] = []
    for child in _children(root):
        tag = xmlsafe.local_name(child)
        if tag == "Node":
            nodes.append(parser.node(child, "."))
        elif tag in ("VerDTD", "Man", "Mod"):
            if tag in fields:
                parser.problems.append(f"MgmtTree: more than one <{tag}>")
            fields.setdefault(tag, child)
        else:
            parser.problems.append(f"MgmtTree: unexpected element <{tag}>")
    return Ddf(
        ver_dtd=_text(fields.get("VerDTD")),
        man=_text(fields.get("Man")),
        mod=_text(fields.get("Mod")),
        roots=nodes,
        problems=parser.problems,
    )


def validate(ddf: Ddf) -> list[str]:
    """Findings against the DDF 1.2 structural rules; empty when the DDF is valid."""
    findings = list(ddf.problems)
    if ddf.ver_dtd is None:
        findings.append("MgmtTree: no VerDTD")
    elif ddf.ver_dtd != "1.2":
        findings.append(f"MgmtTree: VerDTD is {ddf.ver_dtd!r}, not '1.2'")
    if not ddf.roots:
        findings.append("MgmtTree: no Node")
    for node in ddf.nodes():
        findings.extend(_node_findings(node))
    return findings


def _node_findings(node: DdfNode) -> list[str]:
    where = node.path
    out: list[str] = []
    if not node.has_df_properties:
        out.append(f"{where}: no DFProperties")
        return out
    if not node.has_access_type:
        out.append(f"{where}: DFProperties without AccessType")
    if node.format is None:
        out.append(f"{where}: DFProperties without DFFormat")
    # The DDF 1.2 DTD makes Occurrence optional (default One) but requires DFType.
    if node.mime is None and node.ddf_name is None:
        out.append(f"{where}: DFProperties without DFType (MIME or DDFName)")
    if node.occurrence in ("ZeroOrN", "OneOrN") and not (node.occurrence_max or "").isdigit():
        out.append(f"{where}: {node.occurrence} without a number")
    if node.children and node.format != "node":
        out.append(f"{where}: has child nodes but DFFormat is {node.format!r}, not node")
    if node.format == "node" and node.value is not None:
        out.append(f"{where}: interior node with a Value")
    if node.format == "node" and node.default is not None:
        out.append(f"{where}: interior node with a DefaultValue")
    names = [c.name for c in node.children]
    for name in sorted({n for n in names if names.count(n) > 1}):
        label = name or DYNAMIC_SEGMENT
        out.append(f"{where}: more than one child named {label}")
    return out
