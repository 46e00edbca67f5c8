"""Socket and collector tuning of the LwM2M lab (conformance.lwm2m.tuning)."""

from __future__ import annotations

import gc
import socket

from conformance import runtime
from conformance.evidence.transcript import Transcript
from conformance.lwm2m import tuning
from conformance.lwm2m.lab import Lwm2mLab


def test_receive_buffer_is_asked_for_and_the_grant_reported() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        default = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        granted = tuning.size_receive_buffer(sock, 1 << 20)
        assert granted == sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        # Linux grants at least the default and reports twice what it allots (capped by
        # net.core.rmem_max unless SO_RCVBUFFORCE was permitted).
        assert granted >= default
        with open("/proc/sys/net/core/rmem_max") as f:
            cap = int(f.read())
        assert granted >= 2 * min(1 << 20, cap)


def test_started_lab_has_its_buffer_and_a_tuned_collector(
    lab: Lwm2mLab, transcript: Transcript
) -> None:
    buffer = lab._endpoints["dm"].receive_buffer
    assert buffer > 212992  # above Linux's usual default (net.core.rmem_default)
    note = next(e for e in transcript if e.summary.startswith("LwM2M lab listening"))
    assert f"socket receive buffer {buffer // 1024} KiB granted" in note.summary
    assert gc.get_threshold()[0] >= runtime.GC_THRESHOLD_0
    assert gc.get_freeze_count() > 0
    assert runtime.tune_gc() is False  # once per process
