"""One part of a catalog: ``--part I/K`` keeps every K-th case, from the I-th on.

``conformance run --parts K`` runs a built-in (simulated) device's catalog as K parts side by
side, each part a pytest process with its own lab and its own reference device, so that the
cases that wait on protocol timers (observation periods, lifetimes, Disable timeouts) wait at
the same time instead of one after another. The parts' run folders are then merged into the
device's one run folder (conformance/evidence/parts.py).

The split does not depend on the order the cases run in (``--order``). With
``--part-weights FILE`` (repeatable: a case takes its time from the first file that has it) the
cases are dealt heaviest first to the part with the least time so far, so that the parts end
together. ``conformance run`` passes the ``verdicts.json`` of an earlier run of the same device
in the reports folder (keyed by node id), then the catalog's ``case-seconds.json`` (keyed by
path from its own folder, so that it holds wherever pytest's root is): a first run is split by
the latter, and so is a case the earlier run did not have (it ran with ``-k``). Without
either: every K-th case of the sorted node ids (a file's slow cases sit together:
interleaving spreads them).

With ``--part-queue FILE`` (``conformance run`` in the catalog's order) that split is each
part's share to start with, and a part that has finished its share takes the last case of the
share with the most seconds left (:mod:`conformance.plugin.partqueue`, the file the parts
share): the parts end together even when this run's durations are not the earlier run's. A
case is taken only when the part has finished its last (at that case's teardown). The unit of
work is one case, or the cases of a module (or package) that share a fixture set up once for
it: they stay in one share, in order, so that it is set up once.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from conformance.plugin.partqueue import QueueError, SharedQueue
from conformance.plugin.state import get_run, is_case

MAX_PARTS = 16
MAX_WEIGHTS_BYTES = 32 * 1024 * 1024  # a verdicts.json of a few thousand cases is ~1 MB
MAX_CASE_SECONDS = 3600.0
CASE_OVERHEAD = 0.02  # seconds a case costs besides its own duration (set-up, evidence)
# A part's one line once its cases are chosen (its start-up's collection done): conformance run
# holds the devices in fewer parts back until every part of the device in the most has said it.
COLLECTED = re.compile(r"part \d+/\d+: \d+ of \d+ cases(?:, then what the others have left)?\Z")
# Fixture scopes that tie a module's (or package's) cases together in one unit of the queue.
UNIT_SCOPES = frozenset({"class", "module", "package"})


def read_weights(path: Path) -> dict[str, float]:
    """Case durations from an earlier run's verdicts.json; {} when it cannot be read (the
    split falls back to interleaving: a worse balance, never a wrong verdict)."""
    try:
        if path.stat().st_size > MAX_WEIGHTS_BYTES:
            return {}
        cases = json.loads(path.read_text(encoding="utf-8")).get("cases", [])
    except (OSError, ValueError, AttributeError):
        return {}
    weights: dict[str, float] = {}
    for case in cases if isinstance(cases, list) else []:
        if not isinstance(case, dict):
            continue
        nodeid, duration = case.get("nodeid"), case.get("duration")
        if (isinstance(nodeid, str) and isinstance(duration, int | float)
                and 0 <= duration <= MAX_CASE_SECONDS):
            weights[nodeid] = float(duration)
    return weights


def weights_of(items: list[pytest.Item], source: Path) -> dict[str, float]:
    """Each case's seconds from ``source``: an earlier run's verdicts.json, keyed by node id,
    or a catalog's case-seconds.json, keyed by the case's path from that file's folder."""
    known = read_weights(source)
    if not known:
        return {}
    base = source.resolve().parent
    relative: dict[Path, str | None] = {}  # a module's path from base (None: not below it)
    weights: dict[str, float] = {}
    for item in items:
        if item.nodeid in known:
            weights[item.nodeid] = known[item.nodeid]
            continue
        if item.path not in relative:
            try:
                relative[item.path] = item.path.resolve().relative_to(base).as_posix()
            except ValueError:
                relative[item.path] = None
        module = relative[item.path]
        key = f"{module}::{item.nodeid.partition('::')[2]}" if module is not None else None
        if key in known:
            weights[item.nodeid] = known[key]
    return weights


def assign(nodeids: list[str], count: int, weights: Mapping[str, float]) -> dict[str, int]:
    """Each case's part (0-based). Known durations: longest first to the least loaded part
    (a case new since that run counts as the median); none: every K-th sorted node id."""
    ordered = sorted(nodeids)
    known = [weights[n] for n in ordered if n in weights]
    if not known:
        return {nodeid: i % count for i, nodeid in enumerate(ordered)}
    typical = statistics.median(known)
    loads = [0.0] * count
    out: dict[str, int] = {}
    for nodeid in sorted(ordered, key=lambda n: (-weights.get(n, typical), n)):
        part = min(range(count), key=lambda k: (loads[k], k))
        out[nodeid] = part
        loads[part] += weights.get(nodeid, typical) + CASE_OVERHEAD
    return out


def unit_key(item: pytest.Item) -> str:
    """What ties ``item`` to other cases in the shared queue: its package or module when it
    uses a fixture set up once for one of them (or for a class), else nothing but itself."""
    info = getattr(item, "_fixtureinfo", None)  # pytest's record of the item's fixtures
    defs: Mapping[str, Any] = getattr(info, "name2fixturedefs", None) or {}
    scopes = {str(getattr(found[-1], "scope", "")) for found in defs.values() if found}
    if "package" in scopes:
        return f"package {item.path.parent}"
    if scopes & UNIT_SCOPES:
        return f"module {item.path}"
    return f"case {item.nodeid}"


def units_of(cases: list[pytest.Item]) -> list[list[pytest.Item]]:
    """The shared queue's units (:func:`unit_key`), each with its cases, in collected order."""
    groups: dict[str, list[pytest.Item]] = {}
    for item in cases:
        groups.setdefault(unit_key(item), []).append(item)
    return list(groups.values())


def unit_seconds(units: list[list[pytest.Item]], weights: Mapping[str, float]) -> list[float]:
    """Each unit's expected seconds: its cases' known durations (a case not known counts as
    the median one), and each case's overhead."""
    known = [weights[item.nodeid] for unit in units for item in unit if item.nodeid in weights]
    typical = statistics.median(known) if known else 0.0
    return [sum(weights.get(item.nodeid, typical) + CASE_OVERHEAD for item in unit)
            for unit in units]


class _NextItem:
    """The ``nextitem`` pytest is given with a case: the case that follows, taken from the
    queue only when pytest asks for it, at the case's teardown (what stays set up depends on
    it). Taken earlier, a part would hold a case while it runs a long one, and end later."""

    def __init__(self, take: Callable[[], pytest.Item | None]) -> None:
        self._take = take
        self._asked = False
        self._item: pytest.Item | None = None

    def get(self) -> pytest.Item | None:
        if not self._asked:
            self._asked = True
            self._item = self._take()
        return self._item

    def __bool__(self) -> bool:
        return self.get() is not None

    def listchain(self) -> list[Any]:
        item = self.get()
        return item.listchain() if item is not None else []  # none: everything is torn down

    def __getattr__(self, name: str) -> Any:
        item = self.get()
        if item is None:
            raise AttributeError(name)
        return getattr(item, name)


class SharedPart:
    """This part's run of the shared queue: the cases it took, unit by unit."""

    def __init__(self, queue: SharedQueue, units: list[list[pytest.Item]],
                 fixed: list[pytest.Item]) -> None:
        self.queue, self.units = queue, units
        self.fixed = fixed  # not cases (the project's own tests): every part runs them
        self.fixed_total = len(fixed)
        self.claimed: list[pytest.Item] = []  # the cases of the units this part took
        self.taken = 0  # of them, handed to the run loop
        self.problem: str | None = None  # the queue broke: the part stopped taking cases
        # What pytest's progress counts as this part's: its share, and what it took beyond.
        self.expected = len(fixed) + sum(len(units[u]) for u in queue.shares[queue.part])
        self._session: pytest.Session | None = None

    def take(self) -> pytest.Item | None:
        """The next item: what is left of the unit in hand, else the next unit's first."""
        if self.fixed:
            return self.fixed.pop(0)
        if self.taken == len(self.claimed):
            try:
                index = self.queue.claim()
            except (QueueError, OSError) as exc:  # taken at a teardown: never the case's fault
                self.problem = f"the parts' queue could not be read: {exc}"
                return None
            if index is None:
                return None
            self.claimed.extend(self.units[index])
            if self._session is not None:  # its progress: of its share, not of the catalog
                self._session.testscollected = max(self.expected, self.fixed_total + len(
                    self.claimed))
        self.taken += 1
        return self.claimed[self.taken - 1]

    def run(self, session: pytest.Session) -> None:
        """pytest's run loop over the items this part takes (``_pytest.main``'s, otherwise)."""
        self._session = session
        session.testscollected = self.expected
        try:
            item = self.take()
            while item is not None:
                following = _NextItem(self.take)
                item.ihook.pytest_runtest_protocol(item=item, nextitem=following)
                if session.shouldfail:
                    raise session.Failed(session.shouldfail)
                if session.shouldstop:
                    raise session.Interrupted(session.shouldstop)
                item = following.get()
        finally:
            self.settle(session)

    def settle(self, session: pytest.Session) -> None:
        """What this part ran is its selection: the cases of every unit it took (a unit cut
        short leaves the part incomplete), the others deselected."""
        mine = {id(item) for item in self.claimed}
        others = [item for item in session.items if is_case(item) and id(item) not in mine]
        session.items[:] = [item for item in session.items
                            if not is_case(item) or id(item) in mine]
        session.testscollected = len(session.items)
        run = get_run(session.config)
        if run is not None:
            run.cases_collected = sum(1 for item in session.items if is_case(item))
            if self.problem is not None:
                run.lab_problems.append(self.problem)
        if others:
            session.config.hook.pytest_deselected(items=others)


SHARED_KEY = pytest.StashKey[SharedPart]()


def parse_part(text: str) -> tuple[int, int]:
    """``"2/3"`` → (2, 3); ValueError naming what is wrong."""
    index, sep, count = text.partition("/")
    if not (sep and index.isdigit() and count.isdigit()):
        raise ValueError(f"--part {text!r}: expected I/K, e.g. 1/3")
    i, k = int(index), int(count)
    if not 1 <= k <= MAX_PARTS or not 1 <= i <= k:
        raise ValueError(f"--part {text!r}: need 1 <= I <= K <= {MAX_PARTS}")
    return i, k


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--part", metavar="I/K", default=None,
                     help="run only part I of K of the collected cases (conformance run --parts)")
    parser.addoption("--part-weights", metavar="FILE", action="append", default=[],
                     help="split by case durations: an earlier run's verdicts.json, or a "
                          "catalog's case-seconds.json (repeatable: the first that has a case)")
    parser.addoption("--part-queue", metavar="FILE", default=None,
                     help="with --part: take cases from the queue in FILE, shared by the parts "
                          "(created by the first), instead of a fixed share")


def pytest_configure(config: pytest.Config) -> None:
    option = config.getoption("--part")
    if option is not None:
        try:
            parse_part(option)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    option = config.getoption("--part")
    if option is None:
        return
    index, count = parse_part(option)
    cases = [item for item in items if is_case(item)]
    weights: dict[str, float] = {}
    for source in reversed(config.getoption("--part-weights")):  # the first file wins
        weights.update(weights_of(cases, Path(source)))
    queue = config.getoption("--part-queue")
    if queue is not None:
        share_queue(config, items, cases, weights, Path(queue), index, count)
        return
    parts = assign([item.nodeid for item in cases], count, weights)
    mine = {nodeid for nodeid, part in parts.items() if part == index - 1}
    keep = [item for item in items if not is_case(item) or item.nodeid in mine]
    others = [item for item in items if is_case(item) and item.nodeid not in mine]
    if others:
        config.hook.pytest_deselected(items=others)
        items[:] = keep
    say_collected(config, f"part {index}/{count}: {len(mine)} of {len(cases)} cases")


def shared_plan(cases: list[pytest.Item], weights: Mapping[str, float], count: int
                ) -> tuple[list[list[pytest.Item]], list[list[int]], list[float]]:
    """The queue's units, each part's share of them (indices), and their expected seconds:
    the shares as :func:`assign` makes them for cases, with units (named by their first case)."""
    units = units_of(cases)
    seconds = unit_seconds(units, weights)
    names = [unit[0].nodeid for unit in units]
    share_of = assign(names, count, dict(zip(names, seconds, strict=True)) if weights else {})
    shares = [[u for u, name in enumerate(names) if share_of[name] == k] for k in range(count)]
    return units, shares, seconds


def share_queue(config: pytest.Config, items: list[pytest.Item], cases: list[pytest.Item],
                weights: Mapping[str, float], path: Path, index: int, count: int) -> None:
    """Join the parts' queue in ``path``; the run loop then takes this part's cases from it.
    A queue of other cases (the parts did not collect the same) runs none here: a harness
    problem of the part, so the device's merged run is ERROR."""
    label = f"part {index}/{count}"
    units, shares, seconds = shared_plan(cases, weights, count)
    try:
        queue = SharedQueue(path, [[item.nodeid for item in unit] for unit in units], shares,
                            seconds, index - 1)
    except (QueueError, OSError) as exc:
        problem = f"{label}: no case taken from the parts' queue: {exc}"
        run = get_run(config)
        if run is not None:
            run.lab_problems.append(problem)
        config.hook.pytest_deselected(items=cases)
        items[:] = [item for item in items if not is_case(item)]
        say_collected(config, f"{label}: 0 of {len(cases)} cases")
        print(problem, flush=True)
        return
    fixed = [item for item in items if not is_case(item)]
    config.stash[SHARED_KEY] = SharedPart(queue, units, list(fixed))
    items[:] = [*fixed, *(item for unit in units for item in unit)]
    mine = sum(len(units[u]) for u in shares[index - 1])
    say_collected(config, f"{label}: {mine} of {len(cases)} cases, then what the others have left")


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    shared = session.config.stash.get(SHARED_KEY, None)
    if shared is None:
        return None  # a fixed share: pytest's own loop
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        count = session.testsfailed
        raise session.Interrupted(f"{count} error{'s' if count != 1 else ''} during collection")
    if session.config.option.collectonly:
        return True
    shared.run(session)
    return True


def say_collected(config: pytest.Config, line: str) -> None:
    """``line`` (COLLECTED) out at once: the output is a pipe to conformance run."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        print(line, flush=True)
    else:
        reporter.write_line(line)
        reporter.flush()
