"""CDR-DVM-4532 — host device reporting in ./DevDetail/Ext (guide §3.3.2, §1.5).

Parametrised over the host nodes HostMan, HostMod, HostSwV, HostUniqueID and IMEISV × the
checks the guide gives each of them:

- exists: an authenticated Get answers 200 (or 405, or its Format property is read): the
  rule of evidence is :func:`conformance.dut.omadm.existence` — 404 is absent, a 401 or any
  other answer in a session authenticated both ways FAILs, an unauthenticated one decides
  nothing (INCONCLUSIVE);
- leaf: the node is not an interior node (its Format is not ``node``);
- format chr: the Meta Format of its value (or its Format property when Get is refused);
- Get allowed: Get answers 200 with the value;
- value: equal to the PTCRB submission, i.e. the declaration (``host.*``, ``device.imeisv``;
  HostSwV as the catalog's own updates left it);
- format rule: IMEISV exactly two digits; HostUniqueID alphanumeric (AT&T onboarding ID).

And the IMEI itself: ./DevInfo/DevId is ``IMEI:`` followed by 15 digits with a valid Luhn
check digit.

Applicability: ODIS/DHIR devices (``features.host_identity_reporting``); a guide §1.5
exception claimed in the declaration makes the requirement NOT APPLICABLE with its reason (the
plugin does that). Interpretation: a value that cannot be read (Get refused) FAILs the value
check as well as the Get check: the guide makes it GET-able so that it can be read.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from conformance.declaration import luhn_valid
from conformance.dut.omadm import DmDevice, existence, format_of, show
from conformance.omadm.session import CommandResult
from conformance.verdicts import Inconclusive, NotApplicable

pytestmark = [pytest.mark.requirement("CDR-DVM-4532"),
              pytest.mark.applies(feature="host_identity_reporting")]

EXT = "./DevDetail/Ext"
DECLARED: dict[str, Callable[[DmDevice], str]] = {
    "HostMan": lambda d: d.dut.host.manufacturer,
    "HostMod": lambda d: d.dut.host.model,
    "HostSwV": lambda d: d.baseline.host_software_version,
    "HostUniqueID": lambda d: d.dut.host.unique_id,
    "IMEISV": lambda d: d.dut.device.imeisv,
}
RULES = {"IMEISV": (r"\d{2}", "exactly two digits"),
         "HostUniqueID": (r"[A-Za-z0-9]+", "alphanumeric")}
CHECKS = ("exists", "leaf", "format-chr", "get-allowed", "value", "format-rule")


def _read(dm: DmDevice, name: str) -> tuple[CommandResult, CommandResult | None, str | None]:
    """The node's Get result, its Format property (when Get was refused) and its format."""
    uri = f"{EXT}/{name}"
    result = dm.read([uri])[uri]
    if result.status == "200":
        return result, None, format_of(result)
    prop = dm.read([f"{uri}?prop=Format"])[f"{uri}?prop=Format"]
    return result, prop, prop.data if prop.status == "200" else None


def _params() -> list[object]:
    return [pytest.param(name, check, id=f"{name}-{check}")
            for name in DECLARED for check in CHECKS
            if check != "format-rule" or name in RULES]


@pytest.mark.parametrize(("name", "check"), _params())
def test_host_node(dm: DmDevice, name: str, check: str) -> None:
    """./DevDetail/Ext/<name> passes the check."""
    uri = f"{EXT}/{name}"
    result, prop, fmt = _read(dm, name)
    assert existence(result, uri, dm.shared().auth, prop), (
        f"{uri} does not exist (Get answered 404)")
    if check == "exists":
        return
    if check in ("leaf", "format-chr"):
        if fmt is None:
            raise Inconclusive(f"the format of {uri} cannot be read: Get answered "
                               f"{result.status} and ?prop=Format was not answered")
        assert fmt != "node", f"{uri} is an interior node, expected a leaf"
        if check == "format-chr":
            assert fmt == "chr", f"{uri} has format {fmt}, expected chr"
        return
    assert result.status == "200" and result.data is not None, (
        f"Get {uri} answered {show(result)}: Get must be allowed")
    value = result.data
    if check == "value":
        expected = DECLARED[name](dm)
        assert value == expected, f"{uri} is {value!r}, declared {expected!r}"
    elif check == "format-rule":
        pattern, words = RULES[name]
        assert re.fullmatch(pattern, value), f"{uri} is {value!r}, expected {words}"


def test_imei_in_devid(dm: DmDevice) -> None:
    """./DevInfo/DevId is IMEI:<15 digits> with a valid Luhn check digit."""
    if not dm.dut.features.host_identity_reporting:
        raise NotApplicable("host identity reporting is not declared")
    result = dm.read(["./DevInfo/DevId"])["./DevInfo/DevId"]
    assert result.status == "200" and result.data is not None, (
        f"Get ./DevInfo/DevId answered {show(result)}")
    value = result.data
    match = re.fullmatch(r"IMEI:(\d{15})", value)
    assert match, f"./DevInfo/DevId is {value!r}, expected IMEI:<15 digits>"
    assert luhn_valid(match.group(1)), (
        f"./DevInfo/DevId {value!r}: the IMEI's check digit is wrong (Luhn)")
