"""CDR-DVM-012 — every server command gets the right Status (guide §3.3.1; DM 1.2 Protocol
§10 "Status codes" and Representation §6.6).

Parametrised over the commands and their error cases, in the shared session:

| case | lab sends | the device must answer |
|---|---|---|
| get-leaf | Get ./DevInfo/Man | 200 and Results with the value and Meta Format |
| get-interior | Get ./DevInfo | 200 and Results, Format node, the child list |
| get-missing | Get of a node that does not exist | 404, no Results |
| replace-read-only | Replace ./DevInfo/Man (the value it has) | 405 |
| add-existing | Add ./DevInfo/Man (the value it has) | 418 |
| add-delete | Add a probe node where the DDF allows Add, then Delete it | 200, 200 |
| delete-missing | Delete of a node that does not exist | 404 |
| exec-not-allowed | Exec ./DevInfo/Man | 405 |
| exec-missing | Exec of a node that does not exist | 404 |
| atomic | Atomic { Add probe } | 200, inner 200 |
| atomic-rollback | Atomic { Add probe, Replace ./DevInfo/Man } | 507, 216, 405; no probe |
| sequence | Sequence { Get Man, Get Mod } | a Status, inner 200 with Results in order |
| sequence-error | Sequence { Get Man, Get missing } | a Status, inner 200 then 404 |

Interpretation: the lab writes nothing a correct device would keep: read-only nodes get the
value they already have, and the probe node (``ConfLabProbe``, under the first dynamic node of
the DDF whose access types include Add and Delete, e.g. ./DMAcc/<x>) is deleted again. Without
such a node the Add/Delete/Atomic cases are NOT APPLICABLE. Results Meta Type is not required
(Format is). Delete of a permanent node and Copy (optional in DM 1.2) are not tried. Exec that
succeeds (200/202) is judged by the FUMO case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from conformance.dut.omadm import DmDevice, children_of, format_of, get, load_ddf, replace, show
from conformance.omadm.lab import DmSession
from conformance.omadm.model import Add, Command, Delete, Item, Meta
from conformance.omadm.session import CommandResult
from conformance.verdicts import NotApplicable

pytestmark = pytest.mark.requirement("CDR-DVM-012")

READ_ONLY = "./DevInfo/Man"
MISSING = "./DevInfo/ConfLabNoSuchNode"
PROBE = "ConfLabProbe"


@dataclass
class Context:
    dm: DmDevice
    man: str  # the value ./DevInfo/Man has
    probe: str | None  # where the lab may Add a node, None when the DDF offers no place

    @property
    def session(self) -> DmSession:
        return self.dm.shared()


@pytest.fixture(scope="module")
def ctx(dm: DmDevice) -> Context:
    session = dm.shared()
    man = session.get(READ_ONLY)
    if man.status != "200" or man.data is None:
        raise NotApplicable(f"Get {READ_ONLY} answered {show(man)}: no read-only leaf to use "
                            "(CDR-DVM-440 judges DevInfo)")
    return Context(dm, man.data, _probe_location(dm))


def _probe_location(dm: DmDevice) -> str | None:
    doc = load_ddf(dm.dut)[0]
    if doc is None:
        return None
    for node in doc.nodes():
        if node.dynamic and {"Add", "Delete"} <= node.access and "<x>" not in node.path[:-4]:
            parent = node.path.rsplit("/", 1)[0]
            return f"{parent}/{PROBE}"
    return None


def _add(uri: str, fmt: str = "node") -> Add:
    return Add(cmd_id="", items=[Item(target=uri, meta=Meta(format=fmt))])


def _delete(uri: str) -> Delete:
    return Delete(cmd_id="", items=[Item(target=uri)])


def _need_probe(c: Context) -> str:
    if c.probe is None:
        raise NotApplicable("the DDF declares no dynamic node with Add and Delete access")
    return c.probe


def _status(result: CommandResult, what: str, *expected: str) -> None:
    assert result.status in expected, (
        f"{what} answered {result.status or 'no Status'}, expected {' or '.join(expected)}")


def get_leaf(c: Context) -> None:
    r = c.session.get(READ_ONLY)
    _status(r, f"Get {READ_ONLY}", "200")
    assert r.items and r.data is not None, f"Get {READ_ONLY}: Status 200 without Results"
    meta = r.items[0].meta or (r.results[0].meta if r.results else None)
    assert meta is not None and meta.format, f"Get {READ_ONLY}: Results without Meta Format"


def get_interior(c: Context) -> None:
    r = c.session.get("./DevInfo")
    _status(r, "Get ./DevInfo", "200")
    assert format_of(r) == "node", f"Get ./DevInfo: Results Format {format_of(r)!r}, not node"
    assert children_of(r), f"Get ./DevInfo: Results list no child ({r.data!r})"


def get_missing(c: Context) -> None:
    r = c.session.get(MISSING)
    _status(r, f"Get {MISSING}", "404")
    assert not r.items, f"Get {MISSING}: Results came with Status 404"


def replace_read_only(c: Context) -> None:
    r = c.session.send([replace(READ_ONLY, c.man, "chr")])[0]
    _status(r, f"Replace {READ_ONLY} (read-only)", "405")


def add_existing(c: Context) -> None:
    r = c.session.add(READ_ONLY, c.man, "chr")
    _status(r, f"Add {READ_ONLY} (exists)", "418")


def add_delete(c: Context) -> None:
    probe = _need_probe(c)
    added, there = c.session.send([_add(probe), get(probe)])
    _status(added, f"Add {probe}", "200")
    _status(there, f"Get {probe} after its Add", "200")
    deleted, gone = c.session.send([_delete(probe), get(probe)])
    _status(deleted, f"Delete {probe}", "200")
    _status(gone, f"Get {probe} after its Delete", "404")


def delete_missing(c: Context) -> None:
    _status(c.session.delete(MISSING), f"Delete {MISSING}", "404")


def exec_not_allowed(c: Context) -> None:
    _status(c.session.exec(READ_ONLY), f"Exec {READ_ONLY} (no Exec access)", "405")


def exec_missing(c: Context) -> None:
    _status(c.session.exec(MISSING), f"Exec {MISSING}", "404")


def atomic(c: Context) -> None:
    probe = _need_probe(c)
    try:
        r = c.session.atomic([_add(probe)])
        _status(r, "Atomic { Add }", "200")
        _status(r.children[0], f"Add {probe} in Atomic", "200")
    finally:
        c.session.send([_delete(probe)])


def atomic_rollback(c: Context) -> None:
    probe = _need_probe(c)
    try:
        r = c.session.atomic([_add(probe), replace(READ_ONLY, c.man, "chr")])
        after = c.session.get(probe)
        _status(r, "Atomic { Add, Replace read-only }", "507")
        _status(r.children[1], f"Replace {READ_ONLY} in the failed Atomic", "405")
        _status(r.children[0], f"Add {probe} in the failed Atomic (rolled back)", "216")
        _status(after, f"Get {probe} after the failed Atomic (must be rolled back)", "404")
    finally:
        if c.session.get(probe).status == "200":
            c.session.send([_delete(probe)])


def _sequence(c: Context, what: str, commands: list[Command]) -> CommandResult:
    """A session that dies right after a Sequence, twice, is the device's fault."""
    return c.dm.answered(what, lambda: c.session.sequence(commands), c.session)


def sequence(c: Context) -> None:
    r = _sequence(c, "Sequence { Get, Get }", [get(READ_ONLY), get("./DevInfo/Mod")])
    assert r.status, "Sequence answered no Status"
    _status(r, "Sequence { Get, Get }", "200")
    for child in r.children:
        uri = child.cmd.items[0].target  # type: ignore[attr-defined]
        _status(child, f"Get {uri} in Sequence", "200")
        assert child.items, f"Get {uri} in Sequence: no Results"


def sequence_error(c: Context) -> None:
    r = _sequence(c, "Sequence { Get, Get missing }", [get(READ_ONLY), get(MISSING)])
    assert r.status, "Sequence answered no Status"
    _status(r.children[0], f"Get {READ_ONLY} in Sequence", "200")
    _status(r.children[1], f"Get {MISSING} in Sequence", "404")


CASES: dict[str, Callable[[Context], None]] = {
    "get-leaf": get_leaf,
    "get-interior": get_interior,
    "get-missing": get_missing,
    "replace-read-only": replace_read_only,
    "add-existing": add_existing,
    "add-delete": add_delete,
    "delete-missing": delete_missing,
    "exec-not-allowed": exec_not_allowed,
    "exec-missing": exec_missing,
    "atomic": atomic,
    "atomic-rollback": atomic_rollback,
    "sequence": sequence,
    "sequence-error": sequence_error,
}


@pytest.mark.parametrize("case", list(CASES))
def test_command_status(ctx: Context, case: str) -> None:
    """The device answers the command with the status OMA DM 1.2 gives for the case."""
    CASES[case](ctx)
