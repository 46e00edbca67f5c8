"""Loads campaign.py once, by path, as ``conformance_fuzz_campaign``.

The test modules share its targets, seeds and mutations; with --import-mode=importlib a test
folder has no importable package name, so the conftest (loaded before the modules) registers it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

NAME = "conformance_fuzz_campaign"

if NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(NAME, Path(__file__).with_name("campaign.py"))
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[NAME] = _module  # dataclasses look their module up while it loads
    _spec.loader.exec_module(_module)
