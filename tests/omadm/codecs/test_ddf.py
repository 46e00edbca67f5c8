"""DDF 1.2 parser and validator (CDR-DVM-440)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.errors import ProtocolError
from conformance.omadm import ddf

SAMPLE = (Path(__file__).parent / "ddf" / "am7100.ddf.xml").read_bytes()


def test_sample_parses_with_full_paths() -> None:
    tree = ddf.parse(SAMPLE)
    assert (tree.ver_dtd, tree.man, tree.mod) == ("1.2", "Acme Modules", "AM-7100")
    assert [r.path for r in tree.roots] == ["./DevInfo", "./DevDetail", "./DMAcc"]
    paths = [n.path for n in tree.nodes()]
    for required in ("./DevInfo/DevId", "./DevInfo/Man", "./DevInfo/Mod", "./DevInfo/DmV",
                     "./DevDetail/Ext/HostMan", "./DevDetail/Ext/HostMod",
                     "./DevDetail/Ext/HostSwV", "./DevDetail/Ext/HostUniqueID",
                     "./DevDetail/Ext/IMEISV", "./DMAcc/<x>/AppAuth/<x>/AAuthData"):
        assert required in paths
    assert paths.index("./DevDetail/Ext") < paths.index("./DevDetail/Ext/HostMan")
    assert ddf.validate(tree) == []


def test_node_properties() -> None:
    tree = ddf.parse(SAMPLE)
    host_man = tree.find("./DevDetail/Ext/HostMan")
    assert host_man is not None
    assert (host_man.name, host_man.format, host_man.access) == ("HostMan", "chr",
                                                                 frozenset({"Get"}))
    assert (host_man.occurrence, host_man.scope, host_man.mime) == ("One", "Permanent",
                                                                    "text/plain")
    assert not host_man.dynamic and not host_man.children
    account = tree.find("./DMAcc/<x>")
    assert account is not None and account.dynamic and account.name == ""
    assert account.ddf_name == "urn:oma:mo:oma-dm-dmacc:1.0"
    assert account.access == frozenset({"Add", "Delete", "Get", "Replace"})
    assert account.occurrence == "ZeroOrMore" and account.scope == "Dynamic"
    assert [c.name for c in account.children] == ["AppID", "ServerID", "Name", "AppAddr",
                                                  "AppAuth"]
    secret = tree.find("./DMAcc/<x>/AppAuth/<x>/AAuthSecret")
    assert secret is not None and "Get" not in secret.access
    dev_id = tree.find("./DevInfo/DevId")
    assert dev_id is not None and dev_id.description == "IMEI:<15 digits>"


def _doc(nodes: str, head: str = "<VerDTD>1.2</VerDTD>") -> bytes:
    return f"<MgmtTree>{head}{nodes}</MgmtTree>".encode()


def _leaf(name: str, props: str) -> str:
    return f"<Node><NodeName>{name}</NodeName><DFProperties>{props}</DFProperties></Node>"


GOOD = (
    "<AccessType><Get/></AccessType><DFFormat><chr/></DFFormat><Occurrence><One/></Occurrence>"
    "<DFType><MIME>text/plain</MIME></DFType>"
)


@pytest.mark.parametrize(
    ("document", "finding"),
    [
        (_doc(_leaf("A", GOOD), head=""), "MgmtTree: no VerDTD"),
        (_doc(_leaf("A", GOOD), head="<VerDTD>1.1</VerDTD>"), "VerDTD is '1.1'"),
        (_doc(""), "MgmtTree: no Node"),
        (_doc("<Node><NodeName>A</NodeName></Node>"), "./A: no DFProperties"),
        (_doc(_leaf("A", GOOD.replace("<AccessType><Get/></AccessType>", ""))),
         "./A: DFProperties without AccessType"),
        (_doc(_leaf("A", GOOD.replace("<DFFormat><chr/></DFFormat>", ""))),
         "./A: DFProperties without DFFormat"),
        (_doc(_leaf("A", GOOD.replace("<DFType><MIME>text/plain</MIME></DFType>", ""))),
         "./A: DFProperties without DFType"),
        (_doc(_leaf("A", GOOD.replace("<chr/>", "<string/>"))), "./A: unknown DFFormat <string>"),
        (_doc(_leaf("A", GOOD.replace("<chr/>", "<chr/><int/>"))),
         "./A: DFFormat must name exactly one value, found 2"),
        (_doc(_leaf("A", GOOD.replace("<Get/>", "<Get/><Read/>"))),
         "./A: unknown access type <Read>"),
        (_doc(_leaf("A", GOOD.replace("<One/>", "<ZeroOrN/>"))), "./A: ZeroOrN without a number"),
        (_doc(_leaf("A", GOOD + "<Colour/>")), "./A: unexpected element <Colour> in DFProperties"),
        (_doc("<Node><NodeName>A</NodeName><DFProperties>" + GOOD + "</DFProperties>"
              + _leaf("B", GOOD) + "</Node>"),
         "./A: has child nodes but DFFormat is 'chr', not node"),
        (_doc("<Node><NodeName>A</NodeName><DFProperties>" + GOOD.replace("chr", "node")
              + "<DefaultValue>x</DefaultValue></DFProperties></Node>"),
         "./A: interior node with a DefaultValue"),
        (_doc("<Node><NodeName>A</NodeName><DFProperties>" + GOOD.replace("chr", "node")
              + "</DFProperties>" + _leaf("B", GOOD) + _leaf("B", GOOD) + "</Node>"),
         "./A: more than one child named B"),
        (_doc("<Node><NodeName>A</NodeName><DFProperties>" + GOOD.replace("chr", "node")
              + "</DFProperties>" + _leaf("", GOOD) + _leaf("", GOOD) + "</Node>"),
         "./A: more than one child named <x>"),
        (_doc("<Node><DFProperties>" + GOOD + "</DFProperties></Node>"),
         "./<x>: Node without NodeName"),
        (_doc(_leaf("A", GOOD) + "<Extra/>"), "MgmtTree: unexpected element <Extra>"),
    ],
)
def test_findings(document: bytes, finding: str) -> None:
    findings = ddf.validate(ddf.parse(document))
    assert any(finding in f for f in findings), findings


def test_occurrence_is_optional_in_the_dtd() -> None:
    # DDF 1.2 DTD: Occurrence? (default One); a vendor DDF without it is still valid.
    tree = ddf.parse(_doc(_leaf("A", GOOD.replace("<Occurrence><One/></Occurrence>", ""))))
    assert ddf.validate(tree) == []


def test_zero_or_n_with_number_is_valid() -> None:
    tree = ddf.parse(_doc(_leaf("A", GOOD.replace("<One/>", "<ZeroOrN>5</ZeroOrN>"))))
    assert tree.roots[0].occurrence == "ZeroOrN" and tree.roots[0].occurrence_max == "5"
    assert ddf.validate(tree) == []


def test_path_element_and_namespace_prefix() -> None:
    doc = (b'<d:MgmtTree xmlns:d="syncml:dmddf1.2"><d:VerDTD>1.2</d:VerDTD><d:Node>'
           b"<d:NodeName>HostMan</d:NodeName><d:Path>./DevDetail/Ext/</d:Path><d:DFProperties>"
           b"<d:AccessType><d:Get/></d:AccessType><d:DFFormat><d:chr/></d:DFFormat>"
           b"<d:Occurrence><d:One/></d:Occurrence><d:DFType><d:MIME>text/plain</d:MIME></d:DFType>"
           b"</d:DFProperties></d:Node></d:MgmtTree>")
    tree = ddf.parse(doc)
    assert [n.path for n in tree.nodes()] == ["./DevDetail/Ext/HostMan"]
    assert ddf.validate(tree) == []


@pytest.mark.parametrize(
    "document",
    [b"", b"<MgmtTree>", b"<NotADdf/>",
     b'<!DOCTYPE x [<!ENTITY a "b">]><MgmtTree>&a;</MgmtTree>'],
)
def test_malformed_is_protocol_error(document: bytes) -> None:
    with pytest.raises(ProtocolError):
        ddf.parse(document)


@given(st.binary(max_size=200))
def test_random_bytes_raise_only_protocol_errors(data: bytes) -> None:
    try:
        ddf.validate(ddf.parse(data))
    except ProtocolError:
        pass
