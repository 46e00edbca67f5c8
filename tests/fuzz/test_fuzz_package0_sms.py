"""Package 0 (DM notification) and the SMS / WSP push layers it travels in, under fuzzing."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

C = sys.modules["conformance_fuzz_campaign"]  # loaded by conftest.py
TARGETS = C.targets()


@pytest.mark.parametrize("name", ["package0", "sms-pdu", "wsp-push"])
@given(data=st.data())
def test_decoder_raises_only_protocol_error(name: str, data: st.DataObject) -> None:
    target = TARGETS[name]
    C.assert_contained(target, data.draw(C.strategy(target), label="input"))
