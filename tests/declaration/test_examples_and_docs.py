"""The examples validate (their secrets from the environment) and the generated docs are current."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.controllers import action_variables, make_controller, package0_channel
from conformance.controllers.serial import SerialController, SmsPackage0Channel
from conformance.controllers.shell import ShellController
from conformance.declaration import (
    ACTIONS,
    DeclarationError,
    builtin_declaration,
    json_schema,
    load_declaration,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ENV = {
    "ACME_DM_CLIENT_SECRET": "example-client-secret",
    "ACME_DM_SERVER_SECRET": "example-server-secret",
    "TRACKER_PSK_KEY": "0123456789abcdef0123456789abcdef",
}


@pytest.fixture
def example_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def test_omadm_module_example(example_env: None, tmp_path: Path) -> None:
    dut = load_declaration(EXAMPLES / "omadm-module.yaml")
    assert dut.protocol == "omadm" and dut.omadm is not None
    assert dut.omadm.client_secret.get_secret_value() == ENV["ACME_DM_CLIENT_SECRET"]
    assert dut.omadm.ddf is not None and dut.omadm.ddf.is_file()
    assert dut.omadm.notification.channel == "sms"
    controller = make_controller(dut, tmp_path)
    assert isinstance(controller, SerialController)
    assert isinstance(package0_channel(dut, controller), SmsPackage0Channel)
    # Every declared AT command renders: no unknown {PLACEHOLDER}.
    for action in controller.capabilities():
        lines = controller.commands_for(action, {"firmware_version": "FW-X"})
        assert lines and all(line.startswith("AT") and "{" not in line for line in lines)


def test_lwm2m_device_example(example_env: None, tmp_path: Path) -> None:
    dut = load_declaration(EXAMPLES / "lwm2m-device.yaml")
    assert dut.protocol == "lwm2m" and dut.lwm2m is not None
    assert dut.lwm2m.security == "psk"
    assert dut.lwm2m.psk_key is not None
    assert dut.lwm2m.psk_key.get_secret_value() == ENV["TRACKER_PSK_KEY"]
    controller = make_controller(dut, tmp_path)
    assert isinstance(controller, ShellController)
    assert controller.capabilities() == set(ACTIONS) - {
        "oem_server_update", "ui_answer", "send_generic_alert", "abort_session", "send"}
    # The script the commands name sits beside the declaration, is executable and parses.
    for command in dut.control.commands.values():  # type: ignore[union-attr]
        script = EXAMPLES / command.split()[0]
        assert script.is_file() and os.access(script, os.X_OK), command
        subprocess.run(["bash", "-n", str(script)], check=True)


@pytest.mark.parametrize("name", ["omadm-module.yaml", "lwm2m-device.yaml"])
def test_examples_need_their_secrets(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ENV:
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(DeclarationError) as info:
        load_declaration(EXAMPLES / name)
    assert all("is not set" in message for _, _, message in info.value.problems)
    assert info.value.problems


def test_schema_and_field_reference_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_declaration_docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_exported_schema_is_the_model_schema() -> None:
    exported = json.loads((ROOT / "docs" / "declaration.schema.json").read_text())
    assert exported["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert exported["properties"] == json_schema()["properties"]
    assert "source" not in exported["properties"]


def test_reference_documents_every_field_and_variable() -> None:
    doc = (ROOT / "docs" / "declaration.md").read_text()
    for name in ("device.imei", "omadm.notification.channel", "lwm2m.psk_key", "control.countdown"):
        assert f"`{name}`" in doc
    update = {
        "firmware_version": "F",
        "host_software_version": "S",
        "host_manufacturer": "M",
        "host_model": "O",
        "host_unique_id": "U",
    }
    host = {"manufacturer": "M", "model": "O", "software_version": "S", "unique_id": "U"}
    passed: set[str] = set()
    for protocol in ("omadm", "lwm2m"):
        dut = builtin_declaration(protocol)
        for action in ACTIONS:
            params = host if action == "set_host_values" else update
            if action == "ui_answer":
                params = {"answer": "decline", "text": "T", "choices": "1,3"}
            passed |= set(action_variables(dut, action, params))
    undocumented = sorted(v for v in passed if f"`{v}`" not in doc)
    assert not undocumented, f"passed to devices but not in docs/declaration.md: {undocumented}"


PROCESS_ENV = {
    "CLIENT_PSK_IDENTITY": "wakaama-ci",
    "CLIENT_PSK_KEY": "0123456789abcdef0123456789abcdef",
}


@pytest.mark.parametrize(
    ("name", "actions"),
    [
        ("lwm2m-client-process.yaml", {"trigger_session", "reboot"}),
        ("omadm-client-process.yaml", {"trigger_session", "reboot"}),
        # the OMA-DM alert actions (user interaction, Generic Alert, abort) are OMA-DM's only
        ("reference-lwm2m-process.yaml",
         set(ACTIONS) - {"ui_answer", "send_generic_alert", "abort_session"}),
        ("reference-omadm-process.yaml", set(ACTIONS) - {"send"}),  # send: LwM2M only
    ],
)
def test_client_process_examples(
    name: str, actions: set[str], example_env: None, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for variable, value in PROCESS_ENV.items():
        monkeypatch.setenv(variable, value)
    dut = load_declaration(EXAMPLES / name)
    controller = make_controller(dut, tmp_path)
    assert isinstance(controller, ShellController)
    commands = dut.control.commands  # type: ignore[union-attr]
    assert "start" in commands  # the device is a process the suite starts
    assert controller.capabilities() == actions  # reboot: a cold start when not declared
    scripts = {c.split()[0] for c in commands.values()}
    if dut.omadm is not None and dut.omadm.notification.command:
        scripts.add(dut.omadm.notification.command.split()[0])
    for script in scripts:  # beside the declaration, executable, parses
        path = EXAMPLES / script
        assert path.is_file() and os.access(path, os.X_OK), script
        subprocess.run(["bash", "-n", str(path)], check=True)
