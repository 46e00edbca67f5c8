"""The device-under-test fixtures every catalog gets, a vendor's own folder included.

- ``dm`` (session): :class:`conformance.dut.omadm.DmDevice`, the OMA-DM device as the lab
  drives it.
- ``device`` (session): :class:`conformance.dut.lwm2m.Lwm2mDevice`, brought online once per run
  (bootstrapped if declared, registered); a device that never shows up makes every case that
  asks for it INCONCLUSIVE, never FAIL.
- ``registered`` (per case): the LwM2M device's current registration, re-established (reboot
  through the controller) if an earlier case left it unregistered, so that cases do not depend
  on their order.

The DUT modules are imported inside the fixtures: a lab of one protocol never imports the
other's stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from conformance.declaration import Declaration

if TYPE_CHECKING:
    from conformance.controllers.base import Controller
    from conformance.dut.lwm2m import Lwm2mDevice
    from conformance.dut.omadm import DmDevice
    from conformance.lab import Lab
    from conformance.lwm2m.lab import Registration


@pytest.fixture(scope="session")
def dm(lab: Lab, controller: Controller, dut: Declaration) -> Iterator[DmDevice]:
    """The OMA-DM device under test, driven through the controller and the lab's server."""
    from conformance.dut.omadm import DmDevice

    device = DmDevice(lab, controller, dut)
    yield device
    device.release()


@pytest.fixture(scope="session")
def device(lab: Lab, controller: Controller, dut: Declaration) -> Lwm2mDevice:
    """The LwM2M device, brought online once per run (bootstrapped if declared, registered)."""
    from conformance.dut.lwm2m import Lwm2mDevice

    online = Lwm2mDevice(lab, controller, dut)
    online.bring_up()
    return online


@pytest.fixture
def registered(device: Lwm2mDevice) -> Registration:
    """The LwM2M device's current registration (re-established if an earlier case lost it)."""
    return device.ensure_registered()
