"""ATT-DMIG-3.2 LwM2M client conformance: Registration interface (guide §3.2; TS 1.1 §6.2).

Checks, against the device's current registration with the lab:
- Register parameters: ``ep`` is the declared endpoint, ``lt`` the declared lifetime,
  ``lwm2m`` the declared version, ``b`` the declared binding (absent means ``U``, the TS
  default), the object links include /1 and /3 (mandatory objects) and the objects of the
  vendor DDFs the declaration lists, and never /0 (TS 1.1 §6.2.1). Object 10241 in the links
  is ATT-DMIG-3.2.2's check, and /5 is ATT-DMIG-4.3's.
- Update on lifetime: the lab writes a short lifetime to /1/0/1; the client must send an Update
  with the new ``lt`` (TS §6.2.2) and then the next Update before that lifetime runs out.
- Update on trigger: Execute /1/0/8 (Registration Update Trigger) → 2.04, then an Update.
- Reboot: after a reboot through the controller the client registers again within
  ``timeouts.session``. Interpretation: a reboot need not send De-register first (a power loss
  cannot); a new Register (or De-register then Register) passes. The lab has no generic way to
  make a client quit, so graceful De-register is checked through /1/0/4 Disable (TS E.2: the
  client de-registers after executing it) when the device has that optional resource, and is
  NOT APPLICABLE otherwise.
"""

from __future__ import annotations

import time

import pytest

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.lwm2m.lab import Registration
from conformance.lwm2m.model import Path
from conformance.verdicts import DeviceFault, DeviceTimeout, NotApplicable

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
                             parameter: str) -> None:
    """Initial Registration: each Register parameter against the declaration."""
    CHECKS[parameter](device, registered)


@pytest.mark.ets("LightweightM2M-1.0-int-102")
def test_update_on_lifetime(device: Lwm2mDevice, registered: Registration,
                            restore_lifetime: None) -> None:
    """A short lifetime written to /1/0/1 is announced in an Update, and renewed in time."""
    since = time.time()
    written = device.lw.write(device.ep, "/1/0/1", SHORT_LIFETIME, fmt=device.value_format())
    assert written.code == "2.04", f"Write /1/0/1 Lifetime answered {written.code}, expected 2.04"
    announced = device.wait_update_since(since, device.timeouts.request)
    if announced is None:
        raise DeviceFault(f"no Update within {device.timeouts.request} s after the lifetime "
                          f"/1/0/1 was set to {SHORT_LIFETIME} s")
    assert announced.lifetime == SHORT_LIFETIME, (
        f"the Update after writing /1/0/1={SHORT_LIFETIME} carries lt={announced.lifetime}")
    renewed = device.wait_update_since(announced.updated_at + 0.001, SHORT_LIFETIME + 1)
    if renewed is None:
        raise DeviceFault(f"no Update within the {SHORT_LIFETIME} s lifetime")
    gap = renewed.updated_at - announced.updated_at
    assert gap <= SHORT_LIFETIME, (
        f"the Update came {gap:.1f} s after the previous one, after the {SHORT_LIFETIME} s "
        "lifetime had run out")


@pytest.mark.ets("LightweightM2M-1.0-int-104")
def test_update_on_trigger(device: Lwm2mDevice, registered: Registration) -> None:
    """Execute /1/0/8 Registration Update Trigger makes the client send an Update."""
    since = time.time()
    executed = device.lw.execute(device.ep, "/1/0/8")
    assert executed.code == "2.04", f"Execute /1/0/8 answered {executed.code}, expected 2.04"
    if device.wait_update_since(since, device.timeouts.request) is None:
        raise DeviceFault(f"no Update within {device.timeouts.request} s after Execute /1/0/8 "
                          "Registration Update Trigger")


def test_registers_again_after_reboot(device: Lwm2mDevice, registered: Registration) -> None:
    """After a reboot (controller) the client registers again."""
    since = time.time()
    device.controller.reboot()
    try:
        again = device.lw.wait_registration(device.ep, newer_than=since)
    except DeviceTimeout:
        raise DeviceFault(f"no Register within {device.timeouts.session} s after the reboot "
                          "(timeouts.session)") from None
    assert again.endpoint == device.ep


@pytest.mark.ets("LightweightM2M-1.0-int-103")
def test_deregister_on_disable(device: Lwm2mDevice, registered: Registration) -> None:
    """Execute /1/0/4 Disable: the client de-registers (then registers after the timeout)."""
    listed = device.lw.discover(device.ep, "/1/0")
    paths = device.discovered_paths(listed) if listed.code == "2.05" else []
    if Path(1, 0, 4) not in paths:
        raise NotApplicable("the Server object has no /1/0/4 Disable resource (optional): the "
                            "lab has no other way to make the client de-register")
    timeout_set = device.lw.write(device.ep, "/1/0/5", 1, fmt=device.value_format())
    assert timeout_set.code == "2.04", f"Write /1/0/5 Disable Timeout answered {timeout_set.code}"
    since = time.time()
    executed = device.lw.execute(device.ep, "/1/0/4")
    assert executed.code == "2.04", f"Execute /1/0/4 Disable answered {executed.code}"
    try:
        event = device.lw.wait_deregistration(device.ep, device.timeouts.request)
    except DeviceTimeout:
        raise DeviceFault(f"no De-register within {device.timeouts.request} s after Execute "
                          "/1/0/4 Disable") from None
    assert event.kind == "deregister", (
        f"the registration ended by {event.kind} ({event.detail}), not by a De-register")
    try:
        device.lw.wait_registration(device.ep, newer_than=since)
    except DeviceTimeout:
        raise DeviceFault("no Register after the 1 s Disable Timeout") from None
