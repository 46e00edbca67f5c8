"""CDR-DVM-4532 — the host nodes through the device's life (guide §2.2, §3.3.2, §4.4).

"The nodes must be updated as necessary following the update of the device (Host) software
version", and guide §2.2 says when the host (re)writes them. Each case first reads
./DevDetail/Ext/HostMan, HostMod, HostSwV, HostUniqueID and IMEISV (the values must be what
the device should report now, else INCONCLUSIVE: the CDR-DVM-4532 node cases judge them), acts
through the controller, and checks:

- after ``reboot``: every value as before, in the first session after it;
- after ``factory_reset`` (the lab forgets its nonces for the device too, as for
  CDR-DVM-3954/3955): the same once the host had its chance to write them again
  (``host_identity.factory_reset``: ``module-keeps`` — in the first session;
  ``host-rewrites`` — a session the device opens by itself within
  ``host_identity.rewrite_within`` seconds carries or answers them, else a lab-triggered
  session at the end of the window);
- after a FUMO update (``features.fota``; the ATT-DMIG-4.2 flow, conformance/dut/
  omadm_fumo.py): host values unchanged, FwV the new version, IMEISV as declared for it
  (``features.fota_package.new_imeisv``, else ``device.imeisv``). An update that does not
  succeed is ATT-DMIG-4.2's: INCONCLUSIVE here. The previous firmware is sideloaded back;
- after ``set_host_values`` (a host update by the OEM's own means) with new values: the first
  session after it gives them (CDR-DVM-4532), and the device opens a session by itself within
  ``timeouts.post_update_window`` that reports them, in its Package 1 or to a Get in it
  (CDR-DVM-1533, the same reading as the sideload case).

Every case leaves the host values it found (``set_host_values`` back, the device's report
session taken) and records its readings for the acceptance report's host-identity view.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest

from conformance.dut import hostlife
from conformance.dut.omadm import (
    DmDevice,
    close_quietly,
    decisive,
    get,
    reported,
    require_authenticated,
    show,
)
from conformance.dut.omadm_fumo import FWV, package_image, update
from conformance.omadm.lab import DmSession
from conformance.plugin.fixtures import CaseEvidence
from conformance.plugin.progress import waiting
from conformance.verdicts import DeviceFault, DeviceTimeout, Inconclusive

pytestmark = [pytest.mark.requirement("CDR-DVM-4532"),
              pytest.mark.applies(feature="host_identity_reporting")]

EXT = "./DevDetail/Ext"
NODES = {"manufacturer": f"{EXT}/HostMan", "model": f"{EXT}/HostMod",
         "software_version": f"{EXT}/HostSwV", "unique_id": f"{EXT}/HostUniqueID",
         "imeisv": f"{EXT}/IMEISV"}
Values = dict[str, object | None]


def expected_now(dm: DmDevice) -> dict[str, str]:
    """What the device should report now: the host values and the IMEISV of its firmware."""
    return {**hostlife.expected_host(dm.dut, dm.baseline),
            "imeisv": hostlife.expected_imeisv(dm.dut, dm.baseline.firmware_version)}


def values_in(session: DmSession) -> Values:
    """The nodes read with Get in ``session`` (None: not readable)."""
    require_authenticated(session)
    results = session.send([get(uri) for uri in NODES.values()])
    out: Values = {}
    for (name, uri), result in zip(NODES.items(), results, strict=True):
        decisive(result, uri, session.auth)
        out[name] = result.data if result.status == "200" else None
    return out


def read_host(dm: DmDevice) -> Values:
    """The nodes read in the shared session (a lab-triggered one)."""
    return values_in(dm.shared())


def record(evidence: CaseEvidence, moment: str, values: Values,
           expected: dict[str, str]) -> None:
    evidence.host_reading(moment, values, expected, NODES)


def host_part(values: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in values.items() if k in hostlife.FIELDS}


def take_report(dm: DmDevice, why: str) -> DmSession | None:
    """The session the device opens by itself within the post-update window (None: none)."""
    window = dm.timeouts.post_update_window
    with waiting(f"waiting for the device's session after {why}", window):
        try:
            session = dm.omadm.wait_session(timeout=window)
        except DeviceTimeout:
            return None
    dm.adopt(session)
    return session


def write_host(dm: DmDevice, values: dict[str, str]) -> DmSession | None:
    """The host writes ``values``; the session the device then opens to report them."""
    dm.release()
    dm.omadm.expect_session()
    hostlife.write_host(dm.controller, values)
    return take_report(dm, "the host update")


@pytest.fixture
def host(dm: DmDevice, evidence: CaseEvidence) -> Iterator[dict[str, str]]:
    """What the device should report now, checked before the case (the start reading; when an
    earlier case left other host values, the host writes its own first); the host writes
    its values back after the case when the device then reports others."""
    expected = expected_now(dm)
    hostlife.start_reading(
        lambda: read_host(dm), lambda values: hostlife.mismatches(values, expected, NODES),
        lambda values: bool(hostlife.mismatches(values, host_part(expected), {})),
        lambda: close_quietly(write_host(dm, host_part(expected))),
        lambda values: record(evidence, "start", values, expected),
        "the CDR-DVM-4532 node cases")
    yield host_part(expected)
    try:
        if not hostlife.mismatches(read_host(dm), host_part(expected), NODES):
            return
    except (DeviceFault, Inconclusive) as exc:
        dm.lab.transcript.note("omadm", f"reading the host values after the case: {exc}")
    try:
        close_quietly(write_host(dm, host_part(expected)))
    except Inconclusive as exc:
        dm.lab.transcript.note("omadm", f"the host values could not be written back: {exc}")


def test_host_values_after_reboot(dm: DmDevice, host: dict[str, str],
                                  evidence: CaseEvidence) -> None:
    """After a reboot the first session gives the same host values and IMEISV."""
    expected = expected_now(dm)
    dm.release()
    dm.controller.reboot()
    after = read_host(dm)
    record(evidence, "after reboot", after, expected)
    wrong = hostlife.mismatches(after, expected, NODES)
    assert not wrong, "after a reboot: " + "; ".join(wrong)


def test_host_values_after_factory_reset(dm: DmDevice, host: dict[str, str],
                                         evidence: CaseEvidence) -> None:
    """After a factory reset the host values come back: at once when the module keeps them,
    within the declared window when the host writes them again."""
    life = dm.dut.host_identity
    auth = dm.reset_to_factory()
    back = time.monotonic()
    if not auth.verified:
        raise Inconclusive("the lab could not authenticate the device's first session after "
                           "the factory reset (judged by CDR-DVM-3954/3955)")
    expected = {**host, "imeisv": hostlife.expected_imeisv(dm.dut, dm.baseline.firmware_version)}
    after = read_host(dm)
    if life.factory_reset == "host-rewrites" and hostlife.mismatches(after, expected, {}):
        after = rewritten(dm, back + life.rewrite_within)
    record(evidence, "after factory reset", after, expected)
    wrong = hostlife.mismatches(after, expected, NODES)
    when = ("in the first session (host_identity.factory_reset: module-keeps)"
            if life.factory_reset == "module-keeps" else
            f"within {life.rewrite_within:g} s (host_identity.rewrite_within) of the first "
            "session after it")
    assert not wrong, f"after a factory reset, {when}: " + "; ".join(wrong)


def rewritten(dm: DmDevice, deadline: float) -> Values:
    """The values once the host wrote them again: in the session the device opens to report
    them before ``deadline`` (monotonic), else in a lab-triggered session at the deadline."""
    dm.release()
    dm.omadm.expect_session()
    remaining = max(0.0, deadline - time.monotonic())
    with waiting("waiting for the host to write its values again", remaining):
        try:
            session = dm.omadm.wait_session(timeout=remaining) if remaining else None
        except DeviceTimeout:
            session = None
    if session is None:
        return read_host(dm)
    dm.adopt(session)
    try:
        return values_in(session)
    finally:
        close_quietly(session)


@pytest.mark.applies(feature="fota")
def test_host_values_after_fota(dm: DmDevice, host: dict[str, str],
                                evidence: CaseEvidence) -> None:
    """After a successful FUMO update: host values unchanged, FwV new, IMEISV as declared."""
    package = dm.dut.features.fota_package
    assert package is not None, "features.fota needs fota_package (the declaration validates it)"
    previous = dm.baseline.firmware_version
    version = package.new_version
    scheme = next((s for s in dm.dut.features.fota_protocols if s in ("http", "https")), "http")
    name = f"host-identity-{secrets.token_hex(3)}.bin"
    urls = dm.packages.publish(name, package_image(dm, version))
    try:
        try:
            outcome = update(dm, getattr(urls, scheme))
        except DeviceFault as exc:
            raise Inconclusive(f"the FUMO update did not succeed ({exc}): judged by "
                               "ATT-DMIG-4.2") from None
        if outcome.fwv is not None:
            dm.baseline.firmware_version = outcome.fwv
        if outcome.result != "200":
            raise Inconclusive(f"the FUMO update did not succeed (result {outcome.result!r}): "
                               "judged by ATT-DMIG-4.2")
        expected = {**host, "imeisv": hostlife.expected_imeisv(dm.dut, version)}
        after = read_host(dm)
        record(evidence, "after FOTA", after, expected)
        evidence.expect(f"{FWV} after FOTA", version, outcome.fwv)
        if outcome.fwv != version:  # the update is not shown to have run
            raise Inconclusive(f"after the update {FWV} is {outcome.fwv!r}, expected {version!r}: "
                               "the new firmware version is judged by ATT-DMIG-4.2")
        wrong = hostlife.mismatches(after, expected, NODES)
        assert not wrong, "after the FUMO update: " + "; ".join(wrong)
    finally:
        restore_firmware(dm, previous)


def restore_firmware(dm: DmDevice, version: str) -> None:
    """The firmware the case found, back by sideload (its report session taken)."""
    if dm.baseline.firmware_version == version:
        return
    dm.release()
    dm.omadm.expect_session()
    try:
        dm.controller.sideload_update(version)
    except Inconclusive as exc:
        dm.lab.transcript.note("omadm", f"firmware {version} could not be put back: {exc}")
        return
    dm.baseline.firmware_version = version
    close_quietly(take_report(dm, "the sideload back"))


def test_host_update_read_at_once(dm: DmDevice, host: dict[str, str],
                                  evidence: CaseEvidence) -> None:
    """The host writes new values: the first session after it gives them."""
    new = hostlife.updated(host)
    session = write_host(dm, new)
    try:
        after = values_in(session) if session is not None else read_host(dm)
    finally:
        close_quietly(session)
    expected = {**new, "imeisv": expected_now(dm)["imeisv"]}  # the module's own: unchanged
    record(evidence, "after host update", after, expected)
    wrong = hostlife.mismatches(after, expected, NODES)
    assert not wrong, "after the host wrote new values: " + "; ".join(wrong)


@pytest.mark.requirement("CDR-DVM-1533")
def test_host_update_reported(dm: DmDevice, host: dict[str, str],
                              evidence: CaseEvidence) -> None:
    """The host writes new values: the device opens a session by itself within the
    post-update window and reports them (Package 1, or a Get in that session)."""
    new = hostlife.updated(host)
    expected = {NODES[name]: value for name, value in new.items()}
    session = write_host(dm, new)
    if session is None:
        silence = (f"no session from the device within the {dm.timeouts.post_update_window:g}"
                   " s post-update window after the host wrote new host values")
        dm.alive_after_silence(silence)
        raise DeviceFault(silence + " (a triggered session works)")
    try:
        if session.package1.alerts("1200"):
            raise Inconclusive("the session after the host update answers a Package 0; the "
                               "lab sent none (another server is talking to the device?)")
        sent = reported(session.package1, session.auth)
        stale = [f"{uri} sent as {sent[uri]!r}, expected {value!r}"
                 for uri, value in expected.items() if uri in sent and sent[uri] != value]
        assert not stale, (
            "the session after the host update reports stale values: " + "; ".join(stale))
        missing = [uri for uri in expected if uri not in sent]
        evidence.note(f"session {session.session_id} after the host update: Package 1 "
                      f"carries {', '.join(u for u in expected if u in sent) or 'none'}; "
                      f"read with Get: {', '.join(missing) or 'none'}")
        if missing:
            require_authenticated(session)
            results = dict(zip(missing, session.send([get(u) for u in missing]), strict=True))
            wrong = [f"{uri} is {show(r)}, expected {expected[uri]!r}"
                     for uri, r in results.items()
                     if r.status != "200" or r.data != expected[uri]]
            assert not wrong, "after the host update: " + "; ".join(wrong)
    finally:
        close_quietly(session)
