"""The reference device's tree operations: Copy, ?list=, ?prop=, ACLs, interior nodes, and
the faults that break each (omadm_faults.py, "tree operations")."""

from __future__ import annotations

import base64
from collections.abc import Callable

from conformance.omadm import tnds
from conformance.omadm.model import Get, Item, Results
from conformance.simulators.dmtree import DMTree
from conformance.simulators.omadm_executor import CommandExecutor

PROBE = "./DMAcc/Probe"


def _account(tree: DMTree, uri: str = PROBE) -> None:
    assert tree.add(uri, fmt="node") == "200"
    assert tree.add(f"{uri}/Name", "lab", "chr") == "200"
    assert tree.add(f"{uri}/AAuthPref", "DIGEST", "chr") == "200"


def test_copy_duplicates_the_subtree_where_the_source_has_copy(tree: DMTree) -> None:
    _account(tree)
    assert tree.copy("./DMAcc/Copy1", PROBE) == "200"
    assert tree.value("./DMAcc/Copy1/Name") == "lab"
    assert tree.copy("./DMAcc/Copy2", "./DevInfo") == "405"  # no Copy access type
    assert tree.copy("./DMAcc/Copy2", "./DevInfo/Nope") == "404"
    assert tree.copy("./DMAcc/Copy1", PROBE) == "418"


def test_copy_drops_children_fault(make_tree: Callable[..., DMTree]) -> None:
    tree = make_tree("copy-drops-children")
    _account(tree)
    assert tree.copy("./DMAcc/Copy1", PROBE) == "200"
    assert tree.get("./DMAcc/Copy1").values[0].data == ""


def test_list_struct_and_structdata(tree: DMTree) -> None:
    struct = tree.get("./DevInfo?list=Struct")
    uris = [v.uri for v in struct.values]
    assert struct.status == "200" and uris[0] == "./DevInfo" and "./DevInfo/Man" in uris
    assert all(v.data is None for v in struct.values)
    data = {v.uri: v.data for v in tree.get("./DevInfo?list=StructData").values}
    assert data["./DevInfo/Man"] == tree.value("./DevInfo/Man") and data["./DevInfo"] is None


def test_list_struct_incomplete_fault(tree: DMTree, make_tree: Callable[..., DMTree]) -> None:
    whole = len(tree.get("./DevInfo?list=Struct").values)
    assert len(make_tree("list-struct-incomplete").get("./DevInfo?list=Struct").values) == whole - 1


def test_list_tnds_serialises_the_subtree(tree: DMTree) -> None:
    out = tree.get("./DevInfo?list=TNDS+Format+Type+Value")
    assert out.status == "200" and out.values[0].type == tnds.MIME_XML
    data = out.values[0].data
    assert isinstance(data, str)
    nodes = tnds.flatten(tnds.parse(data), "./DevInfo")
    assert nodes["./DevInfo"].props["Format"] == "node"
    assert nodes["./DevInfo/Man"].value == tree.value("./DevInfo/Man")
    assert nodes["./DevInfo/Man"].props == {"Format": "chr", "Type": "text/plain"}
    assert tree.get("./DevInfo?list=TNDS+Colour").status == "406"


def test_tnds_wrong_value_fault(make_tree: Callable[..., DMTree]) -> None:
    tree = make_tree("tnds-wrong-value")
    data = tree.get("./DevInfo?list=TNDS+Value").values[0].data
    assert isinstance(data, str)
    assert tnds.flatten(tnds.parse(data), "./DevInfo")["./DevInfo/Man"].value != tree.value(
        "./DevInfo/Man")


def test_properties_of_leaf_and_interior(tree: DMTree) -> None:
    def prop(uri: str) -> str | bytes | None:
        out = tree.get(uri)
        assert out.status == "200", uri
        return out.values[0].data

    assert prop("./DevInfo?prop=Format") == "node"
    assert prop("./DevInfo?prop=Name") == "DevInfo"
    assert prop("./DevInfo?prop=Type") == "urn:oma:mo:oma-dm-devinfo:1.0"
    assert prop("./DevInfo/Man?prop=Size") == str(len(str(tree.value("./DevInfo/Man"))))
    assert prop("./DevInfo/Man?prop=Title") == "Manufacturer"
    assert prop(".?prop=ACL") == "Add=*&Delete=*&Exec=*&Get=*&Replace=*"
    assert tree.get("./DevInfo?prop=Size").status == "404"  # interior nodes have no Size
    assert tree.get("./DevInfo?prop=TStamp").status == "406"
    assert make_tree_fault_format(tree) == "node"


def make_tree_fault_format(tree: DMTree) -> str | bytes | None:
    return tree.get("./DMAcc?prop=Format").values[0].data


def test_prop_format_wrong_fault(make_tree: Callable[..., DMTree]) -> None:
    assert make_tree_fault_format(make_tree("prop-format-wrong")) == "chr"


def test_replace_acl_and_inheritance(tree: DMTree) -> None:
    _account(tree)
    assert tree.replace(f"{PROBE}/Name?prop=ACL", "Get=*&Replace=*") == "200"
    assert tree.replace(f"{PROBE}?prop=ACL", "Add=*&Delete=*&Get=*") == "200"
    assert tree.get(f"{PROBE}?prop=ACL").values[0].data == "Add=*&Delete=*&Get=*"
    assert tree.replace(f"{PROBE}/AAuthPref", "BASIC", "chr") == "425"  # inherited: no Replace
    assert tree.replace(f"{PROBE}/Name", "other", "chr") == "200"  # its own ACL grants it
    assert tree.replace(f"{PROBE}?prop=ACL", "Get=*") == "200"  # parent ./DMAcc grants it
    assert tree.replace(f"{PROBE}?prop=ACL", "Get") == "400"
    assert tree.replace(f"{PROBE}?prop=Format", "chr") == "405"
    assert tree.replace("./DevInfo/Man", "x", "chr") == "405"  # DDF read-only, ACL grants


def test_leaf_acl_needs_the_parents_replace_right(tree: DMTree) -> None:
    _account(tree)
    assert tree.replace(f"{PROBE}?prop=ACL", "Add=*&Delete=*&Get=*") == "200"
    assert tree.replace(f"{PROBE}/Name?prop=ACL", "Get=*&Replace=*") == "425"


def test_acl_faults(make_tree: Callable[..., DMTree]) -> None:
    ignored = make_tree("acl-replace-ignored")
    _account(ignored)
    assert ignored.replace(f"{PROBE}?prop=ACL", "Get=*") == "200"
    assert ignored.get(f"{PROBE}?prop=ACL").values[0].data == ""
    lax = make_tree("acl-not-enforced")
    _account(lax)
    assert lax.replace(f"{PROBE}?prop=ACL", "Add=*&Delete=*&Get=*") == "200"
    assert lax.replace(f"{PROBE}/AAuthPref", "BASIC", "chr") == "200"
    assert make_tree("acl-refusal-for-read-only").replace("./DevInfo/Man", "x", "chr") == "425"


def test_rename_dynamic_node_not_permanent(tree: DMTree, make_tree: Callable[..., DMTree]) -> None:
    _account(tree)
    assert tree.replace(f"{PROBE}?prop=Name", "Renamed") == "200"
    assert tree.exists("./DMAcc/Renamed/Name") and not tree.exists(PROBE)
    assert tree.replace("./DevInfo?prop=Name", "Other") == "405"
    faulty = make_tree("rename-ignored")
    _account(faulty)
    assert faulty.replace(f"{PROBE}?prop=Name", "Renamed") == "200"
    assert faulty.exists(PROBE)


def test_add_and_delete_interior_nodes(tree: DMTree, make_tree: Callable[..., DMTree]) -> None:
    _account(tree)
    assert tree.get(PROBE).values[0].format == "node"
    assert tree.delete(PROBE) == "200" and not tree.exists(f"{PROBE}/Name")
    refusing = make_tree("delete-interior-refused")
    _account(refusing)
    assert refusing.delete(PROBE) == "405"
    leafy = make_tree("add-interior-as-leaf")
    assert leafy.add(PROBE, fmt="node") == "200"
    assert leafy.get(PROBE).values[0].format == "chr"


def test_tnds_travels_as_wbxml_in_a_wbxml_session(tree: DMTree) -> None:
    get = Get("1", items=[Item(target="./DevInfo?list=TNDS+Value")])
    out = CommandExecutor(tree, tnds_wbxml=True).execute("1", [get])
    item = next(r for r in out.replies if isinstance(r, Results)).items[0]
    assert item.meta is not None and (item.meta.format, item.meta.type) == ("b64", tnds.MIME_WBXML)
    assert isinstance(item.data, str)
    nodes = tnds.flatten(tnds.parse_wbxml(base64.b64decode(item.data)), "./DevInfo")
    assert nodes["./DevInfo/Man"].value == tree.value("./DevInfo/Man")
