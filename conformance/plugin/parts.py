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
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Mapping
from pathlib import Path

import pytest

from conformance.plugin.state import is_case

MAX_PARTS = 16
MAX_WEIGHTS_BYTES = 32 * 1024 * 1024  # a verdicts.json of a few thousand cases is ~1 MB
MAX_CASE_SECONDS = 3600.0
CASE_OVERHEAD = 0.02  # seconds a case costs besides its own duration (set-up, evidence)
# A part's one line once its cases are chosen (its start-up's collection done): conformance run
# holds the devices in fewer parts back until every part of the device in the most has said it.
COLLECTED = re.compile(r"part \d+/\d+: \d+ of \d+ cases\Z")


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
    parts = assign([item.nodeid for item in cases], count, weights)
    mine = {nodeid for nodeid, part in parts.items() if part == index - 1}
    keep = [item for item in items if not is_case(item) or item.nodeid in mine]
    others = [item for item in items if is_case(item) and item.nodeid not in mine]
    if others:
        config.hook.pytest_deselected(items=others)
        items[:] = keep
    say_collected(config, f"part {index}/{count}: {len(mine)} of {len(cases)} cases")


def say_collected(config: pytest.Config, line: str) -> None:
    """``line`` (COLLECTED) out at once: the output is a pipe to conformance run."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        print(line, flush=True)
    else:
        reporter.write_line(line)
        reporter.flush()
