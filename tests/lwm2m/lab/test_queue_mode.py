"""Queue mode on the lab's side: requests for a sleeping client wait until it is heard again.

The listening window is set to 0 s here (monkeypatched), so a queue-mode device counts as
asleep as soon as its exchange ends: every request must be held until its next message.
"""

from __future__ import annotations

import concurrent.futures
import time

import pytest
from aiocoap import Code

from conformance.lwm2m import queuemode
from conformance.lwm2m.lab import Lwm2mLab
from conformance.verdicts import DeviceTimeout

from .conftest import FakeDevice, wait_entry

LINKS = "</1/0>,</3/0>"


@pytest.fixture(autouse=True)
def no_listening_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queuemode, "AWAKE_1_1", 0.0)
    monkeypatch.setattr(queuemode, "AWAKE_1_0", 0.0)


def registered(lab: Lwm2mLab, make_device, query: str) -> FakeDevice:
    device: FakeDevice = make_device(lab.addresses()["LAB_LWM2M_URI"])
    assert device.register(query, LINKS).code == Code.CREATED
    lab.wait_registration(query.split("&")[0].removeprefix("ep="), timeout=5)
    device.site.values["/3/0/0"] = (0, b"Conformance Lab")
    return device


def held_note(ep: str):  # type: ignore[no-untyped-def]
    return lambda e: e.summary.startswith(f"queue mode: {ep} last heard")


@pytest.mark.parametrize("query", ["ep=q11&lt=60&lwm2m=1.1&b=U&Q",
                                   "ep=q10&lt=60&lwm2m=1.0&b=UQ"])
def test_request_waits_for_the_next_update(lab: Lwm2mLab, make_device, query: str) -> None:
    ep = query.split("&")[0].removeprefix("ep=")
    device = registered(lab, make_device, query)
    assert lab.registration(ep).queue  # type: ignore[union-attr]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        reading = pool.submit(lab.read, ep, "/3/0/0")
        wait_entry(lab.transcript, held_note(ep))
        assert not any(r.code == Code.GET for r in device.site.received)
        assert not reading.done(), "the lab sent to a sleeping queue-mode device"
        assert device.request(Code.POST, device.location or "").code == Code.CHANGED  # Update
        response = reading.result(timeout=10)
    assert response.code == "2.05" and response.payload == b"Conformance Lab"
    order = [e.summary for e in lab.transcript
             if e.summary.startswith(("ACK 2.04", "CON GET /3/0/0"))]
    assert order[:2] == ["ACK 2.04 Changed", "CON GET /3/0/0"], order


def test_device_not_in_queue_mode_is_not_held(lab: Lwm2mLab, make_device) -> None:
    registered(lab, make_device, "ep=plain&lt=60&lwm2m=1.1&b=U")
    assert lab.read("plain", "/3/0/0").code == "2.05"
    assert not any(held_note("plain")(e) for e in lab.transcript)


def test_device_never_heard_again_times_out(lab: Lwm2mLab, make_device) -> None:
    registered(lab, make_device, "ep=gone&lt=1&lwm2m=1.1&b=U&Q")
    started = time.monotonic()
    with pytest.raises(DeviceTimeout, match="queue mode: gone was not heard again"):
        lab.read("gone", "/3/0/0")
    # bounded by the registration's lifetime (1 s) plus one request timeout (3 s)
    assert time.monotonic() - started < 1 + 3 + 3


def test_read_after_next_update_goes_out_after_the_answer(lab: Lwm2mLab, make_device) -> None:
    device = registered(lab, make_device, "ep=held&lt=60&lwm2m=1.1&b=U&Q")
    since = time.time()
    held = lab.read_after_next_update("held", "/3/0/0", since, timeout=5)
    assert not held.done()
    assert device.request(Code.POST, device.location or "").code == Code.CHANGED
    outcome = held.result(timeout=10)
    assert outcome.update.kind == "update" and outcome.update.time >= since
    assert outcome.update.time <= outcome.answered_at <= outcome.sent_at
    assert outcome.response is not None and outcome.response.code == "2.05"


def test_read_after_next_update_without_update(lab: Lwm2mLab, make_device) -> None:
    registered(lab, make_device, "ep=still&lt=60&lwm2m=1.1&b=U&Q")
    held = lab.read_after_next_update("still", "/3/0/0", time.time(), timeout=0.5)
    with pytest.raises(DeviceTimeout, match="no Update or Register from still"):
        held.result(timeout=10)
