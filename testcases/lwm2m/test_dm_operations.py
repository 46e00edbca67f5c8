"""ATT-DMIG-3.2 LwM2M client conformance: Device Management operations and their error codes
(guide §3.2; TS 1.1 §6.3 and §8.2 for the response codes).

Checks:
- Read, Write (replace and partial update), Execute, Discover and Write-Attributes on
  resources where the TS defines the result; each error code for a request the client must
  refuse: 4.04 Not Found (object, instance or resource that does not exist), 4.05 Method Not
  Allowed (Write to a read-only resource, Read of an executable one, Execute of a readable one,
  Delete of the single Device instance; the executable one is an Execute-only resource of /3/0
  the device's Discover lists, NOT APPLICABLE when it lists none: nothing is assumed present
  beyond the mandatory /3/0 and /3/0/0), 4.06 Not Acceptable (Read with an Accept format the
  client does not support), 4.15 Unsupported Content-Format (Write in an unknown format).
- A client that obeys Delete /3/0 FAILs, and is cold-started so the Device instance it deleted
  is back for the later cases (their verdicts must not depend on the order cases run in).
- A DM server's Read of the Security object /0 is refused: 4.01 or 4.04 both pass (stacks
  differ: Leshan-style clients hide it, others refuse it).
- Execute /5/0/2 Update outside State 2 (FOTA declared only), from State 0 Idle reached by an
  empty Package URI: 4.05 or 4.00 both pass, as long as /5/0/3 State did not change (guide
  §3.2 lets real stacks differ here). A refused Execute changes nothing, so nothing is left
  behind for later cases.
- The Server object instance is the lab's account's (found by its Short Server ID), not /1/0.
- Read of /3/0 in each declared hierarchical format: 2.05 with that Content-Format, and a
  payload that decodes (a broken TLV or SenML CBOR encoding FAILs here).

Interpretation: "unsupported" Accept/Content-Format numbers are 65000, which no LwM2M client
registers. Create/Delete of whole instances are only asked where the TS fixes the answer
(Delete /3/0); which objects a vendor lets a server create in is not declared.
"""

from __future__ import annotations

import pytest

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.lwm2m.lab import Registration
from conformance.lwm2m.model import ContentFormat, Value
from conformance.verdicts import DeviceFault, Inconclusive, NotApplicable

pytestmark = pytest.mark.requirement("ATT-DMIG-3.2")

UNKNOWN_FORMAT = 65000
RESET_CASE = "ATT-DMIG-4.3 test_empty_package_uri_returns_to_idle"  # judges TS 1.1 E.6


@pytest.mark.parametrize("path", ["/3/0/1000", "/3/9", "/9999/0", "/10241/999/5905"],
                         ids=["resource", "instance", "object", "host-instance"])
def test_read_missing_is_404(device: Lwm2mDevice, registered: Registration,
                             path: str) -> None:
    """Read of something that does not exist: 4.04."""
    response = device.read(path, fmt=device.value_format())
    assert response.code == "4.04", f"Read {path} answered {response.code}, expected 4.04"


def listed_execute_only(device: Lwm2mDevice) -> str:
    """An Execute-only resource of /3/0 that the device's Discover lists (the object model says
    which are Execute-only): a Read of a resource the device does not have is 4.04, not 4.05
    (TS 1.1 §6.3.1), so none is assumed. The missing mandatory ones are judged by
    test_mandatory_resources_discovered."""
    response = device.discover("/3/0")
    if response.code != "2.05":
        raise Inconclusive(f"Discover /3/0 answered {response.code}: which executable resource "
                           "the device has is unknown (judged by "
                           "test_mandatory_resources_discovered)")
    definition = device.lw.registry.get(3)
    assert definition is not None, "the lab's object model has no Device object"
    listed = sorted(p.resource_id for p in device.discovered_paths(response)
                    if p.object_id == 3 and p.instance_id == 0 and p.resource_id is not None)
    for resource_id in listed:
        resource = definition.resource(resource_id)
        if resource is not None and resource.operations == "E":
            return f"/3/0/{resource_id}"
    raise NotApplicable("Discover /3/0 lists no Execute-only resource (e.g. 4 Reboot) to Read: "
                        "a Read of a missing resource is 4.04 (TS 1.1 §6.3.1); the missing "
                        "mandatory resource is judged by test_mandatory_resources_discovered")


def restore_deleted_device(device: Lwm2mDevice, fmt: int) -> None:
    """A client that obeyed Delete /3/0 broke its mandatory single Device instance (TS 1.1
    §6.3.7 and Appendix E.4: 4.05, the instance stays): this case FAILs it. A cold start (the
    client builds /3/0 again at start, as ensure_registered does for a lost registration)
    keeps that leftover from failing the later cases of other requirements, whose verdict
    must not depend on the order the cases run in."""
    try:
        if device.read("/3/0/0", fmt=fmt).code != "4.04":
            return
    except (DeviceFault, Inconclusive) as exc:
        device.lab.transcript.note("lwm2m", f"restoring /3/0: {exc}", device=device.ep)
        return
    device.cold_start("Device instance /3/0 gone after Delete /3/0, a leftover later cases "
                      "must not judge")


# Targets: /3/0/0 Manufacturer (R) and the instance /3/0 are mandatory (TS 1.1 Appendix E.4),
# so present on every device; the Execute-only target is taken from the device's Discover.
@pytest.mark.parametrize(
    "operation, path",
    [("write", "/3/0/0"), ("read", None), ("execute", "/3/0/0"),
     pytest.param("delete", "/3/0", marks=pytest.mark.ets("LightweightM2M-1.0-int-685"))],
    ids=["write-read-only", "read-executable", "execute-readable", "delete-device"],
)
def test_operation_not_allowed_is_405(device: Lwm2mDevice, registered: Registration,
                                      operation: str, path: str | None) -> None:
    """An operation the object model does not allow on the target: 4.05, nothing changes."""
    fmt = device.value_format()
    path = path or listed_execute_only(device)
    before = device.read("/3/0/0", fmt=fmt).payload
    if operation == "write":
        response = device.write(path, "conformance-lab-write-probe", fmt=fmt)
    elif operation == "read":
        response = device.read(path, fmt=fmt)
    elif operation == "execute":
        response = device.execute(path)
    else:
        try:
            response = device.delete(path)
        finally:
            restore_deleted_device(device, fmt)
    assert response.code == "4.05", (
        f"{operation.capitalize()} {path} answered {response.code}, expected 4.05")
    after = device.read("/3/0/0", fmt=fmt)
    assert after.code == "2.05" and after.payload == before, (
        f"/3/0/0 changed after a refused {operation.capitalize()} {path}")


def test_unsupported_accept_is_406(device: Lwm2mDevice, registered: Registration) -> None:
    """Read with an Accept format nobody supports: 4.06."""
    response = device.read("/3/0/0", fmt=UNKNOWN_FORMAT)
    assert response.code == "4.06", (
        f"Read /3/0/0 with Accept {UNKNOWN_FORMAT} answered {response.code}, expected 4.06")


def test_unsupported_content_format_is_415(device: Lwm2mDevice,
                                           registered: Registration) -> None:
    """Write in a Content-Format nobody supports: 4.15 (the value is the current lifetime)."""
    lifetime = str(registered.lifetime).encode()
    path = device.server_path(1)
    response = device.write_raw(path, lifetime, UNKNOWN_FORMAT)
    assert response.code == "4.15", (
        f"Write {path} in Content-Format {UNKNOWN_FORMAT} answered {response.code}, "
        "expected 4.15")


@pytest.mark.parametrize("path", ["/0", "/0/0"])
def test_security_object_read_refused(device: Lwm2mDevice, registered: Registration,
                                      path: str) -> None:
    """A DM server may not read the Security object: 4.01 or 4.04."""
    response = device.read(path, fmt=ContentFormat.TLV)
    assert response.code in ("4.01", "4.04"), (
        f"Read {path} (Security object) answered {response.code}, expected 4.01 or 4.04"
        + (" — the device disclosed its security configuration" if response.ok else ""))


@pytest.mark.parametrize("partial", [False, True], ids=["replace", "partial-update"])
def test_write_server_resource(device: Lwm2mDevice, registered: Registration,
                               partial: bool) -> None:
    """Write /1/x/6 Notification Storing (mandatory, RW; replace on the resource, partial
    update on the instance): the Read afterwards shows the new value; the old one goes back."""
    fmt = device.value_format()
    instance, storing = device.server_path(), device.server_path(6)
    before = device.read_value(storing)
    new = not before
    try:
        if partial:
            content: dict[str, Value] = {storing: new}
            response = device.write(instance, content, fmt=device.instance_format(),
                                    partial=True)
        else:
            response = device.write(storing, new, fmt=fmt)
        assert response.code == "2.04", (
            f"Write{' (partial)' if partial else ''} {storing} answered {response.code}")
        after = device.read_value(storing)
        assert after == new, f"{storing} is {after!r} after writing {new}"
    finally:
        device.write(storing, before, fmt=fmt)


def test_read_instance_in_format(device: Lwm2mDevice, registered: Registration,
                                 instance_fmt: ContentFormat) -> None:
    """Read /3/0 in each declared hierarchical format: 2.05, that format, a valid payload."""
    response = device.read("/3/0", fmt=instance_fmt)
    name = device.fmt_name(instance_fmt)
    assert response.code == "2.05", f"Read /3/0 in {name} answered {response.code}"
    assert response.content_format == int(instance_fmt), (
        f"Read /3/0 with Accept {name} answered in {device.fmt_name(response.content_format)}")
    device.decoded(response, "/3/0", instance_fmt, own_format=True)


@pytest.mark.applies(feature="fota")
def test_execute_update_outside_state_2(device: Lwm2mDevice,
                                        registered: Registration) -> None:
    """Execute /5/0/2 in State 0 Idle: 4.05 or 4.00, and State does not change."""
    fmt = device.value_format()
    # State 0 first (TS 1.1 E.6); a device that stays in 1 or 2 FAILs ATT-DMIG-4.3's reset case.
    device.firmware_reset(judged_by=RESET_CASE)
    state = device.read_int("/5/0/3", fmt)
    response = device.execute("/5/0/2")
    after = device.read_int("/5/0/3", fmt)
    assert response.code in ("4.05", "4.00"), (
        f"Execute /5/0/2 in State {state} answered {response.code}, expected 4.05 or 4.00")
    assert after == state, f"/5/0/3 State went from {state} to {after} after a refused Execute"
