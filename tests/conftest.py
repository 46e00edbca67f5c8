"""Order of the suite's own tests (the root conftest also serves catalog runs: not there)."""

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first (stable otherwise): pytest-xdist hands out work in this order, so
    the long ones start at once instead of leaving one worker busy at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
