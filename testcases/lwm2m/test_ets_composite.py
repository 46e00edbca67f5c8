"""ATT-DMIG-3.2 LwM2M client conformance: the LwM2M 1.1 composite operations, traced to the
OMA LwM2M ETS 1.1 tests int-229, 230, 235, 236, 257, 280 and 281 (TS 1.1 §5.4.3 Read-Composite:
FETCH on the root with SenML paths; §5.4.4 Write-Composite: iPATCH with SenML values).

- NOT APPLICABLE for a 1.0 client and for a declaration without SenML JSON or SenML CBOR
  (the only composite formats); the first declared of the two is used unless a case needs both;
- Read-Composite is best effort (TS 1.1 §6.3.8): paths that do not exist or cannot be read are
  left out and the rest answered 2.05 (int-236, int-281);
- int-257 writes /3/0/13 Current Time: the ETS writes 0 (1970), the lab writes the current
  time instead, so a device whose clock matters is not sent back to 1970;
- values written are written back, the Portfolio instance int-230 creates is deleted.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.lwm2m.lab import Registration, Response
from conformance.lwm2m.model import ContentFormat, Path, Value
from conformance.verdicts import DeviceFault, NotApplicable

pytestmark = pytest.mark.requirement("ATT-DMIG-3.2")

SENML = ("senml-json", "senml-cbor")
PORTFOLIO = 16
CREATE_CASE = "test_create_object_instance (int-270)"


def composite_formats(device: Lwm2mDevice) -> list[ContentFormat]:
    device.require_version("1.1", "a composite operation")
    declared = [ContentFormat.by_name(n) for n in SENML if n in device.dut.features.content_formats]
    if not declared:
        raise NotApplicable("features.content_formats declares neither senml-json nor "
                            "senml-cbor, the only formats of composite operations")
    return declared


def composite_content(device: Lwm2mDevice, response: Response, what: str,
                      fmt: int) -> dict[Path, Any]:
    assert response.code == "2.05", f"{what} answered {response.code}, expected 2.05 Content"
    assert response.content_format == int(fmt), (
        f"{what} answered in {device.fmt_name(response.content_format)}, asked "
        f"{device.fmt_name(fmt)}")
    if response.decode_error is not None:
        raise DeviceFault(f"{what}: the payload does not decode: {response.decode_error}")
    return response.content or {}


def first_instance_of(device: Lwm2mDevice, resource: str) -> str:
    """``resource``/n for the first instance Discover lists (the ETS names /3/0/11/0)."""
    response = device.discover(resource)
    target = Path.parse(resource)
    found = sorted(p.resource_instance_id for p in device.discovered_paths(response)
                   if p.resource_path == target and p.resource_instance_id is not None)
    if response.code != "2.05" or not found:
        raise NotApplicable(f"Discover {resource} lists no resource instance "
                            f"({response.code})")
    return f"{resource}/{found[0]}"


def value(device: Lwm2mDevice, path: str) -> Value:
    return device.read_value(path)


@pytest.mark.ets("LightweightM2M-1.1-int-280")
def test_read_composite(device: Lwm2mDevice, registered: Registration) -> None:
    """Read-Composite of /3/0/16, /3/0/11/n and /1/x: 2.05 with exactly those (and /1/x's
    resources), each value the one a plain Read gives."""
    fmt = composite_formats(device)[0]
    error_code = first_instance_of(device, "/3/0/11")
    instance = device.server_path()
    content = composite_content(
        device, device.read_composite(["/3/0/16", error_code, instance], fmt),
        f"Read-Composite /3/0/16, {error_code}, {instance}", fmt)
    asked = [Path.parse(p) for p in ("/3/0/16", error_code, instance)]
    extra = sorted(str(p) for p in content if not any(a.contains(p) for a in asked))
    assert not extra, f"Read-Composite answered paths not asked for: {', '.join(extra)}"
    expected = {"/3/0/16": value(device, "/3/0/16"), error_code: value(device, error_code),
                f"{instance}/1": registered.lifetime, f"{instance}/7": registered.binding or "U"}
    ssid = device.short_server_id()
    if ssid is not None:
        expected[f"{instance}/0"] = ssid
    wrong = [f"{p}={content.get(Path.parse(p))!r} (expected {v!r})" for p, v in expected.items()
             if content.get(Path.parse(p)) != v]
    assert not wrong, "Read-Composite: " + ", ".join(wrong)
    storing = content.get(Path.parse(f"{instance}/6"))
    assert isinstance(storing, bool), f"Read-Composite: {instance}/6 is {storing!r}"


@pytest.mark.ets("LightweightM2M-1.1-int-281")
def test_read_composite_partial(device: Lwm2mDevice, registered: Registration) -> None:
    """Read-Composite of /1/x/1, /1/x/7 and the executable /1/x/8: 2.05 with only /1/x/1 and
    /1/x/7."""
    fmt = composite_formats(device)[0]
    paths = [device.server_path(r) for r in (1, 7, 8)]
    content = composite_content(device, device.read_composite(list(paths), fmt),
                                f"Read-Composite {', '.join(paths)}", fmt)
    expected = {Path.parse(paths[0]): registered.lifetime,
                Path.parse(paths[1]): registered.binding or "U"}
    assert content == expected, (
        f"Read-Composite {', '.join(paths)} carried "
        f"{ {str(k): v for k, v in content.items()} }, expected only "
        f"{ {str(k): v for k, v in expected.items()} }")


@pytest.mark.ets("LightweightM2M-1.1-int-236")
def test_read_composite_partial_presence(device: Lwm2mDevice,
                                         registered: Registration) -> None:
    """Read-Composite of /1/x, /1/x/1 and two paths of objects the device has not
    (/3339/0/5522, /3353/0/6030): 2.05 with /1/x, nothing for the missing ones."""
    fmt = composite_formats(device)[0]
    absent = [p for p in ("/3339/0/5522", "/3353/0/6030")
              if Path.parse(p).object_id not in registered.objects]
    instance = device.server_path()
    paths = [instance, f"{instance}/1", *absent]
    content = composite_content(device, device.read_composite(list(paths), fmt),
                                f"Read-Composite {', '.join(paths)}", fmt)
    got = content.get(Path.parse(f"{instance}/1"))
    assert got == registered.lifetime, f"Read-Composite: {instance}/1 is {got!r}"
    stray = sorted(str(p) for p in content if p.object_id in (3339, 3353))
    assert not stray, f"Read-Composite answered values of absent objects: {', '.join(stray)}"


@pytest.mark.ets("LightweightM2M-1.1-int-235")
def test_read_composite_root(device: Lwm2mDevice, registered: Registration) -> None:
    """Read-Composite of the root "/": 2.05 with the readable resources of the objects, the
    Device instance among them, and nothing of the Security object /0 (nor OSCORE /21, /23)."""
    fmt = composite_formats(device)[0]
    content = composite_content(device, device.read_composite([None], fmt),
                                "Read-Composite /", fmt)
    secret = sorted(str(p) for p in content if p.object_id in (0, 21, 23))
    assert not secret, f"Read-Composite / disclosed {', '.join(secret[:5])}"
    manufacturer = content.get(Path(3, 0, 0))
    assert manufacturer == device.dut.device.manufacturer, (
        f"Read-Composite /: /3/0/0 is {manufacturer!r}")
    instance = Path.parse(device.server_path())
    assert any(instance.contains(p) for p in content), f"Read-Composite / has no {instance}"


@pytest.mark.ets("LightweightM2M-1.1-int-229")
def test_read_composite_in_each_format(device: Lwm2mDevice, registered: Registration) -> None:
    """Read-Composite of /3, /1/x, /1/x/1, /3/0/11/n answered in each declared SenML format
    (Accept), the request in the other one where both are declared."""
    formats = composite_formats(device)
    error_code = first_instance_of(device, "/3/0/11")
    instance = device.server_path()
    paths = ["/3", instance, f"{instance}/1", error_code]
    for accept in formats:
        body = next((f for f in formats if f != accept), accept)
        what = (f"Read-Composite {', '.join(paths)} ({device.fmt_name(body)}, Accept "
                f"{device.fmt_name(accept)})")
        content = composite_content(device, device.read_composite(paths, body, accept), what,
                                    accept)
        for needed in (Path(3, 0, 0), Path.parse(f"{instance}/1")):
            assert needed in content, f"{what} has no {needed}"


@pytest.mark.ets("LightweightM2M-1.1-int-257")
def test_write_composite_server_and_device(device: Lwm2mDevice,
                                           registered: Registration) -> None:
    """Write-Composite of /1/x/2 = 101, /1/x/6 flipped and /3/0/13 Current Time: 2.04, and
    Reads show the values (the time within a few seconds)."""
    fmt = composite_formats(device)[0]
    instance = device.server_path()
    listed = {p for p in device.discovered_paths(device.discover(instance))} | {
        p for p in device.discovered_paths(device.discover("/3/0"))}
    needed = [Path.parse(f"{instance}/2"), Path(3, 0, 13)]
    if not all(p in listed for p in needed):
        raise NotApplicable(f"Discover does not list {instance}/2 and /3/0/13: the ETS "
                            "configuration C.6 is not met")
    plain = device.value_format()
    saved = {f"{instance}/2": value(device, f"{instance}/2"),
             f"{instance}/6": value(device, f"{instance}/6")}
    now = int(time.time())
    new: dict[str, Value] = {f"{instance}/2": 101, f"{instance}/6": not saved[f"{instance}/6"],
                             "/3/0/13": now}
    try:
        written = device.write_composite(new, fmt)
        assert written.code == "2.04", f"Write-Composite answered {written.code}, expected 2.04"
        for path in (f"{instance}/2", f"{instance}/6"):
            got = value(device, path)
            assert got == new[path], f"{path} is {got!r} after Write-Composite {new[path]!r}"
        clock = value(device, "/3/0/13")
        assert isinstance(clock, int) and abs(clock - now) <= 5 + time.time() - now, (
            f"/3/0/13 is {clock!r} after Write-Composite of {now}")
    finally:
        for path, old in saved.items():
            device.write(path, old, fmt=plain)


@pytest.mark.ets("LightweightM2M-1.1-int-230")
def test_write_composite_with_resource_instances(device: Lwm2mDevice,
                                                 registered: Registration,
                                                 restore_lifetime: None) -> None:
    """Write-Composite of /1/x/1 = 61, /1/x/6 flipped and four Identity instances
    /16/y/0/0…3 of a Portfolio instance: 2.04, an Update with lt=61, and Reads show them."""
    fmt = composite_formats(device)[0]
    device.creatable_object(PORTFOLIO)
    instance = device.server_path()
    storing = value(device, f"{instance}/6")
    with device.created_instance(PORTFOLIO, {0: {0: "a"}}, judged_by=CREATE_CASE) as iid:
        identity = {f"/{PORTFOLIO}/{iid}/0/{n}": v for n, v in enumerate(("aa", "bb", "cc",
                                                                           "dd"))}
        new: dict[str, Value] = {f"{instance}/1": 61, f"{instance}/6": not storing, **identity}
        since = time.time()
        try:
            written = device.write_composite(new, fmt)
            assert written.code == "2.04", f"Write-Composite answered {written.code}"
            device.expect_lifetime_update(since, 61, "the Write-Composite of the lifetime")
            content = device.read(f"/{PORTFOLIO}/{iid}", fmt=fmt).content or {}
            content.update(device.read(instance, fmt=fmt).content or {})
            wrong = [f"{p}={content.get(Path.parse(p))!r}" for p, v in new.items()
                     if content.get(Path.parse(p)) != v]
            assert not wrong, "after Write-Composite: " + ", ".join(wrong)
        finally:
            device.write(f"{instance}/6", storing, fmt=device.value_format())
