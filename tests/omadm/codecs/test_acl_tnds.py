"""The ACL value codec (DM TND 1.2 §7.7.1.5) and the TNDS 1.2 codec (XML and WBXML, the
latter cross-checked with libwbxml2-utils)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.errors import ProtocolError
from conformance.omadm import acl, tnds


def test_acl_grammar() -> None:
    assert acl.parse("") == {}
    parsed = acl.parse("Add=*&Get=ATTLabA+other.example&Replace=ATTLabA")
    assert parsed == {"Add": {"*"}, "Get": {"ATTLabA", "other.example"}, "Replace": {"ATTLabA"}}
    for bad in ("Get", "Get=", "Copy=*", "Get=a b", "Get=a&", "Get=a++b", "Get=*x",
                "Get=" + "a" * acl.MAX_LENGTH):
        assert acl.parse(bad) is None, bad


def test_acl_grants_and_equality() -> None:
    parsed = acl.parse("Get=*&Replace=ATTLabA")
    assert parsed is not None
    assert acl.grants(parsed, "Get", "anyone") and acl.grants(parsed, "Replace", "ATTLabA")
    assert not acl.grants(parsed, "Replace", "other") and not acl.grants(parsed, "Delete", "x")
    assert acl.same("Replace=b+a&Get=*", "Get=*&Replace=a+b")
    assert not acl.same("Get=*", "Get") and not acl.same("Get=*", "Get=a")
    assert acl.format_acl({"Replace": frozenset({"b", "a"}), "Get": frozenset({"*"})}) == (
        "Get=*&Replace=a+b")


def _tree() -> list[tnds.TndsNode]:
    man = tnds.TndsNode("Man", props={"Format": "chr", "Type": "text/plain", "ACL": "Get=*"},
                        value="ACME & <Sons>")
    return [tnds.TndsNode("DevInfo", path=".",
                          props={"Format": "node", "Type": "urn:oma:mo:oma-dm-devinfo:1.0"},
                          children=[man, tnds.TndsNode("Lang", value="")])]


def test_tnds_round_trip() -> None:
    doc = tnds.document(_tree())
    nodes = tnds.flatten(tnds.parse(doc), "./DevInfo")
    assert sorted(nodes) == ["./DevInfo", "./DevInfo/Lang", "./DevInfo/Man"]
    assert nodes["./DevInfo"].props == {"Format": "node", "Type": "urn:oma:mo:oma-dm-devinfo:1.0"}
    assert nodes["./DevInfo/Man"].value == "ACME & <Sons>"
    assert nodes["./DevInfo/Man"].props["ACL"] == "Get=*"
    assert nodes["./DevInfo/Lang"].value == ""
    assert tnds.parse(doc.decode()) == tnds.parse(doc)  # text as well as bytes


def test_tnds_top_node_without_path_is_the_asked_node() -> None:
    doc = b"<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName>DevInfo</NodeName>" \
          b"<Node><NodeName>Man</NodeName><Value>x</Value></Node></Node></MgmtTree>"
    assert sorted(tnds.flatten(tnds.parse(doc), "./DevInfo")) == ["./DevInfo", "./DevInfo/Man"]


@pytest.mark.parametrize("doc", [
    b"<Nope/>",
    b"<MgmtTree><Node><Value>x</Value></Node></MgmtTree>",
    b"<MgmtTree><Node>",
    b'<!DOCTYPE x [<!ENTITY a "b">]><MgmtTree/>',
    b"<MgmtTree>" + b"<Node><NodeName>a</NodeName>" * 100 + b"</Node>" * 100 + b"</MgmtTree>",
])
def test_tnds_refuses_what_is_not_a_bounded_tnds_document(doc: bytes) -> None:
    with pytest.raises(ProtocolError):
        tnds.parse(doc)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found (Debian package libwbxml2-utils): run scripts/bootstrap.sh")
    return path


def test_tnds_wbxml_round_trip_and_libwbxml(tmp_path: Path) -> None:
    """Our TNDS WBXML is what libwbxml's DM DDF 1.2 table reads, and the other way round."""
    ours = tmp_path / "ours.wbxml"
    ours.write_bytes(tnds.document_wbxml(_tree()))
    assert tnds.parse_wbxml(ours.read_bytes()) == tnds.parse(tnds.document(_tree()))
    as_xml = tmp_path / "libwbxml.xml"
    subprocess.run([_tool("wbxml2xml"), "-o", str(as_xml), str(ours)], check=True,
                   capture_output=True, timeout=30)
    assert tnds.parse(as_xml.read_bytes()) == tnds.parse(tnds.document(_tree()))
    source = tmp_path / "doc.xml"
    source.write_bytes(tnds.document(_tree()).replace(
        b"?>", b'?>\n<!DOCTYPE MgmtTree PUBLIC "-//OMA//DTD-DM-DDF 1.2//EN" "dm_ddf-v1_2.dtd">',
        1))
    theirs = tmp_path / "theirs.wbxml"
    subprocess.run([_tool("xml2wbxml"), "-o", str(theirs), str(source)], check=True,
                   capture_output=True, timeout=30)
    assert tnds.parse_wbxml(theirs.read_bytes()) == tnds.parse(tnds.document(_tree()))


def test_tnds_wbxml_refuses_syncml_tokens() -> None:
    syncml = bytes.fromhex("02006a00") + bytes([0x45, 0x01])  # <SyncML/> on page 0
    with pytest.raises(ProtocolError):
        tnds.parse_wbxml(syncml)
