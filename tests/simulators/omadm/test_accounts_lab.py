"""Per-account authentication through the real lab and the reference device (real HTTP)."""

from __future__ import annotations

import queue
from pathlib import Path

from conformance.declaration import Declaration, DmAccountCredentials, FactoryAccounts
from conformance.evidence.transcript import Transcript
from conformance.omadm.lab import OmaDmLab
from conformance.runtime import LabLoop
from conformance.simulators.omadm_core import DeviceOptions, ReferenceDevice
from conformance.simulators.omadm_session import SessionResult

WAIT = 15.0


def _with_accounts(base: Declaration, prod_server_auth: str) -> Declaration:
    assert base.omadm is not None
    factory = base.omadm.factory_accounts()
    prod = DmAccountCredentials.model_validate(
        {**factory.production.model_dump(), "client_auth": "hmac",
         "server_auth": prod_server_auth})
    dev = DmAccountCredentials.model_validate(
        {**factory.development.model_dump(), "client_auth": "md5", "server_auth": "md5",
         "client_secret": "dev-client-secret", "server_secret": "dev-server-secret"})
    omadm = base.omadm.model_copy(update={
        "accounts": FactoryAccounts(production=prod, development=dev),
        "client_name": None, "client_secret": None, "server_secret": None})
    return base.model_copy(update={"omadm": omadm})


def test_lab_answers_the_devices_chal_with_the_type_it_asks_for(
    loop: LabLoop, declaration: Declaration, tmp_path: Path
) -> None:
    """The lab believes md5 towards the device; the device demands HMAC: it gets HMAC."""
    lab_decl = _with_accounts(declaration, "md5")
    device_decl = _with_accounts(declaration, "hmac")
    transcript = Transcript(path=tmp_path / "transcript.jsonl")
    lab = OmaDmLab(loop, lab_decl, transcript, tmp_path)
    lab.start()
    device = ReferenceDevice(device_decl, DeviceOptions(server_url=lab.url,
                                                        state_dir=tmp_path / "state"))
    ended: queue.Queue[SessionResult] = queue.Queue()
    device.session_listeners.append(ended.put)
    device.start()
    try:
        lab.expect_session()
        device.trigger_session({})
        first = lab.wait_session(WAIT)
        assert first.auth.verified and first.auth.account == "production"  # HMAC from the client
        refused = first.get("./DevInfo/Man")  # with the lab's MD5 Cred: the device demands HMAC
        assert refused.status != "200" and not refused.items
        first.close()  # the lab's answer carries the device's new server nonce home
        ended.get(timeout=WAIT)
        assert first.auth.asked_type == "syncml:auth-MAC"
        assert any("answers with hmac" in n for n in first.auth.notes)
        lab.expect_session()
        device.trigger_session({})
        second = lab.wait_session(WAIT)
        assert second.get("./DevInfo/Man").status == "200"
        assert second.auth.statuses_for_asked_type()[0] == "212"
        second.close()
        assert ended.get(timeout=WAIT).ok
    finally:
        device.stop()
        lab.stop()
        transcript.close()
    assert "answers with hmac" in (tmp_path / "transcript.jsonl").read_text()
