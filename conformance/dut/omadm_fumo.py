"""The FUMO update flow (OMA-TS-DM-FUMO 1.0) as cases drive it.

ATT-DMIG-4.2 judges the flow itself (testcases/omadm/test_fumo.py); other cases use
:func:`update` to bring a device through an update and judge what follows (the host identity
after FOTA, CDR-DVM-4532). The helpers raise DeviceFault for what the device does wrong; a case
that does not judge the flow turns that into INCONCLUSIVE.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

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
from conformance.plugin.progress import waiting
from conformance.verdicts import DeviceFault, DeviceTimeout, Inconclusive

FUMO_URN = "urn:oma:mo:oma-fumo:1.0"
BUSY = {"30", "60"}
FWV = "./DevDetail/FwV"


@dataclass
class Outcome:
    exec_status: str
    alert: Alert
    result: str  # the Generic Alert's result code (its item data)
    fwv_before: str | None
    fwv: str | None
    state: str | None


def fumo_root(dm: DmDevice, session: DmSession) -> str:
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


def package_image(dm: DmDevice, version: str) -> bytes:
    package = dm.dut.features.fota_package
    if package is None:
        raise Inconclusive("features.fota_package is missing from the declaration")
    if package.image is not None:
        return package.image.read_bytes()
    return packages.make_reference_image(version)


def update(dm: DmDevice, url: str) -> Outcome:
    """Replace PkgURL, Exec DownloadAndUpdate, wait for the Generic Alert; read FwV/State."""
    correlator = secrets.token_hex(6)
    with dm.fresh() as session:
        root = fumo_root(dm, session)
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
