"""The host identity (object 10241) through the device's life (guide §2.2, §3.2.2, §4.4).

ATT-DMIG-3.2.2 asks the module to report the host at all times; guide §2.2 says when the host
(re)writes it. Each case reads /10241/<i>/5905–5908 of every instance first (the values must
be what the device should report now, else INCONCLUSIVE: the ATT-DMIG-3.2.2 read cases judge
them), acts through the controller, and checks:

- after ``reboot``: every value is the declared one once the device has registered again;
- after ``factory_reset``: the same, once the host had its chance to write them again
  (``host_identity.factory_reset``: ``module-keeps`` — at once; ``host-rewrites`` — within
  ``host_identity.rewrite_within`` seconds of the device registering again: the lab observes
  /10241/<i> meanwhile, so the first notification with the values ends the wait);
- after a module FOTA (``features.fota``; the update of ATT-DMIG-4.3, conformance/dut/
  lwm2m_fota.py): the values unchanged and /3/0/3 the new firmware version. An update that
  does not succeed is ATT-DMIG-4.3's to judge: INCONCLUSIVE here;
- after ``set_host_values`` (a host update by the OEM's own means) with new values: a Read
  gives the new values at once (ATT-DMIG-3.2.2), and the client updates its registration (or
  registers) within ``timeouts.post_update_window`` (ATT-DMIG-4.4). As for the sideload of
  test_post_update_reporting.py, the lab executes /1/x/8 first, so that a lifetime renewal is
  not due in the window (``Lwm2mDevice.restart_renewal``).

Every case leaves the host values it found (``set_host_values`` back, the client's report of
them waited for, so that it cannot reach the next case) and records its readings for the
acceptance report's host-identity view. LwM2M has no IMEISV resource: the IMEISV
checks are OMA-DM's (CDR-DVM-4532).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from conformance.dut import hostlife
from conformance.dut.lwm2m import Lwm2mDevice
from conformance.dut.lwm2m_fota import SUCCESS, install, package_image, restore_firmware
from conformance.lwm2m.lab import Registration
from conformance.lwm2m.model import Path
from conformance.plugin.fixtures import CaseEvidence
from conformance.verdicts import DeviceFault, DeviceTimeout, Inconclusive

pytestmark = [pytest.mark.requirement("ATT-DMIG-3.2.2"),
              pytest.mark.applies(feature="host_identity_reporting")]

HOST = 10241
RESOURCES = {5905: "manufacturer", 5906: "model", 5907: "unique_id", 5908: "software_version"}
FIELD_RESOURCE = {name: rid for rid, name in RESOURCES.items()}
Values = dict[str, object | None]


def sources(iid: int) -> dict[str, str]:
    return {name: f"/{HOST}/{iid}/{rid}" for rid, name in RESOURCES.items()}


def instances(device: Lwm2mDevice) -> list[int]:
    return device.present_instances(HOST, "HostDeviceInfo")


def read_host(device: Lwm2mDevice) -> dict[int, Values]:
    """Every instance's host values, each resource read on its own (simplest format)."""
    return {iid: {name: device.read_value(f"/{HOST}/{iid}/{rid}")
                  for rid, name in RESOURCES.items()}
            for iid in instances(device)}


def wrong_values(readings: dict[int, Values], expected: dict[str, str]) -> list[str]:
    return [problem for iid, values in readings.items()
            for problem in hostlife.mismatches(values, expected, sources(iid))]


def record(evidence: CaseEvidence, moment: str, readings: dict[int, Values],
           expected: dict[str, str]) -> None:
    iid = min(readings)
    evidence.host_reading(moment, readings[iid], expected, sources(iid))


@pytest.fixture
def host(device: Lwm2mDevice, registered: Registration, evidence: CaseEvidence
         ) -> Iterator[dict[str, str]]:
    """The host values the device should report now, checked before the case (the start
    reading; when an earlier case left others, the host writes its own first) and written
    back by the host after it when the device then reports others."""
    expected = hostlife.expected_host(device.dut, device.baseline)
    hostlife.start_reading(
        lambda: read_host(device), lambda values: wrong_values(values, expected),
        lambda values: bool(wrong_values(values, expected)),
        lambda: settled(device, lambda: hostlife.write_host(device.controller, expected)),
        lambda values: record(evidence, "start", values, expected),
        "the ATT-DMIG-3.2.2 object and read cases")
    yield expected
    try:
        device.ensure_registered()
        if not wrong_values(read_host(device), expected):
            return
    except (DeviceFault, Inconclusive) as exc:
        device.lab.transcript.note("lwm2m", f"reading the host values after the case: {exc}",
                                   device=device.ep)
    settled(device, lambda: hostlife.restore_host(device.controller, expected,
                                                  device.lab.transcript, "lwm2m"))


def settled(device: Lwm2mDevice, host_writes: Callable[[], object]) -> None:
    """The host writes its values, and the client's report of them (an Update or a Register,
    ATT-DMIG-4.4) is waited for here: sent later, it would reach the next case, where it could
    pass for the Update that case asked for (a trigger, a lifetime). A client that does not
    report is judged by test_host_update_reported; here it only costs the wait."""
    since = time.time()
    host_writes()
    window = min(device.timeouts.post_update_window, device.timeouts.request)
    if device.wait_report_since(since, window) is None:
        device.lab.transcript.note(
            "lwm2m", f"no Update or Register within {window:g} s of the host writing its "
            "values (the next case starts regardless)", device=device.ep)


def test_host_values_after_reboot(device: Lwm2mDevice, host: dict[str, str],
                                  evidence: CaseEvidence) -> None:
    """After a reboot the module reports the same host values."""
    if device.reboot() is None:
        raise Inconclusive(f"no Register within {device.timeouts.session} s after the reboot "
                           "(judged by the ATT-DMIG-3.2 reboot case)")
    after = read_host(device)
    record(evidence, "after reboot", after, host)
    wrong = wrong_values(after, host)
    assert not wrong, "after a reboot: " + "; ".join(wrong)


def test_host_values_after_factory_reset(device: Lwm2mDevice, host: dict[str, str],
                                         evidence: CaseEvidence) -> None:
    """After a factory reset the module reports the host values: at once when it keeps
    them, within the declared window when the host writes them again."""
    life = device.dut.host_identity
    if device.reset_to_factory() is None:
        raise Inconclusive(f"no Register within {device.timeouts.session} s after the factory "
                           "reset (judged by the ATT-DMIG-3.2 factory reset case)")
    if life.factory_reset == "host-rewrites":
        for iid in instances(device):
            wait_for_values(device, iid, host, life.rewrite_within)
    after = read_host(device)
    record(evidence, "after factory reset", after, host)
    wrong = wrong_values(after, host)
    when = ("at once (host_identity.factory_reset: module-keeps)"
            if life.factory_reset == "module-keeps" else
            f"within {life.rewrite_within:g} s (host_identity.rewrite_within) of the device "
            "registering again")
    assert not wrong, f"after a factory reset, {when}: " + "; ".join(wrong)


def wait_for_values(device: Lwm2mDevice, iid: int, expected: dict[str, str],
                    window: float) -> None:
    """Observe /10241/<iid> until it carries ``expected`` or ``window`` s have passed (the
    host's rewrite is the event; the caller reads and judges afterwards)."""
    path = f"/{HOST}/{iid}"
    deadline = time.monotonic() + window
    fmt = device.instance_format()
    observation = device.observe(path, fmt=fmt)
    try:
        response = observation.initial
        if response.code != "2.05":
            return  # the Reads that follow judge it
        while True:
            content = device.decoded(response, path, fmt, own_format=False)
            seen = {name: content.get(Path(HOST, iid, rid)) for rid, name in RESOURCES.items()}
            remaining = deadline - time.monotonic()
            if not hostlife.mismatches(seen, expected, {}) or remaining <= 0:
                return
            try:
                response = observation.next(remaining)
            except DeviceTimeout:
                return
    finally:
        try:
            observation.cancel("get")
        except Inconclusive:
            pass  # gone with a reboot: nothing left to cancel


@pytest.mark.applies(feature="fota")
def test_host_values_after_fota(device: Lwm2mDevice, host: dict[str, str],
                                evidence: CaseEvidence) -> None:
    """After a successful module FOTA (its new /3/0/3 shown) the host values are unchanged."""
    package = device.dut.features.fota_package
    assert package is not None, "features.fota needs fota_package (the declaration validates it)"
    device.firmware_reset(judged_by="ATT-DMIG-4.3 test_empty_package_uri_returns_to_idle")
    try:
        try:
            installed = install(device, package_image(device), "image-host-identity")
        except DeviceFault as exc:
            raise Inconclusive(f"the FOTA update did not succeed ({exc}): judged by "
                               "ATT-DMIG-4.3") from None
        if not installed.reported or installed.result != SUCCESS:
            raise Inconclusive(f"the FOTA update did not succeed (reported: "
                               f"{installed.reported}, Update Result {installed.result}): "
                               "judged by ATT-DMIG-4.3")
        after = read_host(device)
        record(evidence, "after FOTA", after, host)
        evidence.expect("/3/0/3 after FOTA", package.new_version, installed.version)
        if installed.version != package.new_version:  # the update is not shown to have run
            raise Inconclusive(
                f"/3/0/3 is {installed.version!r} after the FOTA update, expected "
                f"{package.new_version!r}: the new firmware version is judged by ATT-DMIG-4.3")
        wrong = wrong_values(after, host)
        assert not wrong, "after the module's FOTA update: " + "; ".join(wrong)
    finally:
        restore_firmware(device)


def test_host_update_read_at_once(device: Lwm2mDevice, host: dict[str, str],
                                  evidence: CaseEvidence) -> None:
    """The host writes new values: a Read gives them at once."""
    new = hostlife.updated(host)
    hostlife.write_host(device.controller, new)
    after = read_host(device)
    record(evidence, "after host update", after, new)
    wrong = wrong_values(after, new)
    assert not wrong, "after the host wrote new values: " + "; ".join(wrong)


@pytest.mark.requirement("ATT-DMIG-4.4")
def test_host_update_reported(device: Lwm2mDevice, host: dict[str, str],
                              evidence: CaseEvidence) -> None:
    """The host writes new values: the client tells the server (an Update or a Register)
    within the post-update window, and the new values are then read."""
    new = hostlife.updated(host)
    # Its renewal timed from an Update just now, the client has none due in the window.
    device.restart_renewal("the post-update window")
    since = time.time()
    hostlife.write_host(device.controller, new)
    window = device.timeouts.post_update_window
    report = device.wait_report_since(since, window)
    if report is None:
        raise DeviceFault(f"no registration Update or Register within the {window:g} s "
                          "post-update window (timeouts.post_update_window) after the host "
                          "wrote new host values")
    evidence.cite(*device.registration_messages(report))
    wrong = wrong_values(read_host(device), new)
    if wrong:
        raise Inconclusive("; ".join(wrong) + " after the host update (judged by "
                           "ATT-DMIG-3.2.2 test_host_update_read_at_once)")
