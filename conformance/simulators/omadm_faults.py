"""The fault registry of the reference OMA-DM device.

Each fault makes the device break exactly one requirement in exactly one way, so that the
catalog can prove that its case for that requirement FAILs on it (the fault matrix). A fault
is chosen by name on the command line (``--fault NAME``, repeatable; ``--list-faults`` prints
this registry). ``also`` names requirements a fault cannot help breaking too, because the
requirements overlap on the wire (a DevId without "IMEI:" is wrong for CDR-DVM-012 *and* for
the DevInfo values of CDR-DVM-440): the fault matrix reads it instead of guessing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from conformance.errors import ConfigurationError


@dataclass(frozen=True)
class Fault:
    name: str
    requirement: str  # the requirement this fault is meant to break
    description: str  # what the device does differently
    also: tuple[str, ...] = ()  # requirements the same behaviour necessarily breaks as well
    # The OMA-ETS-DM tests whose cases this fault must FAIL (and the only cases it may FAIL).
    ets: tuple[str, ...] = ()
    # A pytest -k expression: the cases the CI fault matrix runs this fault against (empty:
    # its ETS cases, else the whole catalog). MATRIX_SCOPE=catalog runs the whole catalog.
    cases: str = ""


_R012 = "CDR-DVM-012"
_R440 = "CDR-DVM-440"
_R1533 = "CDR-DVM-1533"
_R3954 = "CDR-DVM-3954"
_R3955 = "CDR-DVM-3955"
_R4532 = "CDR-DVM-4532"
_FUMO = "ATT-DMIG-4.2"
_ALERT_CASES = "cdr_dvm_012_alerts"  # testcases/omadm/test_cdr_dvm_012_alerts.py

FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        # CDR-DVM-4532: host device reporting
        Fault(
            "missing-host-nodes",
            _R4532,
            "./DevDetail/Ext has no HostMan, HostMod, HostSwV, HostUniqueID nodes (404).",
            also=(_R440, _R1533),
        ),
        Fault("wrong-imeisv-format", _R4532, './DevDetail/Ext/IMEISV is "7" (one digit).'),
        Fault(
            "host-node-wrong-format",
            _R4532,
            "./DevDetail/Ext/HostSwV has format int instead of chr.",
            also=(_R440,),
        ),
        Fault(
            "host-nodes-unauthorized",
            _R4532,
            "Every command on ./DevDetail/Ext/Host* is answered 401, in a session whose "
            "authentication both ways succeeded.",
            also=(_R440,),
        ),
        Fault(
            "host-node-not-gettable",
            _R4532,
            "./DevDetail/Ext/HostUniqueID has no Get access (405).",
            also=(_R440,),
        ),
        Fault(
            "host-values-lost-on-reboot",
            _R4532,
            "After a reboot the four ./DevDetail/Ext host nodes are empty.",
        ),
        Fault(
            "host-values-lost-on-factory-reset",
            _R4532,
            "After a factory reset the host nodes stay empty (the host's rewrite is lost).",
        ),
        Fault(
            "host-values-wiped-by-fota",
            _R4532,
            "A successful FUMO update leaves the host nodes empty.",
            also=(_R1533,),
        ),
        # CDR-DVM-012: OMA DM 1.2 protocol
        Fault(
            "wrong-devid",
            _R012,
            'DevId (and Source LocURI) is the bare IMEI with a wrong Luhn digit, no "IMEI:".',
            also=(_R440, _R4532),
        ),
        Fault(
            "basic-auth-only",
            _R012,
            "The client authenticates with syncml:auth-basic; both accounts say AAuthType BASIC.",
            also=(_R3954, _R3955),
        ),
        Fault(
            "ignores-bad-server-cred",
            _R012,
            "The client accepts any server credential (212) and executes the commands.",
        ),
        Fault(
            "wrong-status-codes",
            _R012,
            "Add on an existing node and Replace on a read-only node are answered 200.",
            also=(_R440,),
        ),
        Fault(
            "ignores-package0-digest",
            _R012,
            "A Package 0 with a wrong digest still starts a session.",
        ),
        Fault(
            "wrong-package0-session-id",
            _R012,
            "The session answering a Package 0 uses a SessionID other than the notification's.",
        ),
        Fault(
            "ignores-package0",
            _R012,
            "A valid Package 0 starts no session (triggered sessions work).",
        ),
        Fault(
            "crash-on-sequence",
            _R012,
            "The client stops talking mid-session when the lab sends a Sequence.",
        ),
        Fault("no-nonce-retry", _R012, "On Status 401/407 with a Chal the client gives up."),
        Fault(
            "ignores-next-nonce",
            _R012,
            "The client keeps its old nonce: NextNonce in a Chal is never used.",
        ),
        Fault(
            "wrong-content-type",
            _R012,
            "Messages are posted as application/vnd.syncml+xml (the DS type).",
        ),
        Fault("no-max-msg-size", _R012, "The SyncHdr Meta carries no MaxMsgSize."),
        Fault(
            "ignores-max-msg-size",
            _R012,
            "Results go in one message however large, ignoring the lab's MaxMsgSize.",
        ),
        # CDR-DVM-3954 / 3955: the factory DM accounts
        Fault(
            "account-secret-readable",
            _R3954,
            "Get on AAuthSecret returns the secret (200) instead of 405.",
            also=(_R3955, _R440),
        ),
        Fault(
            "undeclared-secret-readable",
            _R3955,
            "The development account has its own client AAuthSecret (not the declared one) "
            "and answers a Get on it with the value (200).",
            also=(_R440,),
        ),
        Fault(
            "wrong-account-address",
            _R3954,
            "The production account's Addr is https://iotprod.example.com/oma.",
        ),
        Fault(
            "wrong-account-values",
            _R3955,
            "The development account's ServerID is ATTLabB.",
        ),
        Fault(
            "missing-account-3",
            _R3954,
            "There is no third (bootstrap) account node under ./DMAcc.",
            also=(_R3955, _R440),
        ),
        # CDR-DVM-1533: session after a non-FOTA update
        Fault(
            "no-post-update-session",
            _R1533,
            "After a sideload/OEM-server update the device opens no session by itself.",
        ),
        Fault(
            "set-host-values-not-reported",
            _R1533,
            "After the host writes new host values the device opens no session to report them.",
        ),
        Fault(
            "stale-host-values",
            _R1533,
            "After an update ./DevDetail/Ext/HostSwV keeps (and reports) the old value.",
        ),
        # CDR-DVM-440: DDF
        Fault(
            "ddf-mismatch",
            _R440,
            "./DevDetail/URI/MaxDepth has format int on the device; the DDF says chr.",
        ),
        Fault(
            "wrong-devinfo-values",
            _R440,
            "./DevInfo/Man differs from the declared manufacturer.",
        ),
        # ATT-DMIG-4.2: FUMO
        Fault("fumo-no-alert", _FUMO, "No Generic Alert 1226 session after a FUMO update."),
        Fault(
            "fumo-accepts-corrupt",
            _FUMO,
            "A corrupted or truncated package is reported as a successful update (200).",
        ),
        Fault(
            "fumo-version-unchanged",
            _FUMO,
            "After a successful FUMO update ./DevDetail/FwV keeps the old version.",
        ),
        # CDR-DVM-012 alerts: user interaction 1100-1104, Generic Alert 1226, client abort 1223
        Fault(
            "ui-stub-answers",
            _R012,
            "Every user-interaction alert (1100-1104) is answered 200 at once, nobody asked: no "
            "text, no choice, never 304/214, and 200 even where the device has no UI.",
            cases=_ALERT_CASES,
        ),
        Fault(
            "ui-answer-ignored",
            _R012,
            "A declined confirmation in a Sequence and a cancelled one in a package do not stop "
            "the commands after them: they are executed.",
            cases=_ALERT_CASES,
        ),
        Fault(
            "generic-alert-untyped",
            _R012,
            "The device's own Generic Alert 1226 (outside FUMO) carries no Meta Type.",
            cases=_ALERT_CASES,
        ),
        Fault(
            "generic-alert-resent",
            _R012,
            "A Generic Alert the lab answered 200 is sent again in the next session.",
            cases=_ALERT_CASES,
        ),
        Fault(
            "abort-continues",
            _R012,
            "After its own Alert 1223 the device sends one more message in the aborted session.",
            cases=_ALERT_CASES,
        ),
    )
}


class Faults:
    """The set of injected faults; asking for a name the registry lacks is a bug, not False."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        names = list(names)
        unknown = [n for n in names if n not in FAULTS]
        if unknown:
            raise ConfigurationError(f"unknown fault(s) {', '.join(unknown)}; see --list-faults")
        self._active = frozenset(names)

    def __contains__(self, name: object) -> bool:
        if name not in FAULTS:
            raise KeyError(f"no fault named {name!r} in the registry")
        return name in self._active

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._active))

    def __bool__(self) -> bool:
        return bool(self._active)

    def __repr__(self) -> str:
        return f"Faults({sorted(self._active)!r})"


def describe() -> str:
    """The registry as text (for --list-faults)."""
    lines = []
    for fault in FAULTS.values():
        also = f" (also {', '.join(fault.also)})" if fault.also else ""
        lines.append(f"{fault.name:26} {fault.requirement}{also}\n{'':26} {fault.description}")
    return "\n".join(lines)
