"""ATT-DMIG-3.2 LwM2M client conformance: the Connectivity Monitoring object 4, the OMA LwM2M
ETS 1.0 tests int-701 and int-710 (TS 1.1 Appendix E.5; object 4 definition 1.2).

Checks:
- int-701 "Querying the readable resources of object", once per declared instance format: Read
  /4/x answers 2.05 with the mandatory resources (0 Network Bearer, 1 Available Network
  Bearer, 2 Radio Signal Strength, 4 IP Addresses) and every optional resource Discover lists;
  each value has its resource's type and range (bearers 0..50, Link Utilization 0..100, SMNC
  and SMCC 0..999) and each IP address parses as one.
- int-710 "Observation and notification of observable resources": Write-Attributes pmin/pmax
  on /4/x (2.04), Observe /4/x answers 2.05 with the instance, then notifications come within
  pmax, each carrying the mandatory resources.

Interpretation: object 4 is optional; a device whose registration lists no /4 instance makes
both NOT APPLICABLE. The optional resources are discovered, never assumed. The ETS runs int-710
with pmin=2, pmax=10; the lab uses pmin=1, pmax=2 (the same check, in seconds rather than
tens). The attributes are removed at the end whatever the verdict.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.lwm2m.lab import Registration
from conformance.lwm2m.model import ContentFormat, Path, ResourceType
from conformance.verdicts import DeviceFault, DeviceTimeout, NotApplicable

pytestmark = pytest.mark.requirement("ATT-DMIG-3.2")

CONNECTIVITY = 4
MANDATORY = (0, 1, 2, 4)
IP_RESOURCES = (4, 5)
TOLERANCE = 0.75  # seconds a notification may come later than pmax says


@pytest.fixture
def instance(device: Lwm2mDevice, registered: Registration) -> str:
    """/4/x, or NOT APPLICABLE when the registration lists no Connectivity Monitoring."""
    if not [i for i in registered.objects.get(CONNECTIVITY, []) if i is not None]:
        raise NotApplicable("the registration lists no instance of /4 Connectivity Monitoring "
                            "(an optional object)")
    return f"/{CONNECTIVITY}/{device.instance_of(CONNECTIVITY)}"


def by_resource(content: dict[Path, object]) -> dict[int, list[object]]:
    """Resource id -> its value(s) (one per resource instance for a multiple resource)."""
    out: dict[int, list[object]] = {}
    for path, value in sorted(content.items(), key=lambda item: str(item[0])):
        if path.resource_id is not None and value is not None:
            out.setdefault(path.resource_id, []).append(value)
    return out


def value_problems(device: Lwm2mDevice, values: dict[int, list[object]]) -> list[str]:
    """What is wrong with the values by the object definition (type, range, IP syntax)."""
    definition = device.lw.registry.get(CONNECTIVITY)
    problems = []
    for rid, found in values.items():
        resource = definition.resources.get(rid) if definition is not None else None
        if resource is None:
            continue  # a resource of a later object version: not judged here
        for value in found:
            if resource.type is ResourceType.INTEGER:
                if not isinstance(value, int) or isinstance(value, bool):
                    problems.append(f"/4/x/{rid} {resource.name} is {value!r}, not an integer")
                    continue
                low, _, high = (resource.range or "").partition("..")
                if low and high and not int(low) <= value <= int(high):
                    problems.append(f"/4/x/{rid} {resource.name} is {value}, outside "
                                    f"{resource.range}")
            elif rid in IP_RESOURCES:
                try:
                    ipaddress.ip_address(str(value))
                except ValueError:
                    problems.append(f"/4/x/{rid} {resource.name} {value!r} is no IP address")
    return problems


@pytest.mark.ets("LightweightM2M-1.0-int-701")
def test_readable_resources(device: Lwm2mDevice, instance: str,
                            instance_fmt: ContentFormat) -> None:
    """Read /4/x: mandatory and discovered resources, values of their type and range."""
    discovered = device.discover(instance)
    listed = {p.resource_id for p in device.discovered_paths(discovered)
              if p.resource_id is not None}
    # The device's own Discover decides the mandatory resources before any payload does: a
    # Read that does not decode cannot hide their absence.
    absent = [rid for rid in MANDATORY if rid not in listed]
    assert discovered.code != "2.05" or not absent, (
        f"Discover {instance} does not list the mandatory resource(s) "
        f"{', '.join(f'{instance}/{r}' for r in absent)} (it lists {sorted(listed)})")
    response = device.read(instance, fmt=instance_fmt)
    assert response.code == "2.05", (
        f"Read {instance} in {instance_fmt.name} answered {response.code}, expected 2.05")
    values = by_resource(device.decoded(response, instance, instance_fmt, own_format=False))
    missing = [rid for rid in sorted(set(MANDATORY) | listed) if rid not in values]
    assert not missing, (
        f"Read {instance} in {instance_fmt.name} lacks resource(s) "
        f"{', '.join(f'{instance}/{r}' for r in missing)} (mandatory: "
        f"{', '.join(map(str, MANDATORY))}; Discover lists {sorted(listed)})")
    problems = value_problems(device, values)
    assert not problems, f"Read {instance} in {instance_fmt.name}: " + "; ".join(problems)


@pytest.fixture
def attributes_removed(device: Lwm2mDevice, instance: str) -> Iterator[None]:
    yield
    device.remove_attributes(instance)


@pytest.mark.ets("LightweightM2M-1.0-int-710")
def test_observe_notifies(device: Lwm2mDevice, instance: str,
                          attributes_removed: None) -> None:
    """pmin/pmax on /4/x, Observe /4/x: notifications within pmax carrying the instance."""
    pmax = 2
    fmt = device.instance_format()
    observation = device.observe_with_periods(instance, 1, pmax, fmt)
    try:
        last = observation.initial.received  # times as the lab received each answer
        for _ in range(2):
            try:
                notified = observation.next(pmax + TOLERANCE + 1)
            except DeviceTimeout:
                raise DeviceFault(f"no notification of {instance} within "
                                  f"{pmax + TOLERANCE + 1:g} s (pmax={pmax})") from None
            now = notified.received
            assert now - last <= pmax + TOLERANCE, (
                f"notifications of {instance} {now - last:.2f} s apart, pmax is {pmax} s")
            last = now
            values = by_resource(device.decoded(notified, instance, fmt, own_format=False))
            missing = [rid for rid in MANDATORY if rid not in values]
            assert not missing, (f"a notification of {instance} lacks mandatory resource(s) "
                                 f"{', '.join(map(str, missing))}")
    finally:
        observation.cancel("get")
