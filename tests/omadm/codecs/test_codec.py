"""The codec entry point: content types, dispatch, pretty and ladder-diagram summaries."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.errors import ProtocolError
from conformance.omadm import codec, wbxml, xmlcodec
from conformance.omadm.model import CT_DM_WBXML, CT_DM_XML


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [
        ("application/vnd.syncml.dm+xml", "xml"),
        ("application/vnd.syncml.dm+wbxml", "wbxml"),
        ("Application/VND.SyncML.DM+XML; charset=UTF-8", "xml"),
        ("application/vnd.syncml.dm+wbxml ;charset=utf-8", "wbxml"),
        ("application/vnd.syncml+xml", "xml"),  # data-sync type: mapped, flagged elsewhere
        ("application/vnd.syncml+wbxml", "wbxml"),
        ("text/xml", None),
        ("", None),
        ("application/vnd.syncml.dm+json", None),
    ],
)
def test_encoding_of(content_type: str, encoding: str | None) -> None:
    assert codec.encoding_of(content_type) == encoding


def test_content_type_of() -> None:
    assert codec.content_type_of("xml") == CT_DM_XML
    assert codec.content_type_of("wbxml") == CT_DM_WBXML
    with pytest.raises(ValueError):
        codec.content_type_of("json")


def test_dispatch(corpus_file: Path) -> None:
    raw = corpus_file.read_bytes()
    msg = codec.decode(raw, "xml")
    assert codec.encode(msg, "xml") == xmlcodec.encode(msg)
    assert codec.encode(msg, "wbxml") == wbxml.encode(msg)
    assert codec.decode(codec.encode(msg, "wbxml"), "wbxml") == msg
    with pytest.raises(ProtocolError):
        codec.decode(raw, "json")


def test_pretty_shows_wbxml_as_xml(corpus_file: Path) -> None:
    msg = xmlcodec.decode(corpus_file.read_bytes())
    shown = codec.pretty(wbxml.encode(msg), "wbxml")
    assert shown.startswith("<SyncML") and "\n  <SyncHdr>" in shown
    assert xmlcodec.decode(shown.encode()) == msg


@given(st.binary(max_size=200), st.sampled_from(["xml", "wbxml", "other"]))
def test_pretty_never_raises(data: bytes, encoding: str) -> None:
    assert isinstance(codec.pretty(data, encoding), str)


@pytest.mark.parametrize(
    ("stem", "label"),
    [
        ("01-pkg1-alert1201-md5", "Alert 1201, Replace(5), Final"),
        ("03-pkg2-status212-chal-get-replace-exec",
         "Status 212, Status 200×2, Get(3), Replace, Exec, Final"),
        ("05-atomic-sequence",
         "Status 200, Atomic[Add, Add, Sequence[Replace, Delete]], Sequence[Copy, Get], Final"),
        ("06-alert1222-multimessage", "Status 200, Results, Alert 1222"),
        ("07-alert1223-abort", "Status 200, Alert 1223, Final"),
        ("08-generic-alert-1226-fumo", "Alert 1201, Alert 1226, Final"),
    ],
)
def test_summary(corpus: dict[str, bytes], stem: str, label: str) -> None:
    assert codec.summary(xmlcodec.decode(corpus[stem])) == label
