"""ATT-DMIG-3.2 LwM2M client conformance: Information Reporting — Observe, Notify, Cancel
(guide §3.2; TS 1.1 §6.4, §5.1.2 attributes; RFC 7641).

Checks:
- Write-Attributes pmin/pmax on /3/0/9 Battery Level is accepted (2.04) and Discover shows them.
- Observe answers 2.05 with an Observe option; notifications then come at least every pmax
  seconds and, when the value changes (the lab toggles /1/0/6 Notification Storing), no
  sooner than pmin after the previous notification.
- Cancel by RST (reactive) and by GET with Observe=1 (proactive): after it, no notification of
  that observation reaches the lab for two pmax periods.

Interpretation: timing is judged with tolerances (TOLERANCE, PMIN_TOLERANCE) for the lab's
own scheduling. The attributes are removed again at the end of each case. "No more notifications"
is an absence, so the lab waits (event-driven, on the transcript) for the quiet period.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.lwm2m.lab import Observation, Registration
from conformance.verdicts import DeviceFault, DeviceTimeout

pytestmark = pytest.mark.requirement("ATT-DMIG-3.2")

BATTERY, STORING = "/3/0/9", "/1/0/6"
TOLERANCE = 0.75  # seconds a notification may come later than pmax says
PMIN_TOLERANCE = 0.5  # seconds it may seem to come earlier than pmin (the lab's own latency)


@pytest.fixture
def attributes(device: Lwm2mDevice) -> Iterator[list[str]]:
    """Paths whose attributes a case set; they are removed afterwards."""
    paths: list[str] = []
    yield paths
    for path in paths:
        device.lw.write_attributes(device.ep, path, pmin=None, pmax=None)


def set_periods(device: Lwm2mDevice, attributes: list[str], path: str, pmin: int,
                pmax: int) -> None:
    attributes.append(path)
    response = device.lw.write_attributes(device.ep, path, pmin=pmin, pmax=pmax)
    assert response.code == "2.04", (
        f"Write-Attributes {path}?pmin={pmin}&pmax={pmax} answered {response.code}")


def start(device: Lwm2mDevice, path: str) -> tuple[Observation, str]:
    """Observe ``path``; the observation and its token."""
    observation = device.lw.observe(device.ep, path, fmt=device.value_format())
    initial = observation.initial
    assert initial.code == "2.05", f"Observe {path} answered {initial.code}, expected 2.05"
    assert initial.observe is not None, f"the answer to Observe {path} has no Observe option"
    return observation, observation.token


def next_notification(observation: Observation, path: str, timeout: float) -> float:
    """Wait for one notification; the monotonic time it arrived."""
    try:
        observation.next(timeout)
    except DeviceTimeout:
        raise DeviceFault(f"no notification of {path} within {timeout:g} s") from None
    return time.monotonic()


@pytest.mark.parametrize("path", [BATTERY, "/3/0"], ids=["resource", "instance"])
def test_write_attributes_discovered(device: Lwm2mDevice, registered: Registration,
                                     attributes: list[str], path: str) -> None:
    """Write-Attributes pmin/pmax is accepted and shows in Discover."""
    set_periods(device, attributes, path, 3, 7)
    response = device.lw.discover(device.ep, path)
    assert response.code == "2.05", f"Discover {path} answered {response.code}"
    text = response.payload.decode("utf-8", "replace")
    link = next((part for part in text.split(",") if part.startswith(f"<{path}>")), "")
    assert "pmin=3" in link and "pmax=7" in link, (
        f"Discover {path} does not show pmin=3;pmax=7 on <{path}>: {text}")


@pytest.mark.ets("LightweightM2M-1.0-int-301")
def test_notify_within_pmax(device: Lwm2mDevice, registered: Registration,
                            attributes: list[str]) -> None:
    """An unchanged resource is notified at least every pmax seconds."""
    pmax = 1
    set_periods(device, attributes, BATTERY, 0, pmax)
    observation, _ = start(device, BATTERY)
    try:
        begun = time.monotonic()
        first = next_notification(observation, BATTERY, pmax + TOLERANCE + 1)
        second = next_notification(observation, BATTERY, pmax + TOLERANCE + 1)
        assert first - begun <= pmax + TOLERANCE and second - first <= pmax + TOLERANCE, (
            f"notifications of {BATTERY} came {first - begun:.2f} s and {second - first:.2f} s "
            f"apart, pmax is {pmax} s")
    finally:
        observation.cancel("get")


@pytest.mark.ets("LightweightM2M-1.0-int-301")
def test_notify_not_before_pmin(device: Lwm2mDevice, registered: Registration,
                                attributes: list[str]) -> None:
    """A resource changed twice in a row is notified no sooner than pmin after the last
    notification (the lab toggles /1/0/6 Notification Storing, then puts it back)."""
    pmin, pmax = 1, 30
    lw, ep, fmt = device.lw, device.ep, device.value_format()
    original = device.read_value(STORING, fmt)
    set_periods(device, attributes, STORING, pmin, pmax)
    observation, _ = start(device, STORING)
    began = time.monotonic()
    try:
        for value in (not original, original):
            written = lw.write(ep, STORING, value, fmt=fmt)
            assert written.code == "2.04", f"Write {STORING} answered {written.code}"
            arrived = next_notification(observation, STORING, pmin + TOLERANCE + 1)
            assert arrived - began >= pmin - PMIN_TOLERANCE, (
                f"notification of {STORING} {arrived - began:.2f} s after the previous one, "
                f"pmin is {pmin} s")
            began = arrived
    finally:
        observation.cancel("get")
        lw.write(ep, STORING, original, fmt=fmt)


@pytest.mark.parametrize("mode", [
    pytest.param("rst", marks=pytest.mark.ets("LightweightM2M-1.0-int-302")),
    pytest.param("get", marks=pytest.mark.ets("LightweightM2M-1.0-int-303")),
])
def test_cancel_stops_notifications(device: Lwm2mDevice, registered: Registration,
                                    attributes: list[str], mode: str) -> None:
    """After a cancel (RST or GET Observe=1) no notification of the observation comes."""
    pmax = 1
    set_periods(device, attributes, BATTERY, 0, pmax)
    observation, token = start(device, BATTERY)
    next_notification(observation, BATTERY, pmax + TOLERANCE + 1)
    answer = observation.cancel(mode)
    if mode == "get":
        assert answer.code == "2.05", f"the cancelling GET {BATTERY} answered {answer.code}"
    quiet = 2 * pmax
    late = wait_for_notification(device, token, quiet)
    assert late is None, (
        f"notification of {BATTERY} after the {mode.upper()} cancel: {late} "
        f"(token {token})")


def wait_for_notification(device: Lwm2mDevice, token: str, quiet: float) -> str | None:
    """The summary of a notification on ``token`` arriving within ``quiet`` s, else None."""
    found: list[str] = []
    event = threading.Event()
    mark = device.lab.transcript.mark()

    def listener(entry: Any) -> None:
        if (not event.is_set() and entry.seq > mark and entry.direction == "device->lab"
                and entry.headers.get("Token") == token and "Observe" in entry.headers):
            found.append(entry.summary)
            event.set()

    device.lab.transcript.subscribe(listener)
    event.wait(quiet)
    event.set()  # the listener stays subscribed (no unsubscribe): make it inert
    return found[0] if found else None

