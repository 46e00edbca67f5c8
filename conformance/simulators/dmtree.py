"""A DM management tree: node descriptions (what a DDF says) and the nodes a device holds.

:class:`NodeSpec` is one DDF node description (format, access types, scope, occurrence,
DFType); a spec without a name is a placeholder for instances a server may Add. :class:`Node`
is a node present on the device, pointing at its spec. :class:`DMTree` runs the DM commands on
the nodes and answers the OMA-DM status codes a client owes a server: 404 missing node, 405
command not allowed by the access types, 418 already exists, 425 refused by the ACL (access
type allowed, but not to this server), 415 wrong format. :func:`ddf_xml` writes specs as an
OMA DM DDF 1.2 document, so the device's DDF and its tree come from one description.

Each node holds its run-time ACL (TND 1.2 §7.7.1): empty means inherited from the parent, the
root's grants every command to every server. Properties (``?prop=``) are read and, where TND
allows (ACL, Name, Title), replaced; ``?list=Struct|StructData|TNDS+...`` serialise a subtree;
Copy duplicates a node whose access types include Copy.

No protocol objects here: values in, status codes and values out.
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from lxml import etree

from conformance.omadm import acl as aclmod
from conformance.omadm import tnds

ACCESS_TYPES = ("Add", "Copy", "Delete", "Exec", "Get", "Replace")  # DDF 1.2 order
LEAF_FORMATS = ("b64", "bin", "bool", "chr", "int", "xml", "date", "time", "float", "null")
ROOT_ACL = "Add=*&Delete=*&Exec=*&Get=*&Replace=*"
# Run-time properties this device keeps (TND 1.2 §7.7); TStamp and VerNo are optional: 406.
PROPERTIES = ("ACL", "Format", "Name", "Size", "Title", "Type")
REPLACEABLE_PROPERTIES = ("ACL", "Name", "Title")
# Faults of the tree operations (omadm_faults.py) the tree itself plays.
TREE_QUIRKS = (
    "copy-drops-children",
    "list-struct-incomplete",
    "tnds-wrong-value",
    "prop-format-wrong",
    "acl-replace-ignored",
    "rename-ignored",
    "acl-not-enforced",
    "acl-refusal-for-read-only",
    "delete-interior-refused",
    "add-interior-as-leaf",
)


@dataclass
class NodeSpec:
    name: str | None  # None: a placeholder (<NodeName/>) for server-added instances
    format: str  # "node" for an interior node, else a leaf format
    access: frozenset[str]
    scope: str = "Permanent"  # or "Dynamic"
    occurrence: str = "One"  # One, ZeroOrOne, ZeroOrMore, OneOrMore
    mime: str | None = "text/plain"  # DFType MIME of a leaf
    ddf_name: str | None = None  # DFType DDFName of an interior node (MO identifier)
    title: str = ""
    description: str = ""
    children: list[NodeSpec] = field(default_factory=list)
    # The factory ACL: these commands granted to every server; None: an empty ACL (inherited).
    # (A bootstrap-only node has the access type but not the ACL for a DM session.)
    acl: frozenset[str] | None = None

    @property
    def interior(self) -> bool:
        return self.format == "node"

    @property
    def dftype(self) -> str:
        return (self.ddf_name if self.interior else self.mime) or ""

    def child_spec(self, name: str) -> NodeSpec | None:
        named = next((c for c in self.children if c.name == name), None)
        return named or next((c for c in self.children if c.name is None), None)

    def walk(self, path: str) -> Iterator[tuple[str, NodeSpec]]:
        """(path, spec) for this spec and every spec below; placeholders show as ``<x>``."""
        yield path, self
        for child in self.children:
            yield from child.walk(f"{path}/{child.name or '<x>'}")


def leaf(
    name: str | None,
    access: str = "Get",
    *,
    fmt: str = "chr",
    scope: str = "Permanent",
    occurrence: str = "One",
    title: str = "",
    description: str = "",
) -> NodeSpec:
    return NodeSpec(
        name,
        fmt,
        frozenset(access.split()),
        scope=scope,
        occurrence=occurrence,
        title=title,
        description=description,
    )


def interior(
    name: str | None,
    children: list[NodeSpec],
    access: str = "Get",
    *,
    scope: str = "Permanent",
    occurrence: str = "One",
    ddf_name: str | None = None,
    title: str = "",
    description: str = "",
    acl: str | None = None,
) -> NodeSpec:
    return NodeSpec(
        name,
        "node",
        frozenset(access.split()),
        scope=scope,
        occurrence=occurrence,
        mime=None,
        ddf_name=ddf_name,
        title=title,
        description=description,
        children=children,
        acl=frozenset(acl.split()) if acl is not None else None,
    )


@dataclass
class Node:
    name: str
    spec: NodeSpec
    value: str | bytes = ""
    children: dict[str, Node] = field(default_factory=dict)
    acl: str = ""  # the ACL property; "" inherits the parent's
    title: str | None = None  # the Title property once a server replaced it

    @property
    def format(self) -> str:
        return self.spec.format


@dataclass(frozen=True)
class Value:
    """One Results item: a leaf value, an interior node's child list, or a property."""

    uri: str
    format: str
    type: str
    data: str | bytes | None  # None: no Data (a ?list=Struct item)


@dataclass(frozen=True)
class Outcome:
    status: str
    values: tuple[Value, ...] = ()


ExecHandler = Callable[[str, str, str | None], str]  # (uri, data, correlator) -> status


class DMTree:
    """The nodes of a device; every command answers an OMA-DM status code."""

    def __init__(self, root: Node, server_id: str = "*") -> None:
        self.root = root
        self.server_id = server_id  # the DM server of the sessions, as its ACL entries name it
        self.quirks: frozenset[str] = frozenset()  # TREE_QUIRKS this faulty device has
        self.exec_handlers: dict[str, ExecHandler] = {}
        # Work an Exec started, run after the session (an Atomic rolled back drops its jobs).
        self.jobs: list[Callable[[], None]] = []
        self.faults_status_ok: set[str] = set()  # commands a faulty device answers 200 wrongly
        self.faults_refused: dict[str, str] = {}  # path prefix -> the code of every command

    def refusal(self, uri: str) -> str | None:
        """The code a faulty device gives any command on ``uri`` (None: it executes it)."""
        path = uri.strip()
        return next((code for prefix, code in self.faults_refused.items()
                     if path.startswith(prefix)), None)

    # ------------------------------------------------------------------ navigation

    @staticmethod
    def split(uri: str) -> list[str]:
        path = uri.split("?", 1)[0].strip()
        if path in (".", "./", ""):
            return []
        path = path[2:] if path.startswith("./") else path.lstrip("/")
        return [p for p in path.rstrip("/").split("/")]

    @staticmethod
    def normalise(uri: str) -> str:
        parts = DMTree.split(uri)
        return "./" + "/".join(parts) if parts else "."

    def find(self, uri: str) -> Node | None:
        nodes = self.chain(uri)
        return nodes[-1] if nodes else None

    def exists(self, uri: str) -> bool:
        return self.find(uri) is not None

    def value(self, uri: str) -> str | bytes | None:
        node = self.find(uri)
        return None if node is None else node.value

    def set_value(self, uri: str, value: str | bytes) -> None:
        """Device-side write (firmware, host values): no access check."""
        node = self.find(uri)
        if node is None:
            raise KeyError(uri)
        node.value = value

    def walk(self) -> Iterator[tuple[str, Node]]:
        def rec(path: str, node: Node) -> Iterator[tuple[str, Node]]:
            for child in node.children.values():
                child_path = f"{path}/{child.name}"
                yield child_path, child
                yield from rec(child_path, child)

        yield from rec(".", self.root)

    # ------------------------------------------------------------------ commands

    def chain(self, uri: str) -> list[Node] | None:
        """The nodes from the root down to ``uri`` (None: it does not exist)."""
        nodes = [self.root]
        for part in self.split(uri):
            child = nodes[-1].children.get(part) if part else None
            if child is None:
                return None
            nodes.append(child)
        return nodes

    @staticmethod
    def effective_acl(nodes: list[Node]) -> str:
        """The ACL that rules the last node: its own, else the nearest ancestor's."""
        return next((n.acl for n in reversed(nodes) if n.acl), "")

    def _granted(self, nodes: list[Node], command: str) -> bool:
        parsed = aclmod.parse(self.effective_acl(nodes)) or {}
        return aclmod.grants(parsed, command, self.server_id)

    def _allowed(self, nodes: list[Node], command: str) -> str | None:
        """None when ``command`` may run on the last node; else the status code refusing it."""
        node = nodes[-1]
        if command not in node.spec.access:
            if command == "Replace" and "acl-refusal-for-read-only" in self.quirks:
                return "425"
            return "405"
        if not self._granted(nodes, command):
            if command == "Replace" and "acl-not-enforced" in self.quirks:
                return None
            return "425"
        return None

    def get(self, uri: str) -> Outcome:
        nodes = self.chain(uri)
        if nodes is None:
            return Outcome("404")
        node = nodes[-1]
        query = uri.split("?", 1)[1] if "?" in uri else ""
        base = self.normalise(uri)
        if query.startswith("list="):
            return self._get_list(base, nodes, query.removeprefix("list="))
        if query:
            return self._get_property(base, nodes, query)
        refused = self._allowed(nodes, "Get")
        if refused:
            return Outcome(refused)
        return Outcome("200", (self._value(base, node),))

    @staticmethod
    def _value(uri: str, node: Node) -> Value:
        if node.spec.interior:
            return Value(uri, "node", node.spec.dftype, "/".join(node.children))
        return Value(uri, node.format, node.spec.dftype, node.value)

    def _properties(self, nodes: list[Node]) -> dict[str, str]:
        node = nodes[-1]
        spec = node.spec
        props = {
            "ACL": node.acl,
            "Format": spec.format,
            "Name": node.name,
            "Title": spec.title if node.title is None else node.title,
            "Type": spec.dftype,
        }
        if not spec.interior:  # interior nodes have no Size (TND 1.2 §7.7.7)
            raw = node.value.encode() if isinstance(node.value, str) else node.value
            props["Size"] = str(len(raw))
        return props

    def _get_property(self, base: str, nodes: list[Node], query: str) -> Outcome:
        # TND 1.2 §7.3: Get <uri>?prop=<name> reads one property; the ACL's Get right rules
        # the properties too (the access types are the value's: a secret's Format is readable).
        key, _, prop = query.partition("=")
        if key != "prop" or prop not in PROPERTIES:
            return Outcome("406")
        if not self._granted(nodes, "Get"):
            return Outcome("425")
        value = self._properties(nodes).get(prop)
        if prop == "Format" and nodes[-1].spec.interior and "prop-format-wrong" in self.quirks:
            value = "chr"
        if value is None:
            return Outcome("404")
        return Outcome("200", (Value(f"{base}?prop={prop}", "chr", "text/plain", value),))

    def _get_list(self, base: str, nodes: list[Node], kind: str) -> Outcome:
        # DM 1.2: ?list=Struct (the subtree's nodes), StructData (with leaf values);
        # TNDS 1.2: ?list=TNDS+<properties> (one serialised document).
        refused = self._allowed(nodes, "Get")
        if refused:
            return Outcome(refused)
        if kind in ("Struct", "StructData"):
            values = [
                Value(uri, v.format, v.type,
                      v.data if kind == "StructData" and v.format != "node" else None)
                for uri, v in self._subtree(base, nodes)
            ]
            if "list-struct-incomplete" in self.quirks:
                values = values[:-1]
            return Outcome("200", tuple(values))
        words = kind.split("+")
        if words[0] != "TNDS" or not set(words[1:]) <= set(tnds.PROPERTIES):
            return Outcome("406")
        top = self._tnds(nodes, set(words[1:]))
        parts = self.split(base)
        top.path = self.normalise("./" + "/".join(parts[:-1])) if parts else None
        doc = tnds.document([top]).decode()
        return Outcome("200", (Value(base, "xml", tnds.MIME_XML, doc),))

    def _subtree(self, base: str, nodes: list[Node]) -> Iterator[tuple[str, Value]]:
        node = nodes[-1]
        readable = "Get" in node.spec.access and self._granted(nodes, "Get")
        value = self._value(base, node)
        yield base, value if readable else Value(base, value.format, value.type, None)
        for child in node.children.values():
            yield from self._subtree(f"{base}/{child.name}", [*nodes, child])

    def _tnds(self, nodes: list[Node], wanted: set[str]) -> tnds.TndsNode:
        node = nodes[-1]
        props = {k: v for k, v in self._properties(nodes).items() if k in wanted}
        out = tnds.TndsNode(node.name, props=props)
        readable = "Get" in node.spec.access and self._granted(nodes, "Get")
        if "Value" in wanted and not node.spec.interior and readable:
            raw = node.value
            out.value = raw if isinstance(raw, str) else base64.b64encode(raw).decode()
            if "tnds-wrong-value" in self.quirks:
                out.value += "-stale"
        out.children = [self._tnds([*nodes, c], wanted) for c in node.children.values()]
        return out

    def replace(self, uri: str, data: str | bytes, fmt: str | None = None) -> str:
        nodes = self.chain(uri)
        if nodes is None:
            return "404"
        query = uri.split("?", 1)[1] if "?" in uri else ""
        if query:
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
            return self._replace_property(nodes, query, text)
        node = nodes[-1]
        refused = self._allowed(nodes, "Replace")
        if refused:
            return "200" if "Replace" in self.faults_status_ok else refused
        if node.spec.interior:
            return "405"  # an interior node has no value
        converted = _convert(node.format, data, fmt)
        if converted is None:
            return "415"
        node.value = converted
        return "200"

    def _replace_property(self, nodes: list[Node], query: str, data: str) -> str:
        key, _, prop = query.partition("=")
        if key != "prop" or prop not in (*PROPERTIES, "TStamp", "VerNo"):
            return "406"
        if prop not in REPLACEABLE_PROPERTIES:
            return "405"  # TND 1.2 §7.5: Format, Size, Type, TStamp, VerNo are read-only
        node = nodes[-1]
        if prop == "ACL":
            return self._replace_acl(nodes, data)
        if prop == "Name":
            return self._rename(nodes, data)
        if not self._granted(nodes, "Replace"):
            return "425"
        node.title = data
        return "200"

    def _replace_acl(self, nodes: list[Node], data: str) -> str:
        # TND 1.2 §7.7.1.3: Replace right on the parent rules every node's ACL; an interior
        # node's own Replace right rules it too (a leaf's does not).
        node = nodes[-1]
        parent_ok = len(nodes) > 1 and self._granted(nodes[:-1], "Replace")
        own_ok = node.spec.interior and self._granted(nodes, "Replace")
        if not (parent_ok or own_ok):
            return "425"
        if aclmod.parse(data) is None:
            return "400"
        if len(nodes) == 1 and aclmod.parse(data) in ({}, None):
            return "405"  # the root's ACL may not become empty
        if "acl-replace-ignored" not in self.quirks:
            node.acl = data
        return "200"

    def _rename(self, nodes: list[Node], name: str) -> str:
        # TND 1.2 §7.5: a Replace of Name renames the node; a permanent node's cannot be (405).
        node = nodes[-1]
        if len(nodes) == 1 or node.spec.scope == "Permanent":
            return "405"
        refused = self._allowed(nodes, "Replace")
        if refused:
            return refused
        parent = nodes[-2]
        if not name or "/" in name or name in (".", ".."):
            return "400"
        if name in parent.children:
            return "418"
        if parent.spec.child_spec(name) is not node.spec:
            return "405"  # the new name would make it another node of the MO
        if "rename-ignored" not in self.quirks:
            parent.children = {(name if k == node.name else k): v
                               for k, v in parent.children.items()}
            node.name = name
        return "200"

    def add(self, uri: str, data: str | bytes = "", fmt: str | None = None) -> str:
        if self.find(uri) is not None:
            return "200" if "Add" in self.faults_status_ok else "418"
        place = self._place(uri)
        if isinstance(place, str):
            return place
        parent, spec, name = place
        if spec.interior:
            if fmt not in (None, "node"):
                return "415"
            if "add-interior-as-leaf" in self.quirks:
                spec = NodeSpec(spec.name, "chr", spec.access, scope=spec.scope)
            parent.children[name] = Node(name, spec)
            return "200"
        converted = _convert(spec.format, data, fmt)
        if converted is None:
            return "415"
        parent.children[name] = Node(name, spec, converted)
        return "200"

    def _place(self, uri: str) -> tuple[Node, NodeSpec, str] | str:
        """(parent, spec, name) for a new node at ``uri``, or the code refusing to create it."""
        parts = self.split(uri)
        if not parts:
            return "418"  # the root exists
        parents = self.chain("./" + "/".join(parts[:-1]))
        if parents is None:
            return "404"
        parent = parents[-1]
        if not parent.spec.interior:
            return "405"
        if not self._granted(parents, "Add"):
            return "425"  # the ACL Add right on a node is the right to add children to it
        spec = parent.spec.child_spec(parts[-1])
        if spec is None or "Add" not in spec.access:
            return "405"
        return parent, spec, parts[-1]

    def copy(self, target: str, source: str) -> str:
        """Copy ``source`` (with its subtree) to ``target``; the source needs the Copy type."""
        sources = self.chain(source)
        if sources is None:
            return "404"
        original = sources[-1]
        if "Copy" not in original.spec.access:
            return "405"
        if not self._granted(sources, "Get"):
            return "425"  # Copy has no ACL right: reading the source is what it takes
        existing = self.find(target)
        if existing is not None:
            if existing.spec.interior or original.spec.interior:
                return "418"
            return self.replace(target, original.value, None if isinstance(original.value,
                                                                            str) else "bin")
        place = self._place(target)
        if isinstance(place, str):
            return place
        parent, spec, name = place
        if spec is not original.spec and (spec.interior or spec.format != original.format):
            return "405"  # another kind of node: a copy would not fit there
        node = copy.deepcopy(original)
        node.name, node.spec, node.acl = name, spec, ""
        if "copy-drops-children" in self.quirks:
            node.children = {}
        parent.children[name] = node
        return "200"

    def delete(self, uri: str) -> str:
        nodes = self.chain(uri)
        if nodes is None:
            return "404"
        if len(nodes) == 1:
            return "405"
        node = nodes[-1]
        refused = self._allowed(nodes, "Delete")
        if refused:
            return refused
        if node.spec.scope == "Permanent":
            return "405"
        if node.children and "delete-interior-refused" in self.quirks:
            return "405"
        del nodes[-2].children[node.name]  # its subtree goes with it (TND 1.2 §6.2.3)
        return "200"

    def exec(self, uri: str, data: str = "", correlator: str | None = None) -> str:
        nodes = self.chain(uri)
        if nodes is None:
            return "404"
        refused = self._allowed(nodes, "Exec")
        if refused:
            return refused
        handler = self.exec_handlers.get(self.normalise(uri))
        if handler is None:
            return "406"
        return handler(self.normalise(uri), data, correlator)

    # ------------------------------------------------------------------ Atomic support

    def snapshot(self) -> Node:
        return copy.deepcopy(self.root)

    def restore(self, snapshot: Node) -> None:
        self.root = snapshot


def _convert(node_format: str, data: str | bytes, fmt: str | None) -> str | bytes | None:
    """The value to store for ``data`` sent with Meta Format ``fmt``; None: not acceptable."""
    if fmt is None:
        fmt = node_format if node_format != "bin" else "b64"
    if node_format == "bin":
        if fmt == "bin":
            return data if isinstance(data, bytes) else data.encode()
        if fmt == "b64":
            text = data.decode() if isinstance(data, bytes) else data
            try:
                return base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                return None
        return None
    if fmt != node_format:
        return None
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if node_format == "int":
        try:
            int(text)
        except ValueError:
            return None
    if node_format == "bool" and text not in ("true", "false"):
        return None
    return text


def instantiate(spec: NodeSpec, name: str, values: dict[str, str | bytes], path: str) -> Node:
    """A node for ``spec`` and, recursively, for its named children.

    ``values`` maps a full path ("./DevInfo/Man") to the leaf value; placeholders get no
    instance (they are what a server may Add).
    """
    node = Node(name, spec, values.get(path, ""))
    if spec.acl is not None:
        node.acl = "&".join(f"{c}=*" for c in aclmod.COMMANDS if c in spec.acl)
    for child in spec.children:
        if child.name is not None:
            node.children[child.name] = instantiate(
                child, child.name, values, f"{path}/{child.name}"
            )
    return node


# ---------------------------------------------------------------------- DDF output

DDF_DOCTYPE = (
    '<!DOCTYPE MgmtTree PUBLIC "-//OMA//DTD-DM-DDF 1.2//EN" '
    '"http://www.openmobilealliance.org/tech/DTD/DM_DDF-V1_2.dtd">'
)


def ddf_xml(roots: list[NodeSpec], man: str, mod: str) -> bytes:
    """An OMA DM DDF 1.2 document describing ``roots`` (the children of ".")."""
    tree = etree.Element("MgmtTree")
    etree.SubElement(tree, "VerDTD").text = "1.2"
    etree.SubElement(tree, "Man").text = man
    etree.SubElement(tree, "Mod").text = mod
    for spec in roots:
        tree.append(_ddf_node(spec, path="."))
    body = etree.tostring(tree, pretty_print=True, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{DDF_DOCTYPE}\n{body}'.encode()


def _ddf_node(spec: NodeSpec, path: str | None) -> etree._Element:
    node = etree.Element("Node")
    etree.SubElement(node, "NodeName").text = spec.name or ""
    if path is not None:
        etree.SubElement(node, "Path").text = path
    props = etree.SubElement(node, "DFProperties")
    access = etree.SubElement(props, "AccessType")
    for command in ACCESS_TYPES:
        if command in spec.access:
            etree.SubElement(access, command)
    if spec.description:
        etree.SubElement(props, "Description").text = spec.description
    etree.SubElement(etree.SubElement(props, "DFFormat"), spec.format)
    etree.SubElement(etree.SubElement(props, "Occurrence"), spec.occurrence)
    etree.SubElement(etree.SubElement(props, "Scope"), spec.scope)
    if spec.title:
        etree.SubElement(props, "DFTitle").text = spec.title
    dftype = etree.SubElement(props, "DFType")
    if spec.interior:
        etree.SubElement(dftype, "DDFName").text = spec.ddf_name or ""
    else:
        etree.SubElement(dftype, "MIME").text = spec.mime or "text/plain"
    for child in spec.children:
        node.append(_ddf_node(child, path=None))
    return node
