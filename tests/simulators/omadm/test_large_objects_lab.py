"""Large objects and packages over several messages between the lab and the reference device
(real HTTP): the device's 424/413/MaxObjSize, the lab's split packages, and their faults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conformance.declaration import Declaration
from conformance.omadm.lab import DmSession
from conformance.omadm.model import Get, Item, Meta, Replace
from conformance.simulators import omadm_mo as mo
from conformance.simulators.omadm_core import ReferenceDevice

from .conftest import WAIT

NAME = f"{mo.FUMO_NODE}/PkgName"
BIG = "".join(f"{i:05d}" for i in range(600))  # 3000 bytes: chunks under a 2048 MaxMsgSize


def _open(r: Any, **options: Any) -> DmSession:
    r.lab.expect_session(**options)
    r.device.trigger_session({})
    session: DmSession = r.lab.wait_session(WAIT)
    return session


def _sized(size: int) -> Replace:
    return Replace(cmd_id="", items=[Item(target=NAME, meta=Meta(format="chr", size=size),
                                          data=BIG)])


def _gets(count: int) -> list[Get]:
    return [Get(cmd_id="", items=[Item(target="./DevInfo/Man")]) for _ in range(count)]


def test_lab_package_split_over_messages_for_a_small_device(
    rig: Callable[..., Any], variant: Callable[..., Declaration]
) -> None:
    r = rig(variant(max_msg_size=2048))
    session = _open(r, split_packages=True, max_msg_size=2048)
    results = session.send(_gets(40))
    assert [x.status for x in results] == ["200"] * 40
    session.close()
    assert r.session_end().ok
    lab = [m for m in session.messages if m.direction == "lab->device"
           and any(isinstance(c, Get) for c in m.msg.body)]
    assert len(lab) >= 2 and [m.msg.final for m in lab] == [False] * (len(lab) - 1) + [True]
    assert max(len(m.raw) for m in session.messages[1:]) <= 2048  # both ways
    device = [m for m in session.messages if m.direction == "device->lab"]
    assert sum(bool(m.msg.alerts("1222")) for m in device) >= len(lab) - 1
    assert not session.errors


def test_without_split_the_rest_goes_as_the_next_package(
    rig: Callable[..., Any], variant: Callable[..., Declaration]
) -> None:
    r = rig(variant(max_msg_size=2048))
    session = _open(r)
    assert [x.status for x in session.send(_gets(40))] == ["200"] * 40
    session.close()
    lab = [m for m in session.messages if m.direction == "lab->device"
           and any(isinstance(c, Get) for c in m.msg.body)]
    assert len(lab) >= 2 and all(m.msg.final for m in lab)


def test_no_next_message_alert_fault_is_noted_and_the_lab_carries_on(
    rig: Callable[..., Any], variant: Callable[..., Declaration]
) -> None:
    r = rig(variant(max_msg_size=2048), "no-next-message-alert")
    session = _open(r, split_packages=True)
    assert [x.status for x in session.send(_gets(40))] == ["200"] * 40
    session.close()
    assert any("no Alert 1222" in e for e in session.errors)


def test_size_mismatch_is_refused_with_424(
    rig: Callable[..., Any], variant: Callable[..., Declaration]
) -> None:
    r = rig(variant(max_msg_size=2048))
    session = _open(r)
    assert session.send([_sized(len(BIG) + 1)])[0].status == "424"
    assert r.device.tree.value(NAME) == ""
    session.close()


def test_accepts_wrong_object_size_fault_stores_it(
    rig: Callable[..., Any], variant: Callable[..., Declaration]
) -> None:
    r = rig(variant(max_msg_size=2048), "accepts-wrong-object-size")
    session = _open(r)
    assert session.send([_sized(len(BIG) + 1)])[0].status == "200"
    assert r.device.tree.value(NAME) == BIG
    session.close()


def _first_chunk_status(session: DmSession) -> str:
    first = next(m for m in session.messages if m.direction == "lab->device"
                 and any(isinstance(c, Replace) and c.items[0].more_data for c in m.msg.body))
    answer = session.messages[session.messages.index(first) + 1]
    return next(s.data for s in answer.msg.statuses() if s.cmd == "Replace")


def test_over_max_obj_size_is_refused_at_once_with_413(
    rig: Callable[..., Any], variant: Callable[..., Declaration]
) -> None:
    r = rig(variant(max_msg_size=2048))
    session = _open(r)
    limit = session.package1.header.meta.max_obj_size  # type: ignore[union-attr]
    assert limit == 1024 * 1024
    result = session.send([_sized(limit + 1)])[0]
    assert (result.status, _first_chunk_status(session)) == ("413", "413")
    assert any("sent no more of it" in n for n in result.notes)
    chunks = [m for m in session.messages if m.direction == "lab->device"
              and any(isinstance(c, Replace) for c in m.msg.body)]
    assert len(chunks) == 1  # the lab stopped at the refusal
    assert session.get(NAME).status == "200"  # and the session goes on
    session.close()
    assert r.session_end().ok


def test_ignores_max_obj_size_fault_takes_chunks(
    rig: Callable[..., Any], variant: Callable[..., Declaration]
) -> None:
    r = rig(variant(max_msg_size=2048), "ignores-max-obj-size")
    session = _open(r)
    result = session.send([_sized(1024 * 1024 + 1)])[0]
    assert (_first_chunk_status(session), result.status) == ("213", "424")
    session.close()


def test_no_max_obj_size_fault(rig: Callable[..., Any]) -> None:
    r = rig(None, "no-max-obj-size")
    session = _open(r)
    meta = session.package1.header.meta
    assert meta is not None and meta.max_obj_size is None and meta.max_msg_size
    session.close()


def test_wrong_results_object_size_fault_is_noted(rig: Callable[..., Any]) -> None:
    r = rig(None, "wrong-results-object-size")
    device: ReferenceDevice = r.device
    device.tree.set_value(NAME, BIG)
    session = _open(r, max_msg_size=1500)
    got = session.get(NAME)
    assert got.data == BIG and any(f"Meta Size {len(BIG) - 1}" in n for n in got.notes)
    session.close()
