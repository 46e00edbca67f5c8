"""Files a vendor hands in, under fuzzing: OMA-DM DDF, LwM2M object DDF (ProtocolError), the
device declaration (DeclarationError only) and the host identity CSV (findings, never an
exception)."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

C = sys.modules["conformance_fuzz_campaign"]  # loaded by conftest.py
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
