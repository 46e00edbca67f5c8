"""ATT-DMIG-3.2 LwM2M client conformance: Registration interface (guide §3.2; TS 1.1 §6.2).

Checks, against the device's current registration with the lab:
- Register parameters: ``ep`` is the declared endpoint, ``lt`` the declared lifetime,
  ``lwm2m`` the declared version, ``b`` the declared binding (absent means ``U``, the TS
  default), the object links include /1 and /3 (mandatory objects) and the objects of the
  vendor DDFs the declaration lists, and never /0 (TS 1.1 §6.2.1). Object 10241 in the links
  is ATT-DMIG-3.2.2's check, and /5 is ATT-DMIG-4.3's.
- Update on lifetime: the lab writes a short lifetime to /1/x/1 (x: the Server instance whose
  Short Server ID is the lab's account, never assumed to be 0); the client must send an Update
  carrying the new ``lt`` itself (TS §6.2.2) and then the next Update before that lifetime
  runs out.
- Update on trigger: Execute /1/x/8 (Registration Update Trigger) → 2.04, then an Update.
- Reboot: after a reboot through the controller the client registers again within
  ``timeouts.session``. Interpretation: a reboot need not send De-register first (a power loss
  cannot); a new Register (or De-register then Register) passes.
- De-register on factory reset: a client that no longer needs the server MUST De-register
  (TS 1.1 §6.2.3, whose own example is a factory reset): after the controller's
  ``factory_reset`` the lab waits ``timeouts.request`` for the De-register (an expiry, or a new
  Register without one, FAILs), then for the device to come back (bootstrap when declared,
  then Register) so later cases find it registered.
- De-register on Disable: Execute /1/x/4 (TS E.2: the client de-registers) when the device has
  that optional resource, NOT APPLICABLE otherwise.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conformance.dut.common import require_action
from conformance.dut.lwm2m import Lwm2mDevice
from conformance.lwm2m.lab import Registration
from conformance.lwm2m.model import Path
from conformance.plugin.fixtures import CaseEvidence
from conformance.verdicts import DeviceFault, DeviceTimeout, Inconclusive, NotApplicable

pytestmark = pytest.mark.requirement("ATT-DMIG-3.2")

SHORT_LIFETIME = 5  # seconds; the lifetime-driven Update must come before it runs out


def _check_endpoint(device: Lwm2mDevice, reg: Registration) -> None:
    assert reg.endpoint == device.ep, (
        f"Register ep={reg.endpoint!r}, expected {device.ep!r} (declaration lwm2m.endpoint)")


def _check_lifetime(device: Lwm2mDevice, reg: Registration) -> None:
    declared = device.dut.lwm2m.lifetime if device.dut.lwm2m else None
    assert reg.lifetime == declared, (
        f"Register lt={reg.lifetime}, expected {declared} (declaration lwm2m.lifetime)")


def _check_version(device: Lwm2mDevice, reg: Registration) -> None:
    declared = device.dut.lwm2m.version if device.dut.lwm2m else None
    assert reg.lwm2m == declared, (
        f"Register lwm2m={reg.lwm2m}, expected {declared} (declaration lwm2m.version)")


def _check_binding(device: Lwm2mDevice, reg: Registration) -> None:
    declared = device.dut.lwm2m.binding if device.dut.lwm2m else "U"
    binding = reg.binding or "U"  # b= absent: U (TS 1.1 §6.2.1 default)
    assert binding == declared, (
        f"Register b={binding}{' (absent)' if 'b=' not in reg.query else ''}, expected "
        f"{declared} (declaration lwm2m.binding)")


def _check_links(device: Lwm2mDevice, reg: Registration) -> None:
    expected = {1, 3} | {obj.id for obj in _vendor_objects(device)}
    missing = sorted(expected - set(reg.objects))
    assert not missing, (
        f"Register object links lack {', '.join(f'/{m}' for m in missing)} "
        f"(links: {', '.join(map(str, reg.links))})")
    assert 0 not in reg.objects, "Register object links include the Security object /0"


def _vendor_objects(device: Lwm2mDevice) -> list:
    if device.dut.lwm2m is None or not device.dut.lwm2m.object_ddfs:
        return []
    from conformance.lwm2m.objects import ObjectRegistry

    registry = ObjectRegistry()
    return registry.add_files(device.dut.lwm2m.object_ddfs)


CHECKS = {
    "ep": _check_endpoint,
    "lt": _check_lifetime,
    "lwm2m": _check_version,
    "b": _check_binding,
    "object-links": _check_links,
}


@pytest.mark.ets("LightweightM2M-1.0-int-101")
@pytest.mark.parametrize("parameter", list(CHECKS))
def test_register_parameters(device: Lwm2mDevice, registered: Registration,
                             evidence: CaseEvidence, parameter: str) -> None:
    """Initial Registration: each Register parameter against the declaration."""
    evidence.cite(*device.registration_messages(registered))  # the Register came earlier
    CHECKS[parameter](device, registered)


@pytest.mark.ets("LightweightM2M-1.0-int-102")
def test_update_on_lifetime(device: Lwm2mDevice, registered: Registration,
                            restore_lifetime: None) -> None:
    """A short lifetime written to /1/x/1 is announced in an Update, and renewed in time."""
    announced = device.announce_lifetime(SHORT_LIFETIME)
    device.lifetime_renewal(announced, SHORT_LIFETIME)


@pytest.mark.ets("LightweightM2M-1.0-int-104")
def test_update_on_trigger(device: Lwm2mDevice, registered: Registration) -> None:
    """Execute /1/x/8 Registration Update Trigger makes the client send an Update, each time."""
    device.trigger_update()


def test_registers_again_after_reboot(device: Lwm2mDevice, registered: Registration) -> None:
    """After a reboot (controller) the client registers again."""
    again = device.reboot()  # a Bootstrap-Request first is answered (int-6 judges it)
    if again is None:
        raise DeviceFault(f"no Register within {device.timeouts.session} s after the reboot "
                          "(timeouts.session)")
    assert again.endpoint == device.ep


def restore(device: Lwm2mDevice, path: str, payload: bytes, fmt: int | None) -> None:
    """Write back a value read before the case changed it (once the device is back)."""
    try:
        device.ensure_registered()
        device.write_raw(path, payload, fmt)
    except (DeviceFault, Inconclusive) as exc:
        device.lab.transcript.note("lwm2m", f"restoring {path}: {exc}", device=device.ep)


@pytest.mark.ets("LightweightM2M-1.0-int-103")
def test_deregister_on_disable(device: Lwm2mDevice, registered: Registration,
                               request: pytest.FixtureRequest) -> None:
    """Execute /1/x/4 Disable: the client de-registers (then registers after the timeout)."""
    server = device.server_instance()
    listed = device.discover(f"/1/{server}")
    paths = device.discovered_paths(listed) if listed.code == "2.05" else []
    if Path(1, server, 4) not in paths:
        raise NotApplicable(f"the Server object has no /1/{server}/4 Disable resource "
                            "(optional; Discover does not list it)")
    disable_timeout = f"/1/{server}/5"
    original = device.read(disable_timeout, fmt=device.value_format())
    timeout_set = device.write(disable_timeout, 1, fmt=device.value_format())
    assert timeout_set.code == "2.04", (
        f"Write {disable_timeout} Disable Timeout answered {timeout_set.code}")
    if original.code == "2.05":  # put the device's own Disable Timeout back afterwards
        request.addfinalizer(lambda: restore(device, disable_timeout, original.payload,
                                             original.content_format))
    since = time.time()
    executed = device.execute(f"/1/{server}/4")
    assert executed.code == "2.04", f"Execute /1/{server}/4 Disable answered {executed.code}"
    try:
        # Since the Execute: a client that ignores the timeout is back before this wait
        # starts, and its De-register still counts here (test_disable_stays_away_for_timeout
        # judges the timeout).
        event = device.lw.wait_deregistration(device.ep, device.timeouts.request, since=since)
    except DeviceTimeout:
        raise DeviceFault(f"no De-register within {device.timeouts.request} s after Execute "
                          f"/1/{server}/4 Disable") from None
    assert event.kind == "deregister", (
        f"the registration ended by {event.kind} ({event.detail}), not by a De-register")
    if device.come_back(since) is None:
        raise DeviceFault("no Register after the 1 s Disable Timeout")


@pytest.mark.ets("LightweightM2M-1.0-int-103")
def test_deregister_on_factory_reset(device: Lwm2mDevice, registered: Registration) -> None:
    """TS 1.1 §6.2.3: after a factory reset the client De-registers, then comes back."""
    require_action(device.controller, "factory_reset",
                   "make the client de-register by a factory reset")
    since = time.time()
    with ThreadPoolExecutor(1) as pool:
        # The reset may return only once the device is back, which may need the lab's
        # bootstrap answer: the lab waits for the De-register and the return meanwhile.
        reset = pool.submit(device.controller.factory_reset)
        # A De-register comes before the client resets: within timeouts.request. Then the
        # device comes back (the lab answers its Bootstrap-Request when bootstrap is declared).
        ending = ("deregister", "expire", "register")
        device.lw.wait_event(device.ep, ending, since, device.timeouts.request)
        back = device.come_back(since)
        # What ended the registration: the first of those events since the reset began.
        ended = device.lw.wait_event(device.ep, ending, since, 0.1)
        reset.result()  # a controller that could not reset: INCONCLUSIVE, not FAIL
    if ended is None or ended.kind == "register":
        raise DeviceFault(
            f"no De-register of {registered.location} after the factory reset"
            + (f"; the device registered again as {back.location} without one"
               if back is not None else f" within {device.timeouts.session} s"))
    assert ended.kind == "deregister", (
        f"the registration {ended.registration.location} ended by {ended.kind} "
        f"({ended.detail}) after the factory reset, not by a De-register")
    assert back is not None, (
        f"no Register within {device.timeouts.session} s after the factory reset's De-register")
