"""ATT-DMIG-3.2 LwM2M client conformance, traced to the OMA LwM2M ETS 1.1 queue-mode tests
int-108 and int-109 (TS Queue Mode).

A client in queue mode keeps its receiver on only for a while after each message it sends
(LwM2M 1.1: MAX_TRANSMIT_WAIT, 93 s with the default CoAP parameters; 1.0: ACK_TIMEOUT) and
sleeps until it sends again; its server holds requests meanwhile and sends them once the
client is heard (an Update, a notification, a Send). The lab does so for every case.

Applies to a device that runs in queue mode: declared (``lwm2m.queue_mode``, or a 1.0 binding
with Q) or shown by its Register (Q). Otherwise NOT APPLICABLE.

Checks:
- int-108 Turn on Queue Mode: the registration says queue mode as the client's LwM2M version
  does (1.1: the Q parameter; 1.0: b=UQ). A device declared in queue mode whose registration
  says neither FAILs: its server would send it requests while it sleeps.
- int-109 Behavior in Queue Mode: the lab holds a Read of /3/0 as a server does for a sleeping
  client, makes the device send an Update (the trigger_session action; without it, the
  device's own Update before its lifetime ends) and sends the Read once it has answered that
  Update. The device must answer it (2.05): it listens for at least the window above after
  the Update it sent. An Update that never comes is INCONCLUSIVE here (int-104 and the
  registration cases judge Updates).

Interpretation: the ETS procedure texts of int-108/109 were not at hand; the checks follow the
TS's Queue Mode section and what Zephyr's interop suite asserts for the two ids (the client is
registered in queue mode; a request the server queued is delivered and answered after the
client's next Update).
"""

from __future__ import annotations

import time

import pytest

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.lwm2m.lab import Registration
from conformance.verdicts import DeviceFault, DeviceTimeout, Inconclusive

pytestmark = pytest.mark.requirement("ATT-DMIG-3.2")

HELD_PATH = "/3/0"  # Device object: mandatory, readable, side-effect free


@pytest.mark.ets("LightweightM2M-1.1-int-108")
def test_registration_announces_queue_mode(device: Lwm2mDevice, registered: Registration) -> None:
    """The registration of a queue-mode device says so: Q (1.1), b=UQ (1.0)."""
    device.require_queue_mode(registered)
    params = registered.query.split("&")
    if registered.lwm2m == "1.0":
        assert "Q" in registered.binding, (
            f"a LwM2M 1.0 client in queue mode registers with b=UQ; its binding is "
            f"b={registered.binding}")
    else:
        assert "Q" in params or "Q" in registered.binding, (
            f"a LwM2M {registered.lwm2m} client in queue mode registers with the Q "
            f"parameter; its Register carried {registered.query!r}")
    reg = device.lw.registration(device.ep)
    assert reg is not None and reg.queue, "the lab did not take the registration as queue mode"


@pytest.mark.ets("LightweightM2M-1.1-int-109")
def test_request_held_for_the_next_update_is_answered(device: Lwm2mDevice,
                                                      registered: Registration) -> None:
    """A Read the lab held until the device's next Update is answered right after it."""
    device.require_queue_mode(registered)
    window = device.listening_window(registered)
    started = time.time()
    try:
        held = device.read_held_until_update(HELD_PATH)
    except DeviceTimeout as exc:
        raise Inconclusive(f"{exc}: the device sent no Update after "
                           f"{time.time() - started:.0f} s, so its queue-mode behaviour "
                           "could not be observed (Updates are judged by int-104)") from None
    after = held.sent_at - held.update.time
    if held.response is None:
        device.wake_deaf_device()  # asleep until it sends again: later cases need it
        raise DeviceFault(
            f"the device sent an Update, the lab answered it and {after:.2f} s after the "
            f"Update sent the Read of {HELD_PATH} it had held; no answer came within "
            f"{device.timeouts.request} s: a LwM2M {registered.lwm2m} client in queue mode "
            f"listens for {window:.0f} s after its last message")
    assert held.response.code == "2.05", (
        f"the held Read of {HELD_PATH} answered {held.response.code}, expected 2.05")
