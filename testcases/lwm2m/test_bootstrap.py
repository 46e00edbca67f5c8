"""ATT-DMIG-3.2 LwM2M client conformance: Bootstrap (guide §3.2; TS 1.1 §5.2, §6.1), when the
declaration says ``features.bootstrap``.

Checks:
- Client-initiated bootstrap: after a factory reset (controller) the client sends a
  Bootstrap-Request (``POST /bs?ep=<declared endpoint>``) to the lab's bootstrap server, over
  DTLS when PSK is declared; it accepts the lab's Bootstrap-Delete of /0 and /1, the
  Bootstrap-Writes of the declared DM server account and Bootstrap-Finish (all 2.xx), and then
  registers with the DM server it was given.
- Server-initiated bootstrap: the DM server executes /1/x/9 Bootstrap-Request Trigger (TS 1.1
  E.2; x: the lab's Server instance, found by its Short Server ID); the client answers 2.04,
  asks the bootstrap server, accepts the same configuration and registers again.

Interpretation: the lab initiates a bootstrap through /1/x/9, the LwM2M 1.1 way for a server
to make a registered client bootstrap; for a 1.0 client, and for a client without the optional
/1/x/9, the server-initiated case is NOT APPLICABLE. An unsolicited Bootstrap-Write to a client
that did not ask is not exercised. The run's bring-up bootstrap (the device asking at power-on)
is the same exchange; these cases repeat it on purpose so they do not depend on order.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.lwm2m.lab import Registration
from conformance.lwm2m.model import Path
from conformance.verdicts import DeviceFault, DeviceTimeout, NotApplicable

pytestmark = [pytest.mark.requirement("ATT-DMIG-3.2"), pytest.mark.applies(feature="bootstrap")]


def answer_bootstrap(device: Lwm2mDevice, since: float, why: str) -> Registration:
    """Wait for the Bootstrap-Request, provision the declared account, wait for the Register."""
    try:
        request = device.lw.wait_bootstrap_request(device.ep)
    except DeviceTimeout:
        raise DeviceFault(f"no Bootstrap-Request from {device.ep} within "
                          f"{device.timeouts.session} s after {why}") from None
    psk = device.dut.lwm2m is not None and device.dut.lwm2m.security == "psk"
    assert request.secure == psk, (
        f"the Bootstrap-Request came over {'DTLS' if request.secure else 'plain CoAP'}; the "
        f"declaration says {'psk' if psk else 'nosec'}")
    session = device.lw.bootstrap(device.ep)
    session.provision(fmt=device.instance_format())
    refused = [f"{what} answered {r.code}" for what, r in session.responses if not r.ok]
    assert not refused, "bootstrap refused: " + "; ".join(refused)
    try:
        return device.lw.wait_registration(device.ep, newer_than=since)
    except DeviceTimeout:
        raise DeviceFault(f"no Register within {device.timeouts.session} s after "
                          "Bootstrap-Finish") from None


@pytest.mark.ets("LightweightM2M-1.0-int-0")
def test_client_initiated_bootstrap(device: Lwm2mDevice, registered: Registration) -> None:
    """Factory reset: Bootstrap-Request, the lab's configuration accepted, Register."""
    since = time.time()
    with ThreadPoolExecutor(1) as pool:
        # The reset returns once the device is back, which needs the lab's bootstrap answer.
        reset = pool.submit(device.controller.factory_reset)
        try:
            reg = answer_bootstrap(device, since, "a factory reset")
        except DeviceFault:
            reset.result()  # a controller that could not reset: INCONCLUSIVE, not FAIL
            raise
        reset.result()
    assert reg.endpoint == device.ep


@pytest.mark.ets("LightweightM2M-1.1-int-5")
def test_server_initiated_bootstrap(device: Lwm2mDevice, registered: Registration) -> None:
    """Execute /1/x/9 Bootstrap-Request Trigger: bootstrap again, then Register."""
    if registered.lwm2m == "1.0":
        raise NotApplicable("LwM2M 1.0 has no /1/x/9 Bootstrap-Request Trigger")
    server = device.server_instance()
    trigger = f"/1/{server}/9"
    since = time.time()
    executed = device.execute(trigger)
    if executed.code in ("4.04", "4.05"):
        listed = device.discover(f"/1/{server}")
        if Path(1, server, 9) not in device.discovered_paths(listed):
            raise NotApplicable(f"the Server object has no {trigger} Bootstrap-Request Trigger "
                                f"(optional; Execute answered {executed.code}, Discover does "
                                "not list it): the lab cannot make the client bootstrap")
    assert executed.code == "2.04", f"Execute {trigger} answered {executed.code}, expected 2.04"
    reg = answer_bootstrap(device, since, f"Execute {trigger}")
    assert reg.endpoint == device.ep
