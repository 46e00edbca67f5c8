"""The shipped DDF (omadm_ddf.xml) and the device's tree describe the same thing.

The DDF is read as XML on its own (not through the code that wrote it), and every node it
declares is tried on the tree by behaviour: it exists, Get works exactly when the DDF says so
and gives the declared format, Replace/Delete/Exec are refused (405) exactly when the DDF does
not list them. Then the other way round: every node of the tree is in the DDF.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from conformance import xmlsafe
from conformance.declaration import Declaration
from conformance.simulators import omadm_mo as mo
from conformance.simulators.dmtree import DMTree, Outcome

DDF = Path(mo.__file__).with_name("omadm_ddf.xml")


@dataclass(frozen=True)
class DdfNode:
    path: str
    format: str
    access: frozenset[str]
    scope: str
    placeholder: bool


def _only_child(element: etree._Element, name: str) -> str:
    found = element.find(name)
    assert found is not None and len(found) == 1, f"{name} needs exactly one child"
    return xmlsafe.local_name(found[0])


def read_ddf(data: bytes) -> dict[str, DdfNode]:
    root = xmlsafe.parse(data, protocol="ddf")
    assert xmlsafe.local_name(root) == "MgmtTree"
    assert root.findtext("VerDTD") == "1.2"
    nodes: dict[str, DdfNode] = {}

    def walk(element: etree._Element, parent: str, inside_placeholder: bool) -> None:
        name = (element.findtext("NodeName") or "").strip()
        path = f"{parent}/{name or '<x>'}"
        props = element.find("DFProperties")
        assert props is not None, path
        access_el = props.find("AccessType")
        assert access_el is not None, path
        nodes[path] = DdfNode(
            path,
            _only_child(props, "DFFormat"),
            frozenset(xmlsafe.local_name(a) for a in access_el),
            _only_child(props, "Scope"),
            inside_placeholder or not name,
        )
        for child in element.findall("Node"):
            walk(child, path, inside_placeholder or not name)

    for top in root.findall("Node"):
        walk(top, ".", False)
    return nodes


def mismatches(tree_factory: Callable[[], DMTree], ddf: dict[str, DdfNode]) -> set[str]:
    """Paths whose behaviour on the tree differs from the DDF (or that only one side has)."""
    bad: set[str] = set()
    for path, node in ddf.items():
        if node.placeholder:
            continue
        tree = tree_factory()  # a fresh tree for each node: the probes write
        if not tree.exists(path):
            bad.add(path)
            continue
        prop = tree.get(f"{path}?prop=Format")
        if prop.values[0].data != node.format:
            bad.add(path)
        if not _get_agrees(node, tree.get(path)):
            bad.add(path)
        for command in ("Replace", "Delete", "Exec"):
            status = _probe(tree_factory(), command, node)
            if (command in node.access) == (status == "405"):
                bad.add(path)
    tree = tree_factory()
    for path, _ in tree.walk():
        if path not in ddf:
            bad.add(path)
    return bad


def _get_agrees(node: DdfNode, got: Outcome) -> bool:
    if ("Get" in node.access) != (got.status == "200"):
        return False
    if got.status == "200":
        return got.values[0].format == node.format
    return got.status == "405"


def _probe(tree: DMTree, command: str, node: DdfNode) -> str:
    if command == "Replace":
        value = "1" if node.format in ("int", "chr") else "true"
        return tree.replace(node.path, value, "b64" if node.format == "bin" else node.format)
    if command == "Delete":
        return tree.delete(node.path)
    return tree.exec(node.path)


@pytest.fixture(scope="module")
def shipped() -> dict[str, DdfNode]:
    return read_ddf(DDF.read_bytes())


def test_the_declaration_points_at_the_shipped_ddf(declaration: Declaration) -> None:
    assert declaration.omadm is not None and declaration.omadm.ddf is not None
    assert declaration.omadm.ddf.resolve() == DDF.resolve()


def test_shipped_ddf_is_what_the_schema_writes(declaration: Declaration) -> None:
    assert DDF.read_bytes() == mo.ddf_document(declaration)


def test_ddf_covers_devinfo_devdetail_dmacc_fumo(shipped: dict[str, DdfNode]) -> None:
    for path in (
        "./DevInfo/DevId",
        "./DevDetail/Ext/HostSwV",
        "./DevDetail/Ext/IMEISV",
        f"{mo.PROD_ACCOUNT}/{mo.SERVER_AUTH}/AAuthSecret",
        mo.BOOTSTRAP_ACCOUNT,
        f"{mo.FUMO_NODE}/DownloadAndUpdate/PkgURL",
    ):
        assert path in shipped
    secret = shipped[f"{mo.PROD_ACCOUNT}/{mo.CLIENT_AUTH}/AAuthSecret"]
    assert secret.access == {"Replace"}
    data = shipped[f"{mo.PROD_ACCOUNT}/{mo.CLIENT_AUTH}/AAuthData"]
    assert (data.access, data.format) == ({"Replace"}, "bin")
    assert shipped[f"{mo.FUMO_NODE}/DownloadAndUpdate"].access == {"Exec", "Get"}
    assert shipped["./DMAcc/<x>"].placeholder and shipped["./DMAcc/<x>"].scope == "Dynamic"


def test_tree_and_ddf_agree_node_by_node(
    make_tree: Callable[..., DMTree], shipped: dict[str, DdfNode]
) -> None:
    assert mismatches(make_tree, shipped) == set()


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("ddf-mismatch", {"./DevDetail/URI/MaxDepth"}),
        ("host-node-wrong-format", {"./DevDetail/Ext/HostSwV"}),
        ("host-node-not-gettable", {"./DevDetail/Ext/HostUniqueID"}),
        (
            "account-secret-readable",
            {
                f"{a}/{s}/AAuthSecret"
                for a in (mo.PROD_ACCOUNT, mo.DEV_ACCOUNT)
                for s in (mo.CLIENT_AUTH, mo.SERVER_AUTH)
            },
        ),
        ("missing-account-3", {mo.BOOTSTRAP_ACCOUNT}),
        (
            "missing-host-nodes",
            {f"./DevDetail/Ext/{n}" for n in ("HostMan", "HostMod", "HostSwV", "HostUniqueID")},
        ),
        ("wrong-status-codes", None),  # lies about Replace on every read-only leaf
        ("wrong-imeisv-format", set()),  # a value fault: the DDF still holds
        ("wrong-devinfo-values", set()),
    ],
)
def test_faults_change_exactly_the_nodes_they_say(
    make_tree: Callable[..., DMTree],
    shipped: dict[str, DdfNode],
    fault: str,
    expected: set[str] | None,
) -> None:
    found = mismatches(lambda: make_tree(fault), shipped)
    if expected is None:
        assert "./DevInfo/Man" in found and "./DevDetail/FwV" in found
        assert f"{mo.FUMO_NODE}/PkgName" not in found  # Replace is allowed there anyway
    else:
        assert found == expected
