"""The management objects of the reference OMA-DM device: DevInfo, DevDetail, DMAcc, FUMO.

:func:`schema` describes the tree (what ``omadm_ddf.xml`` says, once with no fault) and
:func:`factory_values` gives the factory values from the declaration. Access types follow the
OMA MOs: DevInfo/DevDetail read-only, DMAcc 1.2 (AAuthSecret and AAuthData have no Get),
FUMO 1.0 (Exec on Download, Update, DownloadAndUpdate). Faults that change the *shape* of the
tree (formats, access types, missing nodes) are applied here; value faults in
:func:`factory_values`.
"""

from __future__ import annotations

from conformance.declaration import Declaration, OmaDm
from conformance.simulators.dmtree import (
    ROOT_ACL,
    TREE_QUIRKS,
    DMTree,
    NodeSpec,
    ddf_xml,
    instantiate,
    interior,
    leaf,
)
from conformance.simulators.omadm_faults import Faults

DEVINFO = "./DevInfo"
DEVDETAIL = "./DevDetail"
DMACC = "./DMAcc"
FUMO_NODE = "./FUMO/FwPkg1"

# Node names of the accounts are the device's choice; the lab finds them by value.
PROD_ACCOUNT = f"{DMACC}/ATTProd"
DEV_ACCOUNT = f"{DMACC}/ATTDev"
BOOTSTRAP_ACCOUNT = f"{DMACC}/Bootstrap"
CLIENT_AUTH = "AppAuth/ClientSide"
SERVER_AUTH = "AppAuth/ServerSide"
PROD_ADDR = "https://iotprod.sl.attcompute.com/oma"
DEV_ADDR = "https://iotdev.sl.attcompute.com/oma"
NULL_NONCE_B64 = "bnVsbA=="
# The development account's own client secret under the fault undeclared-secret-readable:
# a value the declaration does not know, so only redaction by node meaning can hide it.
UNDECLARED_SECRET = "dev-account-secret-nobody-declared-7f3a"

AUTH_TYPES = {"md5": "DIGEST", "hmac": "HMAC", "basic": "BASIC", "none": "NONE"}

HOST_NODES = {
    "manufacturer": f"{DEVDETAIL}/Ext/HostMan",
    "model": f"{DEVDETAIL}/Ext/HostMod",
    "software_version": f"{DEVDETAIL}/Ext/HostSwV",
    "unique_id": f"{DEVDETAIL}/Ext/HostUniqueID",
}

FUMO_STATE = f"{FUMO_NODE}/State"


class FumoState:
    """FUMO 1.0 State values."""

    IDLE = 10
    DOWNLOAD_FAILED = 20
    DOWNLOAD_PROGRESSING = 30
    DOWNLOAD_COMPLETE = 40
    READY_TO_UPDATE = 50
    UPDATE_PROGRESSING = 60
    UPDATE_FAILED_HAVE_DATA = 70
    UPDATE_FAILED_NO_DATA = 80
    UPDATE_SUCCESSFUL_HAVE_DATA = 90
    UPDATE_SUCCESSFUL_NO_DATA = 100


def _devinfo() -> NodeSpec:
    return interior(
        "DevInfo",
        [
            leaf("DevId", title="Unique device identifier (IMEI:<15 digits>)"),
            leaf("Man", title="Manufacturer"),
            leaf("Mod", title="Model"),
            leaf("DmV", title="OMA DM client version"),
            leaf("Lang", title="Current language"),
        ],
        ddf_name="urn:oma:mo:oma-dm-devinfo:1.0",
        title="Device information",
    )


def _devdetail(faults: Faults) -> NodeSpec:
    host = [
        leaf("HostMan", title="Host device manufacturer"),
        leaf("HostMod", title="Host device model"),
        leaf(
            "HostSwV",
            fmt="int" if "host-node-wrong-format" in faults else "chr",
            title="Host device software version",
        ),
        leaf(
            "HostUniqueID",
            access="" if "host-node-not-gettable" in faults else "Get",
            title="Host device unique ID (AT&T onboarding Device ID)",
        ),
    ]
    if "missing-host-nodes" in faults:
        host = []
    ext = interior("Ext", [*host, leaf("IMEISV", title="IMEI software version number")])
    uri = interior(
        "URI",
        [
            leaf("MaxDepth", fmt="int" if "ddf-mismatch" in faults else "chr"),
            leaf("MaxTotLen"),
            leaf("MaxSegLen"),
        ],
    )
    return interior(
        "DevDetail",
        [
            uri,
            leaf("DevTyp", title="Device type"),
            leaf("OEM", title="Original equipment manufacturer"),
            leaf("FwV", title="Firmware version"),
            leaf("SwV", title="Software version"),
            leaf("HwV", title="Hardware version"),
            leaf("LrgObj", fmt="bool", title="Large object support"),
            ext,
        ],
        ddf_name="urn:oma:mo:oma-dm-devdetail:1.0",
        title="Device details",
    )


def _app_auth(name: str, secret_access: str) -> NodeSpec:
    return interior(
        name,
        [
            leaf("AAuthLevel", "Get Replace"),
            leaf("AAuthType", "Get Replace"),
            leaf("AAuthName", "Get Replace"),
            leaf("AAuthSecret", secret_access),
            leaf("AAuthData", "Replace", fmt="bin"),
        ],
        title="Application authentication",
    )


def _account(name: str, faults: Faults) -> NodeSpec:
    secret_access = "Get Replace" if "account-secret-readable" in faults else "Replace"
    client_access = secret_access
    if name == "ATTDev" and "undeclared-secret-readable" in faults:
        client_access = "Get Replace"
    return interior(
        name,
        [
            leaf("AppID"),
            leaf("ServerID"),
            leaf("Name", "Get Replace"),
            interior(
                "AppAddr",
                [
                    interior(
                        "SrvAddr",
                        [
                            leaf("Addr", "Get Replace"),
                            leaf("AddrType", "Get Replace"),
                            interior("Port", [interior("Port1", [leaf("PortNbr", "Get Replace")])]),
                        ],
                    )
                ],
            ),
            leaf("AAuthPref", "Get Replace"),
            interior(
                "AppAuth",
                [_app_auth("ClientSide", client_access), _app_auth("ServerSide", secret_access)],
            ),
        ],
        ddf_name="urn:oma:mo:oma-dm-dmacc:1.0",
        title="Factory DM account",
    )


def _dynamic_account() -> NodeSpec:
    # What a server may Add under ./DMAcc (an OEM account, 4+): a reduced DMAcc 1.2 set. The
    # account may be copied (Copy) and renamed (Replace of its Name property).
    dynamic = "Add Copy Delete Get Replace"
    return interior(
        None,
        [
            leaf("AppID", dynamic, scope="Dynamic"),
            leaf("ServerID", dynamic, scope="Dynamic"),
            leaf("Name", dynamic, scope="Dynamic", occurrence="ZeroOrOne"),
            leaf("AAuthPref", dynamic, scope="Dynamic", occurrence="ZeroOrOne"),
        ],
        "Add Copy Delete Get Replace",
        scope="Dynamic",
        occurrence="ZeroOrMore",
        ddf_name="urn:oma:mo:oma-dm-dmacc:1.0",
        title="Server-added DM account",
    )


def _dmacc(faults: Faults) -> NodeSpec:
    accounts = [_account("ATTProd", faults), _account("ATTDev", faults)]
    if "missing-account-3" not in faults:
        accounts.append(
            interior(
                "Bootstrap",
                [],
                "Add Get",
                ddf_name="urn:oma:mo:oma-dm-dmacc:1.0",
                acl="Get",
                title="Account 3",
                description="Reserved for NETWPIN bootstrap: empty; a DM session may not add.",
            )
        )
    return interior("DMAcc", [*accounts, _dynamic_account()], title="DM accounts")


def _fumo() -> NodeSpec:
    return interior(
        "FUMO",
        [
            interior(
                "FwPkg1",
                [
                    leaf("PkgName", "Get Replace"),
                    leaf("PkgVersion", "Get Replace"),
                    interior("Download", [leaf("PkgURL", "Get Replace")], "Exec Get"),
                    interior("Update", [leaf("PkgData", "Replace", fmt="bin")], "Exec Get"),
                    interior("DownloadAndUpdate", [leaf("PkgURL", "Get Replace")], "Exec Get"),
                    leaf("State", fmt="int"),
                    interior("Ext", []),
                ],
                ddf_name="urn:oma:mo:oma-fumo:1.0",
                title="Firmware update",
            )
        ],
        title="Firmware update management objects",
    )


def schema(declaration: Declaration, faults: Faults | None = None) -> list[NodeSpec]:
    """The children of "." as this device (with these faults) has them."""
    faults = faults or Faults()
    roots = [_devinfo(), _devdetail(faults), _dmacc(faults)]
    if declaration.features.fota:
        roots.append(_fumo())
    return roots


def auth_type_name(declared: str, faults: Faults) -> str:
    return "BASIC" if "basic-auth-only" in faults else AUTH_TYPES[declared]


def _omadm(declaration: Declaration) -> OmaDm:
    if declaration.omadm is None:
        raise ValueError("the OMA-DM device needs a declaration with an omadm: section")
    return declaration.omadm


def wrong_luhn(imei: str) -> str:
    return imei[:-1] + str((int(imei[-1]) + 1) % 10)


def factory_values(declaration: Declaration, faults: Faults) -> dict[str, str | bytes]:
    """Every leaf's factory value, by path."""
    dev, host, dm = declaration.device, declaration.host, _omadm(declaration)
    devid = wrong_luhn(dev.imei) if "wrong-devid" in faults else f"IMEI:{dev.imei}"
    man = f"{dev.manufacturer} (modified)" if "wrong-devinfo-values" in faults else dev.manufacturer
    values: dict[str, str | bytes] = {
        f"{DEVINFO}/DevId": devid,
        f"{DEVINFO}/Man": man,
        f"{DEVINFO}/Mod": dev.model,
        f"{DEVINFO}/DmV": dm.dm_version,
        f"{DEVINFO}/Lang": dev.language,
        f"{DEVDETAIL}/URI/MaxDepth": "0",
        f"{DEVDETAIL}/URI/MaxTotLen": "0",
        f"{DEVDETAIL}/URI/MaxSegLen": "0",
        f"{DEVDETAIL}/DevTyp": dev.device_type,
        f"{DEVDETAIL}/OEM": dev.oem,
        f"{DEVDETAIL}/FwV": dev.firmware_version,
        f"{DEVDETAIL}/SwV": dev.software_version,
        f"{DEVDETAIL}/HwV": dev.hardware_version,
        f"{DEVDETAIL}/LrgObj": "true" if declaration.features.large_objects else "false",
        f"{DEVDETAIL}/Ext/IMEISV": "7" if "wrong-imeisv-format" in faults else dev.imeisv,
        HOST_NODES["manufacturer"]: host.manufacturer,
        HOST_NODES["model"]: host.model,
        HOST_NODES["software_version"]: host.software_version,
        HOST_NODES["unique_id"]: host.unique_id,
        FUMO_STATE: str(FumoState.IDLE),
    }
    factory = dm.factory_accounts()
    for account, addr, creds in (
        (PROD_ACCOUNT, PROD_ADDR, factory.production),
        (DEV_ACCOUNT, DEV_ADDR, factory.development),
    ):
        client_type = auth_type_name(creds.client_auth, faults)
        server_type = auth_type_name(creds.server_auth, faults)
        client_secret = creds.client_secret.get_secret_value()
        if account == DEV_ACCOUNT and "undeclared-secret-readable" in faults:
            client_secret = UNDECLARED_SECRET
        if account == PROD_ACCOUNT and "wrong-account-address" in faults:
            addr = "https://iotprod.example.com/oma"
        server_id = dm.server_id
        if account == DEV_ACCOUNT and "wrong-account-values" in faults:
            server_id = "ATTLabB"
        values.update(
            {
                f"{account}/AppID": "w7",
                f"{account}/ServerID": server_id,
                f"{account}/Name": dm.server_id,
                f"{account}/AppAddr/SrvAddr/Addr": addr,
                f"{account}/AppAddr/SrvAddr/AddrType": "URI",
                f"{account}/AppAddr/SrvAddr/Port/Port1/PortNbr": "443",
                f"{account}/AAuthPref": client_type,
                f"{account}/{CLIENT_AUTH}/AAuthLevel": "CLCRED",
                f"{account}/{CLIENT_AUTH}/AAuthType": client_type,
                f"{account}/{CLIENT_AUTH}/AAuthName": creds.client_name,
                f"{account}/{CLIENT_AUTH}/AAuthSecret": client_secret,
                f"{account}/{CLIENT_AUTH}/AAuthData": b"null",
                f"{account}/{SERVER_AUTH}/AAuthLevel": "SRVCRED",
                f"{account}/{SERVER_AUTH}/AAuthType": server_type,
                f"{account}/{SERVER_AUTH}/AAuthName": dm.server_id,
                f"{account}/{SERVER_AUTH}/AAuthSecret": creds.server_secret.get_secret_value(),
                f"{account}/{SERVER_AUTH}/AAuthData": b"null",
            }
        )
    return values


def build_tree(
    declaration: Declaration, faults: Faults, values: dict[str, str | bytes] | None = None
) -> DMTree:
    """The device's tree: factory values, overlaid with ``values`` (persisted state)."""
    merged = factory_values(declaration, faults)
    if values:
        merged.update(values)
    root = instantiate(interior(".", schema(declaration, faults)), ".", merged, ".")
    root.acl = ROOT_ACL
    tree = DMTree(root, server_id=_omadm(declaration).server_id)
    tree.quirks = frozenset(q for q in TREE_QUIRKS if q in faults)
    if "wrong-status-codes" in faults:
        tree.faults_status_ok = {"Add", "Replace"}
    if "host-nodes-unauthorized" in faults:
        tree.faults_refused = {f"{DEVDETAIL}/Ext/Host": "401"}
    return tree


def ddf_document(declaration: Declaration) -> bytes:
    """The DDF of the fault-free device (what ``omadm_ddf.xml`` holds for the built-in one)."""
    return ddf_xml(schema(declaration), declaration.device.manufacturer, declaration.device.model)
