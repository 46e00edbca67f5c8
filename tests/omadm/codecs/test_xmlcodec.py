"""SyncML XML codec: the corpus decodes to the values written in it, deviations are kept,
structural defects and hostile documents are ProtocolErrors naming where."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from conformance.errors import ProtocolError
from conformance.omadm import xmlcodec
from conformance.omadm.model import (
    Alert,
    Atomic,
    Exec,
    Get,
    Item,
    Meta,
    Replace,
    Results,
    Sequence,
    Status,
    SyncHdr,
    SyncML,
)


def test_corpus_round_trips(corpus_file: Path) -> None:
    msg = xmlcodec.decode(corpus_file.read_bytes())
    again = xmlcodec.decode(xmlcodec.encode(msg))
    assert again == msg


def test_pkg1_values(corpus: dict[str, bytes]) -> None:
    msg = xmlcodec.decode(corpus["01-pkg1-alert1201-md5"])
    hdr = msg.header
    assert (hdr.ver_dtd, hdr.ver_proto, hdr.session_id, hdr.msg_id) == ("1.2", "DM/1.2", "1A2", "1")
    assert hdr.source == "IMEI:359881234567890" and hdr.source_name == "att-client"
    assert hdr.target == "https://iotdev.sl.attcompute.com/oma"
    assert hdr.cred is not None and hdr.cred.data == "1unO55HQyWfPauPcyUJsRQ=="
    assert hdr.cred.meta == Meta(format="b64", type="syncml:auth-md5")
    assert hdr.meta == Meta(max_msg_size=10000, max_obj_size=524288)
    assert [type(c) for c in msg.body] == [Alert, Replace]
    assert msg.alerts("1201") and msg.final
    replace = msg.body[1]
    assert isinstance(replace, Replace)
    assert [i.source for i in replace.items] == [
        "./DevInfo/DevId", "./DevInfo/Man", "./DevInfo/Mod", "./DevInfo/DmV", "./DevInfo/Lang"]
    assert replace.items[0].meta == Meta(format="chr")
    assert replace.items[1].data == "Acme Modules"


def test_pkg2_status_chal_and_commands(corpus: dict[str, bytes]) -> None:
    msg = xmlcodec.decode(corpus["03-pkg2-status212-chal-get-replace-exec"])
    assert msg.header.resp_uri == "https://iotdev.sl.attcompute.com/oma?s=1A2"
    hdr_status = msg.statuses()[0]
    assert (hdr_status.cmd, hdr_status.cmd_ref, hdr_status.data) == ("SyncHdr", "0", "212")
    assert hdr_status.target_refs == ["https://iotdev.sl.attcompute.com/oma"]
    assert hdr_status.source_refs == ["IMEI:359881234567890"]
    assert hdr_status.chal is not None
    assert hdr_status.chal.meta.next_nonce == "q83vEjRWeJCrze8SNFZ4kA=="
    assert hdr_status.chal.meta.type == "syncml:auth-md5"
    get = msg.commands(Get)[0]
    assert isinstance(get, Get) and len(get.items) == 3
    exec_ = msg.commands(Exec)[0]
    assert isinstance(exec_, Exec) and exec_.correlator == "fumo-7f3a"
    assert exec_.items[0].target == "./FUMO/FwPkg1/DownloadAndUpdate"


def test_results_meta_and_escaped_text(corpus: dict[str, bytes]) -> None:
    msg = xmlcodec.decode(corpus["04-pkg3-status-results"])
    results = msg.results()[0]
    assert results.items[0].data == "Acme Devices & Co"
    assert results.items[2].meta == Meta(format="chr", type="text/plain", size=2)


def test_atomic_and_nested_sequence(corpus: dict[str, bytes]) -> None:
    msg = xmlcodec.decode(corpus["05-atomic-sequence"])
    atomic, sequence = msg.body[1], msg.body[2]
    assert isinstance(atomic, Atomic) and isinstance(sequence, Sequence)
    assert [c.name for c in atomic.commands] == ["Add", "Add", "Sequence"]
    inner = atomic.commands[2]
    assert isinstance(inner, Sequence) and [c.cmd_id for c in inner.commands] == ["6", "7"]
    assert sequence.no_resp and [c.name for c in sequence.commands] == ["Copy", "Get"]


def test_multi_message_abort_generic_alert_large_object(corpus: dict[str, bytes]) -> None:
    multi = xmlcodec.decode(corpus["06-alert1222-multimessage"])
    assert not multi.final and multi.alerts("1222")
    assert xmlcodec.decode(corpus["07-alert1223-abort"]).alerts("1223")
    generic = xmlcodec.decode(corpus["08-generic-alert-1226-fumo"]).alerts("1226")[0]
    assert generic.correlator == "fumo-7f3a"
    item = generic.items[0]
    assert item.source == "./FUMO/FwPkg1" and item.data == "200"
    assert item.meta == Meta(
        format="int", mark="critical",
        type="org.openmobilealliance.dm.firmwareupdate.downloadandupdate")
    large = xmlcodec.decode(corpus["09-large-object-moredata"])
    chunk = large.body[1]
    assert isinstance(chunk, Replace)
    assert chunk.items[0].more_data and chunk.items[0].meta is not None
    assert chunk.items[0].meta.size == 3072 and not large.final


def test_deviations_are_kept_not_fixed(corpus: dict[str, bytes]) -> None:
    msg = xmlcodec.decode(corpus["11-results-nested-xml-swapped-meta"])
    assert msg.header.meta == Meta(max_msg_size=10000, extra={"EMI": "vendor-x"})
    results = msg.body[0]
    assert isinstance(results, Results)
    assert results.items[0].meta == Meta(format="text/plain", type="chr")  # swapped, as sent
    nested = results.items[1].data
    assert isinstance(nested, str) and nested.startswith('<TNDS xmlns="syncml:dmtnds">')
    assert etree.fromstring(nested).find("{syncml:dmtnds}MgmtTree") is not None
    basic = xmlcodec.decode(corpus["12-no-namespace-syncml11-style"])
    assert basic.header.cred is not None
    assert basic.header.cred.meta == Meta(type="syncml:auth-basic", format="b64")


@pytest.mark.parametrize("nul", [b"\x00", b"&#0;", b"&#x0;", b"&#00;"])
def test_nul_in_data_is_kept(nul: bytes) -> None:
    data = _message(b"<Replace><CmdID>2</CmdID><Item><Target><LocURI>./a</LocURI></Target>"
                    b"<Data>ab" + nul + b"cd</Data></Item></Replace>")
    msg = xmlcodec.decode(data)
    assert msg.body[0].items[0].data == "ab\x00cd"  # type: ignore[attr-defined]
    encoded = xmlcodec.encode(msg)
    assert b"ab&#0;cd" in encoded and xmlcodec.decode(encoded) == msg


def test_encoding_shape() -> None:
    msg = SyncML(SyncHdr("1", "1", "http://lab", "IMEI:1", meta=Meta(max_msg_size=5000)),
                 [Alert("1", data="1201")])
    out = xmlcodec.encode(msg)
    assert out.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>\n<SyncML xmlns="SYNCML:SYNCML1.2">')
    assert b'<MaxMsgSize xmlns="syncml:metinf">5000</MaxMsgSize>' in out
    assert b"<Final/>" in out
    doc = xmlcodec.encode(msg, doctype=True)
    assert b'<!DOCTYPE SyncML PUBLIC "-//SYNCML//DTD SyncML 1.2//EN"' in doc


HDR = (b"<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID>"
       b"<MsgID>1</MsgID><Target><LocURI>t</LocURI></Target><Source><LocURI>s</LocURI></Source>"
       b"</SyncHdr>")


def _message(body: bytes, header: bytes = HDR) -> bytes:
    return (b'<SyncML xmlns="SYNCML:SYNCML1.2">' + header + b"<SyncBody>" + body
            + b"<Final/></SyncBody></SyncML>")


GET = b"<Get><CmdID>%s</CmdID><Item><Target><LocURI>./x</LocURI></Target></Item></Get>"


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (_message(GET % b"1" + b"<Get><CmdID>2</CmdID><Item><Bogus/></Item></Get>"),
         "SyncBody/Get[2]/Item[1]/Bogus"),
        (_message(b"<Get><Item><Target><LocURI>./x</LocURI></Target></Item></Get>"),
         "SyncBody/Get[1]/CmdID"),
        (_message(b"<Put><CmdID>1</CmdID></Put>"), "SyncBody/Put"),
        (_message(b"", HDR.replace(b"<VerDTD>1.2</VerDTD>", b"")), "SyncHdr/VerDTD"),
        (_message(b"", HDR.replace(b"<SessionID>1</SessionID>", b"")), "SyncHdr/SessionID"),
        (_message(b"", HDR.replace(b"<MsgID>1</MsgID>", b"")), "SyncHdr/MsgID"),
        (_message(b"", HDR.replace(b"<Target><LocURI>t</LocURI></Target>", b"")),
         "SyncHdr/Target"),
        (_message(b"", HDR.replace(b"<Source><LocURI>s</LocURI></Source>", b"")),
         "SyncHdr/Source"),
        (_message(b"", HDR.replace(b"<LocURI>s</LocURI>", b"")), "SyncHdr/Source/LocURI"),
        (_message(b"", b""), "SyncHdr"),
        (_message(b"<Alert><CmdID>1</CmdID><Data>1</Data><Data>2</Data></Alert>"),
         "SyncBody/Alert[1]/Data[2]"),
        (_message(b"<Status><CmdID>1</CmdID><Chal><Meta><Size>x</Size></Meta></Chal></Status>"),
         "SyncBody/Status[1]/Chal/Meta/Size"),
        (_message(b"<Get><CmdID>1<b/></CmdID></Get>"), "SyncBody/Get[1]/CmdID"),
        (_message(b"<Get><CmdID>1</CmdID><TargetRef>a</TargetRef></Get>"),  # repeatable name
         "SyncBody/Get[1]/TargetRef[1]"),
        (b"<Foo/>", "Foo"),
    ],
)
def test_structural_errors_name_the_element(data: bytes, where: str) -> None:
    with pytest.raises(ProtocolError) as info:
        xmlcodec.decode(data)
    assert info.value.where == where
    assert info.value.protocol == "syncml-xml"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<SyncML>",
        b"\xff\xfe<\x00",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
        b"<SyncML>&b;</SyncML>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b"<SyncML>&e;</SyncML>",
        b"<SyncML>" + b"<a>" * 200 + b"</a>" * 200 + b"</SyncML>",
    ],
    ids=["empty", "truncated", "utf16-garbage", "billion-laughs", "xxe", "deep"],
)
def test_malformed_and_hostile_documents(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        xmlcodec.decode(data)


@given(st.binary(max_size=300))
def test_random_bytes_raise_only_protocol_errors(data: bytes) -> None:
    try:
        xmlcodec.decode(data)
    except ProtocolError:
        pass


@given(st.binary(max_size=300) | st.sampled_from([_message(GET % b"1")]))
def test_pretty_never_raises(data: bytes) -> None:
    assert isinstance(xmlcodec.pretty(data), str)


def test_pretty_indents_and_falls_back() -> None:
    text = xmlcodec.pretty(_message(GET % b"7"))
    assert "\n  <SyncHdr>" in text and "<CmdID>7</CmdID>" in text
    broken = xmlcodec.pretty(b"<SyncML><oops\x01")
    assert "not parseable" in broken and "<SyncML><oops" in broken


def test_encode_refuses_unrepresentable_values() -> None:
    bad = SyncML(SyncHdr("1", "1", "t", "s"), [Get("1", items=[Item(target_name="n")])])
    with pytest.raises(ProtocolError):
        xmlcodec.encode(bad)
    binary = SyncML(SyncHdr("1", "1", "t", "s"), [Get("1", items=[Item(data=b"\xff\xfe")])])
    with pytest.raises(ProtocolError):
        xmlcodec.encode(binary)
    control = SyncML(SyncHdr("1", "1", "t\x01", "s"))
    with pytest.raises(ProtocolError):
        xmlcodec.encode(control)


def test_status_zero_and_non_numeric_values_are_kept() -> None:
    data = _message(b"<Status><CmdID>1</CmdID><MsgRef>x</MsgRef><CmdRef>0</CmdRef>"
                    b"<Cmd>SyncHdr</Cmd><Data>0</Data></Status>")
    status = xmlcodec.decode(data).body[0]
    assert isinstance(status, Status) and status.data == "0" and status.msg_ref == "x"
