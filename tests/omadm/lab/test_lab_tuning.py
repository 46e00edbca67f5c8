"""The OMA-DM lab tunes the collector once started, as the LwM2M lab does (issue 19)."""

from __future__ import annotations

import gc

from conformance import runtime
from conformance.omadm.lab import OmaDmLab


def test_started_lab_has_a_tuned_collector(omadm_lab: OmaDmLab) -> None:
    assert omadm_lab.http_url  # started
    assert gc.get_threshold()[0] >= runtime.GC_THRESHOLD_0
    assert gc.get_threshold()[1] >= runtime.GC_THRESHOLD_1
    assert gc.get_freeze_count() > 0
    assert runtime.tune_gc() is False  # once per process, whichever lab came first
