"""Register and plain Updates take the lab's quick path (server.QuickRegistrations);
everything else aiocoap's.

Raw UDP, so the MIDs, retransmissions and options are exactly what the test says.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiocoap import Code, Message

from conformance.declaration import Limits
from conformance.evidence.transcript import Transcript
from conformance.lwm2m import server
from conformance.lwm2m.lab import Lwm2mLab
from conformance.runtime import LabLoop

from .conftest import declaration


class RawDevice:
    def __init__(self, lab: Lwm2mLab) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.lab = ("127.0.0.1", int(lab.addresses()["LAB_LWM2M_URI"].rsplit(":", 1)[1]))

    def exchange(self, mid: int, path: tuple[str, ...], query: tuple[str, ...] = (),
                 payload: bytes = b"", **options: object) -> Message:
        msg = Message(code=Code.POST, uri_path=path, uri_query=query, payload=payload,
                      **options)
        msg.mtype, msg.mid, msg.token = 0, mid, mid.to_bytes(2, "big")  # CON
        self.sock.sendto(bytes(msg.encode()), self.lab)
        data, _ = self.sock.recvfrom(65536)
        answer = Message.decode(data)
        assert answer.mid == mid and answer.token == msg.token
        return answer


@pytest.fixture
def device(lab: Lwm2mLab) -> Iterator[RawDevice]:
    dev = RawDevice(lab)
    answer = dev.exchange(1, ("rd",), ("ep=quick", "lt=60", "lwm2m=1.1", "b=U"),
                          b"</1/0>,</3/0>", content_format=40)
    assert answer.code == Code.CREATED
    dev.location = tuple(answer.opt.location_path)  # type: ignore[attr-defined]
    yield dev
    dev.sock.close()


def quick_mids(lab: Lwm2mLab) -> set[int]:
    """MIDs the quick path answered (its answer cache)."""
    return {mid for _, mid in lab._endpoints["dm"].interface.quick._answers}


def updates(lab: Lwm2mLab) -> list[str]:
    return [e.kind for e in lab.events("quick") if e.kind == "update"]


def test_plain_update_is_answered_and_recorded(lab: Lwm2mLab, device: RawDevice) -> None:
    answer = device.exchange(2, device.location, ("lt=90",))  # type: ignore[attr-defined]
    assert answer.code == Code.CHANGED and answer.mtype == 2  # piggybacked ACK
    reg = lab.registration("quick")
    assert reg is not None and reg.lifetime == 90
    assert updates(lab) == ["update"] and quick_mids(lab) == {1, 2}
    summaries = [e.summary for e in lab.transcript]
    assert "ACK 2.04 Changed" in summaries


def test_retransmission_gets_the_same_answer_once_applied(lab: Lwm2mLab,
                                                         device: RawDevice) -> None:
    first = device.exchange(3, device.location)  # type: ignore[attr-defined]
    again = device.exchange(3, device.location)  # type: ignore[attr-defined]
    assert first.code == again.code == Code.CHANGED
    assert updates(lab) == ["update"] and quick_mids(lab) == {1, 3}
    assert any("(duplicate MID)" in e.summary for e in lab.transcript)


def test_unknown_location_and_update_with_links_go_the_ordinary_way(
        lab: Lwm2mLab, device: RawDevice) -> None:
    assert device.exchange(4, ("rd", "999")).code == Code.NOT_FOUND
    location = device.location  # type: ignore[attr-defined]
    with_links = device.exchange(5, location, payload=b"</1/0>,</3/0>,</5/0>", content_format=40)
    assert with_links.code == Code.CHANGED
    reg = lab.registration("quick")
    assert reg is not None and 5 in reg.objects
    assert quick_mids(lab) == {1}  # the Register only


def test_retransmitted_register_registers_once(lab: Lwm2mLab, device: RawDevice) -> None:
    again = device.exchange(1, ("rd",), ("ep=quick", "lt=60", "lwm2m=1.1", "b=U"),
                            b"</1/0>,</3/0>", content_format=40)
    assert again.code == Code.CREATED
    assert tuple(again.opt.location_path) == device.location  # type: ignore[attr-defined]
    assert [e.kind for e in lab.events("quick")] == ["register"]


def test_oversized_register_goes_the_ordinary_way(lab_loop: LabLoop, transcript: Transcript,
                                                  tmp_path: Path) -> None:
    base = declaration()
    small = base.model_copy(update={"limits": Limits(coap_body_bytes=1024)})
    lab = Lwm2mLab(lab_loop, small, transcript, tmp_path)
    lab.start()
    try:
        device = RawDevice(lab)
        links = b",".join(b"</%d/0>" % n for n in range(300))
        assert 1024 < len(links) < 4096
        answer = device.exchange(9, ("rd",), ("ep=big", "lt=60"), links, content_format=40)
        assert answer.code == Code.REQUEST_ENTITY_TOO_LARGE  # the resource's bound, recorded
        assert quick_mids(lab) == set()
        device.sock.close()
    finally:
        lab.stop()


def test_a_mid_used_again_after_the_exchange_lifetime_is_a_new_update(
        lab: Lwm2mLab, device: RawDevice, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "EXCHANGE_LIFETIME", -1.0)  # every answer already too old
    location = device.location  # type: ignore[attr-defined]
    assert device.exchange(7, location).code == Code.CHANGED
    assert device.exchange(7, location).code == Code.CHANGED  # the counter wrapped
    assert updates(lab) == ["update", "update"]
