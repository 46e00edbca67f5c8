"""ATT-DMIG-4.3 FOTA with object 5, the OMA LwM2M ETS 1.0 Firmware Update tests that
test_firmware_update_5.py does not run (ETS int-751…779; TS 1.1 Appendix E.6), when the
declaration says ``features.fota``.

Checks (each its own ETS test; titles quoted short):
- int-751 "Querying the readable resources": Read /5/0 in an instance format gives State 0
  and Update Result 0, /5/0/9 Delivery Method matching the declared protocols (0 pull, 1 push,
  2 both) and, when the device has it, /5/0/8 Protocol Support listing exactly the declared
  pull protocols.
- int-755 "Setting the writable resource Package" (push): a '\\0' written to /5/0/0 resets
  (State 0, Result 0); a pushed image then reaches State 2 with Result 0.
- int-756 "Setting the writable resource Package URI" (pull): after a failed download an
  empty Package URI gives State 0 and Result 0; a Package URI then reaches State 2, Result 0.
- int-760 "Observation and notification of the Firmware Update resources": with pmin/pmax on
  /5/0, an Observe of /5/0/3 State answers 0 and notifies 2 Downloaded after a delivery.
- int-771 "Successful firmware update via alternate mechanism": the full update with the
  package pulled over HTTP(S) (int-770, over CoAP, is test_firmware_update_5's).
- int-772 "Firmware package not downloaded": Execute /5/0/2 outside State 2 answers 4.05 and
  leaves State and Update Result as they were.
- int-775 "Connection lost during download (Package URI)": the lab breaks the HTTP(S)
  transfer off halfway; the device ends in State 0 with Update Result 4.
- int-779 "Unsuccessful firmware update": the declared update-failure package downloads,
  Execute answers 2.04, then Update Result 8 and /3/0/3 unchanged.

Interpretation: every case starts from State 0 / Result 0 (an empty Package URI) and leaves
the device there. After a failed update TS 1.1 E.6 says State returns to 2 Downloaded in the
State resource's text and shows 0 Idle in its diagram (OMA_LwM2M_for_Developers issue 393):
both are accepted. The reference device fails int-774/779 for reference images whose version
carries a marker (conformance/fota/packages.py); a vendor declares its own packages.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from conformance.dut import lwm2m_fota as fota
from conformance.dut.lwm2m import Lwm2mDevice
from conformance.lwm2m.lab import Registration
from conformance.lwm2m.model import ContentFormat, Path
from conformance.simulators.lwm2m_firmware import PROTOCOL_IDS
from conformance.verdicts import DeviceFault, DeviceTimeout, NotApplicable

pytestmark = [pytest.mark.requirement("ATT-DMIG-4.3"), pytest.mark.applies(feature="fota")]

PROTOCOL_SUPPORT, DELIVERY_METHOD = 8, 9


@pytest.fixture(scope="module")
def image(device: Lwm2mDevice) -> bytes:
    return fota.package_image(device)


@pytest.fixture
def idle(device: Lwm2mDevice, registered: Registration) -> Iterator[None]:
    """State 0 / Result 0 before the case, and State 0 after it whatever its verdict."""
    fota.reset_to_initial(device)
    yield
    fota.reset_quietly(device)


def pull_protocol(device: Lwm2mDevice, only: tuple[str, ...] = tuple(PROTOCOL_IDS)) -> str:
    found = next((p for p in device.dut.features.fota_protocols if p in only), None)
    if found is None:
        raise NotApplicable(f"features.fota_protocols declares none of {', '.join(only)}")
    return str(found)


def read_status(device: Lwm2mDevice) -> tuple[int, int]:
    return device.read_int(str(fota.STATE)), device.read_int(str(fota.RESULT))


def values_of(content: dict[Path, object], resource: int) -> list[object]:
    """A resource's value(s) in decoded content: single or per resource instance."""
    return [v for p, v in content.items()
            if p.resource_id == resource and v is not None]


# --------------------------------------------------------------------------- int-751


@pytest.mark.ets("LightweightM2M-1.0-int-751")
def test_readable_resources(device: Lwm2mDevice, idle: None) -> None:
    """Read /5/0: State 0, Result 0, Delivery Method and Protocol Support as declared."""
    fmt = device.instance_format()
    response = device.read("/5/0", fmt=fmt)
    assert response.code == "2.05", f"Read /5/0 in {fmt.name} answered {response.code}"
    content = device.decoded(response, "/5/0", fmt, own_format=False)
    state, result = fota.status_of(device, response)
    assert (state, result) == (fota.IDLE, 0), (
        f"Read /5/0 gives State {state} and Update Result {result}, expected 0 and 0 after an "
        "empty Package URI")
    declared = device.dut.features.fota_protocols
    pulls = {PROTOCOL_IDS[p] for p in declared if p in PROTOCOL_IDS}
    push = "push" in declared
    expected = 2 if pulls and push else (1 if push else 0)
    method = values_of(content, DELIVERY_METHOD)
    assert method == [expected], (
        f"/5/0/9 Delivery Method is {method or 'absent'}, expected {expected} for the declared "
        f"protocols {', '.join(declared)} (0 pull, 1 push, 2 both)")
    support = values_of(content, PROTOCOL_SUPPORT)
    if support:  # optional: judged where the device has it
        assert set(support) == pulls, (
            f"/5/0/8 Protocol Support lists {sorted(map(str, support))}, the declaration "
            f"pulls over {sorted(pulls)} (0 coap, 1 coaps, 2 http, 3 https)")


# --------------------------------------------------------------------------- int-755, 756


@pytest.mark.ets("LightweightM2M-1.0-int-755")
def test_package_write(device: Lwm2mDevice, idle: None, image: bytes) -> None:
    """Push: '\\0' to /5/0/0 resets to 0/0; the pushed image reaches State 2, Result 0."""
    if "push" not in device.dut.features.fota_protocols:
        raise NotApplicable("features.fota_protocols does not declare push delivery")
    written = device.write("/5/0/0", b"\0", fmt=ContentFormat.OPAQUE)
    assert written.code == "2.04", f"Write /5/0/0 '\\0' answered {written.code}, expected 2.04"
    status = read_status(device)
    assert status == (fota.IDLE, 0), (
        f"after '\\0' was written to /5/0/0 State/Update Result are {status}, expected (0, 0) "
        "(TS E.6: a '\\0' Package resets the state machine)")
    fota.download(device, "push", "ets-755", image)


@pytest.mark.ets("LightweightM2M-1.0-int-756")
def test_package_uri_write(device: Lwm2mDevice, idle: None, image: bytes) -> None:
    """After a failed download an empty Package URI gives 0/0; a URI then reaches State 2."""
    protocol = pull_protocol(device)
    failed = fota.Delivery(device, protocol, "ets-756-missing", None)  # not found: Result ≠ 0
    observation = fota.observe_firmware(device)
    try:
        failed.start()
        seen = fota.follow(device, observation, failed, lambda state, result: result != 0)
    finally:
        fota.stop(observation)
    written = device.write("/5/0/1", "", fmt=device.value_format())
    assert written.code == "2.04", f"Write /5/0/1 '' answered {written.code}, expected 2.04"
    status = read_status(device)
    assert status == (fota.IDLE, 0), (
        f"after /5/0 went {fota.walk_text(seen)} an empty Package URI left State/Update Result "
        f"{status}, expected (0, 0) (TS E.6)")
    fota.download(device, protocol, "ets-756", image)


# --------------------------------------------------------------------------- int-760


@pytest.fixture
def instance_attributes(device: Lwm2mDevice) -> Iterator[str]:
    """pmin/pmax on /5/0 for the case, removed afterwards."""
    yield "/5/0"
    device.remove_attributes("/5/0")


@pytest.mark.ets("LightweightM2M-1.0-int-760")
def test_state_observed(device: Lwm2mDevice, idle: None, image: bytes,
                        instance_attributes: str) -> None:
    """Observe /5/0/3 (pmin/pmax on /5/0) answers 0, then notifies 2 after a delivery."""
    answered = device.write_attributes(instance_attributes, pmin=1, pmax=10)
    assert answered.code == "2.04", (
        f"Write-Attributes {instance_attributes}?pmin=1&pmax=10 answered {answered.code}")
    fmt = device.value_format()
    observation = device.observe(str(fota.STATE), fmt=fmt)
    assert observation.initial.code == "2.05", (
        f"Observe /5/0/3 answered {observation.initial.code}, expected 2.05")
    try:
        state = fota.state_of(device, observation.initial, fmt)
        assert state == fota.IDLE, f"Observe /5/0/3 answered State {state}, expected 0"
        delivery = fota.Delivery(device, device.dut.features.fota_protocols[0], "ets-760", image)
        delivery.start()
        # a device that is in State 2 and says nothing FAILs (pmin is 1 s)
        fota.follow(device, observation, delivery, lambda state, _: state == fota.DOWNLOADED,
               status=lambda device, response: (fota.state_of(device, response, fmt), 0),
               label="/5/0/3 (Result not observed)")
    finally:
        observation.cancel("get")


# --------------------------------------------------------------------------- int-771


@pytest.fixture(name="restore_firmware")
def restore_firmware_after(device: Lwm2mDevice) -> Iterator[None]:
    yield
    fota.restore_firmware(device)


@pytest.mark.ets("LightweightM2M-1.0-int-771")
def test_update_via_http(device: Lwm2mDevice, idle: None, image: bytes,
                         restore_firmware: None) -> None:
    """Package URI over HTTP(S), Execute: re-registration, Result 1, State 0, new version."""
    protocol = pull_protocol(device, ("http", "https"))
    package = device.dut.features.fota_package
    assert package is not None
    installed = fota.install(device, image, "ets-771", protocol)
    if not installed.reported:
        raise DeviceFault(f"neither a Register nor an Update within {device.timeouts.fota} s "
                          "after Execute /5/0/2 (timeouts.fota)")
    assert (installed.state, installed.result) == (fota.IDLE, fota.SUCCESS), (
        f"after the update over {protocol} State/Update Result are "
        f"({installed.state}, {installed.result}), expected (0, 1)")
    assert installed.version == package.new_version, (
        f"/3/0/3 is {installed.version!r} after the update over {protocol}, expected "
        f"{package.new_version!r} (features.fota_package.new_version)")


# --------------------------------------------------------------------------- int-772


@pytest.mark.ets("LightweightM2M-1.0-int-772")
def test_update_without_package(device: Lwm2mDevice, idle: None) -> None:
    """Execute /5/0/2 in State 0: 4.05, State and Update Result unchanged."""
    before = read_status(device)
    assert before[0] != fota.DOWNLOADED
    executed = device.execute("/5/0/2")
    after = read_status(device)
    assert executed.code == "4.05", (
        f"Execute /5/0/2 in State {before[0]} answered {executed.code}, expected 4.05 Method "
        "Not Allowed (no package downloaded)")
    assert after == before, (
        f"Execute /5/0/2 without a package changed State/Update Result {before} to {after}")


# --------------------------------------------------------------------------- int-775


class BrokenOff(fota.Delivery):
    """A pull over HTTP(S) the package server breaks off halfway, every time."""

    def __init__(self, device: Lwm2mDevice, protocol: str, name: str, data: bytes) -> None:
        super().__init__(device, protocol, name, data)
        self.cut = len(data) // 2
        device.packages.publish(name, data, cut_at=self.cut)

    def served(self) -> bool:
        return any(d.sent >= self.cut - (d.range[0] if d.range else 0)
                   for d in self.device.packages.downloads(self.name))


@pytest.mark.ets("LightweightM2M-1.0-int-775")
def test_connection_lost(device: Lwm2mDevice, idle: None, image: bytes) -> None:
    """The transfer breaks off halfway: State 0 with Update Result 4 (Connection lost)."""
    protocol = pull_protocol(device, ("http", "https"))
    delivery = BrokenOff(device, protocol, "ets-775", image)
    observation = fota.observe_firmware(device)
    try:
        delivery.start()
        seen = fota.follow(device, observation, delivery,
                      lambda state, result: result != 0 or state == fota.DOWNLOADED)
    finally:
        fota.stop(observation)
    state, result = seen[-1]
    assert (state, result) == (fota.IDLE, 4), (
        f"the {protocol} transfer broke off after {delivery.cut} of {len(image)} bytes; /5/0 "
        f"went {fota.walk_text(seen)}, expected State 0 with Update Result 4 "
        f"{fota.RESULT_NAMES[4]} (got {fota.RESULT_NAMES.get(result, result)})")


# --------------------------------------------------------------------------- int-779


@pytest.mark.ets("LightweightM2M-1.0-int-779")
def test_update_failure(device: Lwm2mDevice, idle: None) -> None:
    """A package that downloads but fails to install: Execute 2.04, then Result 8 with State
    2 (or 0) and /3/0/3 unchanged."""
    if "update-failure" not in device.dut.features.fota_errors:
        raise NotApplicable("features.fota_errors does not declare update-failure as provocable")
    failing = fota.provoking_image(device, "update-failure")
    version = device.read_value("/3/0/3")
    fota.download(device, device.dut.features.fota_protocols[0], "ets-779", failing)
    observation = fota.observe_firmware(device)
    try:
        executed = device.execute("/5/0/2")
        assert executed.code == "2.04", f"Execute /5/0/2 in State 2 answered {executed.code}"
        seen = [observation.status(observation.initial)]
        deadline = time.monotonic() + device.timeouts.fota
        while seen[-1][1] == 0 or seen[-1][0] == fota.UPDATING:
            if time.monotonic() > deadline:
                raise DeviceFault(f"/5/0 went {fota.walk_text(seen)} and no Update Result within "
                                  f"{device.timeouts.fota} s (timeouts.fota)")
            try:
                seen.append(observation.status(observation.next(device.timeouts.request)))
            except DeviceTimeout:
                seen.append(read_status(device))
    finally:
        fota.stop(observation)
    state, result = seen[-1]
    assert result == 8, (
        f"/5/0 went {fota.walk_text(seen)} after Execute of a package that cannot install: Update "
        f"Result {result} {fota.RESULT_NAMES.get(result, '')}, expected 8 {fota.RESULT_NAMES[8]}")
    assert state in (fota.DOWNLOADED, fota.IDLE), (
        f"State {state} after the failed update, expected 2")
    after = device.read_value("/3/0/3")
    assert after == version, f"/3/0/3 went {version!r} → {after!r} although the update failed"

