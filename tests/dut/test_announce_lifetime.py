"""Which Update announces a written lifetime: the first one carrying that lt (TS 1.1 §6.2.2).

Found on the reference device in a `./run suite`: the case before had the host write new host
values, the device reported them in an Update without parameters, and that Update reached the
lab just after the lifetime Write; the Update with lt=5 came 16 ms later. The case judged the
first Update and FAILed a conformant device ("carries no lt parameter"). Its FAIL stays for a
device whose Updates never carry the lt (fault lifetime-update-omits-lt, fault matrix).
An Update carrying another lt is passed over too (an earlier case's write-back may still be on
its way, as expect_lifetime_update has always allowed): only the written lt announces it.
"""

from __future__ import annotations

import functools
import time
from types import SimpleNamespace

import pytest

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.lwm2m.lab import UpdateReport
from conformance.lwm2m.registrations import UpdateParams
from conformance.verdicts import DeviceFault, DeviceTimeout


def lab_holding(reports: list[UpdateReport]) -> SimpleNamespace:
    """A lab facade whose ``next_update`` hands these Updates out in order, each once."""
    queue = list(reports)

    def next_update(ep: str, timeout: float) -> UpdateReport:
        if not queue:
            raise DeviceTimeout(f"no registration update of {ep}")
        return queue.pop(0)

    return SimpleNamespace(next_update=next_update)


def device_sending(*updates: UpdateParams, apart: float = 1.0) -> SimpleNamespace:
    """A device facade whose lab has these Updates (received after the Write, ``apart``
    seconds from each other), in order."""
    now = time.time()
    device = SimpleNamespace(
        ep="urn:dev", timeouts=SimpleNamespace(request=0.5),
        lw=lab_holding([UpdateReport(registration=None, carried=u,  # type: ignore[arg-type]
                                     time=now + 1 + i * apart) for i, u in enumerate(updates)]),
        server_path=lambda resource_id: f"/1/0/{resource_id}",
        value_format=lambda: "text",
        write=lambda path, value, fmt: SimpleNamespace(code="2.04"),
    )
    device.wait_update_since = functools.partial(Lwm2mDevice.wait_update_since, device)
    device.expect_lifetime_update = functools.partial(Lwm2mDevice.expect_lifetime_update, device)
    return device


def renewal_after(*offsets: float, lifetime: int = 5) -> UpdateReport:
    """``lifetime_renewal`` of an announcement made now, the lab holding Updates received
    ``offsets`` seconds after it (none of them waited for: they are in the lab already)."""
    announced = UpdateReport(registration=None,  # type: ignore[arg-type]
                             carried=UpdateParams(lifetime=lifetime), time=time.time())
    device = SimpleNamespace(ep="urn:dev", lw=lab_holding([
        UpdateReport(registration=None, carried=UpdateParams(),  # type: ignore[arg-type]
                     time=announced.time + offset) for offset in offsets]))
    device.wait_update_since = functools.partial(Lwm2mDevice.wait_update_since, device)
    return Lwm2mDevice.lifetime_renewal(device, announced, lifetime)  # type: ignore[arg-type]


def announce(device: SimpleNamespace, seconds: int) -> UpdateReport:
    return Lwm2mDevice.announce_lifetime(device, seconds)  # type: ignore[arg-type]


def test_an_update_for_another_reason_first_does_not_decide() -> None:
    device = device_sending(UpdateParams(), UpdateParams(lifetime=5))
    assert announce(device, 5).carried.lifetime == 5


def test_updates_that_never_carry_the_lifetime_fail() -> None:
    device = device_sending(UpdateParams(), UpdateParams(object_links=True))
    with pytest.raises(DeviceFault, match=r"lt=5 .*\(Updates seen: no lt, no lt\)"):
        announce(device, 5)


def test_no_update_at_all_fails() -> None:
    with pytest.raises(DeviceFault, match=r"no Update carrying lt=5 within 0.5 s .*set to 5 s$"):
        announce(device_sending(), 5)


def test_an_update_carrying_only_another_lifetime_fails() -> None:
    with pytest.raises(DeviceFault, match=r"lt=5 .*\(Updates seen: lt=300\)"):
        announce(device_sending(UpdateParams(lifetime=300)), 5)


def test_an_earlier_write_back_on_its_way_does_not_decide() -> None:
    device = device_sending(UpdateParams(lifetime=300), UpdateParams(), UpdateParams(lifetime=5))
    assert announce(device, 5).carried.lifetime == 5


def test_an_update_right_after_another_is_not_passed_over() -> None:
    """Found when the cases ran in another order: an earlier case's Update without parameters
    reached the lab 0.6 ms before the one carrying the written lt=63. The wait for the next
    Update began 1 ms after the first, so it passed over the lt one and FAILed a conformant
    device. The lab's Updates are taken in the order they came, each once: none is skipped."""
    device = device_sending(UpdateParams(), UpdateParams(lifetime=63), UpdateParams(),
                            apart=0.0006)
    assert announce(device, 63).carried.lifetime == 63


def test_the_renewal_is_the_update_the_device_sent_on_its_own() -> None:
    announced_at = time.time()
    assert renewal_after(4.5).time - announced_at == pytest.approx(4.5, abs=0.01)


def test_an_update_already_on_its_way_is_not_the_renewal() -> None:
    """Seen reading the case: an Update caused by an earlier case's changes, arriving 2 ms after
    the announcing one, would have been taken as the renewal: a device that never renews would
    pass."""
    with pytest.raises(DeviceFault, match=r"within the 5 s lifetime after the one 0\.002 s"):
        renewal_after(0.002)


def test_a_client_renewing_at_once_then_every_lifetime_passes() -> None:
    """Within the TS: every Update renews, so an early one only moves the next deadline."""
    announced_at = time.time()
    assert renewal_after(0.3, 5.2).time - announced_at == pytest.approx(5.2, abs=0.01)


def test_a_renewal_after_the_lifetime_ran_out_fails() -> None:
    with pytest.raises(DeviceFault, match=r"5\.6 s after the one before it"):
        renewal_after(5.6)
