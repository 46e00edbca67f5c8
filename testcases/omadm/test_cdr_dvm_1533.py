"""CDR-DVM-1533 — a device-initiated session after a non-FOTA update (guide §4.4, §2.2).

Parametrised over the two non-FOTA update paths: sideload/USB (``controller.sideload_update``)
and a proprietary OEM DM server (``controller.oem_server_update``). For each, the lab:

1. performs the update through the controller with a new firmware version and a new host
   software version (a controller that cannot do it: INCONCLUSIVE);
2. waits ``timeouts.post_update_window`` for a session the device opens by itself (not
   triggered, not a Package 0 answer) — none in the window is a FAIL when the device then
   opens a controller-triggered session (it is up), INCONCLUSIVE when it does not (the lab
   cannot reach it at all);
3. checks that the session reports the new DevDetail values: FwV and HostSwV the new ones,
   HostMan, HostMod and HostUniqueID the declared ones (the host values are checked when
   ``features.host_identity_reporting`` is declared).

Interpretation: "reports" is met by the session's Package 1 (a Replace or Generic Alert item
whose Source is the node; only a package the lab authenticated counts) or, for a node Package
1 does not carry, by a Get in that same session returning the new value (the AT&T platform
reads DevDetail when a session opens). A value the device *sends* that is stale FAILs even if
a later Get would be right. This module runs last (the catalog's conftest orders it after
FUMO) and leaves ``dm.baseline`` at the versions it installed.
"""

from __future__ import annotations

import pytest

from conformance.dut.omadm import Baseline, DmDevice, close_quietly, get, reported, show
from conformance.plugin.fixtures import CaseEvidence
from conformance.plugin.progress import waiting
from conformance.verdicts import DeviceFault, DeviceTimeout, Inconclusive

pytestmark = pytest.mark.requirement("CDR-DVM-1533")

PATHS = {"sideload": "sideload_update", "oem-server": "oem_server_update"}
FWV = "./DevDetail/FwV"
EXT = "./DevDetail/Ext"


@pytest.mark.parametrize("path", list(PATHS))
def test_session_after_update(dm: DmDevice, evidence: CaseEvidence, path: str) -> None:
    """After the update the device opens a session by itself and reports the new values."""
    n = list(PATHS).index(path) + 1
    new_fw = f"{dm.dut.device.firmware_version}-u{n}"
    new_host_sw = f"{dm.dut.host.software_version}.{n}"
    expected = {FWV: new_fw}
    if dm.dut.features.host_identity_reporting:
        host = dm.dut.host
        expected.update({
            f"{EXT}/HostMan": host.manufacturer,
            f"{EXT}/HostMod": host.model,
            f"{EXT}/HostSwV": new_host_sw,
            f"{EXT}/HostUniqueID": host.unique_id,
        })
    dm.release()
    dm.omadm.expect_session()
    getattr(dm.controller, PATHS[path])(new_fw, host_software_version=new_host_sw)
    dm.baseline = Baseline(new_fw, new_host_sw)
    window = dm.timeouts.post_update_window
    with waiting(f"waiting for the session after the {path} update", window):
        try:
            session = dm.omadm.wait_session(timeout=window)
        except DeviceTimeout:  # here silence is the fault, if the device is up at all
            silence = (f"no session from the device within the {window:g} s post-update "
                       f"window after the {path} update")
            dm.alive_after_silence(silence)
            raise DeviceFault(silence + " (a triggered session works)") from None
    dm.adopt(session)
    try:
        if session.package1.alerts("1200"):
            raise Inconclusive("the session after the update answers a Package 0; the lab "
                               "sent none (another server is talking to the device?)")
        sent = reported(session.package1, session.auth)  # an authenticated package only
        stale = [f"{uri} sent as {sent[uri]!r}, expected {value!r}"
                 for uri, value in expected.items() if uri in sent and sent[uri] != value]
        assert not stale, f"the post-update session reports stale values: {'; '.join(stale)}"
        missing = [uri for uri in expected if uri not in sent]
        evidence.note(f"session {session.session_id} after the {path} update: Package 1 "
                      f"carries {', '.join(u for u in expected if u in sent) or 'none'}; "
                      f"read with Get: {', '.join(missing) or 'none'}")
        if missing:
            if not session.auth.verified:
                raise Inconclusive(
                    f"Package 1 does not carry {', '.join(missing)} and the lab could not "
                    "authenticate the device to read them")
            results = dict(zip(missing, session.send([get(u) for u in missing]), strict=True))
            wrong = [f"{uri} is {show(r)}, expected {expected[uri]!r}"
                     for uri, r in results.items()
                     if r.status != "200" or r.data != expected[uri]]
            assert not wrong, f"after the {path} update: {'; '.join(wrong)}"
    finally:
        close_quietly(session)
