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
    # The matrix declaration this fault runs on ("": the built-in; "dm13": its DM 1.3 variant).
    variant: str = ""


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
            cases="test_host_node or test_node_present or test_session_after_update",
        ),
        Fault(
            "wrong-imeisv-format",
            _R4532,
            './DevDetail/Ext/IMEISV is "7" (one digit).',
            cases="test_host_node",
        ),
        Fault(
            "host-node-wrong-format",
            _R4532,
            "./DevDetail/Ext/HostSwV has format int instead of chr.",
            also=(_R440,),
            cases="test_host_node or test_node_format",
        ),
        Fault(
            "host-nodes-unauthorized",
            _R4532,
            "Every command on ./DevDetail/Ext/Host* is answered 401, in a session whose "
            "authentication both ways succeeded.",
            also=(_R440,),
            cases="test_host_node or test_node_access",
        ),
        Fault(
            "host-node-not-gettable",
            _R4532,
            "./DevDetail/Ext/HostUniqueID has no Get access (405).",
            also=(_R440,),
            cases="test_host_node or test_node_access",
        ),
        Fault(
            "host-values-lost-on-reboot",
            _R4532,
            "After a reboot the four ./DevDetail/Ext host nodes are empty.",
            cases="test_host_values_after_reboot",
        ),
        Fault(
            "host-values-lost-on-factory-reset",
            _R4532,
            "After a factory reset the host nodes stay empty (the host's rewrite is lost).",
            cases="test_host_node or test_host_values_after_factory_reset",
        ),
        Fault(
            "host-values-wiped-by-fota",
            _R4532,
            "A successful FUMO update leaves the host nodes empty.",
            also=(_R1533,),
            cases="test_host_values_after_fota or test_session_after_update",
        ),
        # CDR-DVM-012: OMA DM 1.2 protocol
        Fault(
            "wrong-devid",
            _R012,
            'DevId (and Source LocURI) is the bare IMEI with a wrong Luhn digit, no "IMEI:".',
            also=(_R440, _R4532),
            cases=("test_imei_in_devid or test_notification_starts_server_alerted_session or "
                   "test_synchdr or test_value_is_declared"),
        ),
        Fault(
            "basic-auth-only",
            _R012,
            "The client authenticates with syncml:auth-basic; both accounts say AAuthType BASIC.",
            also=(_R3954, _R3955),
            cases=("test_account_row or test_challenge_retry_with_new_nonce or "
                   "test_client_authenticates_with_declared_type"),
        ),
        Fault(
            "ignores-bad-server-cred",
            _R012,
            "The client accepts any server credential (212) and executes the commands.",
            cases="test_wrong_server_credential_rejected",
        ),
        Fault(
            "wrong-status-codes",
            _R012,
            "Add on an existing node and Replace on a read-only node are answered 200.",
            also=(_R440,),
            cases="test_command_status or test_node_access",
        ),
        Fault(
            "ignores-package0-digest",
            _R012,
            "A Package 0 with a wrong digest still starts a session.",
            cases="test_wrong_digest_starts_no_session",
        ),
        Fault(
            "wrong-package0-session-id",
            _R012,
            "The session answering a Package 0 uses a SessionID other than the notification's.",
            cases="test_notification_starts_server_alerted_session",
        ),
        Fault(
            "ignores-package0",
            _R012,
            "A valid Package 0 starts no session (triggered sessions work).",
            cases="test_notification_starts_server_alerted_session",
        ),
        Fault(
            "crash-on-sequence",
            _R012,
            "The client stops talking mid-session when the lab sends a Sequence.",
            cases="test_command_status",
        ),
        Fault(
            "no-nonce-retry",
            _R012,
            "On Status 401/407 with a Chal the client gives up.",
            cases="test_challenge_retry_with_new_nonce",
        ),
        Fault(
            "ignores-next-nonce",
            _R012,
            "The client keeps its old nonce: NextNonce in a Chal is never used.",
            cases=("test_challenge_retry_with_new_nonce or "
                   "test_next_nonce_used_in_next_session"),
        ),
        Fault(
            "wrong-content-type",
            _R012,
            "Messages are posted as application/vnd.syncml+xml (the DS type).",
            cases="test_content_type",
        ),
        Fault(
            "no-max-msg-size",
            _R012,
            "The SyncHdr Meta carries no MaxMsgSize.",
            cases="test_synchdr",
        ),
        Fault(
            "ignores-max-msg-size",
            _R012,
            "Results go in one message however large, ignoring the lab's MaxMsgSize.",
            cases="test_large_object or test_results_over_multiple_messages",
        ),
        # CDR-DVM-3954 / 3955: the factory DM accounts
        Fault(
            "account-secret-readable",
            _R3954,
            "Get on AAuthSecret returns the secret (200) instead of 405.",
            also=(_R3955, _R440),
            cases="test_account_row or test_node_access",
        ),
        Fault(
            "undeclared-secret-readable",
            _R3955,
            "The development account has its own client AAuthSecret (not the declared one) "
            "and answers a Get on it with the value (200).",
            also=(_R440,),
            cases="test_account_row or test_node_access",
        ),
        Fault(
            "wrong-account-address",
            _R3954,
            "The production account's Addr is https://iotprod.example.com/oma.",
            cases="test_account_row",
        ),
        Fault(
            "wrong-account-values",
            _R3955,
            "The development account's ServerID is ATTLabB.",
            cases="test_account_row",
        ),
        Fault(
            "missing-account-3",
            _R3954,
            "There is no third (bootstrap) account node under ./DMAcc.",
            also=(_R3955, _R440),
            cases="test_account_row or test_node_present",
        ),
        # CDR-DVM-1533: session after a non-FOTA update
        Fault(
            "no-post-update-session",
            _R1533,
            "After a sideload/OEM-server update the device opens no session by itself.",
            cases="test_session_after_update",
        ),
        Fault(
            "set-host-values-not-reported",
            _R1533,
            "After the host writes new host values the device opens no session to report them.",
            cases="test_host_update_reported",
        ),
        Fault(
            "stale-host-values",
            _R1533,
            "After an update ./DevDetail/Ext/HostSwV keeps (and reports) the old value.",
            cases="test_session_after_update",
        ),
        # CDR-DVM-440: DDF
        Fault(
            "ddf-mismatch",
            _R440,
            "./DevDetail/URI/MaxDepth has format int on the device; the DDF says chr.",
            cases="test_node_format",
        ),
        Fault(
            "wrong-devinfo-values",
            _R440,
            "./DevInfo/Man differs from the declared manufacturer.",
            cases="test_value_is_declared",
        ),
        # ATT-DMIG-4.2: FUMO
        Fault(
            "fumo-no-alert",
            _FUMO,
            "No Generic Alert 1226 session after a FUMO update.",
            cases="test_fumo_failure_reported or test_fumo_update",
        ),
        Fault(
            "fumo-accepts-corrupt",
            _FUMO,
            "A corrupted or truncated package is reported as a successful update (200).",
            cases="test_fumo_failure_reported",
        ),
        Fault(
            "fumo-version-unchanged",
            _FUMO,
            "After a successful FUMO update ./DevDetail/FwV keeps the old version.",
            cases="test_fumo_update",
        ),
        # CDR-DVM-012: tree operations (Copy, Get ?list= / ?prop=, ACL, interior nodes)
        Fault(
            "copy-drops-children",
            _R012,
            "Copy of an interior node answers 200 but the copy has none of the children.",
            cases="test_tree_operation and copy-claimed",
        ),
        Fault(
            "list-struct-incomplete",
            _R012,
            "Get ?list=Struct and ?list=StructData leave the subtree's last node out.",
            cases="test_tree_operation and list-struct",
        ),
        Fault(
            "tnds-wrong-value",
            _R012,
            "Get ?list=TNDS+...+Value serialises leaf values that are not the nodes' values.",
            cases="test_tree_operation and list-tnds",
        ),
        Fault(
            "prop-format-wrong",
            _R012,
            "Get ?prop=Format of an interior node answers chr instead of node.",
            cases="test_tree_operation and prop-interior",
        ),
        Fault(
            "acl-replace-ignored",
            _R012,
            "Replace ?prop=ACL answers 200 but the node keeps its old ACL.",
            cases="test_tree_operation and replace-acl",
        ),
        Fault(
            "rename-ignored",
            _R012,
            "Replace ?prop=Name answers 200 but the node keeps its old name.",
            cases="test_tree_operation and replace-name",
        ),
        Fault(
            "acl-not-enforced",
            _R012,
            "A Replace the node's (inherited) ACL forbids is executed (200) instead of 425.",
            cases="test_tree_operation and acl-forbids-425",
        ),
        Fault(
            "acl-refusal-for-read-only",
            _R012,
            "A Replace on a node whose DDF access types lack Replace is answered 425, not 405.",
            cases="test_tree_operation and ddf-read-only-405",
        ),
        Fault(
            "delete-interior-refused",
            _R012,
            "Delete of an interior node that has children is answered 405.",
            cases="test_tree_operation and delete-interior",
        ),
        Fault(
            "add-interior-as-leaf",
            _R012,
            "Add with Meta Format node creates a chr leaf instead of an interior node.",
            cases="test_tree_operation and add-interior",
        ),
        # CDR-DVM-012: large objects, message size, multi-message packages, DM 1.3
        # (testcases/omadm/test_cdr_dvm_012_large.py)
        Fault(
            "no-max-obj-size",
            _R012,
            "The SyncHdr Meta declares no MaxObjSize although the device supports large "
            "objects.",
            cases="test_max_obj_size_declared",
        ),
        Fault(
            "accepts-wrong-object-size",
            _R012,
            "A large object whose data disagrees with its Meta Size is stored (200), not "
            "refused with 424.",
            cases="test_large_object_size_mismatch",
        ),
        Fault(
            "ignores-max-obj-size",
            _R012,
            "A large object whose Meta Size exceeds the device's MaxObjSize is taken chunk by "
            "chunk (213), not refused with 413.",
            cases="test_large_object_over_max_obj_size",
        ),
        Fault(
            "wrong-results-object-size",
            _R012,
            "The first chunk of a large Results carries a Meta Size one byte short of the data.",
            cases="test_large_results_size",
        ),
        Fault(
            "no-next-message-alert",
            _R012,
            "A lab message without Final is answered with Final and no Alert 1222: the device "
            "does not ask for the rest of the lab's package.",
            cases="test_lab_package_over_several_messages",
        ),
        # DM 1.3 (testcases/omadm/test_cdr_dvm_012_dm13.py): run on the DM 1.3 variant
        Fault(
            "dm13-version-drift",
            _R012,
            "A DM 1.3 device: Package 1 says VerProto DM/1.3, its later messages DM/1.2.",
            cases="test_dm13_every_message",
            variant="dm13",
        ),
        Fault(
            "dm13-alerted-session-1-2",
            _R012,
            "A DM 1.3 device answers a Package 0 with a session that says VerProto DM/1.2.",
            cases="test_dm13_notification",
            variant="dm13",
        ),
        Fault(
            "root-get-refused",
            _R012,
            "Get of the root ./ is answered 405 (a DM 1.3 device: the root is not listed).",
            cases="test_dm13_root",
            variant="dm13",
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
