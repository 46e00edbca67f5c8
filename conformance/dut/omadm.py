"""The OMA-DM device under test as the catalog cases drive it: sessions, tree reading, the DDF.

:class:`DmDevice` opens sessions the way a lab does (the controller triggers the device, the
lab takes the session it opens) and keeps one *shared* session open across cases, so that a
case that only reads the tree costs one package, not one session. A case that needs its own
session (other lab options, a Package 0, a factory reset) asks :meth:`DmDevice.fresh`, which
first closes the shared one: an OMA-DM client runs one session at a time.

Reading is never judging: the helpers return what the device answered (:class:`CommandResult`)
and the cases decide. A session the lab could not authenticate is INCONCLUSIVE for the cases
that only read the tree (authentication is CDR-DVM-012's to judge).
"""

from __future__ import annotations

import fnmatch
import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from conformance.controllers.base import Controller
from conformance.declaration import Declaration
from conformance.dut.common import Baseline, facade
from conformance.dut.liveness import ProofOfLife, answered_or_fault
from conformance.errors import ProtocolError
from conformance.fota.server import PackageServer
from conformance.lab import Lab
from conformance.omadm import ddf as ddfmod
from conformance.omadm.account import DmAccounts
from conformance.omadm.lab import DmSession, OmaDmLab
from conformance.omadm.labauth import AuthOutcome
from conformance.omadm.model import Alert, Command, Get, Item, ItemCommand, Meta, Replace, SyncML
from conformance.omadm.session import CommandResult
from conformance.verdicts import DeviceFault, DeviceTimeout, Inconclusive, NotApplicable

T = TypeVar("T")
DEFAULT_FORMAT = "chr"  # SyncML: an item without Meta Format is chr
OPTIONAL_OCCURRENCES = ("ZeroOrOne", "ZeroOrMore", "ZeroOrN")
UNREADABLE = "unreadable"  # the ddf_path parameter when the DDF cannot be read
SILENT_LIMIT = 2  # triggers without a session before the device counts as unreachable


# --------------------------------------------------------------------------- results


def get(uri: str) -> Get:
    return Get(cmd_id="", items=[Item(target=uri)])


def replace(uri: str, data: str, fmt: str) -> Replace:
    return Replace(cmd_id="", items=[Item(target=uri, meta=Meta(format=fmt), data=data)])


def format_of(result: CommandResult) -> str | None:
    """The Meta Format of a Get's Results (item level, else Results level); None: no Results."""
    if not result.items:
        return None
    item = result.items[0]
    if item.meta is not None and item.meta.format:
        return item.meta.format
    for res in result.results:
        if res.meta is not None and res.meta.format:
            return res.meta.format
    return DEFAULT_FORMAT


def children_of(result: CommandResult) -> list[str]:
    """The child names an interior node's Get returned ("a/b/c"), [] when none or a leaf."""
    if result.status != "200" or format_of(result) != "node":
        return []
    return [name for name in (result.data or "").split("/") if name]


# --------------------------------------------------------------------------- rules of evidence
#
# A check is decided only by an authenticated, well-formed answer: the lab verified the
# device's credentials and the device accepted the lab's, and the command got a Status.
# Then 200 shows a node exists, 405 too (the command is refused on a node that is there),
# 404 alone shows it absent; any other answer in such a session is the device's (a 401 on a
# command of a session authenticated both ways is a refusal, not an authentication problem).

EXISTS = ("200", "405")


def decisive(result: CommandResult, uri: str, auth: AuthOutcome) -> CommandResult:
    """``result`` if it may decide a check; INCONCLUSIVE when the lab cannot judge by it."""
    if not auth.verified:
        raise Inconclusive(f"{uri}: the lab could not authenticate the device, so its answer "
                           f"({result.status or 'no Status'}) decides nothing")
    if not auth.lab_accepted:
        raise Inconclusive(f"{uri}: the device did not accept the lab's credentials "
                           f"({', '.join(auth.server_statuses) or 'no Status'}), so its answer "
                           f"({result.status or 'no Status'}) decides nothing")
    if not result.status:
        raise Inconclusive(f"{uri}: the device gave no Status")
    return result


def existence(result: CommandResult, uri: str, auth: AuthOutcome,
              prop: CommandResult | None = None) -> bool:
    """Whether an authenticated answer shows ``uri`` exists (False: 404); else a FAIL.

    ``prop`` is the answer to ``uri?prop=Format``, asked when the Get was refused.
    """
    decisive(result, uri, auth)
    if result.status in EXISTS or (prop is not None and prop.status == "200"):
        return True
    if result.status == "404":
        return False
    raise DeviceFault(f"Get {uri} answered {result.status} in a session authenticated both "
                      "ways: the device does not show the node (200, or 405 for a node it "
                      "keeps from the lab)")


def reported(package1: SyncML, auth: AuthOutcome) -> dict[str, str]:
    """Node -> value a package 1 reports (Replace/Add/Alert items by Source), if it counts.

    Only an authenticated package counts: the lab refused the credentials of the others
    (401/407), so what they carry is not the device's report to an AT&T server.
    """
    if not auth.verified:
        return {}
    out: dict[str, str] = {}
    for cmd in package1.body:
        if isinstance(cmd, ItemCommand | Alert):
            for item in cmd.items:
                uri = item.source or item.target
                if uri and item.data is not None:
                    out["./" + uri.removeprefix("./")] = item.text() or ""
    return out


def ddf_allows(doc: ddfmod.Ddf | None, uri: str, command: str) -> bool:
    """Whether the DDF node ``uri`` is an instance of gives it ``command`` (False: no node)."""
    if doc is None:
        return False
    parts = uri.split("/")
    for node in doc.nodes():
        want = node.path.split("/")
        if len(want) == len(parts) and all(
            w == p or w == ddfmod.DYNAMIC_SEGMENT for w, p in zip(want, parts, strict=True)
        ):
            return command in node.access
    return False


def show(result: CommandResult | None) -> str:
    """A result in lab words: "200 'ACME Inc' (chr)", "405", "no Status"."""
    if result is None:
        return "not asked"
    if not result.status:
        return "no Status"
    if result.items:
        return f"{result.status} {result.data!r} ({format_of(result)})"
    return result.status


# --------------------------------------------------------------------------- the DDF


@functools.lru_cache(maxsize=8)
def _load_ddf(path: Path) -> tuple[ddfmod.Ddf | None, str | None]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, f"the declared DDF {path} cannot be read: {exc.strerror}"
    try:
        return ddfmod.parse(data), None
    except ProtocolError as exc:
        return None, f"the DDF {path.name} is not well-formed: {exc}"


def load_ddf(dut: Declaration) -> tuple[ddfmod.Ddf | None, str | None]:
    """(the declared DDF, None) or (None, why it cannot be used)."""
    if dut.omadm is None or dut.omadm.ddf is None:
        return None, "the declaration names no DDF (omadm.ddf)"
    return _load_ddf(Path(dut.omadm.ddf))


def large_object_leaf(doc: ddfmod.Ddf) -> str:
    """A leaf to write a large object to: Get/Replace chr by the DDF, outside ./DMAcc (the
    accounts), ./FUMO preferred (a package name); NOT APPLICABLE when the DDF has none."""
    candidates = [
        n.path for n in doc.nodes()
        if not n.dynamic and ddfmod.DYNAMIC_SEGMENT not in n.path and n.format == "chr"
        and {"Get", "Replace"} <= n.access and not n.path.startswith("./DMAcc")
    ]
    if not candidates:
        raise NotApplicable("the DDF declares no Get/Replace chr leaf outside ./DMAcc to write "
                            "a large object to")
    return next((p for p in candidates if p.startswith("./FUMO")), candidates[0])


def ddf_or_inconclusive(dut: Declaration) -> ddfmod.Ddf:
    """For cases that need the DDF but do not judge it (CDR-DVM-440's document case does)."""
    doc, problem = load_ddf(dut)
    if doc is None:
        raise Inconclusive(f"{problem} (judged by the CDR-DVM-440 DDF document case)")
    return doc


# --------------------------------------------------------------------------- the device


@dataclass
class DdfReading:
    """One DDF node as found on the device: its instances and what each answered."""

    node: ddfmod.DdfNode
    instances: dict[str, CommandResult] = field(default_factory=dict)  # concrete path -> Get
    formats: dict[str, str | None] = field(default_factory=dict)  # concrete path -> Format
    probes: dict[str, CommandResult] = field(default_factory=dict)  # Replace refused? probe
    unresolved: str | None = None  # why the instances could not be listed

    def targets(self) -> list[str]:
        """Every URI the lab asked the device about for this node (Get, ?prop=Format, probe)."""
        paths = [*self.instances, *self.probes]
        return [*paths, *(f"{p}?prop=Format" for p in self.instances)]


def require_authenticated(session: DmSession) -> DmSession:
    if not session.auth.verified:
        attempts = ", ".join(
            f"{a.type or 'no credentials'} -> {a.answer}" for a in session.auth.attempts
        )
        raise Inconclusive(
            f"the lab could not authenticate the device in session {session.session_id} "
            f"({attempts or 'no attempt'}; {session.ended or 'session open'}): the tree "
            "cannot be read; CDR-DVM-012 judges authentication"
        )
    return session


def close_quietly(session: DmSession | None) -> None:
    """End a session if the lab can: it holds the device's last message (its turn to speak).

    When the lab's answer was the last message, the device owes the next one (or gave up): a
    close could only wait ``timeouts.request`` for it, so the session is left to the lab.
    """
    if session is None or session.ended is not None:
        return
    messages = session.messages
    if messages and messages[-1].direction == "lab->device":
        return
    try:
        session.close()
    except Inconclusive:
        pass  # a device that went silent at the end: the case already has its evidence


class DmDevice:
    """The OMA-DM device under test as the cases drive it (one per run)."""

    def __init__(self, lab: Lab, controller: Controller, dut: Declaration) -> None:
        self.lab = lab
        self.omadm: OmaDmLab = facade(lab.omadm, "OMA-DM")
        self.packages: PackageServer = facade(lab.packages, "firmware package")
        self.controller = controller
        self.dut = dut
        self.accounts: DmAccounts = self.omadm.accounts
        self.timeouts = dut.timeouts
        self.baseline = Baseline.declared(dut)
        self.first_auth: AuthOutcome | None = None  # the run's first session's authentication
        self.device_key: str | None = None  # the DevId the device's sessions carry
        self._shared: DmSession | None = None
        self._factory_auth: AuthOutcome | None = None
        self._ddf_reading: dict[str, DdfReading] | None = None
        self._ddf_problem: Inconclusive | None = None  # why the DDF reading could not be made
        self._walks: dict[str, dict[str, CommandResult]] = {}
        # target URI -> transcript seqs of the packages that asked about it: a case judging a
        # reading made earlier (cached for the run) cites them, so its evidence is never empty
        self._asked_in: dict[str, set[int]] = {}
        self._silent: list[str] = []  # consecutive triggers that brought no session
        self.life = ProofOfLife()  # the device's last provable answer (see dut.liveness)

    # ------------------------------------------------------------------ sessions

    def open(self, *, authenticated: bool = True, **options: Any) -> DmSession:
        """A new controller-triggered session with these lab options (SessionOptions).

        After ``SILENT_LIMIT`` triggers in a row brought no session the device is taken as
        unreachable for the rest of the run: INCONCLUSIVE at once instead of another full
        ``timeouts.session`` wait per case (a session that comes in any way resets it).
        """
        self.release()
        if len(self._silent) >= SILENT_LIMIT:
            raise Inconclusive(f"the device opened no session for the last {SILENT_LIMIT} "
                               f"triggers ({self._silent[-1]}); not waiting again")
        self.omadm.expect_session(**options)
        self.controller.trigger_session()
        try:
            session = self.omadm.wait_session()
        except DeviceTimeout as exc:
            self._silent.append(str(exc))
            raise
        self._seen(session)
        return require_authenticated(session) if authenticated else session

    def _seen(self, session: DmSession) -> None:
        self._silent.clear()
        if self.first_auth is None:
            self.first_auth = session.auth
        self.device_key = self.device_key or session.dev_id

    def shared(self) -> DmSession:
        """The session kept open across reading cases (reopened when it has ended)."""
        if self._shared is None or self._shared.ended is not None:
            self._shared = None
            self._shared = self.open()
        return self._shared

    def release(self) -> None:
        """Close the shared session: the device is free for another one."""
        shared, self._shared = self._shared, None
        close_quietly(shared)
        self._note_life(shared)

    @contextmanager
    def fresh(self, *, authenticated: bool = True, **options: Any) -> Iterator[DmSession]:
        session = self.open(authenticated=authenticated, **options)
        try:
            yield session
        finally:
            close_quietly(session)
            self._note_life(session)

    # ------------------------------------------------------------------ proof of life

    def _note_life(self, session: DmSession | None) -> None:
        """A session in which the device answered is proof it was alive at its last message."""
        if session is None:
            return
        answers = [m for m in session.messages if m.direction == "device->lab"]
        if not answers or session.ended == "device silent":
            return
        age = max(0.0, time.time() - answers[-1].time)
        self.life.seen(f"the device answered message {len(answers)} of session "
                       f"{session.session_id}", at=time.monotonic() - age)

    def proof_of_life(self, session: DmSession | None = None) -> str | None:
        """How the device was shown alive a moment before (None: the lab cannot show it)."""
        self._note_life(session if session is not None else self._shared)
        return self.life.within(self.timeouts.session)

    def answered(self, what: str, attempt: Callable[[], T],
                 session: DmSession | None = None) -> T:
        """``attempt()`` under the proof-of-life rule (:func:`answered_or_fault`)."""
        return answered_or_fault(what, attempt, self.proof_of_life(session))

    def package0_session(self) -> tuple[int, DmSession]:
        """Deliver a valid Package 0 and take the server-alerted session it brings.

        The lab first proves the device alive and holding the lab's server nonce
        (:meth:`settle_nonces`); silence after that is the device's (asked twice).
        Returns the notification's session id the session answers (the last one sent when
        it answers none) and the session.
        """
        self.settle_nonces()
        sent: list[int] = []

        def attempt() -> DmSession:
            self.omadm.expect_session()
            sent.append(self.omadm.notify())
            return self.omadm.wait_session(alert="1200")

        session = self.answered("a valid Package 0 (server-alerted session trigger)", attempt)
        self.adopt(session)
        sid = next((s for s in sent if sid_matches(session, s)), sent[-1])
        return sid, session

    def settle_nonces(self) -> None:
        """End with the device provably holding the server nonce the lab holds (Package 0).

        The device issues the lab a new server nonce with 212 and stores it once the lab's
        answer to that message arrives; the lab cannot see that arrival for the session's last
        message. Two exchanges after the 212 prove it: the device's third message was sent
        after it had the lab's answer. Then a Package 0 digest over the lab's nonce is one the
        device can verify (no sleep, no race with the end of the previous session).
        """
        with self.fresh() as session:
            session.get("./DevInfo/DevId")
            session.get("./DevInfo/DevId")

    def alive_after_silence(self, silence: str) -> list[Alert]:
        """The device stayed silent where it should have spoken: is it reachable at all?

        A controller-triggered session tells a device that is up (its silence is then the
        fault, and the Generic Alerts it carries are returned) from one the lab cannot reach
        (INCONCLUSIVE: the lab cannot decide).
        """
        try:
            with self.fresh(authenticated=False) as session:
                return session.alerts("1226")
        except Inconclusive as exc:
            raise Inconclusive(f"{silence}, and the device does not open a triggered session "
                               f"either ({exc}): it is unreachable") from None

    def adopt(self, session: DmSession) -> None:
        """Note a session the case took itself (Package 0, after an update)."""
        self._seen(session)

    # ------------------------------------------------------------------ reading

    def send(self, commands: list[Command]) -> list[CommandResult]:
        if not commands:
            return []
        session = self.shared()
        first = self.lab.transcript.mark() + 1
        results = session.send(commands)
        seqs = range(first, self.lab.transcript.mark() + 1)
        for command in commands:
            for item in getattr(command, "items", ()):
                if item.target:
                    self._asked_in.setdefault(item.target, set()).update(seqs)
        return results

    def exchanges(self, *targets: str) -> list[int]:
        """Transcript seqs of the packages in which the lab asked about ``targets``."""
        return sorted({seq for t in targets for seq in self._asked_in.get(t, ())})

    def read(self, uris: list[str]) -> dict[str, CommandResult]:
        """Get each of ``uris`` in the shared session (one package)."""
        return dict(zip(uris, self.send([get(u) for u in uris]), strict=True))

    def walk(self, root: str) -> dict[str, CommandResult]:
        """Every node under ``root`` the device lets the lab list, level by level (cached)."""
        if root in self._walks:
            return self._walks[root]
        found: dict[str, CommandResult] = {}
        level = [root]
        while level:
            answers = self.read(level)
            found.update(answers)
            level = [f"{path}/{name}" for path, r in answers.items() for name in children_of(r)]
        self._walks[root] = found
        return found

    def ddf_reading(self, doc: ddfmod.Ddf) -> dict[str, DdfReading]:
        """Every node the DDF declares, looked up on the device (cached for the run).

        Level by level: a Get on each instance; for an instance whose Get is refused, a Get
        of ``?prop=Format`` (DM 1.2 TND properties); a dynamic node's instances are the
        parent's children that the DDF does not name. Then, for every leaf whose value could
        be read and whose DDF access type lacks Replace, a Replace with the same value: it
        must be refused (the value is unchanged either way).
        """
        if self._ddf_reading is not None:
            return self._ddf_reading
        if self._ddf_problem is not None:  # one attempt per run, not one per DDF node
            raise Inconclusive(str(self._ddf_problem))
        try:
            self._ddf_reading = self._read_ddf(doc)
        except Inconclusive as exc:
            self._ddf_problem = exc
            raise
        return self._ddf_reading

    def _read_ddf(self, doc: ddfmod.Ddf) -> dict[str, DdfReading]:
        readings = {n.path: DdfReading(n) for n in doc.nodes()}
        level: list[tuple[ddfmod.DdfNode, str]] = [(n, n.path) for n in doc.roots]
        while level:
            answers = self.read([path for _, path in level])
            refused = [path for path, r in answers.items() if r.status not in ("200", "404")]
            props = self.read([f"{p}?prop=Format" for p in refused])
            following: list[tuple[ddfmod.DdfNode, str]] = []
            for node, path in level:
                result = answers[path]
                reading = readings[node.path]
                reading.instances[path] = result
                if result.status == "200":
                    reading.formats[path] = format_of(result)
                elif path in refused:
                    prop = props[f"{path}?prop=Format"]
                    reading.formats[path] = prop.data if prop.status == "200" else None
                if result.status == "404":
                    continue
                listed = children_of(result)
                named = {c.name for c in node.children if not c.dynamic}
                for child in node.children:
                    if not child.dynamic:
                        following.append((child, f"{path}/{child.name}"))
                    elif result.status != "200":
                        readings[child.path].unresolved = (
                            f"{path} cannot be listed (Get answered {result.status})"
                        )
                    else:
                        following += [(child, f"{path}/{n}") for n in listed if n not in named]
            level = following
        probes: list[tuple[DdfReading, str, Replace]] = []
        for reading in readings.values():
            node = reading.node
            if node.is_interior or "Replace" in node.access or node.format not in (
                "chr",
                "int",
                "bool",
            ):
                continue
            for path, result in reading.instances.items():
                if result.status == "200" and result.data is not None:
                    probes.append((reading, path, replace(path, result.data, node.format)))
        results = self.send([cmd for _, _, cmd in probes])
        for (reading, path, _), result in zip(probes, results, strict=True):
            reading.probes[path] = result
        return readings

    # ------------------------------------------------------------------ factory state

    def factory_auth(self) -> AuthOutcome:
        """Authentication of the first session after a factory reset (cached for the run).

        The lab forgets its nonces for the device too, so both sides start from "null": the
        device's first digest verifying with nonce "null" shows its client AAuthData was
        bnVsbA==, and the device accepting the lab's digest over "null" its server AAuthData.
        """
        if self._factory_auth is None:
            self._factory_auth = self.reset_to_factory()
        return self._factory_auth

    def reset_to_factory(self) -> AuthOutcome:
        """Factory reset through the controller, the lab's nonces for the device forgotten
        too, then the first session after it (its authentication is returned)."""
        self.release()
        self.controller.factory_reset()
        self.baseline = Baseline.declared(self.dut, host_software_version=(
            self.baseline.host_software_version))  # the host's identity is not a factory value
        if self.device_key is not None:
            self.omadm.nonces.reset(self.device_key)
        self._walks.clear()
        self._ddf_reading, self._ddf_problem = None, None
        with self.fresh(authenticated=False) as session:
            if session.auth.verified:
                # One command, so that the device answers the lab's SyncHdr (and Cred).
                session.get("./DevInfo/DevId")
            auth = session.auth
        if self._factory_auth is None:
            self._factory_auth = auth
        return auth


def sid_matches(session: DmSession, sid: int) -> bool:
    """The SessionID is the notification's 16-bit id in hexadecimal (case, zeros free)."""
    try:
        return int(session.session_id.strip(), 16) == sid
    except ValueError:
        return False


def leaf(values: dict[str, CommandResult], pattern: str) -> tuple[str, CommandResult] | None:
    """The first (path, result) whose path matches ``pattern`` (fnmatch, segment-wise)."""
    want = pattern.split("/")
    for path, result in values.items():
        parts = path.split("/")
        if len(parts) != len(want):
            continue
        if all(fnmatch.fnmatchcase(p, w) for p, w in zip(parts, want, strict=True)):
            return path, result
    return None
