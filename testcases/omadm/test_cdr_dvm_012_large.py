"""CDR-DVM-012 — large objects, message size and packages over several messages (guide §3.3.1;
OMA DM Protocol 1.2 "Multiple Messages in Package" and "Large Object Handling").

- MaxObjSize: a device that supports large objects declares the largest object it takes in
  the Meta of its SyncHdr (Package 1).
- Size mismatch: a large object the lab sends whose data disagrees with the Meta Size of its
  first chunk is refused with 424 and not stored.
- Over MaxObjSize: a large object whose Meta Size exceeds the device's MaxObjSize is refused
  with 413 at once (no 213 for its first chunk), and not stored.
- Device to lab: a large value the device returns in chunks carries in its first chunk a Meta
  Size equal to the bytes that follow in all the chunks.
- A package of the lab that does not fit the device's MaxMsgSize goes as several messages with
  Final only in the last; the device answers each message without Final with its Status and
  an Alert 1222 that asks for the next one, and every command of the package is answered. The
  lab's MaxMsgSize is small in the same session, so the device splits its own answers too
  (the lab asking with Alert 1222): continuation both ways.

Applicability: the large-object cases when ``features.large_objects`` is declared; the
multi-message case always (DM 1.2 makes it mandatory). Every value written is put back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise

import pytest

from conformance.dut.omadm import DmDevice, ddf_or_inconclusive, large_object_leaf, show
from conformance.dut.omadm import get as get_cmd
from conformance.dut.omadm import replace as replace_cmd
from conformance.omadm import codec
from conformance.omadm.lab import DmSession
from conformance.omadm.model import Command, Get, Item, Meta, Replace, SyncHdr, SyncML
from conformance.omadm.session import CommandResult
from conformance.verdicts import DeviceFault, Inconclusive

pytestmark = pytest.mark.requirement("CDR-DVM-012")

CHUNKED = 3000  # the lab's MaxMsgSize while the device returns a large value
SMALL = 4000  # the lab's MaxMsgSize in the multi-message case: the device splits too
READABLE = ["./DevInfo/DevId", "./DevInfo/Man", "./DevInfo/Mod", "./DevInfo/DmV"]


def _value(session: DmSession) -> str:
    """A value larger than the device's MaxMsgSize: the lab must send it in chunks."""
    size = session.device_max_msg_size + 4000
    return "".join(f"{i:08d}" for i in range(size // 8 + 1))


def _read(session: DmSession, uri: str) -> CommandResult:
    result = session.get(uri)
    if result.status != "200" or result.data is None:
        raise DeviceFault(f"Get {uri} answered {show(result)}; the DDF says Get/Replace")
    return result


@contextmanager
def _kept(session: DmSession, uri: str) -> Iterator[str]:
    """The leaf's value before the case; written back afterwards if it changed."""
    original = _read(session, uri).data or ""
    try:
        yield original
    finally:
        if session.ended is None and session.get(uri).data != original:
            session.send([replace_cmd(uri, original, "chr")])


def _first_chunk(session: DmSession, uri: str) -> str:
    """The device's Status for the first MoreData chunk the lab sent of ``uri`` ("": none came);
    INCONCLUSIVE when the lab sent no chunk (the case proved nothing)."""
    for i, m in enumerate(session.messages):
        chunk = next((c for c in m.msg.body if m.direction == "lab->device"
                      and isinstance(c, Replace)
                      and any(it.target == uri and it.more_data for it in c.items)), None)
        if chunk is None:
            continue
        answer = next((a for a in session.messages[i + 1:] if a.direction == "device->lab"),
                      None)
        statuses = answer.msg.statuses() if answer is not None else []
        return next((st.data for st in statuses if st.msg_ref == m.msg.header.msg_id
                     and st.cmd_ref == chunk.cmd_id), "")
    raise Inconclusive(f"the lab sent the value of {uri} without MoreData chunks")


def _replace_sized(uri: str, value: str, size: int) -> Replace:
    return Replace(cmd_id="", items=[Item(target=uri, meta=Meta(format="chr", size=size),
                                          data=value)])


@pytest.mark.applies(feature="large_objects")
def test_max_obj_size_declared(dm: DmDevice) -> None:
    """Package 1's SyncHdr Meta carries MaxObjSize: the largest object the device takes."""
    header = dm.shared().package1.header
    declared = header.meta.max_obj_size if header.meta is not None else None
    assert declared is not None and declared > 0, (
        f"Package 1 (SessionID {header.session_id}) declares no MaxObjSize in its SyncHdr "
        "Meta; a device with large objects must")


@pytest.mark.applies(feature="large_objects")
def test_large_object_size_mismatch(dm: DmDevice) -> None:
    """A large object whose data disagrees with its Meta Size: 424, and nothing stored."""
    uri = large_object_leaf(ddf_or_inconclusive(dm.dut))
    with dm.fresh() as session, _kept(session, uri) as original:
        value = _value(session)
        declared = len(value) + 100
        result = session.send([_replace_sized(uri, value, declared)])[0]
        _first_chunk(session, uri)
        after = session.get(uri)
    assert result.status == "424", (
        f"Replace {uri} with {len(value)} bytes in chunks under Meta Size {declared} answered "
        f"{show(result)}, expected 424 (size mismatch)")
    assert after.data == original, (
        f"after the refused object {uri} reads {len(after.data or '')} bytes, not its "
        f"{len(original)}-byte value from before")


@pytest.mark.applies(feature="large_objects")
def test_large_object_over_max_obj_size(dm: DmDevice) -> None:
    """A large object declared larger than the device's MaxObjSize: 413 at its first chunk."""
    uri = large_object_leaf(ddf_or_inconclusive(dm.dut))
    with dm.fresh() as session, _kept(session, uri) as original:
        header = session.package1.header
        limit = header.meta.max_obj_size if header.meta is not None else None
        if not limit:
            raise Inconclusive("the device declares no MaxObjSize (judged by "
                               "test_max_obj_size_declared)")
        value = _value(session)
        result = session.send([_replace_sized(uri, value, limit + 1)])[0]
        first = _first_chunk(session, uri)
        after = session.get(uri)
    assert result.status == "413" and first == "413", (
        f"Replace {uri} declaring Meta Size {limit + 1} (the device's MaxObjSize is {limit}) "
        f"answered {first or 'nothing'} to the first chunk and {show(result)} at the end, "
        "expected 413 at once")
    assert after.data == original, f"after the refused object {uri} changed"


@pytest.mark.applies(feature="large_objects")
def test_large_results_size(dm: DmDevice) -> None:
    """A large value read back in chunks: Meta Size in the first chunk = the bytes sent."""
    uri = large_object_leaf(ddf_or_inconclusive(dm.dut))
    with dm.fresh(max_msg_size=CHUNKED) as session, _kept(session, uri):
        value = _value(session)
        written = session.send([replace_cmd(uri, value, "chr")])[0]
        if written.status != "200":
            raise Inconclusive(f"Replace {uri} with a {len(value)}-byte value answered "
                               f"{show(written)} (judged by test_large_object)")
        back = session.get(uri)
    chunks = [item for res in back.results for item in res.items]
    first = next((item for item in chunks if item.more_data), None)
    if back.status != "200" or first is None:
        raise Inconclusive(f"Get {uri} answered {show(back)} without MoreData chunks with the "
                           f"lab's MaxMsgSize {CHUNKED} (judged by test_large_object)")
    sent = len((back.data or "").encode())
    declared = first.meta.size if first.meta is not None else None
    assert declared == sent, (
        f"the first chunk of Get {uri} declares Meta Size {declared}, the chunks carry {sent} "
        "bytes")


def get_bytes(encoding: str) -> int:
    """What one Get of READABLE adds to a message in ``encoding``, as the lab's codec writes
    it (XML ~88 bytes, WBXML ~29: a fixed XML-sized figure left a WBXML package in one
    message, and the case INCONCLUSIVE on every WBXML device)."""
    header = SyncHdr(session_id="1", msg_id="1", target="IMEI:0", source="http://lab")
    gets: list[Command] = [Get(cmd_id=str(i + 1), items=[Item(target=uri)])
                           for i, uri in enumerate(READABLE)]
    empty = len(codec.encode(SyncML(header, []), encoding))
    return max(1, (len(codec.encode(SyncML(header, gets), encoding)) - empty) // len(gets))


def test_lab_package_over_several_messages(dm: DmDevice) -> None:
    """A lab package larger than the device's MaxMsgSize: several messages, Final only in the
    last, each one without Final answered with Alert 1222; every command answered."""
    with dm.fresh(split_packages=True, max_msg_size=SMALL) as session:
        limit = session.device_max_msg_size
        count = 2 * limit // get_bytes(session.encoding) + 1  # at least two messages' worth
        gets: list[Get] = [get_cmd(READABLE[i % len(READABLE)]) for i in range(count)]
        first = len(session.messages)
        results = session.send(list(gets))
        messages = session.messages[first:]
    carrying = [i for i, m in enumerate(messages)
                if m.direction == "lab->device" and any(isinstance(c, Get) for c in m.msg.body)]
    if len(carrying) < 2:
        raise Inconclusive(f"the lab's {count} Gets went in {len(carrying)} message(s) within "
                           f"the device's MaxMsgSize {limit}: no package over several messages")
    last = carrying[-1]
    early_final = [messages[i].msg.header.msg_id for i in carrying[:-1] if messages[i].msg.final]
    if early_final or not messages[last].msg.final:
        raise RuntimeError(f"the lab's package: Final in messages {early_final}, last "
                           f"{'with' if messages[last].msg.final else 'without'} Final")
    unasked = []  # the device's answer to a lab message runs up to the next one with Gets
    for i, following in pairwise(carrying):
        answer = [m for m in messages[i + 1:following] if m.direction == "device->lab"]
        if not any(m.msg.alerts("1222") for m in answer):
            unasked.append(messages[i].msg.header.msg_id)
    assert not unasked, (
        f"the device answered the lab's message(s) {', '.join(unasked)} (no Final: the package "
        "goes on) without Alert 1222 asking for the next message")
    unanswered = [f"#{n}: {show(r)}" for n, r in enumerate(results, 1) if r.status != "200"]
    assert not unanswered, (
        f"{len(unanswered)} of the {count} Gets sent over {len(carrying)} messages were not "
        f"answered 200: {'; '.join(unanswered[:5])}")
