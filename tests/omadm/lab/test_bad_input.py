"""Hostile and broken device input: recorded raw with an error, answered, and then the next
(good) session works as if nothing happened."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from conformance.evidence.transcript import Transcript
from conformance.omadm import codec
from conformance.omadm.lab import OmaDmLab
from conformance.omadm.model import Item, Meta, Replace, Status
from conformance.verdicts import DeviceTimeout

Scripted = Callable[..., Any]
InThread = Callable[[Callable[[], object]], Any]
DM_XML = "application/vnd.syncml.dm+xml"
DM_WBXML = "application/vnd.syncml.dm+wbxml"

HDR = (
    b"<SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>"
    b"<SessionID>9</SessionID><MsgID>1</MsgID><Target><LocURI>http://lab/oma</LocURI></Target>"
    b"<Source><LocURI>IMEI:357099060399038</LocURI></Source></SyncHdr>"
)
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE SyncML [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    + HDR
    + b"<SyncBody><Alert><CmdID>1</CmdID><Data>&c;</Data></Alert><Final/></SyncBody></SyncML>"
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE SyncML [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    + HDR
    + b"<SyncBody><Alert><CmdID>1</CmdID><Data>&x;</Data></Alert><Final/></SyncBody></SyncML>"
)
UNKNOWN_TAG = (
    HDR + b"<SyncBody><Frobnicate><CmdID>1</CmdID></Frobnicate><Final/></SyncBody></SyncML>"
)

# name -> (body, content type, HTTP statuses the lab may answer, SyncML header status or None)
CASES: dict[str, tuple[bytes, str, set[int], str | None]] = {
    "not-xml": (b"\x00garbage\xff", DM_XML, {400}, None),
    "truncated-xml": (HDR + b"<SyncBody><Alert><CmdID>1</Cmd", DM_XML, {200}, "400"),
    "truncated-wbxml": (b"\x02\xa4\x01\x6a\x00\x6d\x6c", DM_WBXML, {400}, None),
    "unknown-tag": (UNKNOWN_TAG, DM_XML, {200}, "400"),
    "billion-laughs": (BILLION_LAUGHS, DM_XML, {200, 400}, "400"),
    "xxe": (XXE, DM_XML, {200, 400}, "400"),
    "empty": (b"", DM_XML, {400}, None),
    "text-plain": (HDR, "text/plain", {415}, None),
    "no-content-type": (HDR, "", {415}, None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_is_recorded_answered_and_the_lab_goes_on(
    name: str,
    omadm_lab: OmaDmLab,
    scripted: Scripted,
    in_thread: InThread,
    transcript: Transcript,
) -> None:
    body, ctype, http_ok, hdr_status = CASES[name]
    resp = requests.post(omadm_lab.http_url, data=body, headers={"Content-Type": ctype}, timeout=10)
    assert resp.status_code in http_ok
    assert "Traceback" not in resp.text
    if resp.status_code == 200:
        reply = codec.decode(resp.content, "xml")
        assert [s.data for s in reply.statuses() if s.cmd == "SyncHdr"] == [hdr_status]
        assert reply.header.session_id == "9" and reply.final
    entry = next(e for e in transcript if e.direction == "device->lab")
    assert entry.error and entry.raw == body[: len(entry.raw)]
    if name == "xxe":
        assert b"root:" not in resp.content  # nothing was resolved
    _good_session_works(omadm_lab, scripted, in_thread)


def _good_session_works(lab: OmaDmLab, scripted: Scripted, in_thread: InThread) -> None:
    lab.expect_session()
    dev = scripted(lab, session_id="77")
    worker = in_thread(dev.run)
    session = lab.wait_session()
    assert session.session_id == "77" and session.get("./DevInfo/Man").status == "200"
    session.close()
    worker.result()


def test_oversized_message_is_refused_with_413(
    omadm_lab: OmaDmLab, scripted: Scripted, in_thread: InThread, transcript: Transcript
) -> None:
    resp = requests.post(
        omadm_lab.http_url,
        data=b"<" * (1024 * 1024 + 10),
        headers={"Content-Type": DM_XML},
        timeout=10,
    )
    assert resp.status_code == 413
    assert any("larger than" in (e.error or "") for e in transcript)
    _good_session_works(omadm_lab, scripted, in_thread)


def test_get_instead_of_post_is_405(omadm_lab: OmaDmLab, transcript: Transcript) -> None:
    assert requests.get(omadm_lab.http_url, timeout=5).status_code == 405
    assert any(e.error and "POST" in e.error for e in transcript)


def test_wrong_session_id_mid_session(
    make_lab: Callable[..., OmaDmLab],
    scripted: Scripted,
    in_thread: InThread,
    transcript: Transcript,
) -> None:
    omadm_lab = make_lab(request=0.5)
    dev = scripted(omadm_lab)

    def device() -> Any:
        lab_msg = dev.post(dev.package1())
        answer = dev.answer(lab_msg)
        answer.header.session_id = "999"  # not the session's
        return dev.post(answer)

    worker = in_thread(device)
    session = omadm_lab.wait_session()
    result_holder = in_thread(lambda: session.get("./DevInfo/Man"))
    reply = worker.result()
    assert [s.data for s in reply.statuses()] == ["400"]
    assert any("SessionID" in (e.error or "") for e in transcript)
    assert any("SessionID" in err for err in session.errors)
    with pytest.raises(DeviceTimeout, match="sent nothing"):
        result_holder.result()  # the device never answered within the session: a timeout


def test_ds_content_type_is_served_and_recorded(
    omadm_lab: OmaDmLab, scripted: Scripted, in_thread: InThread, transcript: Transcript
) -> None:
    dev = scripted(omadm_lab)
    original = dev.post

    def post_ds(msg: Any, **kw: Any) -> Any:
        return original(msg, content_type="application/vnd.syncml+xml")

    dev.post = post_ds
    worker = in_thread(dev.run)
    session = omadm_lab.wait_session()
    assert session.get("./DevInfo/Man").status == "200"
    session.close()
    worker.result()
    assert "SyncML DS" in " ".join(session.errors)
    assert dev.responses[0].headers["Content-Type"] == DM_XML  # the lab answers in DM


def test_odd_but_readable_values_reach_the_test(
    omadm_lab: OmaDmLab, scripted: Scripted, in_thread: InThread
) -> None:
    """NUL in Data, Format/Type swapped, a DevId that is no IMEI, Status 0 on the lab's
    header: the lab records and carries on; the catalog judges."""
    dev = scripted(omadm_lab, dev_id="357099060399038")  # no "IMEI:" prefix

    def device() -> Any:
        msg = dev.package1()
        msg.body[1] = Replace(
            cmd_id="2",
            items=[
                Item(
                    source="./DevInfo/Man",
                    meta=Meta(format="text/plain", type="chr"),
                    data="Conformance\x00Lab",
                )
            ],
        )
        lab_msg = dev.post(msg)
        answer = dev.answer(lab_msg)
        hdr_status = answer.body[0]
        assert isinstance(hdr_status, Status)
        hdr_status.data, hdr_status.chal = "0", None
        return dev.post(answer)

    worker = in_thread(device)
    session = omadm_lab.wait_session()
    assert session.dev_id == "357099060399038"
    replace = session.device_commands()[0]
    assert isinstance(replace, Replace)
    assert replace.items[0].data == "Conformance\x00Lab"
    assert replace.items[0].meta is not None and replace.items[0].meta.format == "text/plain"
    assert session.get("./DevInfo/Man").status == "200"
    assert session.auth.server_statuses == ["0"]
    session.close()
    worker.result()
