"""Each fault of the registry changes what it says (on the tree, the state or the wire)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.declaration import Declaration, luhn_valid
from conformance.errors import ConfigurationError
from conformance.omadm import notification
from conformance.omadm.model import AUTH_BASIC, Get, Item, Replace, Results, Status
from conformance.simulators import omadm_mo as mo
from conformance.simulators.dmtree import DMTree
from conformance.simulators.omadm_core import DeviceOptions, ReferenceDevice
from conformance.simulators.omadm_executor import CommandExecutor
from conformance.simulators.omadm_faults import FAULTS, Faults, describe
from conformance.verdicts import DeviceTimeout

WAIT = 15.0
HERE = Path(__file__).parent
KNOWN_REQUIREMENTS = {
    "CDR-DVM-012",
    "CDR-DVM-440",
    "CDR-DVM-1533",
    "CDR-DVM-3954",
    "CDR-DVM-3955",
    "CDR-DVM-4532",
    "ATT-DMIG-4.2",
}


def test_registry_entries_are_documented() -> None:
    assert len(FAULTS) >= 26
    for name, fault in FAULTS.items():
        assert fault.name == name
        assert fault.requirement in KNOWN_REQUIREMENTS
        assert set(fault.also) <= KNOWN_REQUIREMENTS and fault.requirement not in fault.also
        assert fault.description.endswith(".")
    text = describe()
    assert all(name in text for name in FAULTS)


def test_every_fault_is_exercised_by_a_test() -> None:
    sources = "".join(
        p.read_text() for p in HERE.glob("test_*.py") if p.name != Path(__file__).name
    )
    untested = [name for name in FAULTS if f'"{name}"' not in sources and name not in _HERE_TESTED]
    assert untested == []


def test_the_code_only_asks_for_registered_faults() -> None:
    package = Path(mo.__file__).parent
    asked = set()
    for source in [*package.glob("omadm_*.py"), package / "dmtree.py"]:
        # dmtree.py: the tree-operation faults the tree plays (DMTree.quirks)
        asked |= set(re.findall(r'"([a-z0-9-]+)" (?:not )?in [\w.]*(?:faults|quirks)',
                                source.read_text()))
    assert asked and asked <= set(FAULTS)
    assert len(asked) == len(FAULTS)  # and every registered fault is used somewhere


def test_unknown_fault_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="no-such-fault"):
        Faults(["no-such-fault"])
    with pytest.raises(KeyError):
        _ = "typo-fault" in Faults()


# --------------------------------------------------------------------------- on the tree

_HERE_TESTED = {
    "missing-host-nodes",
    "wrong-imeisv-format",
    "host-node-wrong-format",
    "host-node-not-gettable",
    "wrong-devid",
    "account-secret-readable",
    "wrong-account-address",
    "wrong-account-values",
    "missing-account-3",
    "wrong-devinfo-values",
    "wrong-status-codes",
    "basic-auth-only",
    "no-post-update-session",
    "stale-host-values",
    "wrong-content-type",
    "no-max-msg-size",
    "no-nonce-retry",
    "ignores-next-nonce",
    "undeclared-secret-readable",
    "host-nodes-unauthorized",
    "ignores-package0",
    "crash-on-sequence",
}
EXT = "./DevDetail/Ext"


def test_clean_tree_has_none_of_the_faults(tree: DMTree, declaration: Declaration) -> None:
    assert tree.get(f"{EXT}/HostSwV").status == "200"
    assert tree.get(f"{EXT}/IMEISV").values[0].data == declaration.device.imeisv


def test_missing_host_nodes(make_tree: Callable[..., DMTree]) -> None:
    tree = make_tree("missing-host-nodes")
    for node in ("HostMan", "HostMod", "HostSwV", "HostUniqueID"):
        assert tree.get(f"{EXT}/{node}").status == "404"
    assert tree.get(f"{EXT}/IMEISV").status == "200"


def test_wrong_imeisv_format(make_tree: Callable[..., DMTree]) -> None:
    assert make_tree("wrong-imeisv-format").get(f"{EXT}/IMEISV").values[0].data == "7"


def test_host_node_wrong_format(make_tree: Callable[..., DMTree]) -> None:
    value = make_tree("host-node-wrong-format").get(f"{EXT}/HostSwV").values[0]
    assert value.format == "int"


def test_host_node_not_gettable(make_tree: Callable[..., DMTree]) -> None:
    tree = make_tree("host-node-not-gettable")
    assert tree.get(f"{EXT}/HostUniqueID").status == "405"
    assert tree.get(f"{EXT}/HostMan").status == "200"


def test_wrong_devid(make_tree: Callable[..., DMTree], declaration: Declaration) -> None:
    devid = str(make_tree("wrong-devid").value("./DevInfo/DevId"))
    assert not devid.startswith("IMEI:")
    assert len(devid) == 15 and not luhn_valid(devid)
    assert devid[:14] == declaration.device.imei[:14]


def test_account_secret_readable(
    make_tree: Callable[..., DMTree], declaration: Declaration
) -> None:
    assert declaration.omadm is not None
    got = make_tree("account-secret-readable").get(
        f"{mo.PROD_ACCOUNT}/{mo.CLIENT_AUTH}/AAuthSecret"
    )
    assert (got.status, got.values[0].data) == (
        "200",
        declaration.omadm.client_secret.get_secret_value(),
    )


def test_undeclared_secret_readable(make_tree: Callable[..., DMTree]) -> None:
    tree = make_tree("undeclared-secret-readable")
    got = tree.get(f"{mo.DEV_ACCOUNT}/{mo.CLIENT_AUTH}/AAuthSecret")
    assert (got.status, got.values[0].data) == ("200", mo.UNDECLARED_SECRET)
    assert tree.get(f"{mo.PROD_ACCOUNT}/{mo.CLIENT_AUTH}/AAuthSecret").status == "405"


def test_host_nodes_unauthorized(make_tree: Callable[..., DMTree]) -> None:
    executor = CommandExecutor(make_tree("host-nodes-unauthorized"))
    gets = [Get(cmd_id=str(n), items=[Item(target=f"{EXT}/{name}")])
            for n, name in enumerate(("HostMan", "HostSwV?prop=Format", "IMEISV"), start=1)]
    replies = executor.execute("2", [*gets]).replies
    statuses = [r.data for r in replies if isinstance(r, Status)]
    assert statuses == ["401", "401", "200"]
    assert len([r for r in replies if isinstance(r, Results)]) == 1  # IMEISV only


def test_wrong_account_address_and_values(make_tree: Callable[..., DMTree]) -> None:
    tree = make_tree("wrong-account-address")
    assert tree.value(f"{mo.PROD_ACCOUNT}/AppAddr/SrvAddr/Addr") != mo.PROD_ADDR
    assert tree.value(f"{mo.DEV_ACCOUNT}/AppAddr/SrvAddr/Addr") == mo.DEV_ADDR
    tree = make_tree("wrong-account-values")
    assert tree.value(f"{mo.DEV_ACCOUNT}/ServerID") != "ATTLabA"
    assert tree.value(f"{mo.PROD_ACCOUNT}/ServerID") == "ATTLabA"


def test_missing_account_3(make_tree: Callable[..., DMTree]) -> None:
    tree = make_tree("missing-account-3")
    assert tree.get(mo.BOOTSTRAP_ACCOUNT).status == "404"
    assert tree.get("./DMAcc").values[0].data == "ATTProd/ATTDev"


def test_wrong_devinfo_values(make_tree: Callable[..., DMTree], declaration: Declaration) -> None:
    tree = make_tree("wrong-devinfo-values")
    assert tree.value("./DevInfo/Man") != declaration.device.manufacturer
    assert tree.value("./DevInfo/Mod") == declaration.device.model


def test_wrong_status_codes(make_tree: Callable[..., DMTree]) -> None:
    tree = make_tree("wrong-status-codes")
    assert tree.add("./DevInfo/Man", "x", "chr") == "200"
    assert tree.replace("./DevInfo/Man", "x", "chr") == "200"
    assert tree.get("./DevInfo/Nope").status == "404"  # only those two lie


def test_basic_auth_only_shows_in_the_accounts(make_tree: Callable[..., DMTree]) -> None:
    tree = make_tree("basic-auth-only")
    for account in (mo.PROD_ACCOUNT, mo.DEV_ACCOUNT):
        assert tree.value(f"{account}/{mo.CLIENT_AUTH}/AAuthType") == "BASIC"


# --------------------------------------------------------------------------- updates


def _device(declaration: Declaration, tmp_path: Path, *faults: str) -> ReferenceDevice:
    return ReferenceDevice(declaration, DeviceOptions(state_dir=tmp_path), Faults(faults))


def test_update_without_faults_queues_a_session(declaration: Declaration, tmp_path: Path) -> None:
    dev = _device(declaration, tmp_path)
    answer = dev.sideload_update({"firmware_version": "FW-3", "host_software_version": "77"})
    assert answer["session_id"]
    assert dev.tree.value(f"{EXT}/HostSwV") == "77"


def test_no_post_update_session(declaration: Declaration, tmp_path: Path) -> None:
    dev = _device(declaration, tmp_path, "no-post-update-session")
    answer = dev.oem_server_update({"firmware_version": "FW-3", "host_software_version": "77"})
    assert answer == {}
    assert dev.tree.value("./DevDetail/FwV") == "FW-3"  # the update itself happened


def test_stale_host_values(
    declaration: Declaration, tmp_path: Path, rig: Callable[..., Any]
) -> None:
    r = rig(None, "stale-host-values")
    r.lab.expect_session()
    r.device.sideload_update(
        {"firmware_version": "FW-3", "host_software_version": "77", "host_model": "M2"}
    )
    session = r.lab.wait_session(WAIT)
    sent = {
        i.source: i.text()
        for c in session.device_commands()
        if isinstance(c, Replace)
        for i in c.items
    }
    assert sent[f"{EXT}/HostSwV"] == declaration.host.software_version  # the old one
    assert sent[f"{EXT}/HostMod"] == "M2"
    assert sent["./DevDetail/FwV"] == "FW-3"
    session.close()
    r.session_end()


# --------------------------------------------------------------------------- on the wire


def test_basic_auth_only_on_the_wire(rig: Callable[..., Any]) -> None:
    r = rig(None, "basic-auth-only")
    r.lab.expect_session()
    r.device.trigger_session({})
    session = r.lab.wait_session(WAIT)
    cred = session.package1.header.cred
    assert cred is not None and cred.meta.type == AUTH_BASIC
    assert session.auth.type_seen == "basic"
    r.session_end()


def test_wrong_content_type_and_no_max_msg_size(rig: Callable[..., Any]) -> None:
    r = rig(None, "wrong-content-type", "no-max-msg-size")
    r.lab.expect_session()
    r.device.trigger_session({})
    session = r.lab.wait_session(WAIT)
    assert session.content_type.startswith("application/vnd.syncml+xml")
    meta = session.package1.header.meta
    assert meta is None or meta.max_msg_size is None
    session.close()
    r.session_end()


def test_no_nonce_retry(rig: Callable[..., Any], declaration: Declaration) -> None:
    # The lab waits up to one request timeout for the retry that never comes: keep it short.
    quick = declaration.model_copy(
        update={"timeouts": declaration.timeouts.model_copy(update={"request": 2.0})}
    )
    r = rig(quick, "no-nonce-retry")
    r.lab.expect_session(challenge=True)
    r.device.trigger_session({})
    session = r.lab.wait_session(WAIT)
    result = r.session_end()
    assert not result.ok and "rejected" in result.outcome
    assert session.auth.retries == 0 and not session.auth.verified


def test_ignores_next_nonce(rig: Callable[..., Any]) -> None:
    r = rig(None, "ignores-next-nonce")
    r.lab.expect_session()
    r.device.trigger_session({})
    first = r.lab.wait_session(WAIT)
    assert first.auth.verified  # nonce "null": fine the first time
    assert first.get("./DevInfo/Man").status == "200"  # a second message: the lab's
    first.close()  # NextNonce has been delivered and must be used from now on
    assert r.session_end().ok
    r.lab.expect_session()
    r.device.trigger_session({})
    second = r.lab.wait_session(WAIT)
    result = r.session_end()
    assert not result.ok and "rejected" in result.outcome
    assert not second.auth.verified
    assert all(a.nonce in (None, b"null") for a in second.auth.attempts)


def test_ignores_package0(declaration: Declaration, tmp_path: Path) -> None:
    notice = notification.parse(notification.build("ATTLabA", "x", b"null", 7))
    clean = _device(declaration, tmp_path / "clean")
    clean._on_package0(notice)
    assert not clean._sessions.empty()
    dev = _device(declaration, tmp_path / "faulty", "ignores-package0")
    dev._on_package0(notice)
    assert dev._sessions.empty()


def test_crash_on_sequence(rig: Callable[..., Any], declaration: Declaration) -> None:
    quick = declaration.model_copy(
        update={"timeouts": declaration.timeouts.model_copy(update={"request": 2.0})}
    )
    r = rig(quick, "crash-on-sequence")
    r.lab.expect_session()
    r.device.trigger_session({})
    session = r.lab.wait_session(WAIT)
    assert session.get("./DevInfo/Man").status == "200"  # anything else works
    with pytest.raises(DeviceTimeout):
        session.sequence([Get(cmd_id="", items=[Item(target="./DevInfo/Mod")])])
    result = r.session_end()
    assert not result.ok and "Sequence" in result.outcome


def test_an_undeclared_secret_read_through_the_lab_reaches_no_file(
    rig: Callable[..., Any], tmp_path: Path
) -> None:
    """Redaction by node meaning: the device returns a secret the declaration never gave."""
    r = rig(None, "undeclared-secret-readable")
    r.lab.expect_session()
    r.device.trigger_session({})
    session = r.lab.wait_session(WAIT)
    got = session.get(f"{mo.DEV_ACCOUNT}/{mo.CLIENT_AUTH}/AAuthSecret")
    assert got.status == "200" and got.data == mo.UNDECLARED_SECRET  # the case sees it
    session.close()
    r.session_end()
    r.transcript.close()
    secret = mo.UNDECLARED_SECRET.encode()
    leaks = [p for p in tmp_path.rglob("*") if p.is_file() and "device-state" not in p.parts
             and secret in p.read_bytes()]
    assert leaks == []
