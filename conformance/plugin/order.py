"""The order a catalog run takes its cases in: ``conformance run --order``.

Cases must not depend on their order (each restores what it changed), and the suite proves it
by running a catalog in reverse and in a seeded random order with identical verdicts
(tests/test_fault_matrix_lwm2m.py). ``catalog`` (the default) is the catalog's own order: the
pytest-randomly plugin, when installed, is kept out (``-p no:randomly``). ``reverse`` turns the
collected cases round, module by module (shared module fixtures are still set up once).
``random:SEED`` hands the order to pytest-randomly with that seed (it shuffles modules, then
the cases within each, so module fixtures are likewise set up once).
"""

from __future__ import annotations

import pytest

ORDERS = ("catalog", "reverse", "random:SEED")


def order_args(order: str) -> list[str]:
    """The pytest arguments for ``order``; ValueError names what is wrong with it."""
    if order == "catalog":
        return ["-p", "no:randomly"]
    if order == "reverse":
        return ["-p", "no:randomly", "-p", "conformance.plugin.order", "--reverse-cases"]
    kind, _, seed = order.partition(":")
    if kind == "random" and seed.isdigit() and len(seed) <= 18:
        return ["-p", "randomly", f"--randomly-seed={seed}"]
    raise ValueError(f"--order {order!r}: expected one of {', '.join(ORDERS)} (SEED: digits)")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--reverse-cases", action="store_true",
                     help="run the collected cases in reverse order (order independence)")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--reverse-cases"):
        items.reverse()
