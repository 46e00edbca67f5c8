"""Socket and collector tuning of the LwM2M lab (conformance.lwm2m.tuning)."""

from __future__ import annotations

import gc
import socket
from pathlib import Path
from typing import Any

from conformance import runtime
from conformance.evidence.transcript import Transcript
from conformance.lwm2m import transports, tuning
from conformance.lwm2m.lab import Lwm2mLab

from .conftest import declaration


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
    assert gc.get_threshold()[1] >= runtime.GC_THRESHOLD_1
    assert gc.get_freeze_count() > 0
    assert runtime.tune_gc() is False  # once per process


def test_a_backlog_is_read_in_batches_all_answered_and_the_port_freed_at_stop(
    lab_loop: runtime.LabLoop, transcript: Transcript, tmp_path: Path
) -> None:
    """Datagrams waiting in the socket are handled several per loop wake-up (issue 19):
    every one is answered and recorded in order, and the second handle the lab reads them
    through is closed with the endpoint (the port can be bound again)."""
    lab = Lwm2mLab(lab_loop, declaration(), transcript, tmp_path)
    lab.start()
    endpoint = lab._endpoints["dm"]
    host, port = endpoint.bound
    wakeups: list[int] = []
    sock_class = type(endpoint.interface._pool)
    first = sock_class.datagram_received

    def counted(self: Any, data: bytes, sockaddr: Any) -> None:
        wakeups.append(1)
        first(self, data, sockaddr)

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as device:
        device.bind(("127.0.0.1", 0))
        device.settimeout(5)
        pings = [bytes([0x40, 0, mid >> 8, mid & 0xFF]) for mid in range(1, 201)]
        sock_class.datagram_received = counted  # type: ignore[method-assign]
        try:
            lab_loop.call(_paused(lambda: [device.sendto(p, (host, port)) for p in pings]), 10)
            answers = [device.recv(64) for _ in pings]  # an empty CON is answered with a RST
        finally:
            sock_class.datagram_received = first  # type: ignore[method-assign]
    assert [a[2:4] for a in answers] == [p[2:4] for p in pings]
    assert len(wakeups) <= len(pings) // transports.READS_PER_WAKEUP + 2
    received = [e.headers["MID"] for e in transcript if e.direction == "device->lab"]
    assert received == [str(mid) for mid in range(1, 201)]
    pool = endpoint.interface._pool
    lab_loop.call(_paused(lambda: setattr(pool, "_skip", 0)), 5)  # looking again
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as device:
        device.settimeout(5)
        device.sendto(pings[0], (host, port))  # alone: the look for more finds nothing
        device.recv(64)
    lab_loop.call(_paused(lambda: None), 5)  # after the loop's turn that answered it
    assert pool._skip == transports.LOOKS_SKIPPED  # so it stops looking for a while
    lab.stop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind((host, port))  # nothing holds the port any more


async def _paused(send: Any) -> None:
    """Send while the lab's loop is busy here: the datagrams wait in the socket together."""
    send()
