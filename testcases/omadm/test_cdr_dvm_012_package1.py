"""CDR-DVM-012 — OMA DM 1.2/1.3 support: Package 1 and the transport (guide §3.3.1).

The controller triggers a client-initiated session; the lab checks what the device sends
before the lab says anything (Package 1, OMA-TS-DM_Protocol 1.2 §8.3):

- SyncHdr: VerDTD 1.2, VerProto ``DM/1.2`` or ``DM/1.3`` (the declared one), a SessionID,
  MsgID 1, Source LocURI = the DevId ``IMEI:<declared IMEI>``, Meta MaxMsgSize;
- body: Alert 1201 (client-initiated), a Replace of ./DevInfo DevId, Man, Mod, DmV and Lang
  (each present, not empty; DevId equal to the Source LocURI), Final;
- HTTP Content-Type ``application/vnd.syncml.dm+xml`` or ``…+wbxml`` as declared (the DS type
  ``application/vnd.syncml+xml`` is a FAIL).

Interpretation: the header is judged on the device's first message (after a 401 the client
sends Package 1 again with the next MsgID, which is right); the body on the messages of
Package 1 up to its Final. The DevInfo *values* are CDR-DVM-440's to compare with the
declaration; here they must be present and non-empty.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from conformance.dut.omadm import DmDevice
from conformance.omadm.model import CT_DM_WBXML, CT_DM_XML, Alert, Replace, SyncML

pytestmark = pytest.mark.requirement("CDR-DVM-012")

DEVINFO = ("DevId", "Man", "Mod", "DmV", "Lang")


@dataclass
class Package1:
    first: SyncML  # the device's first message of the session
    messages: list[SyncML]  # Package 1: the device's messages up to the first Final
    content_type: str
    encoding: str


@pytest.fixture(scope="module")
def package1(dm: DmDevice) -> Package1:
    with dm.fresh(authenticated=False) as session:
        sent = [m.msg for m in session.messages if m.direction == "device->lab"]
        messages: list[SyncML] = []
        for msg in sent:
            messages.append(msg)
            if msg.final:
                break
        return Package1(sent[0], messages, session.content_type, session.encoding)


HEADER = ("VerDTD", "VerProto", "SessionID", "MsgID", "Source", "MaxMsgSize")


@pytest.mark.parametrize("element", HEADER)
def test_synchdr(package1: Package1, dm: DmDevice, element: str) -> None:
    """The first message's SyncHdr carries the element with the value OMA DM 1.2 requires."""
    hdr = package1.first.header
    if element == "VerDTD":
        assert hdr.ver_dtd == "1.2", f"SyncHdr VerDTD is {hdr.ver_dtd!r}, expected '1.2'"
    elif element == "VerProto":
        declared = f"DM/{dm.dut.omadm.dm_version if dm.dut.omadm else '1.2'}"
        assert hdr.ver_proto in ("DM/1.2", "DM/1.3"), (
            f"SyncHdr VerProto is {hdr.ver_proto!r}, expected DM/1.2 or DM/1.3")
        assert hdr.ver_proto == declared, (
            f"SyncHdr VerProto is {hdr.ver_proto!r}, the declaration says {declared}")
    elif element == "SessionID":
        assert hdr.session_id.strip(), "SyncHdr SessionID is empty"
    elif element == "MsgID":
        assert hdr.msg_id.strip() == "1", (
            f"SyncHdr MsgID of the session's first message is {hdr.msg_id!r}, expected '1'")
    elif element == "Source":
        expected = f"IMEI:{dm.dut.device.imei}"
        assert hdr.source == expected, (
            f"SyncHdr Source LocURI is {hdr.source!r}, expected {expected!r} (the DevId)")
    else:
        size = hdr.meta.max_msg_size if hdr.meta is not None else None
        assert size, "SyncHdr Meta carries no MaxMsgSize"
        assert size > 0, f"SyncHdr Meta MaxMsgSize is {size}"


def test_alert_client_initiated(package1: Package1) -> None:
    """A controller-triggered session starts with Alert 1201 (client-initiated)."""
    codes = [c.data for m in package1.messages for c in m.body if isinstance(c, Alert)]
    assert "1201" in codes, (
        f"Package 1 carries Alert {', '.join(codes) or '(none)'}, expected 1201 "
        "(client-initiated session)")


@pytest.mark.parametrize("name", DEVINFO)
def test_devinfo_replace(package1: Package1, name: str) -> None:
    """Package 1 carries Replace ./DevInfo/<name> with a value."""
    uri = f"./DevInfo/{name}"
    items = [
        item
        for m in package1.messages
        for c in m.body
        if isinstance(c, Replace)
        for item in c.items
        if (item.source or item.target or "").removeprefix("./") == uri.removeprefix("./")
    ]
    assert items, f"Package 1 has no Replace item for {uri}"
    value = items[0].text() or ""
    assert value.strip(), f"Package 1 Replace {uri} is empty"
    if name == "DevId":
        source = package1.first.header.source
        assert value == source, (
            f"Package 1 Replace {uri} is {value!r}, the SyncHdr Source LocURI {source!r}")


def test_final(package1: Package1) -> None:
    """Package 1 ends with Final."""
    assert package1.messages[-1].final, "Package 1 never carries Final"


def test_content_type(package1: Package1, dm: DmDevice) -> None:
    """Messages are posted with the OMA DM content type of the declared encoding."""
    declared = dm.dut.omadm.encoding if dm.dut.omadm else "xml"
    expected = CT_DM_WBXML if declared == "wbxml" else CT_DM_XML
    base = package1.content_type.split(";", 1)[0].strip().lower()
    assert base == expected, (
        f"Content-Type is {package1.content_type!r}, expected {expected} "
        f"(declared encoding {declared})")
