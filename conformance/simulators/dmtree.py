"""A DM management tree: node descriptions (what a DDF says) and the nodes a device holds.

:class:`NodeSpec` is one DDF node description (format, access types, scope, occurrence,
DFType); a spec without a name is a placeholder for instances a server may Add. :class:`Node`
is a node present on the device, pointing at its spec. :class:`DMTree` runs the DM commands on
the nodes and answers the OMA-DM status codes a client owes a server: 404 missing node, 405
command not allowed by the access types, 418 already exists, 425 refused by the ACL (access
type allowed, but not to this server), 415 wrong format. :func:`ddf_xml` writes specs as an
OMA DM DDF 1.2 document, so the device's DDF and its tree come from one description.

No protocol objects here: values in, status codes and values out.
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from lxml import etree

ACCESS_TYPES = ("Add", "Copy", "Delete", "Exec", "Get", "Replace")  # DDF 1.2 order
LEAF_FORMATS = ("b64", "bin", "bool", "chr", "int", "xml", "date", "time", "float", "null")


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
    # Commands the ACL grants a DM server session; None: everything the access types allow.
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

    @property
    def format(self) -> str:
        return self.spec.format


@dataclass(frozen=True)
class Value:
    """One Results item: a leaf value, an interior node's child list, or a property."""

    uri: str
    format: str
    type: str
    data: str | bytes


@dataclass(frozen=True)
class Outcome:
    status: str
    values: tuple[Value, ...] = ()


ExecHandler = Callable[[str, str, str | None], str]  # (uri, data, correlator) -> status


class DMTree:
    """The nodes of a device; every command answers an OMA-DM status code."""

    def __init__(self, root: Node) -> None:
        self.root = root
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
        node: Node | None = self.root
        for part in self.split(uri):
            if node is None or not part:
                return None
            node = node.children.get(part)
        return node

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

    def _allowed(self, node: Node, command: str) -> str | None:
        """None when ``command`` may run on ``node``; else the status code refusing it."""
        if command not in node.spec.access:
            return "405"
        if node.spec.acl is not None and command not in node.spec.acl:
            return "425"
        return None

    def get(self, uri: str) -> Outcome:
        node = self.find(uri)
        if node is None:
            return Outcome("404")
        query = uri.split("?", 1)[1] if "?" in uri else ""
        base = self.normalise(uri)
        if query:
            return self._get_property(base, node, query)
        refused = self._allowed(node, "Get")
        if refused:
            return Outcome(refused)
        if node.spec.interior:
            listing = "/".join(node.children)
            return Outcome("200", (Value(base, "node", node.spec.dftype, listing),))
        return Outcome("200", (Value(base, node.format, node.spec.dftype, node.value),))

    def _get_property(self, base: str, node: Node, query: str) -> Outcome:
        # DM 1.2 TND: Get <uri>?prop=<name> reads one property of the node.
        key, _, prop = query.partition("=")
        if key != "prop":
            return Outcome("406")  # ?list=Struct/TNDS are optional: not supported
        spec = node.spec
        properties = {
            "Format": spec.format,
            "Type": spec.dftype,
            "Name": node.name,
            "ACL": "&".join(
                f"{c}=*"
                for c in ACCESS_TYPES
                if c in spec.access and (spec.acl is None or c in spec.acl)
            ),
            "Size": str(len(node.value)) if not spec.interior else None,
            "Title": spec.title or None,
        }
        if prop not in properties:
            return Outcome("406")
        value = properties[prop]
        if value is None:
            return Outcome("404")
        return Outcome("200", (Value(f"{base}?prop={prop}", "chr", "text/plain", value),))

    def replace(self, uri: str, data: str | bytes, fmt: str | None = None) -> str:
        node = self.find(uri)
        if node is None:
            return "404"
        refused = self._allowed(node, "Replace")
        if refused:
            return "200" if "Replace" in self.faults_status_ok else refused
        if node.spec.interior:
            return "405"  # renaming/ACL changes of interior nodes are not supported
        converted = _convert(node.format, data, fmt)
        if converted is None:
            return "415"
        node.value = converted
        return "200"

    def add(self, uri: str, data: str | bytes = "", fmt: str | None = None) -> str:
        if self.find(uri) is not None:
            return "200" if "Add" in self.faults_status_ok else "418"
        parts = self.split(uri)
        if not parts:
            return "418"
        parent = self.find("./" + "/".join(parts[:-1]))
        if parent is None:
            return "404"
        if not parent.spec.interior:
            return "405"
        if parent.spec.acl is not None and "Add" not in parent.spec.acl:
            return "425"  # the ACL Add right on a node is the right to add children to it
        spec = parent.spec.child_spec(parts[-1])
        if spec is None:
            return "405"
        if "Add" not in spec.access:
            return "405"
        if spec.interior:
            if fmt not in (None, "node"):
                return "415"
            parent.children[parts[-1]] = Node(parts[-1], spec)
            return "200"
        converted = _convert(spec.format, data, fmt)
        if converted is None:
            return "415"
        parent.children[parts[-1]] = Node(parts[-1], spec, converted)
        return "200"

    def delete(self, uri: str) -> str:
        parts = self.split(uri)
        node = self.find(uri)
        if node is None or not parts:
            return "404" if node is None else "405"
        refused = self._allowed(node, "Delete")
        if refused:
            return refused
        if node.spec.scope == "Permanent":
            return "405"
        parent = self.find("./" + "/".join(parts[:-1]))
        assert parent is not None
        del parent.children[parts[-1]]
        return "200"

    def exec(self, uri: str, data: str = "", correlator: str | None = None) -> str:
        node = self.find(uri)
        if node is None:
            return "404"
        refused = self._allowed(node, "Exec")
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
