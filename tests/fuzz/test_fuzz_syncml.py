"""SyncML DM decoders under fuzzing: XML, WBXML, the transcript's pretty printers, and the
auth header fields a device sends. Each returns a value or raises ProtocolError, nothing else;
the pretty printers never raise at all."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.errors import ProtocolError
from conformance.omadm import wbxml, xmlcodec

C = sys.modules["conformance_fuzz_campaign"]  # loaded by conftest.py
TARGETS = C.targets()
NAMES = ["syncml-xml", "syncml-xml-pretty", "syncml-xml-shown", "wbxml", "wbxml-shown",
         "wbxml-to-xml", "wbxml-pretty", "hmac-header", "nextnonce", "syncml-rejection"]


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_decoder_raises_only_protocol_error(name: str, data: st.DataObject) -> None:
    target = TARGETS[name]
    C.assert_contained(target, data.draw(C.strategy(target), label="input"))


def test_seeds_are_valid_so_mutations_start_deep() -> None:
    for name in ("syncml-xml", "wbxml"):
        for seed in TARGETS[name].seeds:
            TARGETS[name].run(seed)


# Regressions found by the campaign (docs/robustness.md).


def test_nested_xml_in_data_with_trailing_text_is_kept() -> None:
    """<Data><x/>tail</Data> made lxml raise XMLSyntaxError out of decode (the server then
    answered 500 and lost the message): the copy of a nested element included its tail."""
    doc = (Path(__file__).parents[1] / "omadm/codecs/corpus/04-pkg3-status-results.xml")
    data = doc.read_bytes()
    start = data.index(b"<Data>Acme") + len(b"<Data>")
    mutated = data[:start] + b"<x>1</x>tail" + data[start:]
    msg = xmlcodec.decode(mutated)
    texts = [i.data for c in msg.body for i in getattr(c, "items", []) if i.data]
    assert any(isinstance(t, str) and t.startswith("<x>1</x>tail") for t in texts)


def test_wbxml_literal_tag_that_is_no_xml_name_is_a_protocol_error() -> None:
    """A LITERAL tag from the string table may be any text; showing it as XML raised
    lxml's ValueError ('Invalid tag name') out of wbxml_to_xml."""
    tree = xmlcodec.Node("SyncML", children=[xmlcodec.Node("-//bad name", "")])
    data = wbxml.encode_tree(tree)
    with pytest.raises(ProtocolError, match="not an XML name"):
        wbxml.wbxml_to_xml(data)


def test_rejection_of_a_header_xml_cannot_hold_encodes() -> None:
    """Issue 15: the salvaged header of a malformed message held a character XML cannot carry;
    the lab's Status 400 echoing it raised ProtocolError (the server answered 500)."""
    seed = (Path(__file__).parents[1] / "omadm/codecs/corpus/01-pkg1-alert1201-md5.xml")
    data = seed.read_bytes().replace(b"<SessionID>", b"<SessionID>\x01", 1)
    C.assert_contained(TARGETS["syncml-rejection"], data)


def test_string_table_expansion_is_bounded_as_it_decodes() -> None:
    """Issue 15: 100 KB named 1000 times is refused at the bound, before 100 MB is built."""
    data = C.amplified_wbxml(1000, 100_000)
    with pytest.raises(ProtocolError, match="exceeds the bound of 4194304 bytes"):
        wbxml.decode(data)
    assert len(wbxml.decode(C.amplified_wbxml(10, 1000)).body) == 2
