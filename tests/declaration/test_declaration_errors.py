"""Declaration validation: good files load, each bad file gives the exact problem and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.declaration import DeclarationError, load_declaration, parse_declaration

FILES = Path(__file__).parent / "files"
SECRETS = {
    "CONFORMANCE_TEST_CLIENT_SECRET": "client-s3cret-value",
    "CONFORMANCE_TEST_SERVER_SECRET": "server-s3cret-value",
}
SHELL_COMMANDS_EXPECTED = (
    "'trigger_session', 'sideload_update', 'oem_server_update', 'reboot', 'factory_reset', "
    "'set_host_values', 'ui_answer', 'send_generic_alert', 'abort_session', 'send', "
    "'start' or 'stop'"
)
REQUIREMENTS = (
    "CDR-DVM-012, CDR-DVM-440, CDR-DVM-3954, CDR-DVM-3955, CDR-DVM-4532, CDR-DVM-1533, "
    "ATT-DMIG-4.2, ATT-DMIG-3.2.2, ATT-DMIG-3.2, ATT-DMIG-4.3, ATT-DMIG-4.4, ATT-DMIG-1.5-CSV"
)

# file -> every (field path, line, message) the loader must report, in order.
BAD: dict[str, list[tuple[str, int | None, str]]] = {
    "bad-unknown-field.yaml": [
        ("device.model", 2, "required field is missing"),
        ("device.modle", 8, "unknown field (did you mean 'model'? see docs/declaration.md "
         "for the fields)"),
    ],
    "bad-enum.yaml": [
        ("omadm.auth", 17, "Input should be 'md5', 'hmac', 'basic' or 'none'; got 'sha1'"),
    ],
    "bad-imei-length.yaml": [("device.imei", 5, "expected 15 digits, got 14 characters")],
    "bad-imei-luhn.yaml": [("device.imei", 5, "check digit 9 is wrong (Luhn): expected 8")],
    "bad-missing-section.yaml": [("protocol", 15, "omadm needs an 'omadm:' section")],
    "bad-psk-without-key.yaml": [
        ("lwm2m.psk_key", 16, "required with security: psk (hex, e.g. ${PSK_KEY})"),
    ],
    "bad-queue-mode-1-0.yaml": [
        ("lwm2m.binding", 19, "LwM2M 1.0 says queue mode in the binding (UQ); queue_mode: true "
         "with binding 'U' contradicts it"),
    ],
    "bad-env-unset.yaml": [
        ("omadm.server_secret", 19,
         "environment variable ${CONFORMANCE_TEST_UNSET_VARIABLE} is not set"),
    ],
    "bad-yaml-syntax.yaml": [
        ("", 9, "not valid YAML: expected ',' or ']', but got ':' (column 19), "
         "while parsing a flow sequence on line 8"),
    ],
    "bad-wrong-type.yaml": [
        ("timeouts.session", 19,
         "Input should be a valid number, unable to parse string as a number; got 'soon'"),
    ],
    "bad-control-type.yaml": [
        ("control.type", 19,
         "expected one of labgrid, manual, serial, shell, simulator; got 'ssh'"),
    ],
    "bad-action-name.yaml": [
        ("control.commands.rebot", 21,
         f"'rebot' is not a valid key here; Input should be {SHELL_COMMANDS_EXPECTED}"),
    ],
    "bad-exception-requirement.yaml": [
        ("exceptions.0.requirement", 21, f"unknown ID; expected one of {REQUIREMENTS}"),
    ],
    "bad-sms-without-serial.yaml": [
        ("omadm.notification.channel", 21,
         "sms needs control type serial or labgrid with sms_package0: true (the lab sends "
         "the SMS "
         "through the module's modem)"),
    ],
    "bad-several.yaml": [
        ("device.kind", 4, "Input should be 'module' or 'integrated-device'; got 'modem'"),
        ("device.imeisv", 6, "expected exactly 2 digits"),
    ],
    "bad-fota-same-version.yaml": [
        ("features.fota_package.new_version", 21,
         "equals device.firmware_version ('1.0'); the version the device reports after the "
         "update must differ, or the check proves nothing"),
    ],
    "bad-lwm2m10-without-tlv.yaml": [
        ("features.content_formats", 20,
         "an LwM2M 1.0 client must support TLV (TS 1.0 §6.4); add tlv"),
    ],
    "bad-udp-without-address.yaml": [
        ("omadm.notification.address", 20,
         "required with channel: udp (host:port of the device's Package 0 listener; only a "
         "reference device announces its own)"),
    ],
    # An unset variable does not hide the other problems (nor adds any of its own).
    "bad-env-unset-among-others.yaml": [
        ("omadm.client_secret", 18,
         "environment variable ${CONFORMANCE_TEST_UNSET_VARIABLE} is not set"),
        ("device.imei", 5, "check digit 9 is wrong (Luhn): expected 8"),
        ("omadm.auth", 20, "Input should be 'md5', 'hmac', 'basic' or 'none'; got 'sha1'"),
    ],
    "bad-host-only.yaml": [
        ("device", 1, "required field is missing"),
        ("host.model", 1, "required field is missing"),
        ("host.software_version", 1, "required field is missing"),
        ("host.unique_id", 1, "required field is missing"),
        ("protocol", 1, "required field is missing"),
    ],
}  # fmt: skip


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CONFORMANCE_TEST_UNSET_VARIABLE", raising=False)


@pytest.mark.parametrize("name", ["good-omadm-minimal.yaml", "good-lwm2m-minimal.yaml"])
def test_good_files_load(name: str) -> None:
    dut = load_declaration(FILES / name)
    assert dut.source == FILES / name
    assert dut.control.type == "manual"  # the default: ask the operator
    if dut.omadm is not None:
        assert (
            dut.omadm.client_secret.get_secret_value() == SECRETS["CONFORMANCE_TEST_CLIENT_SECRET"]
        )
        assert "client-s3cret-value" not in repr(dut)  # SecretStr never shows


def test_every_bad_file_is_covered() -> None:
    assert sorted(p.name for p in FILES.glob("bad-*.yaml")) == sorted(BAD)


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_file_reports_field_line_and_expectation(name: str) -> None:
    with pytest.raises(DeclarationError) as info:
        load_declaration(FILES / name)
    error = info.value
    assert error.source == str(FILES / name)
    assert error.problems == BAD[name]
    text = str(error)
    assert text.splitlines()[0] == f"{FILES / name}: invalid device declaration"
    for fieldpath, line, message in BAD[name]:
        assert f"  line {line}, {fieldpath or '(top level)'}: {message}" in text


def test_secrets_are_never_quoted_back() -> None:
    text = (FILES / "good-lwm2m-minimal.yaml").read_text()
    text += "  security: psk\n  psk_identity: ex\n  psk_key: not-hex-TOPSECRET\n"
    text += "omadm:\n  client_name: x\n  client_secret: [TOPSECRET2]\n  server_secret: 5\n"
    with pytest.raises(DeclarationError) as info:
        parse_declaration(text, "dut.yaml")
    assert "TOPSECRET" not in str(info.value)
    assert ("lwm2m.psk_key", 20, "expected hex digits, an even number of them") in (
        info.value.problems
    )


def test_missing_file() -> None:
    with pytest.raises(DeclarationError) as info:
        load_declaration(FILES / "no-such-file.yaml")
    assert info.value.problems == [("", None, "cannot read: No such file or directory")]


def test_not_a_mapping() -> None:
    with pytest.raises(DeclarationError) as info:
        parse_declaration("- device\n- host\n", "list.yaml")
    assert info.value.problems == [("", 1, "expected a mapping of sections (device:, host:, …)")]


def test_section_given_as_a_value() -> None:
    text = (FILES / "good-lwm2m-minimal.yaml").read_text() + "timeouts: 30\n"
    with pytest.raises(DeclarationError) as info:
        parse_declaration(text, "dut.yaml")
    assert info.value.problems == [
        ("timeouts", 18, "expected a section (a mapping of fields), got a single value or a list")
    ]


def test_host_identity_exception_only_on_host_identity_requirements() -> None:
    text = (FILES / "good-omadm-minimal.yaml").read_text()
    claim = "exceptions:\n  - requirement: {req}\n    exception: {exc}\n    reason: r\n"
    ok = parse_declaration(
        text + claim.format(req="CDR-DVM-4532", exc="unique-tac-per-model"), "d.yaml"
    )
    assert ok.exception_for("CDR-DVM-4532") is not None
    parse_declaration(text + claim.format(req="ATT-DMIG-4.2", exc="not-supported"), "d.yaml")
    with pytest.raises(DeclarationError) as info:
        parse_declaration(
            text + claim.format(req="CDR-DVM-012", exc="unique-tac-per-model"), "d.yaml"
        )
    [(fieldpath, line, message)] = info.value.problems
    assert (fieldpath, line) == ("exceptions.0.exception", 22)
    assert message.startswith("the guide §1.5 exceptions concern host identity reporting")


def test_sms_package0_needs_a_destination() -> None:
    text = (FILES / "good-omadm-minimal.yaml").read_text()
    text += "control:\n  type: serial\n  port: /dev/ttyUSB2\n  commands: {}\n  sms_package0: true\n"
    with pytest.raises(DeclarationError) as info:
        parse_declaration(text, "d.yaml")
    assert info.value.problems == [
        ("control.sms_destination", 20, "required with sms_package0: true (an MSISDN)")
    ]


def test_host_unique_id_is_any_string() -> None:
    # /10241/0/5907 is a String; the OMA-DM HostUniqueID rule belongs to CDR-DVM-4532's case.
    text = (FILES / "good-lwm2m-minimal.yaml").read_text()
    dut = parse_declaration(text.replace("unique_id: H1SN0001", "unique_id: ACME-9-000017"))
    assert dut.host.unique_id == "ACME-9-000017"


def test_udp_without_address_is_fine_for_the_reference_device() -> None:
    # The simulator's device announces its Package 0 listener; the built-in relies on that.
    text = (FILES / "bad-udp-without-address.yaml").read_text()
    control = text[text.index("control:"):]
    dut = parse_declaration(text.replace(control, "control:\n  type: simulator\n"))
    assert dut.omadm is not None and dut.omadm.notification.address is None


def test_no_oem_dm_server_is_declared_in_features() -> None:
    text = (FILES / "good-omadm-minimal.yaml").read_text()
    assert parse_declaration(text).features.oem_dm_server  # the default: the path is tested
    dut = parse_declaration(text + "features:\n  oem_dm_server: false\n")
    assert dut.features.oem_dm_server is False


def test_start_and_stop_are_shell_commands() -> None:
    text = (FILES / "good-lwm2m-minimal.yaml").read_text()
    text += "control:\n  type: shell\n  commands:\n    start: ./client\n    stop: ./client-stop\n"
    dut = parse_declaration(text)
    assert dut.control.type == "shell" and set(dut.control.commands) == {"start", "stop"}
