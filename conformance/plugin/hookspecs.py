"""Hooks the plugin calls, so tests, labs and later evidence work can plug in.

A ``conftest.py`` (or another plugin) implements them; the plugin's own defaults run last.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conformance.declaration import Declaration
    from conformance.evidence.runfolder import RunFolder, RunResults


@pytest.hookspec(firstresult=True)
def pytest_conformance_make_lab(
    config: pytest.Config, declaration: Declaration, run_dir: Path
) -> Any:
    """Build (do not start) the lab for this run; default: ``conformance.lab.Lab``.

    The object needs ``start()``, ``stop()``, ``addresses()`` and a ``transcript`` attribute
    (a :class:`conformance.evidence.transcript.Transcript`); the fixture starts and stops it.
    """


@pytest.hookspec(firstresult=True)
def pytest_conformance_make_controller(
    config: pytest.Config,
    declaration: Declaration,
    run_dir: Path,
    faults: list[str] | None,
    transcript: Any,
) -> Any:
    """Build (do not start) the device controller; default:
    ``conformance.controllers.make_controller``."""


def pytest_conformance_run_complete(
    config: pytest.Config, run_folder: RunFolder, results: RunResults
) -> None:
    """The run is over and ``verdicts.json`` is written: add more evidence to the folder."""
