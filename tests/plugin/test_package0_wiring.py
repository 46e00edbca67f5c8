"""The plugin hands the OMA-DM lab the Package 0 channel the controller provides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance.controllers import make_controller
from conformance.controllers.serial import SmsPackage0Channel
from conformance.declaration import builtin_declaration, load_declaration
from conformance.omadm.delivery import UdpChannel
from conformance.plugin.fixtures import wire_package0

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "omadm-module.yaml"


class FakeOmaDm:
    def __init__(self) -> None:
        self.channel: Any = None

    def set_package0_channel(self, channel: Any) -> None:
        self.channel = channel


class FakeLab:
    def __init__(self) -> None:
        self.omadm = FakeOmaDm()


def test_serial_sms_declaration_gets_the_wap_push_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_DM_CLIENT_SECRET", "client-secret-for-test")
    monkeypatch.setenv("ACME_DM_SERVER_SECRET", "server-secret-for-test")
    dut = load_declaration(EXAMPLE)
    assert dut.omadm is not None and dut.omadm.notification.channel == "sms"
    lab = FakeLab()
    wire_package0(lab, make_controller(dut, tmp_path), dut)  # not started: no modem opened
    assert isinstance(lab.omadm.channel, SmsPackage0Channel)


def test_simulator_gets_the_udp_listener_it_announced() -> None:
    class Announced:
        def __init__(self) -> None:
            self.ready_info = {"notify": "127.0.0.1:40000"}

    lab = FakeLab()
    wire_package0(lab, Announced(), builtin_declaration("omadm"))
    assert isinstance(lab.omadm.channel, UdpChannel)
