"""``conformance run --order``: the pytest arguments each order gives (the catalog's own order
unless asked; reverse; pytest-randomly with a seed) and the one-line refusal of a bad one."""

from __future__ import annotations

import pytest

from conformance.plugin.order import order_args


def test_catalog_order_keeps_randomly_out() -> None:
    assert order_args("catalog") == ["-p", "no:randomly"]


def test_reverse_loads_the_order_plugin() -> None:
    assert order_args("reverse")[-1] == "--reverse-cases"
    assert "no:randomly" in order_args("reverse")


def test_random_passes_the_seed_to_pytest_randomly() -> None:
    assert order_args("random:1234") == ["-p", "randomly", "--randomly-seed=1234"]


@pytest.mark.parametrize("bad", ["random", "random:x", "shuffle", "random:-1"])
def test_bad_order_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="--order"):
        order_args(bad)


def test_reverse_plugin_turns_the_cases_round(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): pass\ndef test_b(): pass\ndef test_c(): pass\n")
    result = pytester.runpytest("-v", *order_args("reverse"))
    names = [line.split("::")[1].split()[0] for line in result.outlines if "PASSED" in line]
    assert names == ["test_c", "test_b", "test_a"]
