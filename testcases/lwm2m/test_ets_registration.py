"""ATT-DMIG-3.2 LwM2M client conformance, traced to the OMA LwM2M ETS 1.1 interoperability
tests of the Registration interface beyond ETS 1.0's int-101…104 (TS 1.1 §6.2).

Checks:
- int-105 Discarded Register Update: the lab answers the client's next Update 4.04 and drops
  the registration, as a server that lost its state would; the client registers anew
  (TS 1.1 §6.2.2: a failed Update is followed by a Register). The Update is made to come by
  Execute /1/x/8 Registration Update Trigger.
- int-107 Extending the lifetime of a registration: a longer lifetime written to /1/x/1 is
  announced in an Update carrying the new ``lt`` (TS 1.1 §6.2.2), and the lab's registration
  then runs on that lifetime. The declared lifetime is written back afterwards.

Interpretation: int-102 (a shorter lifetime, renewed in time) is test_registration.py's; int-107
writes a longer one, which a client could be tempted to keep to itself. Queue mode (int-108,
int-109) applies only to a declaration whose binding has Q: see docs/catalog-lwm2m.md.
"""

from __future__ import annotations

import time

import pytest

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.lwm2m.lab import Registration
from conformance.verdicts import DeviceFault, DeviceTimeout

pytestmark = pytest.mark.requirement("ATT-DMIG-3.2")

LONGER_BY = 60  # seconds added to the current lifetime


@pytest.mark.ets("LightweightM2M-1.1-int-105")
def test_discarded_register_update(device: Lwm2mDevice, registered: Registration,
                                   request: pytest.FixtureRequest) -> None:
    """An Update answered 4.04 (the server forgot the client) is followed by a Register."""
    trigger = device.server_path(8)
    device.lw.forget_on_next_update(device.ep)
    request.addfinalizer(lambda: device.lw.forget_on_next_update(device.ep, armed=False))
    since = time.time()
    executed = device.execute(trigger)
    assert executed.code == "2.04", f"Execute {trigger} answered {executed.code}, expected 2.04"
    try:
        reg = device.lw.wait_registration(device.ep, device.timeouts.request, newer_than=since)
    except DeviceTimeout:
        rejected = device.lw.forget_on_next_update(device.ep, armed=False)
        if rejected is None:
            raise DeviceFault(f"no Update within {device.timeouts.request} s after Execute "
                              f"{trigger}: the lab had no Update to answer 4.04") from None
        raise DeviceFault(f"no Register within {device.timeouts.request} s after the lab "
                          f"answered the Update of {registered.location} 4.04 (registration "
                          "unknown)") from None
    assert reg.endpoint == device.ep


@pytest.mark.ets("LightweightM2M-1.1-int-107")
def test_extend_lifetime(device: Lwm2mDevice, registered: Registration,
                         restore_lifetime: None) -> None:
    """A longer lifetime written to /1/x/1 is announced in an Update and then in force."""
    longer = registered.lifetime + LONGER_BY
    device.announce_lifetime(longer)
    now = device.lw.registration(device.ep)
    assert now is not None and now.lifetime == longer, (
        f"after the Update the lab's registration runs on lt={now.lifetime if now else None}")
