"""Persistent state, the actions on it, and a session against a lab that answers nonsense."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from conformance.declaration import Declaration
from conformance.omadm import auth, codec
from conformance.omadm.model import Cred, Status, SyncHdr, SyncML
from conformance.runtime import LabLoop
from conformance.simulators import omadm_mo as mo
from conformance.simulators.omadm_core import ActionError, DeviceOptions, ReferenceDevice
from conformance.simulators.omadm_faults import Faults
from conformance.simulators.omadm_session import SessionResult
from conformance.simulators.omadm_state import STATE_FILE

EXT = "./DevDetail/Ext"
CLIENT_NONCE = f"{mo.PROD_ACCOUNT}/{mo.CLIENT_AUTH}/AAuthData"


def make(
    declaration: Declaration, state: Path, *faults: str, url: str | None = None
) -> ReferenceDevice:
    return ReferenceDevice(
        declaration, DeviceOptions(server_url=url, state_dir=state), Faults(faults)
    )


def test_update_and_nonce_survive_a_restart(declaration: Declaration, tmp_path: Path) -> None:
    dev = make(declaration, tmp_path)
    dev.sideload_update({"firmware_version": "FW-5", "host_unique_id": "NEW1"})
    dev.store_client_nonce(b"n1")
    saved = json.loads((tmp_path / STATE_FILE).read_text())
    assert "./DevInfo/Man" not in saved["values"]  # only what differs from the factory
    again = make(declaration, tmp_path)
    assert again.tree.value("./DevDetail/FwV") == "FW-5"
    assert again.tree.value(f"{EXT}/HostUniqueID") == "NEW1"
    assert again.account().client_nonce == b"n1"
    assert again.session_counter == dev.session_counter


def test_secret_file_holds_no_more_than_it_must(declaration: Declaration, tmp_path: Path) -> None:
    make(declaration, tmp_path).persist()
    assert declaration.omadm is not None
    text = (tmp_path / STATE_FILE).read_text()
    assert declaration.omadm.client_secret.get_secret_value() not in text


def test_factory_reset_and_reboot(declaration: Declaration, tmp_path: Path) -> None:
    dev = make(declaration, tmp_path)
    dev.set_host_values(
        {"manufacturer": "H", "model": "M", "software_version": "9", "unique_id": "U1"}
    )
    dev.store_client_nonce(b"n2")
    dev.reboot({})
    assert dev.tree.value(f"{EXT}/HostMan") == "H"
    assert dev.account().client_nonce == b"n2"
    dev.factory_reset({})
    assert dev.tree.value(f"{EXT}/HostMan") == "H"  # the host's, kept (module-keeps)
    assert dev.tree.value(CLIENT_NONCE) == b"null"
    assert dev.tree.exec_handlers  # FUMO still wired after the tree was rebuilt


def test_a_session_cut_by_a_factory_reset_keeps_no_nonce(declaration: Declaration,
                                                         tmp_path: Path) -> None:
    """A reset cuts a session, as a module's reboot does: the nonces it stores afterwards are
    not kept (over the wire: test_sessions_lab.py, the reset cutting a session)."""
    dev = make(declaration, tmp_path)
    born = dev.resets  # a session starts
    dev.factory_reset({})  # the control channel, meanwhile
    dev.store_server_nonce(b"issued", born)
    dev.store_client_nonce(b"next", born)
    assert dev.account().server_nonce == b"null"
    assert dev.account().client_nonce == b"null"
    dev.store_server_nonce(b"issued", dev.resets)  # a session begun after the reset keeps it
    assert dev.account().server_nonce == b"issued"


HOST_VALUES = {"manufacturer": "H", "model": "M", "software_version": "9", "unique_id": "U1"}


def host_nodes(dev: ReferenceDevice) -> list[object]:
    return [dev.tree.value(path) for path in mo.HOST_NODES.values()]


def test_host_update_opens_a_session_only_on_change(declaration: Declaration,
                                                    tmp_path: Path) -> None:
    dev = make(declaration, tmp_path)
    assert dev.set_host_values(HOST_VALUES)["session_id"]  # the device reports (CDR-DVM-1533)
    assert dev.set_host_values(HOST_VALUES) == {}  # nothing changed, nothing to report
    quiet = make(declaration, tmp_path / "quiet", "set-host-values-not-reported")
    assert quiet.set_host_values(HOST_VALUES) == {}
    assert host_nodes(quiet) == ["H", "M", "9", "U1"]


def test_host_rewrites_after_factory_reset(declaration: Declaration, tmp_path: Path) -> None:
    life = declaration.host_identity.model_copy(update={"factory_reset": "host-rewrites"})
    rewriting = declaration.model_copy(update={"host_identity": life})
    dev = make(rewriting, tmp_path)
    dev.set_host_values(HOST_VALUES)
    dev.factory_reset({})
    assert host_nodes(dev) == ["H", "M", "9", "U1"]


@pytest.mark.parametrize("fault", ["host-values-lost-on-reboot",
                                   "host-values-lost-on-factory-reset"])
def test_host_values_lost_faults(declaration: Declaration, tmp_path: Path, fault: str) -> None:
    dev = make(declaration, tmp_path, fault)
    dev.reboot({})
    if fault.endswith("reboot"):
        assert host_nodes(dev) == ["", "", "", ""]
        return
    assert host_nodes(dev)[0] == declaration.host.manufacturer
    dev.factory_reset({})
    assert host_nodes(dev) == ["", "", "", ""]


def test_fota_wipe_fault_and_declared_imeisv(declaration: Declaration, tmp_path: Path) -> None:
    features = declaration.features
    assert features.fota_package is not None
    package = features.fota_package.model_copy(update={"new_imeisv": "08"})
    declared = declaration.model_copy(update={
        "features": features.model_copy(update={"fota_package": package})})
    dev = make(declared, tmp_path, "host-values-wiped-by-fota")
    dev.firmware_updated(package.new_version)
    assert dev.tree.value(f"{EXT}/IMEISV") == "08"
    assert host_nodes(dev) == ["", "", "", ""]
    dev.sideload_update({"firmware_version": declaration.device.firmware_version})
    assert dev.tree.value(f"{EXT}/IMEISV") == declaration.device.imeisv


@pytest.mark.parametrize(
    ("action", "params", "message"),
    [
        ("sideload_update", {}, "missing parameter"),
        ("sideload_update", {"firmware_version": "1", "colour": "red"}, "unknown parameter"),
        ("set_host_values", {"manufacturer": "only"}, "missing parameter"),
        (
            "set_host_values",
            {"manufacturer": ["x"], "model": "m", "software_version": "s", "unique_id": "u"},
            "expected a string",
        ),
        ("reboot", {"now": True}, "takes no parameters"),
        ("fly", {}, "unknown action"),
    ],
)
def test_bad_actions_are_refused(
    declaration: Declaration,
    tmp_path: Path,
    action: str,
    params: dict[str, object],
    message: str,
) -> None:
    with pytest.raises(ActionError, match=message):
        make(declaration, tmp_path).act(action, params)


# --------------------------------------------------------------------------- a broken lab


@pytest.fixture
def nonsense_lab(loop: LabLoop) -> Iterator[str]:
    async def answer(request: web.Request) -> web.Response:
        await request.read()
        kind = request.match_info["kind"]
        if kind == "open":  # authenticates, then never sends a command nor Final
            msg = SyncML(
                SyncHdr(
                    "1",
                    "1",
                    "IMEI:357099060399038",
                    "lab",
                    cred=Cred(auth.md5_digest("ATTLabA", "ref-server-secret-3954", b"null")),
                ),
                [Status("1", msg_ref="1", cmd_ref="0", cmd="SyncHdr", data="212")],
                final=False,
            )
            return web.Response(
                body=codec.encode(msg, "xml"), content_type="application/vnd.syncml.dm+xml"
            )
        if kind == "garbage":
            return web.Response(
                body=b"<SyncML><SyncHdr>oops", content_type="application/vnd.syncml.dm+xml"
            )
        return web.Response(status=503)

    app = web.Application()
    app.router.add_post("/{kind}", answer)
    runner = web.AppRunner(app)

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return int(runner.addresses[0][1])

    port = loop.call(start(), 10)
    yield f"http://127.0.0.1:{port}"
    loop.call(runner.cleanup(), 10)


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [("garbage", "malformed"), ("down", "HTTP 503"), ("open", "without a command")],
)
def test_a_broken_lab_ends_the_session_cleanly(
    declaration: Declaration, tmp_path: Path, nonsense_lab: str, kind: str, outcome: str
) -> None:
    dev = make(declaration, tmp_path, url=f"{nonsense_lab}/{kind}")
    ended: queue.Queue[SessionResult] = queue.Queue()
    dev.session_listeners.append(ended.put)
    dev.start()
    try:
        dev.trigger_session({})
        result = ended.get(timeout=15)
        assert not result.ok and outcome in result.outcome
        dev.trigger_session({})  # the device is still fine and tries again
        assert ended.get(timeout=15).session_id != result.session_id
    finally:
        dev.stop()
