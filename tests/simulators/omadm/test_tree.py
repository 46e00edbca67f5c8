"""The reference device's DM tree: values, access types and the status codes they give."""

from __future__ import annotations

import pytest

from conformance.declaration import Declaration
from conformance.simulators import omadm_mo as mo
from conformance.simulators.dmtree import DMTree

EXT = "./DevDetail/Ext"
CLIENT = f"{mo.PROD_ACCOUNT}/{mo.CLIENT_AUTH}"
SERVER = f"{mo.PROD_ACCOUNT}/{mo.SERVER_AUTH}"


def test_devinfo_and_devdetail_values_come_from_the_declaration(
    tree: DMTree, declaration: Declaration
) -> None:
    dev, host = declaration.device, declaration.host
    expected = {
        "./DevInfo/DevId": f"IMEI:{dev.imei}",
        "./DevInfo/Man": dev.manufacturer,
        "./DevInfo/Mod": dev.model,
        "./DevInfo/DmV": "1.2",
        "./DevInfo/Lang": dev.language,
        "./DevDetail/FwV": dev.firmware_version,
        "./DevDetail/SwV": dev.software_version,
        "./DevDetail/HwV": dev.hardware_version,
        "./DevDetail/DevTyp": dev.device_type,
        "./DevDetail/OEM": dev.oem,
        "./DevDetail/LrgObj": "true",
        f"{EXT}/HostMan": host.manufacturer,
        f"{EXT}/HostMod": host.model,
        f"{EXT}/HostSwV": host.software_version,
        f"{EXT}/HostUniqueID": host.unique_id,
        f"{EXT}/IMEISV": dev.imeisv,
    }
    for uri, value in expected.items():
        outcome = tree.get(uri)
        assert outcome.status == "200", uri
        assert outcome.values[0].data == value, uri
        assert outcome.values[0].format == ("bool" if uri.endswith("LrgObj") else "chr"), uri


@pytest.mark.parametrize(
    ("rel", "value"),
    [
        ("AppID", "w7"),
        ("ServerID", "ATTLabA"),
        ("Name", "ATTLabA"),
        ("AppAddr/SrvAddr/AddrType", "URI"),
        ("AppAddr/SrvAddr/Port/Port1/PortNbr", "443"),
        (f"{mo.CLIENT_AUTH}/AAuthLevel", "CLCRED"),
        (f"{mo.CLIENT_AUTH}/AAuthType", "DIGEST"),
        (f"{mo.CLIENT_AUTH}/AAuthName", "357099060399038"),
        (f"{mo.SERVER_AUTH}/AAuthLevel", "SRVCRED"),
        (f"{mo.SERVER_AUTH}/AAuthType", "DIGEST"),
        (f"{mo.SERVER_AUTH}/AAuthName", "ATTLabA"),
    ],
)
@pytest.mark.parametrize("account", [mo.PROD_ACCOUNT, mo.DEV_ACCOUNT])
def test_both_factory_accounts_hold_the_guide_values(
    tree: DMTree, account: str, rel: str, value: str
) -> None:
    outcome = tree.get(f"{account}/{rel}")
    assert (outcome.status, outcome.values[0].data) == ("200", value)


def test_account_addresses(tree: DMTree) -> None:
    assert tree.get(f"{mo.PROD_ACCOUNT}/AppAddr/SrvAddr/Addr").values[0].data == mo.PROD_ADDR
    assert tree.get(f"{mo.DEV_ACCOUNT}/AppAddr/SrvAddr/Addr").values[0].data == mo.DEV_ADDR


@pytest.mark.parametrize("side", [CLIENT, SERVER])
@pytest.mark.parametrize("leaf", ["AAuthSecret", "AAuthData"])
def test_secrets_and_nonces_are_not_readable_but_stored(tree: DMTree, side: str, leaf: str) -> None:
    assert tree.get(f"{side}/{leaf}").status == "405"
    assert tree.value(f"{side}/{leaf}")  # the device has it, the server cannot read it
    if leaf == "AAuthData":
        assert tree.value(f"{side}/{leaf}") == b"null"  # AAuthData bnVsbA== at the factory


def test_interior_get_lists_children_with_format_node(tree: DMTree) -> None:
    outcome = tree.get("./DMAcc")
    assert outcome.status == "200"
    value = outcome.values[0]
    assert value.format == "node"
    assert value.data == "ATTProd/ATTDev/Bootstrap"
    ext = tree.get("./DevDetail/Ext").values[0].data
    assert ext == "HostMan/HostMod/HostSwV/HostUniqueID/IMEISV"


def test_account_3_exists_and_is_empty(tree: DMTree) -> None:
    outcome = tree.get(mo.BOOTSTRAP_ACCOUNT)
    assert (outcome.status, outcome.values[0].data) == ("200", "")
    # Reserved for NETWPIN bootstrap: a DM session may not fill it (ACL, 425).
    assert tree.add(f"{mo.BOOTSTRAP_ACCOUNT}/AppID", "w7", "chr") == "425"
    assert tree.get(mo.BOOTSTRAP_ACCOUNT).values[0].data == ""


@pytest.mark.parametrize(
    ("command", "uri", "expected"),
    [
        ("get", "./DevInfo/Nope", "404"),
        ("get", "./Nowhere/At/All", "404"),
        ("replace", "./DevInfo/Man", "405"),
        ("replace", "./DevDetail/Ext/HostSwV", "405"),
        ("replace", "./DevInfo/Nope", "404"),
        ("add", "./DevInfo/Man", "418"),
        ("add", "./DMAcc/ATTProd", "418"),
        ("add", "./Nowhere/Leaf", "404"),
        ("add", "./DevInfo/Extra", "405"),
        ("delete", "./DevInfo/Man", "405"),
        ("delete", mo.PROD_ACCOUNT, "405"),
        ("delete", "./DevInfo/Nope", "404"),
        ("exec", "./DevInfo/Man", "405"),
        ("exec", "./DevInfo/Nope", "404"),
    ],
)
def test_status_codes(tree: DMTree, command: str, uri: str, expected: str) -> None:
    before = tree.value(uri)
    if command == "get":
        status = tree.get(uri).status
    elif command in ("replace", "add"):
        status = getattr(tree, command)(uri, "x", "chr")
    else:
        status = getattr(tree, command)(uri)
    assert status == expected
    assert tree.value(uri) == before  # a refused command changes nothing


def test_replace_where_allowed_and_format_checks(tree: DMTree) -> None:
    name = f"{mo.FUMO_NODE}/PkgName"
    assert tree.replace(name, "pkg-2", "chr") == "200"
    assert tree.get(name).values[0].data == "pkg-2"
    assert tree.replace(name, "3", "int") == "415"  # the node is chr
    assert tree.replace(f"{SERVER}/AAuthData", "bmV3", "b64") == "200"
    assert tree.value(f"{SERVER}/AAuthData") == b"new"
    assert tree.replace(f"{SERVER}/AAuthData", "not base64!", "b64") == "415"


def test_dynamic_account_can_be_added_and_deleted(tree: DMTree) -> None:
    assert tree.add("./DMAcc/OEM4", fmt="node") == "200"
    assert tree.add("./DMAcc/OEM4/ServerID", "OEM", "chr") == "200"
    assert tree.add("./DMAcc/OEM4/ServerID", "OEM", "chr") == "418"
    assert tree.add("./DMAcc/OEM4/Unknown", "x", "chr") == "405"
    assert tree.get("./DMAcc/OEM4").values[0].data == "ServerID"
    assert tree.delete("./DMAcc/OEM4") == "200"
    assert tree.get("./DMAcc/OEM4").status == "404"


def test_properties(tree: DMTree) -> None:
    fmt = tree.get("./DevDetail/Ext/HostSwV?prop=Format")
    assert (fmt.status, fmt.values[0].data) == ("200", "chr")
    assert fmt.values[0].uri == "./DevDetail/Ext/HostSwV?prop=Format"
    assert tree.get(f"{mo.FUMO_NODE}?prop=Type").values[0].data == "urn:oma:mo:oma-fumo:1.0"
    assert tree.get(f"{SERVER}/AAuthSecret?prop=ACL").values[0].data == ""  # inherited
    assert tree.get(f"{mo.BOOTSTRAP_ACCOUNT}?prop=ACL").values[0].data == "Get=*"
    assert tree.get("./DevInfo?prop=Nonsense").status == "406"
    assert tree.get("./DevInfo?prop=VerNo").status == "406"  # optional, not kept
    assert tree.get("./DevInfo?list=Nonsense").status == "406"


def test_exec_runs_the_registered_handler_only_where_allowed(tree: DMTree) -> None:
    calls: list[tuple[str, str, str | None]] = []

    def handler(uri: str, data: str, correlator: str | None) -> str:
        calls.append((uri, data, correlator))
        return "202"

    tree.exec_handlers[f"{mo.FUMO_NODE}/DownloadAndUpdate"] = handler
    assert tree.exec(f"{mo.FUMO_NODE}/DownloadAndUpdate", "", "c-1") == "202"
    assert tree.exec(f"{mo.FUMO_NODE}/State") == "405"
    assert calls == [(f"{mo.FUMO_NODE}/DownloadAndUpdate", "", "c-1")]


def test_uri_forms(tree: DMTree) -> None:
    assert tree.get("DevInfo/Man").status == "200"  # relative to the root
    assert tree.get("./DevInfo/Man/").status == "200"
    assert tree.get("./DevInfo//Man").status == "404"
    assert tree.get(".").values[0].data == "DevInfo/DevDetail/DMAcc/FUMO"
