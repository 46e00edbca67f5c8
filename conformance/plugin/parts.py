"""One part of a catalog: ``--part I/K`` keeps every K-th case, from the I-th on.

``conformance run --parts K`` runs a built-in (simulated) device's catalog as K parts side by
side, each part a pytest process with its own lab and its own reference device, so that the
cases that wait on protocol timers (observation periods, lifetimes, Disable timeouts) wait at
the same time instead of one after another. The parts' run folders are then merged into the
device's one run folder (conformance/evidence/parts.py).

The split is by the cases' sorted node ids, not by the order they run in: the same cases land
in the same part whatever ``--order`` says. Interleaving spreads a file's slow cases (they sit
together) over the parts.
"""

from __future__ import annotations

import pytest

from conformance.plugin.state import is_case

MAX_PARTS = 16


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
    cases = sorted(item.nodeid for item in items if is_case(item))
    mine = set(cases[index - 1 :: count])
    keep = [item for item in items if not is_case(item) or item.nodeid in mine]
    others = [item for item in items if is_case(item) and item.nodeid not in mine]
    if others:
        config.hook.pytest_deselected(items=others)
        items[:] = keep
