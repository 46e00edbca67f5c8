"""CDR-DVM-3954 / CDR-DVM-3955 — the two factory DM accounts (guide §1.7).

The lab lists ./DMAcc level by level (Get of every node it can list) and finds the accounts by
their values, not by node name (the guide's ``./DMS/Cingular/…`` names are examples): 3954 is
the account whose AppAddr/<x>/Addr is ``https://iotprod.sl.attcompute.com/oma``, 3955 the one
with ``https://iotdev.sl.attcompute.com/oma``. An account whose Addr is wrong is still found by
the host's distinctive label (``iotprod`` / ``iotdev``) so that only its Addr row FAILs. The
client and server AppAuth are told apart by AAuthLevel (CLCRED; SRVCRED or SVRCRED), else by
a name containing "client"/"server".

Parametrised over both accounts × every row of the table: AppID ``w7``, ServerID and Name
``ATTLabA``, Addr, PortNbr ``443``, client AAuthLevel ``CLCRED``, AAuthType (``DIGEST`` for
MD5 — ``MD5`` is accepted as a spelling —, ``HMAC``; the declared one), AAuthName (the
declared client name), AAuthData; server AAuthLevel (``SRVCRED`` per DMAcc or ``SVRCRED`` per
the guide's table: both accepted, the one seen goes in the evidence), AAuthType, AAuthName
``ATTLabA``, AAuthData. Then per account: AAuthSecret (client, server) not readable, MD5/HMAC
mandatory (declaration, the wire and the account), and account 3 present and empty.

Interpretation:
- AAuthData has no Get in DMAcc 1.2: a 405 is accepted and ``bnVsbA==`` is checked by
  inference — after a factory reset (through the controller; the lab forgets its nonces for
  the device too) the client's first digest verifies with the nonce "null" (client AAuthData)
  and the client accepts the lab's digest over "null" (server AAuthData). Both accounts name
  the same server (ATTLabA), so the lab cannot address one of them: the inference is for the
  factory AAuthData the client uses with ATTLabA and is applied to both.
- A secret is "readable" when a Get of any AAuthSecret answers 200 with Results, whatever
  the value (the DMAcc MO gives it no Get; the value is redacted from every report by node
  meaning). A Get of AAuthData answered with its value FAILs unless the declared DDF gives
  AAuthData Get; 405 passes.
- Declared types and names are per account (``omadm.accounts``: production for 3954,
  development for 3955; the single form applies to both), client and server side apart.
- Account 3: another child of ./DMAcc that is empty (its Get lists no child); "restricted to
  NETWPIN" is checked as far as a DM session can: an Add under it is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from conformance.dut.omadm import DmDevice, children_of, ddf_allows, leaf, load_ddf, show
from conformance.omadm.model import Add, Item, Meta
from conformance.omadm.session import CommandResult
from conformance.plugin.fixtures import CaseEvidence
from conformance.verdicts import DeviceFault, Inconclusive

R3954, R3955 = "CDR-DVM-3954", "CDR-DVM-3955"
ADDR = {
    R3954: ("https://iotprod.sl.attcompute.com/oma", "iotprod"),
    R3955: ("https://iotdev.sl.attcompute.com/oma", "iotdev"),
}
SERVER = "ATTLabA"
CLIENT_LEVELS = {"CLCRED"}
SERVER_LEVELS = {"SRVCRED", "SVRCRED"}
TYPES = {"md5": {"DIGEST", "MD5"}, "hmac": {"HMAC"}}
ROWS = (
    "AppID", "ServerID", "Name", "Addr", "PortNbr",
    "client-AAuthLevel", "client-AAuthType", "client-AAuthName", "client-AAuthData",
    "server-AAuthLevel", "server-AAuthType", "server-AAuthName", "server-AAuthData",
)
EXTRA = ("client-AAuthSecret-not-readable", "server-AAuthSecret-not-readable",
         "md5-or-hmac-mandatory", "account-3-empty")
PROBE = "ConfLabProbe"


@dataclass
class Account:
    path: str  # ./DMAcc/<name>
    values: dict[str, CommandResult] = field(default_factory=dict)  # relative path -> Get
    found_by: str = ""

    def get(self, pattern: str) -> tuple[str, CommandResult] | None:
        return leaf(self.values, pattern)

    def value(self, pattern: str) -> str | None:
        hit = self.get(pattern)
        return hit[1].data if hit is not None and hit[1].status == "200" else None

    def auth_side(self, side: str) -> str | None:
        """The AppAuth/<x> prefix of the client or server side."""
        levels = CLIENT_LEVELS if side == "client" else SERVER_LEVELS
        sides = {p.rsplit("/", 1)[0] for p in self.values if p.startswith("AppAuth/")
                 and p.count("/") == 2}
        for prefix in sorted(sides):
            if (self.value(f"{prefix}/AAuthLevel") or "").strip().upper() in levels:
                return prefix
        return next((p for p in sorted(sides) if side in p.lower()), None)


@dataclass
class DmAcc:
    tree: dict[str, CommandResult]
    accounts: dict[str, Account]  # child name -> account

    def find(self, requirement: str) -> Account:
        addr, label = ADDR[requirement]
        seen = []
        for account in self.accounts.values():
            value = account.value("AppAddr/*/Addr")
            seen.append(f"{account.path} Addr {value!r}")
            if value == addr:
                account.found_by = f"Addr {addr}"
                return account
        for account in self.accounts.values():
            if label in (account.value("AppAddr/*/Addr") or ""):
                account.found_by = f"an Addr naming {label}"
                return account
        raise DeviceFault(f"no DM account under ./DMAcc has Addr {addr} ({'; '.join(seen)})")


def _dmacc(dm: DmDevice) -> DmAcc:
    tree = dm.walk("./DMAcc")
    top = tree.get("./DMAcc")
    if top is None or top.status != "200":
        raise DeviceFault(f"Get ./DMAcc answered {show(top)}: the DM accounts cannot be listed")
    accounts = {}
    for name in children_of(top):
        prefix = f"./DMAcc/{name}/"
        values = {p.removeprefix(prefix): r for p, r in tree.items() if p.startswith(prefix)}
        accounts[name] = Account(f"./DMAcc/{name}", values)
    return DmAcc(tree, accounts)


def _params() -> list[object]:
    return [
        pytest.param(req, row, id=f"{req}-{row}", marks=pytest.mark.requirement(req))
        for req in (R3954, R3955)
        for row in (*ROWS, *EXTRA)
    ]


@pytest.mark.parametrize(("requirement", "row"), _params())
def test_account_row(dm: DmDevice, evidence: CaseEvidence, requirement: str, row: str) -> None:
    """The account of the requirement has the row's value (or property)."""
    if row == "md5-or-hmac-mandatory":
        _mandatory_auth(dm, requirement)
        return
    dmacc = _dmacc(dm)
    if row == "account-3-empty":
        _account_3(dm, dmacc)
        return
    account = dmacc.find(requirement)
    if row.endswith("AAuthData"):
        _aauthdata(dm, account, row.split("-", 1)[0])
        return
    if "-" not in row:
        _plain_row(dm, account, requirement, row)
        return
    side_name, name = row.split("-", 1)
    side = account.auth_side(side_name)
    if side is None:
        level = "CLCRED" if side_name == "client" else "SRVCRED"
        raise DeviceFault(f"{account.path} has no AppAuth for the {side_name} "
                          f"(AppAuth/<x>/AAuthLevel {level})")
    uri = f"{account.path}/{side}"
    if name.startswith("AAuthSecret"):
        _secret_not_readable(dm, account, side, side_name)
        return
    value = account.value(f"{side}/{name}")
    shown = show(account.values.get(f"{side}/{name}"))
    if name == "AAuthLevel":
        levels = CLIENT_LEVELS if side_name == "client" else SERVER_LEVELS
        assert value is not None and value.strip().upper() in levels, (
            f"{uri}/AAuthLevel is {shown}, expected {' or '.join(sorted(levels))}")
        evidence.note(f"{requirement}: {uri}/AAuthLevel is {value!r}")
    elif name == "AAuthType":
        _auth_type(dm, requirement, side_name, f"{uri}/AAuthType", value, shown)
    else:  # AAuthName
        expected = (dm.accounts.for_requirement(requirement).client_name
                    if side_name == "client" else SERVER)
        assert value == expected, f"{uri}/AAuthName is {shown}, expected {expected!r}"


def _plain_row(dm: DmDevice, account: Account, requirement: str, row: str) -> None:
    pattern, expected = {
        "AppID": ("AppID", "w7"),
        "ServerID": ("ServerID", SERVER),
        "Name": ("Name", SERVER),
        "Addr": ("AppAddr/*/Addr", ADDR[requirement][0]),
        "PortNbr": ("AppAddr/*/Port/*/PortNbr", "443"),
    }[row]
    hit = account.get(pattern)
    where = f"{account.path}/{pattern}"
    assert hit is not None, f"{where} is not in the account (found by {account.found_by})"
    assert hit[1].status == "200" and hit[1].data == expected, (
        f"{account.path}/{hit[0]} is {show(hit[1])}, expected {expected!r}")


def _auth_type(dm: DmDevice, requirement: str, side_name: str, uri: str, value: str | None,
               shown: str) -> None:
    account = dm.accounts.for_requirement(requirement)
    declared = account.client_auth if side_name == "client" else account.server_auth
    found = (value or "").strip().upper()
    allowed = TYPES["md5"] | TYPES["hmac"]
    assert found in allowed, f"{uri} is {shown}: MD5 (DIGEST) or HMAC is mandatory"
    assert found in TYPES.get(declared, set()), (
        f"{uri} is {shown}, the declaration says {declared} for the {account.role} account")


def _secret_not_readable(dm: DmDevice, account: Account, side: str, side_name: str) -> None:
    uri = f"{account.path}/{side}/AAuthSecret"
    result = account.values.get(f"{side}/AAuthSecret") or dm.read([uri])[uri]
    if result.status == "404":
        raise DeviceFault(f"{uri} does not exist (Get answered 404)")
    # Any value at all is the violation (the MO gives AAuthSecret no Get), declared or not.
    assert not (result.status == "200" and result.items), (
        f"Get {uri} answered 200 with the {side_name} secret (value redacted): secrets must "
        "not be readable")
    sides = {f"{s}/AAuthSecret" for s in (account.auth_side("client"), account.auth_side("server"))
             if s is not None}
    others = [p for p, r in account.values.items()  # an AppAuth of neither side, if any
              if p.endswith("/AAuthSecret") and p not in sides and r.status == "200" and r.items]
    assert not others, (
        f"Get answered 200 with a secret for {', '.join(f'{account.path}/{p}' for p in others)} "
        "(values redacted): secrets must not be readable")


def _aauthdata(dm: DmDevice, account: Account, side: str) -> None:
    prefix = account.auth_side(side)
    if prefix is not None:
        uri = f"{account.path}/{prefix}/AAuthData"
        read = account.values.get(f"{prefix}/AAuthData")
        if read is not None and read.status == "200" and read.items:
            doc, _ = load_ddf(dm.dut)
            assert ddf_allows(doc, uri, "Get"), (
                f"Get {uri} answered 200 with the nonce (value redacted), but the DMAcc MO and "
                "the declared DDF give AAuthData no Get: 405 expected")
    outcome = dm.factory_auth()
    if side == "client":
        first = outcome.attempts[0] if outcome.attempts else None
        if first is None or first.type not in ("md5", "hmac"):
            raise Inconclusive("after the factory reset the client sent no MD5/HMAC digest to "
                               "infer AAuthData from (the md5-or-hmac case judges that)")
        assert first.verifies_with_null, (
            "after a factory reset the client's first digest does not verify with the nonce "
            "'null': client AAuthData is not bnVsbA==")
        return
    statuses = outcome.statuses_for_asked_type()
    if not statuses:
        raise Inconclusive("after the factory reset the device did not answer the lab's "
                           "credentials (no Status on the lab's SyncHdr)")
    assert statuses[0] in ("200", "212"), (
        f"after a factory reset the device answered the lab's digest over the nonce 'null' with "
        f"{statuses[0]}: server AAuthData is not bnVsbA==")


def _mandatory_auth(dm: DmDevice, requirement: str) -> None:
    declared = dm.accounts.for_requirement(requirement)
    for side_name, kind in (("client", declared.client_auth), ("server", declared.server_auth)):
        assert kind in TYPES, (f"the declaration says {side_name} auth {kind} for the "
                               f"{declared.role} account: MD5 or HMAC is mandatory")
    auth = dm.first_auth
    if auth is None:
        with dm.fresh(authenticated=False) as session:
            auth = session.auth
    seen = auth.type_seen
    assert seen in TYPES, (
        f"the client authenticates with {seen or 'no credentials'}: MD5 or HMAC is mandatory")
    account = _dmacc(dm).find(requirement)
    for side_name in ("client", "server"):
        side = account.auth_side(side_name)
        if side is None:
            raise DeviceFault(f"{account.path} has no AppAuth for the {side_name}")
        uri = f"{account.path}/{side}/AAuthType"
        value = account.value(f"{side}/AAuthType")
        _auth_type(dm, requirement, side_name, uri, value,
                   show(account.values.get(f"{side}/AAuthType")))


def _account_3(dm: DmDevice, dmacc: DmAcc) -> None:
    empty = [a for a in dmacc.accounts.values()
             if (r := dmacc.tree.get(a.path)) is not None and r.status == "200"
             and not children_of(r)]
    if not empty:
        names = ", ".join(f"{a.path} ({len(a.values)} nodes)" for a in dmacc.accounts.values())
        raise DeviceFault(f"no empty third DM account under ./DMAcc (accounts: {names})")
    third = empty[0]
    probe = f"{third.path}/{PROBE}"
    added = dm.send([_add_leaf(probe)])[0]
    if added.status.startswith("2"):
        dm.shared().delete(probe)
        raise DeviceFault(f"Add {probe} answered {added.status}: account 3 must only be "
                          "programmable by NETWPIN bootstrap, not by a DM session")


def _add_leaf(uri: str) -> Add:
    return Add(cmd_id="", items=[Item(target=uri, meta=Meta(format="chr"), data=PROBE)])
