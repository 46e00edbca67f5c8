"""Property tests: every model value survives encode -> decode, in XML and in WBXML."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conformance.omadm import codec, wbxml, xmlcodec
from conformance.omadm.model import (
    Add,
    Alert,
    Atomic,
    Chal,
    Command,
    Copy,
    Cred,
    Delete,
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

# Characters XML 1.0 can carry (NUL too: the codecs write it as &#0; / WBXML OPAQUE).
_XML_UNSAFE = "".join(chr(c) for c in range(1, 32) if chr(c) not in "\t\n\r") + "\ufffe\uffff"
text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=_XML_UNSAFE),
    max_size=12,
)
opt_text = st.none() | text
# MetInf elements the model keeps in Meta.extra (all have a WBXML token on page 1).
extra_names = st.sampled_from(["EMI", "Anchor", "Mem", "FreeMem", "SharedMem", "FreeID", "Next"])
ints = st.none() | st.integers(min_value=0, max_value=2**31)

metas = st.builds(
    Meta, format=opt_text, type=opt_text, size=ints, max_msg_size=ints, max_obj_size=ints,
    next_nonce=opt_text, mark=opt_text, version=opt_text,
    extra=st.dictionaries(extra_names, text, max_size=2),
)
creds = st.builds(Cred, data=text, meta=metas)


# (LocURI, LocName) of an Item's Target/Source: a LocName only exists inside one with a LocURI.
locations = st.just((None, None)) | st.tuples(text, opt_text)


def items(data: st.SearchStrategy[str | bytes | None]) -> st.SearchStrategy[Item]:
    def build(target: tuple[str | None, str | None], source: tuple[str | None, str | None],
              meta: Meta | None, value: str | bytes | None, more: bool) -> Item:
        return Item(target=target[0], target_name=target[1], source=source[0],
                    source_name=source[1], meta=meta, data=value, more_data=more)

    return st.builds(build, locations, locations, st.none() | metas, data, st.booleans())


def commands(data: st.SearchStrategy[str | bytes | None]) -> st.SearchStrategy[Command]:
    item_lists = st.lists(items(data), max_size=2)
    cmd_id = text
    item_cmds = [
        st.builds(kind, cmd_id=cmd_id, items=item_lists, meta=st.none() | metas,
                  no_resp=st.booleans(), cred=st.none() | creds)
        for kind in (Get, Replace, Add, Delete, Copy)
    ]
    execs = st.builds(Exec, cmd_id=cmd_id, items=item_lists, meta=st.none() | metas,
                      no_resp=st.booleans(), cred=st.none() | creds, correlator=opt_text)
    alerts = st.builds(Alert, cmd_id=cmd_id, data=text, items=item_lists, correlator=opt_text,
                       no_resp=st.booleans(), cred=st.none() | creds)
    simple = st.one_of(*item_cmds, execs, alerts)

    def containers(inner: st.SearchStrategy[Command]) -> st.SearchStrategy[Command]:
        nested = st.lists(inner, max_size=3)
        return st.builds(Atomic, cmd_id=cmd_id, commands=nested, meta=st.none() | metas,
                         no_resp=st.booleans()) | st.builds(
            Sequence, cmd_id=cmd_id, commands=nested, meta=st.none() | metas,
            no_resp=st.booleans())

    nestable = st.recursive(simple, containers, max_leaves=6)
    refs = st.lists(text, max_size=2)
    statuses = st.builds(
        Status, cmd_id=cmd_id, msg_ref=text, cmd_ref=text, cmd=text, data=text,
        target_refs=refs, source_refs=refs, chal=st.none() | st.builds(Chal, meta=metas),
        cred=st.none() | creds, items=item_lists,
    )
    results = st.builds(
        Results, cmd_id=cmd_id, msg_ref=text, cmd_ref=text, meta=st.none() | metas,
        target_refs=refs, source_refs=refs, items=item_lists,
    )
    return st.one_of(nestable, statuses, results)


def messages(data: st.SearchStrategy[str | bytes | None]) -> st.SearchStrategy[SyncML]:
    headers = st.builds(
        SyncHdr, session_id=text, msg_id=text, target=text, source=text, ver_dtd=text,
        ver_proto=text, target_name=opt_text, source_name=opt_text, cred=st.none() | creds,
        meta=st.none() | metas, resp_uri=opt_text, no_resp=st.booleans(),
    )
    return st.builds(SyncML, header=headers, body=st.lists(commands(data), max_size=4),
                     final=st.booleans())


xml_messages = messages(opt_text)
# WBXML OPAQUE also carries bytes that are not UTF-8 (valid UTF-8 decodes back as text).
binary = st.binary(min_size=1, max_size=16).filter(lambda b: not _is_utf8(b))
wbxml_messages = messages(st.none() | text | binary)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@given(xml_messages)
def test_xml_round_trip(msg: SyncML) -> None:
    assert xmlcodec.decode(xmlcodec.encode(msg)) == msg


@given(xml_messages, st.booleans())
def test_xml_round_trip_with_doctype(msg: SyncML, doctype: bool) -> None:
    data = xmlcodec.encode(msg, doctype=doctype)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert (b"<!DOCTYPE SyncML" in data) == doctype
    assert xmlcodec.decode(data) == msg


@given(wbxml_messages)
def test_wbxml_round_trip(msg: SyncML) -> None:
    assert wbxml.decode(wbxml.encode(msg)) == msg


@given(xml_messages)
def test_wbxml_tree_conversion_round_trip(msg: SyncML) -> None:
    """XML -> WBXML -> XML at tree level keeps the message."""
    as_wbxml = wbxml.xml_to_wbxml(xmlcodec.encode(msg))
    assert wbxml.decode(as_wbxml) == msg
    assert xmlcodec.decode(wbxml.wbxml_to_xml(as_wbxml)) == msg


@given(xml_messages, st.sampled_from(["xml", "wbxml"]))
def test_codec_entry_point_round_trip(msg: SyncML, encoding: str) -> None:
    assert codec.decode(codec.encode(msg, encoding), encoding) == msg
