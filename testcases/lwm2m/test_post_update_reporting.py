"""ATT-DMIG-4.4 post-update reporting over LwM2M (guide §4.4; the LwM2M form of CDR-DVM-1533).

The lab has the controller do a non-FOTA update (sideload) that changes the module firmware
version and the host software version, then checks:
- within ``timeouts.post_update_window`` the client tells the server: a registration Update or
  a new Register (a device that reboots into the new firmware registers again). None in the
  window FAILs. Just before the sideload the lab executes /1/x/8 and waits for its Update (or
  a new Register): a client times its lifetime renewal from its last one, so a renewal is not
  due in the window and cannot pass for the report (a client that renews more often than the
  window lasts still could; the trigger's absence is int-104's to judge, and the wait goes on);
- a Read of /3/0/3 gives the new firmware version;
- a Read of /10241/<i>/5908 gives the new host software version in every instance.

Interpretation: the sideload changes what such an update changes (firmware version, host
software version); the other host values are ATT-DMIG-3.2.2's. Values are read in text (or
the simplest declared format), so an encoding bug of another format does not hide them; an
absent /10241 cannot be judged here (INCONCLUSIVE; 3.2.2 fails it). A controller that cannot
sideload makes the cases INCONCLUSIVE. Afterwards the lab sideloads the declared versions back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.evidence.transcript import Entry
from conformance.lwm2m.lab import Registration
from conformance.plugin.fixtures import CaseEvidence
from conformance.verdicts import DeviceFault, Inconclusive

pytestmark = pytest.mark.requirement("ATT-DMIG-4.4")

HOST = 10241


@dataclass
class Sideload:
    firmware_version: str
    host_software_version: str
    requested_at: float
    report: Registration | None  # the Update / Register that followed, if any
    evidence: list[Entry] = field(default_factory=list)  # cited by every case of the module


@pytest.fixture(scope="module")
def sideload(device: Lwm2mDevice) -> Iterator[Sideload]:
    """One sideload update for the module's cases; the declared versions go back afterwards."""
    device.ensure_registered()
    old_fw, old_host = device.baseline.firmware_version, device.baseline.host_software_version
    # An Update the lab asked for first: the client's lifetime renewal, timed from it, is not
    # due in the window, so the Update that comes there is the report, not a renewal.
    restarted = device.restart_renewal("the post-update window")
    new = Sideload(f"{old_fw}-sideload", f"{old_host}.1", time.time(), None)
    if restarted is not None:
        new.evidence += device.registration_messages(restarted)
    new.evidence.append(device.lab.transcript.note(
        "control", f"ATT-DMIG-4.4: sideload update to firmware {new.firmware_version}, host "
        f"software {new.host_software_version}"))
    device.controller.sideload_update(new.firmware_version,
                                      host_software_version=new.host_software_version)
    new.report = device.wait_report_since(new.requested_at, device.timeouts.post_update_window)
    if new.report is not None:
        new.evidence += device.registration_messages(new.report)
    yield new
    try:
        device.controller.sideload_update(old_fw, host_software_version=old_host)
    except Inconclusive:
        device.baseline.firmware_version = new.firmware_version
        device.baseline.host_software_version = new.host_software_version


def test_registration_update_within_window(device: Lwm2mDevice, sideload: Sideload,
                                           evidence: CaseEvidence) -> None:
    """After the sideload the client updates its registration (or registers) in the window."""
    evidence.cite(*sideload.evidence)  # the sideload and its report came before the case
    if sideload.report is None:
        raise DeviceFault(
            f"no registration Update or Register within the "
            f"{device.timeouts.post_update_window} s post-update window "
            "(timeouts.post_update_window) after the sideload update")


def test_new_firmware_version_reported(device: Lwm2mDevice, sideload: Sideload) -> None:
    """/3/0/3 is the new firmware version."""
    device.ensure_registered()
    value = device.read_value("/3/0/3")
    assert value == sideload.firmware_version, (
        f"/3/0/3 Firmware Version is {value!r} after the sideload update, expected "
        f"{sideload.firmware_version!r}")


def test_new_host_software_version_reported(device: Lwm2mDevice,
                                            sideload: Sideload) -> None:
    """/10241/<i>/5908 is the new host software version in every instance."""
    device.ensure_registered()
    listed = device.discover(f"/{HOST}")
    if listed.code != "2.05":
        raise Inconclusive(f"/{HOST} HostDeviceInfo is absent (Discover answered "
                           f"{listed.code}): judged by ATT-DMIG-3.2.2")
    instances = device.instances(HOST)
    stale = []
    for iid in instances:
        value = device.read_value(f"/{HOST}/{iid}/5908")
        if value != sideload.host_software_version:
            stale.append(f"/{HOST}/{iid}/5908 is {value!r}")
    assert instances and not stale, (
        "; ".join(stale or [f"/{HOST} has no instance"]) + " after the sideload update, "
        f"expected {sideload.host_software_version!r} (Host Device Software Version)")
