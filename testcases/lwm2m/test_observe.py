"""ATT-DMIG-3.2 LwM2M client conformance: Information Reporting — Observe, Notify, Cancel
(guide §3.2; TS 1.1 §6.4, §5.1.2 attributes; RFC 7641).

Checks:
- Write-Attributes pmin/pmax on a resource of the Device object is accepted (2.04) and
  Discover shows them. The resource is chosen from Discover /3/0, never assumed (the optional
  /3/0/9 Battery Level is not there on every device): a readable single resource, mandatory
  first, one whose value does not change by itself (/3/0/16 Supported Binding on most devices).
- Observe answers 2.05 with an Observe option; notifications then come at least every pmax
  seconds and, when the value changes (the lab toggles /1/x/6 Notification Storing of the
  lab's own Server instance), no sooner than pmin after the previous notification.
- Cancel by RST (reactive) and by GET with Observe=1 (proactive): after it, no notification of
  that observation reaches the lab for two pmax periods.

Interpretation: timing is judged with tolerances (TOLERANCE, PMIN_TOLERANCE) for the lab's
own scheduling. The attributes are removed again at the end of each case, whatever its verdict
(a case's pmin/pmax must not change another's notifications). "No more notifications" is an
absence, so the lab waits (event-driven, on the transcript) for the quiet period.
"""

from __future__ import annotations

import pytest

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.lwm2m.lab import Observation, Registration
from conformance.verdicts import DeviceFault, DeviceTimeout

pytestmark = pytest.mark.requirement("ATT-DMIG-3.2")

TOLERANCE = 0.75  # seconds a notification may come later than pmax says
PMIN_TOLERANCE = 0.5  # seconds it may seem to come earlier than pmin (the lab's own latency)


@pytest.fixture
def resource(device: Lwm2mDevice, registered: Registration) -> str:
    """The resource the cases observe, chosen from Discover /3/0."""
    return device.observable_resource()


def set_periods(device: Lwm2mDevice, attributes: list[str], path: str, pmin: int,
                pmax: int) -> None:
    attributes.append(path)  # removed afterwards even when the answer is a refusal
    response = device.write_attributes(path, pmin=pmin, pmax=pmax)
    assert response.code == "2.04", (
        f"Write-Attributes {path}?pmin={pmin}&pmax={pmax} answered {response.code}")


def start(device: Lwm2mDevice, path: str) -> tuple[Observation, str]:
    """Observe ``path``; the observation and its token."""
    observation = device.observe(path, fmt=device.value_format())
    initial = observation.initial
    assert initial.code == "2.05", f"Observe {path} answered {initial.code}, expected 2.05"
    assert initial.observe is not None, f"the answer to Observe {path} has no Observe option"
    return observation, observation.token


def next_notification(observation: Observation, path: str, timeout: float) -> float:
    """Wait for one notification; the monotonic time the lab received it."""
    try:
        return observation.next(timeout).received
    except DeviceTimeout:
        raise DeviceFault(f"no notification of {path} within {timeout:g} s") from None


@pytest.mark.parametrize("level", ["resource", "instance"])
def test_write_attributes_discovered(device: Lwm2mDevice, resource: str,
                                     attributes: list[str], level: str) -> None:
    """Write-Attributes pmin/pmax is accepted and shows in Discover."""
    path = resource if level == "resource" else resource.rsplit("/", 1)[0]
    set_periods(device, attributes, path, 3, 7)
    response = device.discover(path)
    assert response.code == "2.05", f"Discover {path} answered {response.code}"
    text = response.payload.decode("utf-8", "replace")
    link = next((part for part in text.split(",") if part.startswith(f"<{path}>")), "")
    assert "pmin=3" in link and "pmax=7" in link, (
        f"Discover {path} does not show pmin=3;pmax=7 on <{path}>: {text}")


@pytest.mark.ets("LightweightM2M-1.0-int-301")
def test_notify_within_pmax(device: Lwm2mDevice, resource: str,
                            attributes: list[str]) -> None:
    """An unchanged resource is notified at least every pmax seconds."""
    pmax = 1
    set_periods(device, attributes, resource, 0, pmax)
    observation, _ = start(device, resource)
    try:
        begun = observation.initial.received  # the answer to the Observe: the first report
        first = next_notification(observation, resource, pmax + TOLERANCE + 1)
        second = next_notification(observation, resource, pmax + TOLERANCE + 1)
        assert first - begun <= pmax + TOLERANCE and second - first <= pmax + TOLERANCE, (
            f"notifications of {resource} came {first - begun:.2f} s and {second - first:.2f} s "
            f"apart, pmax is {pmax} s")
    finally:
        observation.cancel("get")


@pytest.mark.ets("LightweightM2M-1.0-int-301")
def test_notify_not_before_pmin(device: Lwm2mDevice, registered: Registration,
                                attributes: list[str]) -> None:
    """A resource changed twice in a row is notified no sooner than pmin after the last
    notification (the lab toggles /1/x/6 Notification Storing, then puts it back)."""
    pmin, pmax = 1, 30
    fmt = device.value_format()
    storing = device.server_path(6)
    original = device.read_value(storing)
    set_periods(device, attributes, storing, pmin, pmax)
    observation, _ = start(device, storing)
    began = observation.initial.received  # the answer to the Observe: the first report
    try:
        for value in (not original, original):
            written = device.write(storing, value, fmt=fmt)
            assert written.code == "2.04", f"Write {storing} answered {written.code}"
            arrived = next_notification(observation, storing, pmin + TOLERANCE + 1)
            assert arrived - began >= pmin - PMIN_TOLERANCE, (
                f"notification of {storing} {arrived - began:.2f} s after the previous one, "
                f"pmin is {pmin} s")
            began = arrived
    finally:
        try:
            observation.cancel("get")
        finally:
            device.write(storing, original, fmt=fmt)


@pytest.mark.parametrize("mode", [
    pytest.param("rst", marks=pytest.mark.ets("LightweightM2M-1.0-int-302")),
    pytest.param("get", marks=pytest.mark.ets("LightweightM2M-1.0-int-303")),
])
def test_cancel_stops_notifications(device: Lwm2mDevice, resource: str,
                                    attributes: list[str], mode: str) -> None:
    """After a cancel (RST or GET Observe=1) no notification of the observation comes."""
    pmax = 1
    set_periods(device, attributes, resource, 0, pmax)
    observation, token = start(device, resource)
    next_notification(observation, resource, pmax + TOLERANCE + 1)
    answer = observation.cancel(mode)
    if mode == "get":
        assert answer.code == "2.05", f"the cancelling GET {resource} answered {answer.code}"
        # Processed as a plain GET (RFC 7641 §3.6); an Observe option would make the answer a
        # notification, saying the lab is still an observer (§2).
        assert answer.observe is None, (
            f"the cancelling GET {resource} was answered as a notification (Observe="
            f"{answer.observe}): a GET with Observe=1 is answered as a plain GET (RFC 7641 §3.6)")
    quiet = 2 * pmax
    late = device.notification_within(token, quiet)
    assert late is None, (
        f"notification of {resource} after the {mode.upper()} cancel: {late.summary} "
        f"(token {token})")
