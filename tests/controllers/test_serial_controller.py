"""The AT controllers against a modem emulator on a pseudo-terminal.

Every scenario runs twice: with the ``serial`` controller on the pty itself, and with the
``labgrid`` controller on a labgrid bench whose exporter serves the same kind of pty through
ser2net (conftest's ``labgrid_bench``: coordinator, exporter and place on loopback).
"""

from __future__ import annotations

import queue
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.controllers import make_controller, package0_channel, sms
from conformance.controllers.at import AtController, SmsPackage0Channel
from conformance.evidence.transcript import Transcript
from conformance.verdicts import Inconclusive

COMMANDS = {
    "reboot": "AT+CFUN=1,1",
    "sideload_update": 'AT+XFWUPD="{NEW_FW_VERSION}"\nAT+XHOSTSW="{HOST_SW_VERSION}"',
    "set_host_values": 'AT+XHOST="{HOST_MANUFACTURER}","{HOST_MODEL}","{HOST_UNIQUE_ID}"',
    "trigger_session": "AT+XDMSESS",
    "factory_reset": "AT+XRESET",
}


def received(modem: Any) -> list[str]:
    lines = []
    while True:
        try:
            lines.append(modem.commands.get_nowait())
        except queue.Empty:
            return lines


@dataclass
class Bench:
    """Where the modem is and the control section that reaches it, for one transport."""

    kind: str
    request: pytest.FixtureRequest

    def modem(self, **kwargs: Any) -> Any:
        """A modem answering as ``ModemEmulator(**kwargs)``."""
        if self.kind == "serial":
            return self.request.getfixturevalue("modem_factory")(**kwargs)
        return self.request.getfixturevalue("labgrid_modem")(**kwargs)

    def control(self, modem: Any, **control: Any) -> dict[str, Any]:
        if self.kind == "serial":
            return {"type": "serial", "port": modem.port, **control}
        lab, _, _ = self.request.getfixturevalue("labgrid_bench")
        return {
            "type": "labgrid",
            "coordinator": lab.coordinator,
            "place": lab.place,
            "power_cycle": [],  # the AT scenarios: no power switching
            **control,
        }


@pytest.fixture(params=["serial", "labgrid"])
def bench(request: pytest.FixtureRequest) -> Bench:
    return Bench(request.param, request)


@pytest.fixture
def serial_for(make_declaration: Any, tmp_path: Path, bench: Bench) -> Any:
    started: list[AtController] = []

    def make(modem: Any, transcript: Transcript | None = None, **control: Any) -> AtController:
        dut = make_declaration(
            bench.control(modem, **{"commands": COMMANDS, "timeout": 2, **control})
        )
        controller = make_controller(dut, tmp_path, transcript=transcript)
        assert isinstance(controller, AtController)
        started.append(controller)
        controller.start({"LAB_HOST": "127.0.0.1"})
        return controller

    yield make
    for controller in started:
        controller.stop()


def test_at_dialogue_fills_placeholders_and_tolerates_echo_and_urc(
    bench: Bench, serial_for: Any
) -> None:
    responses = {
        'AT+XFWUPD="FW-3.1"': ["OK"],
        'AT+XHOSTSW="52"': ["+XHOSTSW: 52", "OK"],
        'AT+XHOST="Maker","M-2","ID42"': ["OK"],
    }
    modem = bench.modem(responses=responses, urc="+CREG: 1")
    transcript = Transcript()
    controller = serial_for(modem, transcript)
    result = controller.sideload_update("FW-3.1", "52")
    assert received(modem) == ['AT+XFWUPD="FW-3.1"', 'AT+XHOSTSW="52"']
    assert result.dialogue == (
        '> AT+XFWUPD="FW-3.1"',
        "< +CREG: 1",
        "< OK",
        '> AT+XHOSTSW="52"',
        "< +CREG: 1",
        "< +XHOSTSW: 52",
        "< OK",
    )
    controller.set_host_values("Maker", "M-2", "9", "ID42")
    assert received(modem) == ['AT+XHOST="Maker","M-2","ID42"']
    control = [(e.direction, e.summary) for e in transcript if e.protocol == "control"]
    assert ("lab->device", 'AT+XFWUPD="FW-3.1"') in control
    assert ("device->lab", "+XHOSTSW: 52") in control


def test_error_result_is_inconclusive_with_the_dialogue(bench: Bench, serial_for: Any) -> None:
    modem = bench.modem(responses={"AT+CFUN=1,1": ["+CME ERROR: 3"]})
    controller = serial_for(modem)
    with pytest.raises(Inconclusive) as info:
        controller.reboot()
    assert "+CME ERROR: 3" in str(info.value) and "AT+CFUN=1,1" in str(info.value)


def test_custom_ok_and_error_expressions(bench: Bench, serial_for: Any) -> None:
    modem = bench.modem(responses={"AT+XDMSESS": ["+XDM: STARTED"], "AT+XRESET": ["FAILED 7"]})
    controller = serial_for(modem, ok=r"\+XDM: STARTED|OK", error=r"FAILED \d+|ERROR")
    assert controller.trigger_session().dialogue[-1] == "< +XDM: STARTED"
    with pytest.raises(Inconclusive, match="FAILED 7"):
        controller.factory_reset()


def test_no_final_result_is_inconclusive_after_the_timeout(bench: Bench, serial_for: Any) -> None:
    modem = bench.modem(responses={"AT+XDMSESS": []})
    controller = serial_for(modem, timeout=0.5)
    with pytest.raises(Inconclusive, match=r"no final result to AT\+XDMSESS within 0.5 s"):
        controller.trigger_session()


def test_missing_command_is_inconclusive(
    bench: Bench, make_declaration: Any, tmp_path: Path
) -> None:
    modem = bench.modem()
    dut = make_declaration(bench.control(modem, commands={"reboot": "AT"}))
    controller = make_controller(dut, tmp_path)
    with pytest.raises(
        Inconclusive, match=f"{bench.kind} controller has no command for oem_server_update"
    ):
        controller.oem_server_update("FW-2")


def test_unopenable_port_is_inconclusive(make_declaration: Any, tmp_path: Path) -> None:
    dut = make_declaration(
        {"type": "serial", "port": str(tmp_path / "no-such-tty"), "commands": {}}
    )
    with pytest.raises(Inconclusive, match="cannot open serial port"):
        make_controller(dut, tmp_path).start({})


def sms_declaration_update(make_declaration: Any, bench: Bench, modem: Any) -> Any:
    dut = make_declaration(
        bench.control(
            modem,
            commands=COMMANDS,
            timeout=2,
            sms_package0=True,
            sms_destination="+15551230000",
        )
    )
    assert dut.omadm is not None
    notification = dut.omadm.notification.model_copy(update={"channel": "sms"})
    omadm = dut.omadm.model_copy(update={"notification": notification})
    return dut.model_copy(update={"omadm": omadm})


def test_package0_goes_as_one_wap_push_sms(
    bench: Bench, make_declaration: Any, tmp_path: Path
) -> None:
    modem = bench.modem()
    dut = sms_declaration_update(make_declaration, bench, modem)
    controller = make_controller(dut, tmp_path)
    controller.start({})
    try:
        channel = package0_channel(dut, controller)
        assert isinstance(channel, SmsPackage0Channel)
        package0 = bytes(range(16)) + b"ATTLabA" + bytes(24)
        channel.deliver(package0)
    finally:
        controller.stop()
    assert received(modem)[0] == "AT+CMGF=0"
    assert len(modem.pdus) == 1
    length, pdu_hex = modem.pdus[0]
    parsed = sms.parse_submit_pdu(pdu_hex)
    assert parsed.tpdu_length == length
    assert parsed.destination == "+15551230000"
    assert parsed.data_coding == 0x04
    assert parsed.ports == (2948, 9200)
    assert parsed.concatenation is None
    push = sms.parse_wsp_push(sms.reassemble([parsed]))
    assert push.pdu_type == 0x06
    assert push.content_type == 0x44  # application/vnd.syncml.notification
    assert push.application_id == 0x07  # x-wap-application:syncml.dm
    assert push.body == package0
    assert channel.dialogue[-1] == "< OK"


def test_long_package0_is_concatenated(bench: Bench, make_declaration: Any, tmp_path: Path) -> None:
    modem = bench.modem()
    dut = sms_declaration_update(make_declaration, bench, modem)
    controller = make_controller(dut, tmp_path)
    controller.start({})
    try:
        channel = package0_channel(dut, controller)
        assert channel is not None
        package0 = bytes(i % 251 for i in range(400))
        channel.deliver(package0)
    finally:
        controller.stop()
    parts = [sms.parse_submit_pdu(pdu) for _, pdu in modem.pdus]
    assert len(parts) == 4
    assert all(
        length == part.tpdu_length for (length, _), part in zip(modem.pdus, parts, strict=True)
    )
    concat = [part.concatenation for part in parts]
    assert [c[2] for c in concat if c] == [1, 2, 3, 4]
    assert {c[0] for c in concat if c} == {1} and {c[1] for c in concat if c} == {4}
    assert all(part.ports == (2948, 9200) for part in parts)
    assert all(len(part.payload) + 12 <= 140 for part in parts)
    assert sms.parse_wsp_push(sms.reassemble(list(reversed(parts)))).body == package0


def test_refused_sms_is_inconclusive(bench: Bench, make_declaration: Any, tmp_path: Path) -> None:
    modem = bench.modem(cms_error="+CMS ERROR: 500")
    dut = sms_declaration_update(make_declaration, bench, modem)
    controller = make_controller(dut, tmp_path)
    controller.start({})
    try:
        channel = package0_channel(dut, controller)
        assert channel is not None
        with pytest.raises(Inconclusive, match=r"\+CMS ERROR: 500"):
            channel.deliver(b"\x00" * 30)
    finally:
        controller.stop()


def test_a_real_dm_notification_arrives_intact(
    bench: Bench, make_declaration: Any, tmp_path: Path
) -> None:
    from conformance.omadm import notification

    modem = bench.modem()
    dut = sms_declaration_update(make_declaration, bench, modem)
    package0 = notification.build("ATTLabA", "server-secret", b"nonce-1", 4660, version=11)
    controller = make_controller(dut, tmp_path)
    controller.start({})
    try:
        channel = package0_channel(dut, controller)
        assert channel is not None
        channel.deliver(package0)
    finally:
        controller.stop()
    parts = [sms.parse_submit_pdu(pdu) for _, pdu in modem.pdus]
    received_pkg0 = sms.parse_wsp_push(sms.reassemble(parts)).body
    parsed = notification.parse(received_pkg0)
    assert (parsed.session_id, parsed.server_id, parsed.version) == (4660, "ATTLabA", 11)
    assert notification.verify(parsed, "ATTLabA", "server-secret", b"nonce-1")
