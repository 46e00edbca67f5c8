"""ATT-DMIG-3.2 LwM2M client conformance: Device object 3 (guide §3.2; TS 1.1 Appendix E.4).

Checks:
- /3/0/0 Manufacturer, /3/0/1 Model Number, /3/0/2 Serial Number and /3/0/3 Firmware Version
  equal the declaration (``device.manufacturer``, ``model``, ``serial_number``,
  ``firmware_version``), read in every declared format that carries a single value. A payload
  that does not decode in the asked format FAILs here: content formats are part of 3.2.
- The mandatory resources of the Device object (from the object model: 11 Error Code,
  16 Supported Binding and Modes readable; 4 Reboot executable) are present: a Read of /3/0
  carries the readable ones and Discover /3/0 lists all of them.

Interpretation: /3/0/2 is checked only when the declaration gives ``serial_number``. /3/0/3 is
compared with what the device should run *now*: the declared version unless a FOTA or
sideload case of this run changed it and could not restore it (then its new version).
"""

from __future__ import annotations

import pytest

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.lwm2m.lab import Registration
from conformance.lwm2m.model import ContentFormat, Path
from conformance.verdicts import NotApplicable

pytestmark = pytest.mark.requirement("ATT-DMIG-3.2")

DEVICE = 3
VALUES = {  # resource id -> (name, declaration field of device.*)
    0: ("Manufacturer", "manufacturer"),
    1: ("Model Number", "model"),
    2: ("Serial Number", "serial_number"),
    3: ("Firmware Version", "firmware_version"),
}


def expected_value(device: Lwm2mDevice, resource_id: int) -> str:
    field = VALUES[resource_id][1]
    if field == "firmware_version":
        return device.baseline.firmware_version
    value = getattr(device.dut.device, field)
    if value is None:
        raise NotApplicable(f"the declaration gives no device.{field} for /3/0/{resource_id}")
    return str(value)


@pytest.mark.parametrize("resource_id", list(VALUES))
def test_device_value(device: Lwm2mDevice, registered: Registration, resource_id: int,
                      fmt: ContentFormat) -> None:
    """Read /3/0/<r> in each declared format equals the declared device value."""
    expected = expected_value(device, resource_id)
    path = f"/{DEVICE}/0/{resource_id}"
    value = device.read_value(path, fmt, own_format=True)
    assert value == expected, (
        f"{path} {VALUES[resource_id][0]} read in {device.fmt_name(fmt)} is {value!r}, "
        f"expected {expected!r} (declaration device.{VALUES[resource_id][1]})")


def _mandatory(device: Lwm2mDevice) -> list:
    definition = device.lw.registry.get(DEVICE)
    assert definition is not None, "the lab's object model has no Device object"
    return [r for r in definition.resources.values() if r.mandatory]


def test_mandatory_resources_read(device: Lwm2mDevice, registered: Registration,
                                  instance_fmt: ContentFormat) -> None:
    """Read /3/0 carries every mandatory readable resource."""
    response = device.read(f"/{DEVICE}/0", fmt=instance_fmt)
    assert response.code == "2.05", (
        f"Read /{DEVICE}/0 in {device.fmt_name(instance_fmt)} answered {response.code}")
    content = device.decoded(response, f"/{DEVICE}/0", instance_fmt, own_format=True)
    present = {p.resource_id for p in content}
    missing = [f"{r.id} {r.name}" for r in _mandatory(device) if r.readable
               and r.id not in present]
    assert not missing, (f"Read /{DEVICE}/0 in {device.fmt_name(instance_fmt)} lacks mandatory "
                         f"resource(s) {', '.join(missing)}")


def test_mandatory_resources_discovered(device: Lwm2mDevice,
                                        registered: Registration) -> None:
    """Discover /3/0 lists every mandatory resource (readable and executable)."""
    response = device.discover(f"/{DEVICE}/0")
    assert response.code == "2.05", f"Discover /{DEVICE}/0 answered {response.code}"
    listed = set(device.discovered_paths(response))
    missing = [f"{r.id} {r.name}" for r in _mandatory(device)
               if Path(DEVICE, 0, r.id) not in listed]
    assert not missing, f"Discover /{DEVICE}/0 does not list {', '.join(missing)}"
