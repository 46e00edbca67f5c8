"""Package 0 (DM notification) and the SMS / WSP push layers it travels in, under fuzzing."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st


def _campaign() -> ModuleType:
    """campaign.py (targets, seeds, mutations), loaded once by path: with
    --import-mode=importlib a test folder has no importable package name."""
    name = "conformance_fuzz_campaign"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("campaign.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while it loads
        spec.loader.exec_module(module)
    return sys.modules[name]


C = _campaign()
TARGETS = C.targets()


@pytest.mark.parametrize("name", ["package0", "sms-pdu", "wsp-push"])
@given(data=st.data())
def test_decoder_raises_only_protocol_error(name: str, data: st.DataObject) -> None:
    target = TARGETS[name]
    C.assert_contained(target, data.draw(C.strategy(target), label="input"))
