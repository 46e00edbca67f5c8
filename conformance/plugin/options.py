"""Command-line options, and which declaration a run uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.declaration import (
    BUILTINS,
    Declaration,
    DeclarationError,
    builtin_declaration,
    load_declaration,
)

BUILTIN_PREFIX = "builtin:"
PROTOCOLS = ("omadm", "lwm2m")
CATALOG_FOLDER = "testcases"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "AT&T DM conformance suite")
    group.addoption(
        "--dut",
        metavar="FILE",
        default=None,
        help="device declaration (YAML), or builtin:omadm / builtin:lwm2m; default: the "
        "built-in declaration of the collected testcases' protocol",
    )
    group.addoption(
        "--reports",
        metavar="DIR",
        default=None,
        help="where run folders go (default: ./reports); each run gets "
        "<DIR>/<UTC timestamp>-<device>/ and <DIR>/latest",
    )
    group.addoption(
        "--fault",
        metavar="NAME",
        action="append",
        default=[],
        help="inject a simulator fault (repeatable; `conformance faults omadm|lwm2m` lists them)",
    )
    group.addoption(
        "--ets",
        metavar="ID",
        action="append",
        default=None,
        help="run only the cases traced to this OMA ETS test (repeatable; a full id or its "
        "tail, e.g. int-301 or LightweightM2M-1.1-int-301)",
    )
    group.addoption(
        "--dtls-keylog",
        action="store_true",
        default=False,
        help="write dtls-keys.log (key material!) into the run folder so that Wireshark "
        "decrypts the DTLS records of capture.pcapng itself; off by default",
    )
    group.addoption(
        "--run-name",
        metavar="NAME",
        default=None,
        help="name of the run folder instead of <UTC timestamp>-<device>",
    )
    group.addoption(
        "--accept-inconclusive",
        action="store_true",
        default=False,
        help="exit 0 when nothing FAILs or ERRORs even if a requirement is INCONCLUSIVE "
        "(default: INCONCLUSIVE exits 10: a device that could not be judged does not pass)",
    )


def load_dut(value: str) -> Declaration:
    """``--dut`` → Declaration; a bad file is a usage error naming the field and line."""
    if value.startswith(BUILTIN_PREFIX):
        name = value[len(BUILTIN_PREFIX) :]
        if name not in BUILTINS:
            names = ", ".join(BUILTIN_PREFIX + n for n in BUILTINS)
            raise pytest.UsageError(f"--dut {value}: unknown built-in declaration; use {names}")
        return builtin_declaration(name)
    try:
        return load_declaration(value)
    except DeclarationError as exc:
        raise pytest.UsageError(str(exc)) from None


def guess_protocol(args: list[str]) -> tuple[str, bool]:
    """The protocol of the catalog folders named on the command line.

    Returns (protocol, certain). ``testcases/lwm2m`` → ("lwm2m", True); a mix or nothing to go
    on → ("omadm", False): the other protocol's cases are then deselected, with a notice.
    """
    found: set[str] = set()
    for arg in args:
        parts = set(Path(arg.split("::", 1)[0]).parts)
        found.update(p for p in PROTOCOLS if p in parts)
    if len(found) == 1:
        return found.pop(), True
    return "omadm", False


def names_catalog(args: list[str]) -> bool:
    """True when a command-line path lies in a ``testcases`` folder (a conformance run)."""
    return any(
        CATALOG_FOLDER in Path(arg.split("::", 1)[0]).resolve().parts for arg in args if arg
    )
