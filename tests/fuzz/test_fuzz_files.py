"""Files a vendor hands in, under fuzzing: OMA-DM DDF, LwM2M object DDF (ProtocolError), the
device declaration (DeclarationError only) and the host identity CSV (findings, never an
exception)."""

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


@pytest.mark.parametrize("name", ["omadm-ddf", "lwm2m-ddf", "declaration-yaml", "host-csv"])
@given(data=st.data())
def test_reader_raises_only_its_own_error(name: str, data: st.DataObject) -> None:
    target = TARGETS[name]
    C.assert_contained(target, data.draw(C.strategy(target), label="input"))


@pytest.mark.parametrize(
    "text",
    ["device:\n  imei: " + "9" * 5000 + "\n", "[" * 5000 + "]" * 5000],
    ids=["int-past-4300-digits", "nesting-past-the-stack"],
)
def test_yaml_that_breaks_the_loader_is_a_declaration_error(text: str) -> None:
    """PyYAML raised ValueError (int()) and RecursionError past parse_declaration."""
    from conformance.declaration import DeclarationError, parse_declaration

    with pytest.raises(DeclarationError, match="not valid YAML"):
        parse_declaration(text)
