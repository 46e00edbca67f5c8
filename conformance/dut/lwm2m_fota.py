"""The LwM2M firmware update flow (object 5; TS 1.1 Appendix E.6) as cases drive it.

ATT-DMIG-4.3 judges the flow itself (testcases/lwm2m/test_firmware_update_5.py); other cases
use :func:`install` to bring a device through a successful update and judge what follows
(the host identity after FOTA, ATT-DMIG-3.2.2). The helpers raise DeviceFault for what the
device does wrong; a case that does not judge the flow turns that into INCONCLUSIVE.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.fota.packages import OUT_OF_RAM_MARK, UPDATE_FAILURE_MARK, make_reference_image
from conformance.lwm2m.lab import Observation, Response
from conformance.lwm2m.model import ContentFormat, Path
from conformance.verdicts import DeviceFault, DeviceTimeout, Inconclusive, NotApplicable

STATE, RESULT = Path(5, 0, 3), Path(5, 0, 5)
RESET_CASE = "ATT-DMIG-4.3 test_empty_package_uri_returns_to_idle"
RESULT_RESET_CASE = "ATT-DMIG-4.3 test_package_uri_write (LightweightM2M-1.0-int-756)"
IDLE, DOWNLOADING, DOWNLOADED, UPDATING = 0, 1, 2, 3
SUCCESS = 1
RESULT_NAMES = {0: "Initial", 1: "Success", 2: "Not enough flash", 3: "Out of RAM",
                4: "Connection lost", 5: "Integrity check failure", 6: "Unsupported package type",
                7: "Invalid URI", 8: "Update failed", 9: "Unsupported protocol", 10: "Cancelled"}
# Formats for the /5/0 notifications, most robust first (JSON survives binary-codec bugs).
REPORT_FORMATS = ("senml-json", "lwm2m-json", "tlv", "senml-cbor")


def package_image(device: Lwm2mDevice) -> bytes:
    """The declared vendor image, else a lab reference image announcing the new version."""
    package = device.dut.features.fota_package
    if package is None:
        raise Inconclusive("features.fota declares no fota_package")
    if package.image is not None:
        return FsPath(package.image).read_bytes()
    return make_reference_image(package.new_version)


def provoking_image(device: Lwm2mDevice, error: str) -> bytes:
    """The package that provokes ``out-of-ram`` or ``update-failure``: the vendor's declared
    one, or a lab reference image the reference devices know to fail that way."""
    package = device.dut.features.fota_package
    if package is None:
        raise Inconclusive("features.fota declares no fota_package")
    if package.image is None:
        mark = OUT_OF_RAM_MARK if error == "out-of-ram" else UPDATE_FAILURE_MARK
        return make_reference_image(package.new_version + mark)
    field = "out_of_ram_image" if error == "out-of-ram" else "update_failure_image"
    declared = getattr(package, field)
    if declared is None:
        raise NotApplicable(f"features.fota_errors lists {error} but no "
                            f"features.fota_package.{field} provokes it")
    return FsPath(declared).read_bytes()


def reset_to_initial(device: Lwm2mDevice) -> None:
    """State 0 and Update Result 0 before a case: the empty Package URI brings both back (TS
    E.6); a device keeping an old result would have the next case judge that one."""
    device.firmware_reset(judged_by=RESET_CASE)
    result = device.read_int(str(RESULT))
    if result != 0:
        raise Inconclusive(f"/5/0/5 Update Result is {result} after an empty Package URI: the "
                           f"lab cannot start from Result 0 ({RESULT_RESET_CASE} judges it)")


def reset_quietly(device: Lwm2mDevice) -> None:
    """After a case: State 0 again, whatever its verdict (a refusal is noted; the next case's
    set-up judges it)."""
    if device.lw.registration(device.ep) is None:
        return
    try:
        device.firmware_reset()
    except (DeviceFault, Inconclusive) as exc:
        device.lab.transcript.note("lwm2m", f"firmware reset after the case: {exc}",
                                   device=device.ep)


class Delivery:
    """One package delivered to the device, and whether the lab has served all of it.

    ``data`` None: a URI of the package server where no package is (Invalid URI)."""

    def __init__(self, device: Lwm2mDevice, protocol: str, name: str,
                 data: bytes | None) -> None:
        self.device, self.protocol, self.name = device, protocol, name
        self.pushed = protocol == "push"
        self.data = data if data is not None else b""
        lw, packages = device.lw, device.packages
        if self.pushed:
            self.uri = "(push to /5/0/0)"
        elif protocol in ("coap", "coaps"):
            if data is not None:
                lw.publish_package(name, data)
            self.uri = lw.package_uri(name, secure=protocol == "coaps")
        else:
            published = name if data is not None else "known-package"
            urls = packages.publish(published, data if data is not None else b"\0")
            self.uri = str(getattr(urls, protocol)).replace(published, name)

    def start(self, *, too_large: bool = False) -> None:
        """Deliver the package: push it (bounded by ``timeouts.fota``, as a download is: it
        is one, block by block) or write its URI. ``too_large``: the package is more than
        the device can store, and a push may be refused with 4.13 Request Entity Too Large
        (RFC 7959 §2.9.3); the Update Result judges it then."""
        device = self.device
        if self.pushed:
            response = device.write("/5/0/0", self.data, fmt=ContentFormat.OPAQUE,
                                    timeout=device.timeouts.fota)
            what = f"Write /5/0/0 ({len(self.data)} bytes, block-wise)"
            if too_large and response.code == "4.13":
                device.lab.transcript.note(
                    "lwm2m", f"{what} refused with 4.13 Request Entity Too Large: the Update "
                    "Result decides", device=device.ep)
                return
        else:
            response = device.write("/5/0/1", self.uri, fmt=self.device.value_format())
            what = f"Write /5/0/1 {self.uri}"
        if response.code != "2.04":
            raise DeviceFault(f"{what} answered {response.code}, expected 2.04")

    def served(self) -> bool:
        """The lab has answered the whole transfer (or the push was acknowledged)."""
        if self.pushed:
            return True
        if self.protocol in ("coap", "coaps"):
            return any(d.complete for d in self.device.lw.downloads(self.name))
        return any(d.complete or d.status == 404 for d in self.device.packages.downloads(
            self.name))


def report_format(device: Lwm2mDevice) -> ContentFormat:
    declared = device.dut.features.content_formats
    return ContentFormat.by_name(next((f for f in REPORT_FORMATS if f in declared), "tlv"))


def status_of(device: Lwm2mDevice, response: Any) -> tuple[int, int]:
    content = device.decoded(response, "/5/0", response.content_format, own_format=False)
    state, result = content.get(STATE), content.get(RESULT)
    if not isinstance(state, int) or not isinstance(result, int):
        raise DeviceFault(f"/5/0 carries State {state!r} and Update Result {result!r}, "
                          "expected two integers")
    return state, result


def state_of(device: Lwm2mDevice, response: Any, fmt: int) -> int:
    """State from an answer or notification of /5/0/3 in ``fmt``."""
    content = device.decoded(response, str(STATE), fmt, own_format=False)
    value = content.get(STATE)
    if not isinstance(value, int) or isinstance(value, bool):
        raise DeviceFault(f"/5/0/3 State notified as {value!r}, expected an integer")
    return value


class FirmwareObservation:
    """/5/0 followed by its notifications: of the instance (State and Update Result in each),
    or, from a client that answers the instance's Observe without observing it (no Observe
    option: int-301 judges that, not the firmware cases), of State /5/0/3, the Update Result
    read with each notification."""

    def __init__(self, device: Lwm2mDevice) -> None:
        self.device = device
        self.observation = device.observe("/5/0", fmt=report_format(device))
        if self.observation.initial.code != "2.05":
            raise DeviceFault(f"Observe /5/0 answered {self.observation.initial.code}, "
                              "expected 2.05")
        self.label = "/5/0"
        self.state_format: int | None = None
        if self.observation.initial.observe is None:
            fmt = device.value_format()
            device.lab.transcript.note(
                "lwm2m", "Observe /5/0 was answered without an Observe option (the instance is "
                "not observed; judged by the Observe cases): following State /5/0/3 instead, "
                "the Update Result read with each of its notifications", device=device.ep)
            state = device.observe(str(STATE), fmt=fmt)
            if state.initial.code != "2.05" or state.initial.observe is None:
                answer = state.initial.code + (" without Observe" if state.initial.ok else "")
                raise Inconclusive(f"neither /5/0 nor /5/0/3 is observed (Observe /5/0/3 "
                                   f"answered {answer}): the lab follows a firmware update by "
                                   "its notifications")
            self.observation, self.state_format, self.label = state, fmt, "/5/0/3"

    @property
    def initial(self) -> Response:
        return self.observation.initial

    def next(self, timeout: float | None = None) -> Response:
        return self.observation.next(timeout)

    def cancel(self, mode: str = "rst") -> Response:
        return self.observation.cancel(mode)

    def status(self, response: Response) -> tuple[int, int]:
        """(State, Update Result) at ``response`` (the initial answer or a notification)."""
        if self.state_format is None:
            return status_of(self.device, response)
        return state_of(self.device, response, self.state_format), self.device.read_int(
            str(RESULT))


def follow(device: Lwm2mDevice, observation: Observation | FirmwareObservation,
           delivery: Delivery, done: Callable[[int, int], bool], *,
           status: Callable[[Lwm2mDevice, Any], tuple[int, int]] | None = None,
           label: str | None = None) -> list[tuple[int, int]]:
    """(State, Update Result) as notified (``status`` reads them from a notification of the
    observed ``label``; a FirmwareObservation's own by default, a plain Observation names
    both), until ``done``; FAIL when the device gets stuck."""
    if isinstance(observation, FirmwareObservation):
        status = status or (lambda _device, response: observation.status(response))
        label = label or observation.label
    assert status is not None and label is not None, "a plain Observation names both"
    seen = [status(device, observation.initial)]
    deadline = time.monotonic() + device.timeouts.fota
    while not done(*seen[-1]):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeviceFault(f"{label} went {walk_text(seen)} and then nothing for the "
                              f"{device.timeouts.fota} s FOTA timeout (timeouts.fota)")
        try:
            response = observation.next(min(device.timeouts.request, remaining))
        except DeviceTimeout:
            if delivery.served():
                raise DeviceFault(
                    f"{label} went {walk_text(seen)} and stayed there {device.timeouts.request} s "
                    f"after the lab had served the whole package ({delivery.uri})") from None
            continue
        seen.append(status(device, response))
    return seen


def walk_text(seen: list[tuple[int, int]]) -> str:
    return " → ".join(f"State {s}/Result {r}" for s, r in seen)


def observe_firmware(device: Lwm2mDevice) -> FirmwareObservation:
    return FirmwareObservation(device)


def stop(observation: Observation | FirmwareObservation) -> None:
    try:
        observation.cancel("get")
    except Inconclusive:
        pass  # the device already dropped it (it rebooted): nothing left to cancel


def download(device: Lwm2mDevice, protocol: str, name: str, data: bytes) -> None:
    """Deliver ``data`` and follow /5/0 to State 2 (Downloaded), judging the walk."""
    delivery = Delivery(device, protocol, name, data)
    observation = observe_firmware(device)
    try:
        delivery.start()
        seen = follow(device, observation, delivery,
                      lambda state, result: state == DOWNLOADED or result != 0)
    finally:
        stop(observation)
    states = [s for s, _ in seen]
    state, result = seen[-1]
    if result != 0:
        raise DeviceFault(f"the download over {protocol} failed: /5/0 went {walk_text(seen)} "
                          f"(Update Result {result} {RESULT_NAMES.get(result, '')})")
    assert states == sorted(states) and set(states) <= {IDLE, DOWNLOADING, DOWNLOADED}, (
        f"State went {walk_text(seen)}; expected 0 → 1 → 2")
    assert state == DOWNLOADED, f"State went {walk_text(seen)}; it never reached 2 (Downloaded)"


@dataclass(frozen=True)
class Installed:
    """What a full update left: whether the device reported in time, Update Result, State and
    the firmware version it reports."""

    reported: bool
    result: int
    state: int
    version: object


def install(device: Lwm2mDevice, image: bytes, name: str = "image-update",
            protocol: str | None = None) -> Installed:
    """Download over ``protocol`` (default: the first declared), Execute /5/0/2, wait for the
    device to register again (or update) within ``timeouts.fota``, read what it reports.
    An Execute of /1/x/8 first (``Lwm2mDevice.restart_renewal``): a lifetime renewal cannot
    pass for the report."""
    protocol = protocol or device.dut.features.fota_protocols[0]
    download(device, protocol, name, image)
    # Its renewal timed from an Update just now, the client has none due in the wait: the
    # Register or Update that comes is the update's report, not a lifetime renewal.
    device.restart_renewal("the wait for the report of the firmware update")
    since = time.time()
    executed = device.execute("/5/0/2")
    if executed.code != "2.04":
        raise DeviceFault(f"Execute /5/0/2 Update answered {executed.code}")
    reported = device.wait_report_since(since, device.timeouts.fota) is not None
    if not reported:
        return Installed(False, -1, -1, None)
    result = device.read_int(str(RESULT))
    return Installed(True, result, device.read_int(str(STATE)), device.read_value("/3/0/3"))


def restore_firmware(device: Lwm2mDevice) -> None:
    """After a successful update: the declared firmware version back (controller sideload);
    when the controller cannot, later cases expect what the device runs."""
    declared = device.dut.device.firmware_version
    if device.lw.registration(device.ep) is None:
        return  # the next case's `registered` reboots it; the version stays unknown
    current = device.read_value("/3/0/3")
    if current == declared:
        return
    try:
        device.controller.sideload_update(declared)
    except Inconclusive:
        device.baseline.firmware_version = str(current)  # later cases expect what it runs
