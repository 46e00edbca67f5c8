"""ATT-DMIG-4.2 — firmware update over the air with the FUMO management object (guide §4.2;
OMA-TS-DM-FUMO 1.0). Applies when the declaration says ``features.fota``.

The lab's package server serves the image (``features.fota_package.image``, else a reference
image announcing ``new_version``) over each declared scheme (``fota_protocols``: http,
https), and derives the broken variants itself (``conformance.fota.packages``). In a session
the lab replaces ``<FUMO>/DownloadAndUpdate/PkgURL``, reads ``<FUMO>/State`` and executes
``<FUMO>/DownloadAndUpdate`` with a Correlator. Then:

- happy path (per scheme): the Exec is answered 202 (asynchronous; 200 accepted), the device
  downloads the whole package, and within ``timeouts.fota`` a session brings Generic Alert
  1226 of type ``org.openmobilealliance.dm.firmwareupdate.downloadandupdate`` with the Exec's
  Correlator and result 200; afterwards ./DevDetail/FwV is the new version and State is a
  successful end state;
- corrupted and truncated packages, and an unreachable URL (connection refused): the alert
  comes with a failure result (4xx/5xx) and FwV is unchanged.

Interpretation:
- The FUMO node is the DDF node with DDFName ``urn:oma:mo:oma-fumo:1.0`` (its instance is
  listed on the device when the DDF names it ``<x>``), else the first child of ./FUMO.
- The device works after the session that gave the Exec, so the intermediate States (30, 40,
  60) cannot be read over DM; the lab checks State before (not busy: not 30 or 60) and after:
  100/90 (success), or 10 (Idle, FUMO lets a client go back to Idle after reporting); after a
  failure 20, 70, 80 or 10.
- With a reference image each scheme installs its own version (``new_version`` for the first,
  ``new_version-<scheme>`` after), so that each happy path shows a real change; a vendor image
  has one version, and a second happy path only shows that it is (still) installed.
- No Generic Alert within ``timeouts.fota`` is a FAIL (reporting the result is the
  requirement) when the device then opens a controller-triggered session, INCONCLUSIVE when it
  does not (unreachable). An alert that comes only in that triggered session is late: FAIL.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pytest

from conformance.declaration import Declaration
from conformance.dut.omadm import (
    DmDevice,
    children_of,
    close_quietly,
    load_ddf,
    require_authenticated,
    show,
)
from conformance.fota import packages
from conformance.omadm.lab import DmSession
from conformance.omadm.model import Alert
from conformance.plugin.plugin import declaration_or_none
from conformance.plugin.progress import waiting
from conformance.verdicts import DeviceFault, DeviceTimeout, Inconclusive

pytestmark = [pytest.mark.requirement("ATT-DMIG-4.2"), pytest.mark.applies(feature="fota")]

ALERT_TYPE = "org.openmobilealliance.dm.firmwareupdate.downloadandupdate"
FUMO_URN = "urn:oma:mo:oma-fumo:1.0"
BUSY = {"30", "60"}
SUCCESS_STATES = {"100", "90", "10"}
FAILURE_STATES = {"20", "70", "80", "10"}
FWV = "./DevDetail/FwV"
BROKEN = ("corrupted", "truncated", "unreachable")


@dataclass
class Outcome:
    exec_status: str
    alert: Alert
    result: str  # the Generic Alert's result code (its item data)
    fwv_before: str | None
    fwv: str | None
    state: str | None


def _schemes(dut: Declaration | None) -> list[str]:
    """The declared package download schemes the lab serves (http, https)."""
    declared: list[str] = list(dut.features.fota_protocols) if dut is not None else []
    return [s for s in declared if s in ("http", "https")] or ["http"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scheme" not in metafunc.fixturenames:
        return
    metafunc.parametrize("scheme", _schemes(declaration_or_none(metafunc.config)))


def _fumo_root(dm: DmDevice, session: DmSession) -> str:
    doc = load_ddf(dm.dut)[0]
    node = next((n for n in doc.nodes() if n.ddf_name == FUMO_URN), None) if doc else None
    if node is not None and not node.dynamic:
        return node.path
    parent = node.path.rsplit("/", 1)[0] if node is not None else "./FUMO"
    listing = session.get(parent)
    names = children_of(listing)
    if not names:
        raise DeviceFault(f"no FUMO node on the device: Get {parent} answered {show(listing)}")
    return f"{parent}/{names[0]}"


def _image(dm: DmDevice, version: str) -> bytes:
    package = dm.dut.features.fota_package
    if package is None:
        raise Inconclusive("features.fota_package is missing from the declaration")
    if package.image is not None:
        return package.image.read_bytes()
    return packages.make_reference_image(version)


def _update(dm: DmDevice, url: str) -> Outcome:
    """Replace PkgURL, Exec DownloadAndUpdate, wait for the Generic Alert; read FwV/State."""
    correlator = secrets.token_hex(6)
    with dm.fresh() as session:
        root = _fumo_root(dm, session)
        state, fwv_before = session.get(f"{root}/State"), session.get(FWV)
        if state.data in BUSY:
            raise Inconclusive(f"{root}/State is {state.data}: an update is in progress")
        written = session.replace(f"{root}/DownloadAndUpdate/PkgURL", url)
        assert written.status == "200", (
            f"Replace {root}/DownloadAndUpdate/PkgURL answered {show(written)}")
        executed = session.exec(f"{root}/DownloadAndUpdate", correlator=correlator)
        assert executed.status in ("200", "202"), (
            f"Exec {root}/DownloadAndUpdate answered {show(executed)}, expected 202")
        window = dm.timeouts.fota
        with waiting("waiting for the FUMO Generic Alert 1226", window):
            try:
                session.wait_alert("1226", timeout=window)
            except DeviceTimeout:  # reporting the result is the requirement
                silence = (f"no Generic Alert 1226 within the {window:g} s FOTA window after "
                           f"Exec {root}/DownloadAndUpdate")
                late = dm.alive_after_silence(silence)
                raise DeviceFault(silence + (
                    " (it came only in a later lab-triggered session)" if late
                    else " (a triggered session works and carries none)")) from None
    later = session.alert_session
    assert later is not None
    dm.adopt(later)
    try:
        ours = [a for a in later.alerts("1226") if a.correlator == correlator]
        if not ours:
            seen = ", ".join(repr(a.correlator) for a in later.alerts("1226"))
            raise DeviceFault(f"Generic Alert 1226 carries Correlator {seen}, the Exec's was "
                              f"{correlator!r}")
        alert = ours[0]
        require_authenticated(later)  # to read FwV and State in it
        fwv, state_after = later.get(FWV), later.get(f"{root}/State")
    finally:
        close_quietly(later)
    item = alert.items[0] if alert.items else None
    return Outcome(
        executed.status,
        alert,
        (item.text() or "").strip() if item else "",
        fwv_before.data if fwv_before.status == "200" else None,
        fwv.data if fwv.status == "200" else None,
        state_after.data if state_after.status == "200" else None,
    )


def _alert_type(alert: Alert) -> str | None:
    item = alert.items[0] if alert.items else None
    return item.meta.type if item is not None and item.meta is not None else None


def test_fumo_update(dm: DmDevice, scheme: str) -> None:
    """DownloadAndUpdate from the lab's package server succeeds and is reported."""
    package = dm.dut.features.fota_package
    assert package is not None
    first = _schemes(dm.dut)[0] == scheme
    version = package.new_version if first or package.image else f"{package.new_version}-{scheme}"
    image = _image(dm, version)
    name = f"fumo-{scheme}-{secrets.token_hex(3)}.bin"
    urls = dm.packages.publish(name, image)
    outcome = _update(dm, getattr(urls, scheme))
    if scheme == "https" and outcome.result == "406" and not dm.packages.downloads(name):
        raise Inconclusive(
            "the device could not authenticate the lab's HTTPS package server (FUMO result "
            "406, no request reached it): the lab CA (LAB_CA_FILE) is not trusted by the device")
    kind = _alert_type(outcome.alert)
    assert kind == ALERT_TYPE, f"Generic Alert type is {kind!r}, expected {ALERT_TYPE}"
    assert outcome.result == "200", (
        f"the FUMO result is {outcome.result!r}, expected 200 (a successful update)")
    fetched = [d for d in dm.packages.downloads(name) if d.complete]
    assert fetched, f"the device reported success without downloading {name} completely"
    assert any(d.scheme == scheme for d in fetched), (
        f"the package was fetched over {fetched[0].scheme}, the URL was {scheme}")
    if outcome.fwv is not None:
        dm.baseline.firmware_version = outcome.fwv
    assert outcome.fwv == version, (
        f"after the update {FWV} is {outcome.fwv!r}, expected {version!r}")
    assert outcome.state in SUCCESS_STATES, (
        f"after a successful update FUMO State is {outcome.state!r}, expected 100, 90 or 10")


@pytest.mark.parametrize("broken", BROKEN)
def test_fumo_failure_reported(dm: DmDevice, broken: str) -> None:
    """A broken package or an unreachable URL is reported with a failure result code."""
    if broken == "unreachable":
        url = dm.packages.unreachable_url()
    else:
        image = _image(dm, f"{dm.baseline.firmware_version}-broken")
        data = packages.corrupted(image) if broken == "corrupted" else packages.truncated(image)
        urls = dm.packages.publish(f"fumo-{broken}-{secrets.token_hex(3)}.bin", data)
        url = urls.http if "http" in dm.dut.features.fota_protocols else urls.https
    outcome = _update(dm, url)
    assert outcome.result[:1] in ("4", "5"), (
        f"the FUMO result for a {broken} package is {outcome.result!r}, expected a failure "
        "code (4xx/5xx)")
    assert outcome.fwv == outcome.fwv_before, (
        f"after a failed update ({broken}) {FWV} is {outcome.fwv!r}, it was "
        f"{outcome.fwv_before!r} before")
    assert outcome.state in FAILURE_STATES, (
        f"after a failed update FUMO State is {outcome.state!r}, expected 20, 70, 80 or 10")
