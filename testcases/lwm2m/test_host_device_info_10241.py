"""ATT-DMIG-3.2.2 HostDeviceInfo object 10241 (guide §3.2.2; registry ``urn:oma:lwm2m:x:10241``).

Checks:
- /10241 is in the registration's object links.
- Read of 5905 Host Device Manufacturer, 5906 Model Number, 5907 Unique ID and 5908 Software
  Version returns the declared ``host.*`` values, in every content format the declaration
  lists that can carry a String resource (text, TLV, LwM2M JSON, SenML JSON/CBOR; opaque
  carries only Opaque resources, TS 1.1 §7.4.2, so it is not asked).
- Every instance (the object is multiple-instance) carries the same declared values, read as a
  whole object in each declared hierarchical format.
- Write to each resource is refused with 4.05 (the resources are R only) and the value is
  unchanged afterwards.
- Discover /10241/<first instance> lists 5905–5908.

Interpretation: a payload that does not decode in the asked format cannot be judged here:
INCONCLUSIVE, with the ATT-DMIG-3.2 content-format cases failing the encoding. "Instance" means
every instance the device has; the values are host identity, so all must be the declared ones.
The guide's prose once calls the object "Object Id = 16": its table and the registry say 10241.
"""

from __future__ import annotations

import pytest

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.lwm2m.lab import Registration
from conformance.lwm2m.model import ContentFormat, Path
from conformance.plugin.fixtures import CaseEvidence

pytestmark = [pytest.mark.requirement("ATT-DMIG-3.2.2"),
              pytest.mark.applies(feature="host_identity_reporting")]

HOST = 10241
RESOURCES = {  # resource id -> (name, declaration field)
    5905: ("Host Device Manufacturer", "manufacturer"),
    5906: ("Host Device Model Number", "model"),
    5907: ("Host Device Unique ID", "unique_id"),
    5908: ("Host Device Software Version", "software_version"),
}
PROBE = "conformance-lab-write-probe"


def declared(device: Lwm2mDevice, resource_id: int) -> str:
    field = RESOURCES[resource_id][1]
    if field == "software_version":
        return device.baseline.host_software_version
    return str(getattr(device.dut.host, field))


def first_instance(device: Lwm2mDevice) -> int:
    return device.present_instances(HOST, "HostDeviceInfo")[0]


@pytest.mark.ets("LightweightM2M-1.0-int-101")
def test_object_in_registration_links(device: Lwm2mDevice, registered: Registration,
                                      evidence: CaseEvidence) -> None:
    """/10241 is announced in the Register/Update object links."""
    evidence.cite(*device.registration_messages(registered))  # sent before the case began
    assert HOST in registered.objects, (
        f"/{HOST} HostDeviceInfo is not in the registration's object links "
        f"({', '.join(map(str, registered.links))})")


@pytest.mark.parametrize("resource_id", list(RESOURCES))
def test_read_declared_value(device: Lwm2mDevice, registered: Registration,
                             resource_id: int, fmt: ContentFormat) -> None:
    """Read /10241/<i>/<r> in each declared format returns the declared host value."""
    path = f"/{HOST}/{first_instance(device)}/{resource_id}"
    value = device.read_value(path, fmt)
    expected = declared(device, resource_id)
    assert value == expected, (
        f"{path} {RESOURCES[resource_id][0]} read in {device.fmt_name(fmt)} is {value!r}, "
        f"expected {expected!r} (declaration host.{RESOURCES[resource_id][1]})")


def test_every_instance_consistent(device: Lwm2mDevice, registered: Registration,
                                   instance_fmt: ContentFormat) -> None:
    """Read /10241 as a whole: every instance carries the declared values."""
    response = device.read(f"/{HOST}", fmt=instance_fmt)
    assert response.code == "2.05", (
        f"Read /{HOST} in {device.fmt_name(instance_fmt)} answered {response.code}, expected 2.05")
    content = device.decoded(response, f"/{HOST}", instance_fmt, own_format=False)
    instances = sorted({p.instance_id for p in content if p.instance_id is not None})
    assert instances, f"Read /{HOST} returned no instance"
    wrong = []
    for iid in instances:
        for rid in RESOURCES:
            value, expected = content.get(Path(HOST, iid, rid)), declared(device, rid)
            if value != expected:
                wrong.append(f"/{HOST}/{iid}/{rid} is {value!r}, expected {expected!r}")
    assert not wrong, (f"Read /{HOST} in {device.fmt_name(instance_fmt)}: " + "; ".join(wrong)
                       + " (declaration host.*)")


@pytest.mark.parametrize("resource_id", list(RESOURCES))
def test_write_refused(device: Lwm2mDevice, registered: Registration,
                       resource_id: int) -> None:
    """Write to a read-only host resource is refused with 4.05; the value stays."""
    path = f"/{HOST}/{first_instance(device)}/{resource_id}"
    fmt = device.value_format()
    before = device.read_value(path)
    written = device.write(path, PROBE, fmt=fmt)
    after = device.read_value(path)
    if after != before and written.ok:
        device.write(path, before, fmt=fmt)  # put the host value back
    assert written.code == "4.05", (
        f"Write {path} answered {written.code}, expected 4.05 Method Not Allowed "
        f"({RESOURCES[resource_id][0]} is read-only)")
    assert after == before, f"{path} changed from {before!r} to {after!r} after a refused Write"


def test_discover_lists_resources(device: Lwm2mDevice, registered: Registration) -> None:
    """Discover /10241/<i> lists 5905–5908."""
    instance = first_instance(device)
    response = device.discover(f"/{HOST}/{instance}")
    assert response.code == "2.05", f"Discover /{HOST}/{instance} answered {response.code}"
    listed = set(device.discovered_paths(response))
    missing = [rid for rid in RESOURCES if Path(HOST, instance, rid) not in listed]
    assert not missing, (
        f"Discover /{HOST}/{instance} does not list {', '.join(map(str, missing))} "
        f"(got {response.payload.decode('utf-8', 'replace')})")
