"""Order of the suite's own tests (the root conftest also serves catalog runs: not there), and
acceptance.pdf skipped in the plugin runs they make (one headless Chromium per run, seconds
each); tests/plugin/test_reports_in_browser.py renders and checks it."""

import os

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("CONFORMANCE_PDF", "0")

settings.register_profile(
    "ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("long", max_examples=100_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first (stable otherwise): pytest-xdist hands out work in this order, so
    the long ones start at once instead of leaving one worker busy at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _inner_runs_in_file_order(request: pytest.FixtureRequest) -> None:
    """pytester's inner runs have no project ini: keep pytest-randomly (installed for the
    order-independence runs) out of them, so their cases run in file order as written."""
    if "pytester" in request.fixturenames:
        pytester: pytest.Pytester = request.getfixturevalue("pytester")
        pytester.makeini("[pytest]\naddopts = -p no:randomly\n")
