"""CDR-DVM-012 — tree operations: Copy, Get ?list= and ?prop=, ACLs, interior nodes (DM 1.2
Protocol §6.6; DM TND 1.2 §6.2, §7; TNDS 1.2).

Each answer is judged against what the device itself says: its DDF (access types, formats,
Scope) and its run-time ACLs (read with ``?prop=ACL`` up to the root: an empty ACL inherits).

Cases (lab sends → the device must answer):
- copy-claimed: Copy of a probe account to a new name, where the DDF gives Copy → 200, the
  copy holds the leaf; copy-not-claimed: Copy of a DDF node without Copy → 405 or 406;
- list-struct / list-structdata: Get ./DevInfo?list=Struct|StructData → 200 with every node
  the Get walk shows, the same Formats (and leaf values); list-tnds: Get
  ./DevInfo?list=TNDS+Format+Type+Value → 200 and a TNDS document of that subtree (406 for
  any of them: NOT APPLICABLE, optional; TNDS read as XML or, with Type
  ``application/vnd.syncml.dmtnds+wbxml``, as WBXML);
- prop-leaf / prop-interior: Get ?prop= ACL, Format, Name, Size (leaf), Type → 200 and as the
  DDF says (ACL well-formed); Title, TStamp, VerNo → 200 (well-formed) or 406;
- replace-acl: Replace ?prop=ACL of the probe → 200 where the device's ACL gives the lab
  Replace on it or its parent (else 425), and the new ACL reads back;
- replace-name: Replace ?prop=Name of the probe → 200 and the node moved (405 when the DDF
  gives it no Replace); of ./DevInfo (permanent) → 405;
- add-interior: Add of the probe with Meta Format node → 200, Get gives Format node, no child;
- delete-interior: Delete of the probe holding two leaves → 200, the probe and leaves 404;
- acl-forbids-425: the probe's ACL without Replace, one leaf with its own ACL granting it;
  Replace of both leaves → 425 for the inheriting one (value kept), 200 for the other;
- ddf-read-only-405: Replace (same value) of a DDF leaf without Replace whose ACL grants the lab
  Replace → 405, not 425.

Interpretation: the probe is an instance ``ConfLabTree`` of the first dynamic DDF node with Add
and Delete (e.g. ./DMAcc/<x>), with chr leaves the DDF lets the lab Add and Replace; every
case deletes what it added (names it renamed or copied to included), so no verdict depends on
another case. Optional features answered 406 (?list=, TStamp, VerNo) are NOT APPLICABLE / not
judged.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from conformance.dut.omadm import DmDevice, children_of, format_of, get, load_ddf, replace, show
from conformance.errors import ProtocolError
from conformance.omadm import acl as aclmod
from conformance.omadm import ddf as ddfmod
from conformance.omadm import tnds
from conformance.omadm.model import Add, Command, Copy, Delete, Item, Meta
from conformance.omadm.session import CommandResult
from conformance.verdicts import Inconclusive, NotApplicable

pytestmark = pytest.mark.requirement("CDR-DVM-012")

SUBTREE = "./DevInfo"
LEAF = "./DevInfo/Man"
PROBE = "ConfLabTree"
COPY = "ConfLabTreeCopy"
RENAMED = "ConfLabTreeRenamed"
MANDATORY = ("ACL", "Format", "Name", "Type")  # and Size, for a leaf (TND 1.2 §7.7)
OPTIONAL = ("Title", "TStamp", "VerNo")
TSTAMP = re.compile(r"\d{8}T\d{6}Z?"  # ISO 8601, basic or extended
                    r"|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")


@dataclass
class Spot:
    """Where the lab may build a probe: a dynamic DDF node and the leaves it may Add."""

    parent: str
    node: ddfmod.DdfNode
    leaves: list[str]  # names of chr leaves with Add and Replace

    def uri(self, name: str = PROBE) -> str:
        return f"{self.parent}/{name}"


@dataclass
class Context:
    dm: DmDevice
    doc: ddfmod.Ddf | None
    server_id: str

    def send(self, commands: list[Command]) -> list[CommandResult]:
        return self.dm.send(commands)

    def one(self, command: Command) -> CommandResult:
        return self.send([command])[0]

    def ddf(self) -> ddfmod.Ddf:
        if self.doc is None:
            raise Inconclusive("the declared DDF cannot be read (judged by the CDR-DVM-440 "
                               "DDF document case)")
        return self.doc

    def ddf_node(self, path: str) -> ddfmod.DdfNode:
        node = self.ddf().find(path)
        if node is None:
            raise NotApplicable(f"the DDF does not describe {path}")
        return node

    def spot(self, *, needs: str = "") -> Spot:
        for node in self.ddf().nodes():
            parent = node.path.rsplit("/", 1)[0]
            if not node.dynamic or ddfmod.DYNAMIC_SEGMENT in parent:
                continue
            if not {"Add", "Delete"} <= node.access or (needs and needs not in node.access):
                continue
            leaves = [c.name for c in node.children if not c.dynamic and c.format == "chr"
                      and {"Add", "Replace"} <= c.access]
            return Spot(parent, node, leaves)
        extra = f" and {needs}" if needs else ""
        raise NotApplicable(f"the DDF declares no dynamic node with Add, Delete{extra} access")


@pytest.fixture(scope="module")
def ctx(dm: DmDevice) -> Context:
    omadm = dm.dut.omadm
    return Context(dm, load_ddf(dm.dut)[0], omadm.server_id if omadm is not None else "")


# --------------------------------------------------------------------------- commands


def _add(uri: str, data: str | None = None) -> Add:
    meta = Meta(format="node") if data is None else Meta(format="chr")
    return Add(cmd_id="", items=[Item(target=uri, meta=meta, data=data)])


def _delete(uri: str) -> Delete:
    return Delete(cmd_id="", items=[Item(target=uri)])


def _copy(target: str, source: str) -> Copy:
    return Copy(cmd_id="", items=[Item(target=target, source=source)])


def _status(result: CommandResult, what: str, *expected: str) -> None:
    assert result.status in expected, (
        f"{what} answered {result.status or 'no Status'}, expected {' or '.join(expected)}")


def _value(name: str) -> str:
    return f"conflab-{name.lower()}"


@contextmanager
def _probe(c: Context, spot: Spot, leaves: int = 1, *extra: str) -> Iterator[str]:
    """The probe node with ``leaves`` leaves, deleted afterwards with ``extra`` names."""
    if len(spot.leaves) < leaves:
        raise NotApplicable(f"the DDF node {spot.node.path} has fewer than {leaves} chr leaves "
                            "the lab may Add and Replace")
    probe = spot.uri()
    names = spot.leaves[:leaves]
    try:
        answers = c.send([_add(probe), *(_add(f"{probe}/{n}", _value(n)) for n in names)])
        for command, result in zip(["probe", *names], answers, strict=True):
            if result.status != "200":
                raise Inconclusive(f"the lab could not build its probe: Add of {command} "
                                   f"under {spot.parent} answered {show(result)} (the "
                                   "add-interior case judges Add)")
        yield probe
    finally:
        for uri in (probe, *(spot.uri(n) for n in extra)):
            _remove(c, uri)


def _remove(c: Context, uri: str) -> None:
    """Delete what the lab added at ``uri``, leaves first (whatever the device does with an
    interior node's children, the next case finds the place empty)."""
    there = c.one(get(uri))
    if there.status != "200":
        return
    c.send([*(_delete(f"{uri}/{n}") for n in children_of(there)), _delete(uri)])


def _effective_acl(c: Context, uri: str) -> tuple[str, str]:
    """(the ACL that rules ``uri``, the node it is set on), read from the device."""
    chain = [uri]
    while chain[-1] not in (".", ""):
        chain.append(chain[-1].rsplit("/", 1)[0] if "/" in chain[-1] else ".")
    answers = c.send([get(f"{u}?prop=ACL") for u in chain])
    for node, result in zip(chain, answers, strict=True):
        if result.status != "200":
            raise Inconclusive(f"Get {node}?prop=ACL answered {show(result)}: the lab cannot "
                               "tell what the device's ACL grants (the prop cases judge it)")
        if result.data:
            return result.data, node
    return "", "."


def _acl_grants(c: Context, uri: str, command: str) -> tuple[bool, str]:
    """Whether the device's own ACL gives the lab ``command`` on ``uri``, and in words."""
    text, where = _effective_acl(c, uri)
    parsed = aclmod.parse(text)
    if parsed is None:
        raise Inconclusive(f"the ACL of {where} ({text!r}) is not an ACL (the prop cases judge "
                           "it)")
    granted = aclmod.grants(parsed, command, c.server_id)
    return granted, f"ACL {text!r} of {where}"


# --------------------------------------------------------------------------- Copy


def copy_claimed(c: Context) -> None:
    spot = c.spot(needs="Copy")
    with _probe(c, spot, 1, COPY) as probe:
        leaf = spot.leaves[0]
        target = spot.uri(COPY)
        copied = c.one(_copy(target, probe))
        _status(copied, f"Copy {probe} -> {target} (the DDF gives {spot.node.path} Copy)", "200")
        there, value = c.send([get(target), get(f"{target}/{leaf}")])
        _status(there, f"Get {target} after the Copy", "200")
        assert leaf in children_of(there), (
            f"Get {target} after the Copy lists {there.data!r}: the copied leaf {leaf} is "
            "missing")
        _status(value, f"Get {target}/{leaf} after the Copy", "200")
        assert value.data == _value(leaf), (
            f"{target}/{leaf} is {value.data!r} after the Copy, the source holds "
            f"{_value(leaf)!r}")


def copy_not_claimed(c: Context) -> None:
    source = next((n for n in c.ddf().nodes() if not n.dynamic and "Copy" not in n.access
                   and n.path.startswith(SUBTREE)), None)
    if source is None:
        raise NotApplicable(f"every DDF node under {SUBTREE} has the Copy access type")
    spot = c.spot()
    target = spot.uri(COPY)
    try:
        copied = c.one(_copy(target, source.path))
        _status(copied, f"Copy {source.path} -> {target} (no Copy access type in the DDF)",
                "405", "406")
    finally:
        _remove(c, target)


# --------------------------------------------------------------------------- ?list=


def _walk(c: Context) -> dict[str, CommandResult]:
    shown = {p: r for p, r in c.dm.walk(SUBTREE).items() if r.status == "200"}
    if SUBTREE not in shown:
        raise Inconclusive(f"Get {SUBTREE} answered {show(c.dm.walk(SUBTREE).get(SUBTREE))}: "
                           "nothing to compare the listing with")
    return shown


def _absolute(uri: str | None) -> str:
    uri = (uri or "").split("?", 1)[0]
    return uri if uri.startswith("./") or uri == "." else "./" + uri.lstrip("/")


def _listed(c: Context, kind: str) -> CommandResult:
    result = c.one(get(f"{SUBTREE}?list={kind}"))
    if result.status == "406":
        raise NotApplicable(f"Get {SUBTREE}?list={kind} answered 406: the device does not "
                            "support it (optional)")
    _status(result, f"Get {SUBTREE}?list={kind}", "200")
    return result


def _compare(walk: dict[str, CommandResult], listed: dict[str, str | None],
             formats: dict[str, str | None], what: str) -> None:
    missing = sorted(set(walk) - set(listed))
    extra = sorted(set(listed) - set(walk))
    assert not missing, f"{what} leaves out {', '.join(missing)}, which Get shows"
    assert not extra, f"{what} names {', '.join(extra)}, which the Get walk does not show"
    wrong = [f"{p} {formats[p]!r} (Get: {format_of(walk[p])!r})" for p in sorted(walk)
             if formats.get(p) is not None and formats[p] != format_of(walk[p])]
    assert not wrong, f"{what} gives other Formats than Get: {'; '.join(wrong)}"


def list_struct(c: Context, kind: str = "Struct") -> None:
    walk = _walk(c)
    result = _listed(c, kind)
    listed = {_absolute(i.source): i.text() for i in result.items}
    formats: dict[str, str | None] = {
        _absolute(i.source): (i.meta.format if i.meta and i.meta.format else "chr")
        for i in result.items
    }
    _compare(walk, listed, formats, f"?list={kind}")
    if kind == "StructData":
        wrong = [f"{p} {listed[p]!r} (Get: {r.data!r})" for p, r in sorted(walk.items())
                 if format_of(r) != "node" and listed.get(p) != r.data]
        assert not wrong, f"?list=StructData gives other values than Get: {'; '.join(wrong)}"


def list_structdata(c: Context) -> None:
    list_struct(c, "StructData")


def _raw(item: Item) -> bytes:
    """The bytes of a binary item: b64 text decoded, WBXML OPAQUE as it came."""
    data = item.data if item.data is not None else b""
    if item.meta is not None and item.meta.format == "b64":
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise AssertionError("Get ?list=TNDS: Format b64 data that is not base64") from None
    return data.encode() if isinstance(data, str) else data


def list_tnds(c: Context) -> None:
    walk = _walk(c)
    result = _listed(c, "TNDS+Format+Type+Value")
    item = result.items[0] if result.items else None
    assert item is not None and item.data is not None, (
        "Get ?list=TNDS answered 200 without a document")
    kind = (item.meta.type if item.meta else None) or ""
    try:
        if kind == tnds.MIME_WBXML:
            nodes = tnds.flatten(tnds.parse_wbxml(_raw(item)), SUBTREE)
        else:
            nodes = tnds.flatten(tnds.parse(item.data), SUBTREE)
    except ProtocolError as exc:
        raise AssertionError(f"Get ?list=TNDS: not a TNDS document ({kind or 'no Type'}: "
                             f"{exc})") from None
    listed = {p: n.value for p, n in nodes.items()}
    formats: dict[str, str | None] = {p: n.props.get("Format") for p, n in nodes.items()}
    _compare(walk, listed, formats, "?list=TNDS")
    wrong = [f"{p} {listed[p]!r} (Get: {r.data!r})" for p, r in sorted(walk.items())
             if format_of(r) != "node" and listed.get(p) != r.data]
    assert not wrong, f"?list=TNDS gives other values than Get: {'; '.join(wrong)}"


# --------------------------------------------------------------------------- ?prop=


def _props(c: Context, uri: str) -> None:
    node = c.ddf_node(uri)
    value = c.one(get(uri))
    if value.status != "200":
        raise Inconclusive(f"Get {uri} answered {show(value)} (CDR-DVM-440 judges it)")
    leaf = not node.is_interior
    names = [*MANDATORY, *(("Size",) if leaf else ()), *OPTIONAL]
    answers = dict(zip(names, c.send([get(f"{uri}?prop={n}") for n in names]), strict=True))
    problems: list[str] = []
    for name, result in answers.items():
        if name in OPTIONAL and result.status == "406":
            continue
        if result.status != "200" or not result.items:
            problems.append(f"?prop={name} answered {show(result)}, expected 200 with its value")
    data = {name: (r.data or "") for name, r in answers.items() if r.status == "200"}
    expected_type = node.ddf_name if node.is_interior else node.mime
    checks = {
        "Format": node.format,
        "Name": uri.rsplit("/", 1)[-1],
        "Type": expected_type or None,
        "Size": str(len((value.data or "").encode())) if leaf else None,
    }
    for name, want in checks.items():
        if want is not None and name in data and data[name] != want:
            problems.append(f"?prop={name} is {data[name]!r}, expected {want!r}")
    if "ACL" in data and aclmod.parse(data["ACL"]) is None:
        problems.append(f"?prop=ACL {data['ACL']!r} is not an ACL (TND 1.2 §7.7.1.5)")
    if "TStamp" in data and not TSTAMP.fullmatch(data["TStamp"]):
        problems.append(f"?prop=TStamp {data['TStamp']!r} is not an ISO 8601 time")
    if "VerNo" in data and not data["VerNo"].isdigit():
        problems.append(f"?prop=VerNo {data['VerNo']!r} is not a number")
    assert not problems, f"{uri}: " + "; ".join(problems)


def prop_leaf(c: Context) -> None:
    _props(c, LEAF)


def prop_interior(c: Context) -> None:
    _props(c, SUBTREE)


# --------------------------------------------------------------------------- ACL and Name


def replace_acl(c: Context) -> None:
    spot = c.spot()
    with _probe(c, spot) as probe:
        sid = c.server_id if aclmod.parse(f"Get={c.server_id}") else "*"
        new = f"Add={sid}&Delete={sid}&Get={sid}&Replace=*"
        own, own_words = _acl_grants(c, probe, "Replace")
        parent, parent_words = _acl_grants(c, spot.parent, "Replace")
        expected = "200" if own or parent else "425"
        result = c.one(replace(f"{probe}?prop=ACL", new, "chr"))
        _status(result, f"Replace {probe}?prop=ACL ({own_words}; parent: {parent_words})",
                expected)
        if expected == "200":
            back = c.one(get(f"{probe}?prop=ACL"))
            assert back.status == "200" and aclmod.same(back.data or "", new), (
                f"{probe}?prop=ACL reads {show(back)} after the Replace with {new!r}")


def replace_name(c: Context) -> None:
    spot = c.spot()
    claimed = "Replace" in spot.node.access
    with _probe(c, spot, 1, RENAMED) as probe:
        renamed = spot.uri(RENAMED)
        result = c.one(replace(f"{probe}?prop=Name", RENAMED, "chr"))
        if not claimed:
            _status(result, f"Replace {probe}?prop=Name (the DDF gives {spot.node.path} no "
                    "Replace)", "405")
        else:
            _status(result, f"Replace {probe}?prop=Name", "200")
            old, new = c.send([get(probe), get(f"{renamed}/{spot.leaves[0]}")])
            _status(new, f"Get {renamed}/{spot.leaves[0]} after the rename", "200")
            _status(old, f"Get {probe} after its rename to {RENAMED}", "404")
    node = c.ddf_node(SUBTREE)
    if node.scope == "Permanent":
        result = c.one(replace(f"{SUBTREE}?prop=Name", RENAMED, "chr"))
        if result.status == "200":  # put the name back before failing
            c.one(replace(f"./{RENAMED}?prop=Name", SUBTREE.rsplit("/", 1)[-1], "chr"))
        _status(result, f"Replace {SUBTREE}?prop=Name (a permanent node)", "405")


# --------------------------------------------------------------------------- interior nodes


def add_interior(c: Context) -> None:
    spot = c.spot()
    probe = spot.uri()
    try:
        added = c.one(_add(probe))
        _status(added, f"Add {probe} (Meta Format node)", "200")
        there = c.one(get(probe))
        _status(there, f"Get {probe} after its Add", "200")
        assert format_of(there) == "node", (
            f"Get {probe} after an Add with Format node: Format {format_of(there)!r}")
        assert not children_of(there), f"the new {probe} lists children: {there.data!r}"
    finally:
        _remove(c, probe)


def delete_interior(c: Context) -> None:
    spot = c.spot()
    with _probe(c, spot, min(2, len(spot.leaves)) or 1) as probe:
        deleted = c.one(_delete(probe))
        _status(deleted, f"Delete {probe} (an interior node with children)", "200")
        gone = c.send([get(probe), *(get(f"{probe}/{n}") for n in spot.leaves[:2])])
        left = [r.cmd.items[0].target for r in gone  # type: ignore[attr-defined]
                if r.status != "404"]
        assert not left, f"after Delete {probe}: {', '.join(map(str, left))} still answer Get"


def acl_forbids_425(c: Context) -> None:
    spot = c.spot()
    with _probe(c, spot, 2) as probe:
        own_leaf, inheriting = (f"{probe}/{n}" for n in spot.leaves[:2])
        set_leaf, set_probe = c.send([
            replace(f"{own_leaf}?prop=ACL", "Get=*&Replace=*", "chr"),
            replace(f"{probe}?prop=ACL", "Add=*&Delete=*&Get=*", "chr"),
        ])
        if set_leaf.status != "200" or set_probe.status != "200":
            raise Inconclusive(f"the lab could not set the probe's ACLs ({show(set_leaf)}, "
                               f"{show(set_probe)}; the replace-acl case judges it)")
        may_own, own_words = _acl_grants(c, own_leaf, "Replace")
        may_inherit, inherit_words = _acl_grants(c, inheriting, "Replace")
        if may_inherit or not may_own:
            raise Inconclusive(f"the ACLs the lab set do not read back ({own_words} for "
                               f"{own_leaf}, {inherit_words} for {inheriting}; the "
                               "replace-acl case judges it)")
        refused, granted, kept = c.send([
            replace(inheriting, "conflab-changed", "chr"),
            replace(own_leaf, "conflab-changed", "chr"),
            get(inheriting),
        ])
        _status(refused, f"Replace {inheriting} (DDF allows Replace; {inherit_words} does not "
                "grant it)", "425")
        _status(granted, f"Replace {own_leaf} ({own_words} grants it)", "200")
        assert kept.data == _value(inheriting.rsplit("/", 1)[-1]), (
            f"{inheriting} is {kept.data!r} after a Replace its ACL forbids")


def ddf_read_only_405(c: Context) -> None:
    candidates = [n for n in c.ddf().nodes() if not n.dynamic and not n.is_interior
                  and n.format == "chr" and "Get" in n.access and "Replace" not in n.access
                  and "<x>" not in n.path and "/DMAcc/" not in n.path]
    for node in candidates:
        value = c.one(get(node.path))
        if value.status != "200" or value.data is None:
            continue
        granted, words = _acl_grants(c, node.path, "Replace")
        if not granted:
            continue
        result = c.one(replace(node.path, value.data, "chr"))
        _status(result, f"Replace {node.path} (same value; the DDF gives no Replace, {words} "
                "grants it: the refusal is the access type's, not the ACL's)", "405")
        return
    raise NotApplicable("no readable chr leaf of the DDF lacks Replace while the device's ACL "
                        "grants the lab Replace on it")


CASES: list[Callable[[Context], None]] = [
    copy_claimed, copy_not_claimed, list_struct, list_structdata, list_tnds, prop_leaf,
    prop_interior, replace_acl, replace_name, add_interior, delete_interior, acl_forbids_425,
    ddf_read_only_405,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__.replace("_", "-") for c in CASES])
def test_tree_operation(ctx: Context, case: Callable[[Context], None]) -> None:
    """The device carries out the tree operation as its DDF and its ACLs say it must."""
    case(ctx)
