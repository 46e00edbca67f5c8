"""The session state machine on large objects and packages over several messages: the lab's
MaxObjSize bound on what a device sends, a refused chunk, split packages (no sockets)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.errors import ProtocolError
from conformance.omadm import codec
from conformance.omadm.lab import OmaDmLab
from conformance.omadm.labauth import HeaderAnswer
from conformance.omadm.model import Alert, Get, Item, Meta, Replace, Results, Status, SyncML
from conformance.omadm.session import SessionState

from .test_engine import OK, device_msg, state

OK200 = HeaderAnswer("200")


def size_of(msg: SyncML) -> int:
    return len(codec.encode(msg, "xml"))


def _get_pending(s: SessionState) -> tuple[object, dict[str, str]]:
    s.absorb(device_msg("1"), OK)
    [result] = s.enqueue([Get(cmd_id="", items=[Item(target="./Big")])])
    pkg = s.compose_package()
    return result, {"msg_ref": pkg.header.msg_id, "cmd_ref": pkg.body[-1].cmd_id}


def _owed(s: SessionState) -> list[tuple[str, str]]:
    return [(st.cmd, st.data) for st in s.compose_next_message().statuses()]


def test_device_results_declaring_more_than_the_lab_takes_are_refused_413() -> None:
    s = state(lab_max_obj_size=100)
    result, ref = _get_pending(s)
    chunk = Item(meta=Meta(size=101), data="abc", more_data=True)
    s.absorb(device_msg("2", Results(cmd_id="1", **ref, items=[chunk]), final=False), OK200)
    assert ("Results", "413") in _owed(s)
    assert chunk.data is None and "MaxObjSize 100" in result.notes[0]  # type: ignore[attr-defined]
    # The device goes on regardless: the rest is dropped unread, refused again.
    s.absorb(device_msg("3", Results(cmd_id="1", **ref, items=[
        Item(data="x" * 50, more_data=True)]), final=False), OK200)
    assert ("Results", "413") in _owed(s)
    s.absorb(device_msg("4", Results(cmd_id="1", **ref, items=[Item(data="end")]),
                        Status(cmd_id="2", **ref, cmd="Get", data="200")), OK200)
    assert result.items == []  # type: ignore[attr-defined]


def test_device_results_growing_past_the_bound_without_a_size_are_refused() -> None:
    s = state(lab_max_obj_size=100)
    result, ref = _get_pending(s)
    for n in (2, 3):
        s.absorb(device_msg(str(n), Results(cmd_id="1", **ref, items=[
            Item(data="y" * 60, more_data=True)]), final=False), OK200)
    assert _owed(s)[-1] == ("Results", "413")
    assert "120 bytes so far" in result.notes[0]  # type: ignore[attr-defined]
    assert s.problems


def test_device_replace_chunks_past_the_bound_are_refused_and_not_kept() -> None:
    s = state(lab_max_obj_size=100)
    s.absorb(device_msg("1"), OK)
    s.compose_package()
    replace = Replace(cmd_id="1", items=[Item(source="./Log", data="z" * 80, more_data=True)])
    s.absorb(device_msg("2", replace, final=False), OK200)
    assert _owed(s)[-1] == ("Replace", "213")
    again = Replace(cmd_id="1", items=[Item(source="./Log", data="z" * 80, more_data=True)])
    s.absorb(device_msg("3", again, final=False), OK200)
    assert _owed(s)[-1] == ("Replace", "413") and again.items[0].data is None
    last = Replace(cmd_id="1", items=[Item(source="./Log", data="end")])
    s.absorb(device_msg("4", last), OK200)
    assert last.items[0].data is None  # the tail of a refused object is not kept either


def test_a_refused_chunk_stops_the_lab_sending_the_object() -> None:
    s = state(device_max_msg_size=1200)
    s.absorb(device_msg("1"), OK)
    [result] = s.enqueue([Replace(cmd_id="", items=[
        Item(target="./Big", meta=Meta(format="chr", size=99999), data="d" * 3000)])])
    first = s.compose_package(size_of=size_of)
    chunk = first.body[-1]
    assert isinstance(chunk, Replace) and chunk.items[0].more_data and not first.final
    assert chunk.items[0].meta is not None and chunk.items[0].meta.size == 99999  # as set
    assert s.chunking and s.package_open
    s.absorb(device_msg("2", Status(cmd_id="1", msg_ref=first.header.msg_id,
                                    cmd_ref=chunk.cmd_id, cmd="Replace", data="413"),
                        Alert(cmd_id="2", data="1222"), final=False), OK200)
    assert not s.chunking and not s.package_open
    assert result.status == "413" and "sent no more" in result.notes[0]


def test_split_package_goes_on_in_the_next_message_with_final_last() -> None:
    s = state(device_max_msg_size=1500, split_packages=True)
    s.absorb(device_msg("1"), OK)
    results = s.enqueue([Get(cmd_id="", items=[Item(target=f"./N/{i}")]) for i in range(30)])
    finals = []
    for n in range(2, 30):
        msg = s.compose_package(size_of=size_of)
        assert size_of(msg) <= 1500
        finals.append(msg.final)
        if msg.final:
            break
        s.absorb(device_msg(str(n), Alert(cmd_id="1", data="1222"), final=False), OK200)
    assert len(finals) >= 2 and finals == [False] * (len(finals) - 1) + [True]
    assert len(s.unanswered()) == len(results)  # the whole package, over its messages
    assert not s.problems


def test_device_closing_its_package_while_the_lab_goes_on_is_noted() -> None:
    s = state(device_max_msg_size=1500, split_packages=True)
    s.absorb(device_msg("1"), OK)
    s.enqueue([Get(cmd_id="", items=[Item(target=f"./N/{i}")]) for i in range(30)])
    assert not s.compose_package(size_of=size_of).final
    s.absorb(device_msg("2"), OK200)  # Final, no Alert 1222
    assert any("no Alert 1222" in p for p in s.problems)


def test_the_labs_chunk_messages_in_wbxml_read_by_libwbxml(tmp_path: Path) -> None:
    """Each message of a large object the lab sends in WBXML (MoreData, Meta Size in the
    first chunk only) is what Debian's wbxml2xml reads back."""
    from tests.omadm.codecs.test_libwbxml import _run, _tool

    def wbxml_size(msg: SyncML) -> int:
        return len(codec.encode(msg, "wbxml"))

    s = state(device_max_msg_size=800)
    s.absorb(device_msg("1"), OK)
    s.enqueue([Replace(cmd_id="", items=[
        Item(target="./Big", meta=Meta(format="chr"), data="w" * 2000)])])
    messages = [s.compose_package(size_of=wbxml_size)]
    while s.chunking:
        messages.append(s.compose_chunk(size_of=wbxml_size))
    assert len(messages) > 2 and messages[-1].final and not messages[0].final
    for n, msg in enumerate(messages):
        path = tmp_path / f"chunk{n}.wbxml"
        path.write_bytes(codec.encode(msg, "wbxml"))
        assert len(path.read_bytes()) <= 800
        out = tmp_path / f"chunk{n}.xml"
        result = _run([_tool("wbxml2xml"), "-o", str(out), str(path)])
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        assert codec.decode(out.read_bytes(), "xml") == msg
    sizes = [c.items[0].meta.size if c.items[0].meta else None
             for m in messages for c in m.body if isinstance(c, Replace)]
    assert sizes[0] == 2000 and set(sizes[1:]) == {None}


def test_a_device_object_over_the_labs_bound_is_refused_over_http(
    omadm_lab: OmaDmLab, scripted: Callable[..., Any], in_thread: Callable[..., Any]
) -> None:
    """A device claims a Meta Size far over the lab's bound and sends chunks anyway: each is
    answered 413, none is kept, and the session goes on to its next command."""
    from .test_sessions import _manual

    dev = scripted(omadm_lab)
    seen: list[SyncML] = []

    def device() -> None:
        lab_msg = dev.post(dev.package1())
        get = next(c for c in lab_msg.body if isinstance(c, Get))
        ref = {"msg_ref": lab_msg.header.msg_id, "cmd_ref": get.cmd_id}
        first = Item(source="./Big", meta=Meta(format="chr", size=1 << 40), data="a" * 1000,
                     more_data=True)
        status = Status(cmd_id="", **ref, cmd="Get", data="200")
        seen.append(_manual(dev, lab_msg, [status, Results(cmd_id="", **ref, items=[first])],
                            final=False))
        more = Results(cmd_id="", **ref, items=[Item(source="./Big", data="b" * 1000,
                                                     more_data=True)])
        seen.append(_manual(dev, seen[-1], [more], final=False))
        last = Results(cmd_id="", **ref, items=[Item(source="./Big", data="end")])
        dev.run_from(SyncML(dev.header(cred=False), [
            dev.status_for_lab_header(seen[-1]), last], final=True))

    worker = in_thread(device)
    session = omadm_lab.wait_session()
    big = session.get("./Big")
    assert big.items == [] and "refused (413)" in big.notes[0]
    assert session.get("./DevInfo/Man").status == "200"
    session.close()
    worker.result()
    refusals = [s.data for m in seen for s in m.statuses() if s.cmd == "Results"]
    assert refusals == ["413", "413"]
    assert any("MaxObjSize" in e for e in session.errors)


def test_a_device_max_msg_size_below_any_message_is_noted_and_floored() -> None:
    s = state()
    hdr = device_msg("1").header
    hdr.meta = Meta(max_msg_size=10)
    s.absorb(SyncML(hdr, [], True), OK)
    assert s.device_max_msg_size == 256 and "MaxMsgSize 10" in s.problems[0]


def test_a_size_that_is_not_ascii_digits_is_a_protocol_error() -> None:
    template = (b'<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD>'
                b"<VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID>"
                b"<Target><LocURI>http://lab</LocURI></Target><Source><LocURI>IMEI:1</LocURI>"
                b'</Source><Meta><MaxMsgSize xmlns="syncml:metinf">%s</MaxMsgSize></Meta>'
                b"</SyncHdr><SyncBody><Final/></SyncBody></SyncML>")
    assert codec.decode(template % b" 2048 ", "xml").header.meta.max_msg_size == 2048  # type: ignore[union-attr]
    for bad in (b"-5", "\u0665".encode(), b"9" * 19, b"1e3"):
        with pytest.raises(ProtocolError, match="not a size in bytes"):
            codec.decode(template % bad, "xml")
