"""Package 0 delivery: the UDP and shell channels, and what the lab records."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.evidence.transcript import Transcript
from conformance.omadm import notification
from conformance.omadm.delivery import DeliveryFailed, ShellChannel, UdpChannel
from conformance.omadm.lab import OmaDmLab
from conformance.verdicts import Inconclusive


@pytest.fixture
def udp_listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)  # a bound on the wait, not a sleep
    yield sock
    sock.close()


def test_notify_over_udp(
    omadm_lab: OmaDmLab, udp_listener: socket.socket, transcript: Transcript
) -> None:
    omadm_lab.set_package0_channel(UdpChannel("127.0.0.1", udp_listener.getsockname()[1]))
    sid = omadm_lab.notify(0x1234)
    data, _ = udp_listener.recvfrom(4096)
    parsed = notification.parse(data)
    dm = omadm_lab.declaration.omadm
    assert dm is not None
    assert parsed.session_id == sid == 0x1234 and parsed.server_id == dm.server_id
    assert parsed.version == dm.notification.version
    assert notification.verify(parsed, dm.server_id, dm.server_secret.get_secret_value(), b"null")
    entry = next(e for e in transcript if e.protocol == "package0")
    assert (
        entry.raw == data and "session 4660" in entry.summary and entry.direction == "lab->device"
    )


def test_wrong_digest_does_not_verify(omadm_lab: OmaDmLab, udp_listener: socket.socket) -> None:
    omadm_lab.set_package0_channel(UdpChannel.parse(f"127.0.0.1:{udp_listener.getsockname()[1]}"))
    sid = omadm_lab.notify(wrong_digest=True)
    parsed = notification.parse(udp_listener.recvfrom(4096)[0])
    dm = omadm_lab.declaration.omadm
    assert dm is not None and parsed.session_id == sid
    assert not notification.verify(
        parsed, dm.server_id, dm.server_secret.get_secret_value(), b"null"
    )


def test_shell_channel_gets_hex_and_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    channel = ShellChannel(
        f'printf %s "$PKG0_HEX" > {out}.hex; cp "$PKG0_FILE" {out}.bin', {"EXTRA": "1"}
    )
    channel.deliver(b"\x01\x02pkg0")
    assert Path(f"{out}.hex").read_text() == b"\x01\x02pkg0".hex()
    assert Path(f"{out}.bin").read_bytes() == b"\x01\x02pkg0"


def test_failing_shell_channel_is_inconclusive(tmp_path: Path) -> None:
    with pytest.raises(DeliveryFailed, match="exited with 3"):
        ShellChannel("echo no modem >&2; exit 3").deliver(b"x")


def test_no_channel_is_inconclusive_not_a_crash(omadm_lab: OmaDmLab) -> None:
    # The built-in declaration has channel udp without an address (the simulator tells it).
    with pytest.raises(Inconclusive, match="no Package 0 channel"):
        omadm_lab.notify()
