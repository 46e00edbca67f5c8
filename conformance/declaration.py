"""The device declaration: what a device claims (PICS) and how to reach and drive it (PIXIT).

A lab or a vendor describes a device once, in YAML; :func:`load_declaration` validates it with
pydantic and reports every problem with the file, the field and the line. Secrets may come from
the environment (``${VAR}``) and are kept as ``SecretStr`` so they never show in a repr.
Without a declaration the suite uses the built-in ones (:func:`builtin_declaration`), which
describe the reference devices in ``conformance/simulators/``.
"""

from __future__ import annotations

import difflib
import os
import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

BUILTIN_DIR = Path(__file__).parent / "builtin"

Action = Literal[
    "trigger_session",  # make the device open a DM session / registration update now
    "sideload_update",  # non-FOTA update by sideload/USB (CDR-DVM-1533, ATT-DMIG-4.4)
    "oem_server_update",  # update through the OEM's own DM server (CDR-DVM-1533)
    "reboot",
    "factory_reset",
    "set_host_values",  # the host writes new host identity values into the module
    # OMA-DM alerts (CDR-DVM-012): what the device's user answers to the next user-interaction
    # alert (params answer=accept|decline|cancel, text, choices), a Generic Alert 1226 sent in
    # a session of the device's own, and an abort (Alert 1223) of the session it is in.
    "ui_answer",
    "send_generic_alert",
    "abort_session",
    "send",  # LwM2M 1.1: the client Sends the values of SEND_PATHS to the lab (TS 1.1 §6.4.6)
]
ACTIONS: tuple[str, ...] = Action.__args__  # type: ignore[attr-defined]
# The device's life cycle (shell control): run once per run around the catalog, and again where
# a case needs a cold start.
Lifecycle = Literal["start", "stop"]
ShellCommandName = Literal[Action, Lifecycle]

ContentFormatName = Literal[
    "text", "opaque", "tlv", "lwm2m-json", "senml-json", "senml-cbor", "link-format", "cbor"
]


def luhn_valid(digits: str) -> bool:
    """Luhn check over a digit string (the IMEI's 15th digit is its check digit)."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceKind(str, Enum):
    MODULE = "module"
    INTEGRATED_DEVICE = "integrated-device"


class Category(str, Enum):
    DOM = "DOM"  # data-only module
    DVM = "DVM"  # data and voice module


class Device(_Model):
    """The module (or integrated device) itself: DevInfo / DevDetail / LwM2M /3 values."""

    name: str = Field(description="A name for reports and run folders.")
    kind: DeviceKind = Field(
        description="module: an embedded radio module; integrated-device: a host with a module."
    )
    category: Category = Field(
        Category.DOM, description="AT&T test list category: DOM data-only, DVM data and voice."
    )
    imei: str = Field(description="15 digits with a valid Luhn check digit.")
    imeisv: str = Field(description="The 2-digit software version number of the IMEI SV.")
    manufacturer: str = Field(description="DevInfo/Man, /3/0/0.")
    model: str = Field(description="DevInfo/Mod, /3/0/1.")
    serial_number: str | None = Field(None, description="/3/0/2 (LwM2M).")
    firmware_version: str = Field(description="DevDetail/FwV, /3/0/3.")
    software_version: str = Field("", description="DevDetail/SwV.")
    hardware_version: str = Field("", description="DevDetail/HwV.")
    device_type: str = Field("module", description="DevDetail/DevTyp.")
    oem: str = Field("", description="DevDetail/OEM.")
    language: str = Field("en-US", description="DevInfo/Lang.")

    @field_validator("imei")
    @classmethod
    def _imei(cls, v: str) -> str:
        if not re.fullmatch(r"\d{15}", v):
            raise ValueError(f"expected 15 digits, got {len(v)} characters")
        if not luhn_valid(v):
            right = next(d for d in "0123456789" if luhn_valid(v[:14] + d))
            raise ValueError(f"check digit {v[-1]} is wrong (Luhn): expected {right}")
        return v

    @field_validator("imeisv")
    @classmethod
    def _imeisv(cls, v: str) -> str:
        if not re.fullmatch(r"\d{2}", v):
            raise ValueError("expected exactly 2 digits")
        return v


class HostDevice(_Model):
    """Host identity as submitted to PTCRB (CDR-DVM-4532, object 10241, the CSV file)."""

    manufacturer: str = Field(description="HostMan, /10241/0/5905, CSV Host_MFR.")
    model: str = Field(description="HostMod, /10241/0/5906, CSV Host_Model.")
    software_version: str = Field(description="HostSwV, /10241/0/5908, CSV Host_SW_Ver.")
    unique_id: str = Field(
        description="AT&T onboarding Device ID, /10241/0/5907 (a String; the OMA-DM "
        "HostUniqueID format is judged by CDR-DVM-4532, not here)."
    )


class HostIdentityLife(_Model):
    """What the host identity values do through the module's life (guide §2.2, CDR-DVM-4532)."""

    factory_reset: Literal["module-keeps", "host-rewrites"] = Field(
        "module-keeps",
        description="module-keeps: the module keeps the host values through a factory reset; "
        "host-rewrites: it clears them and the host writes them again once it detects the reset.",
    )
    rewrite_within: float = Field(
        30, gt=0, le=3600,
        description="host-rewrites: seconds, from the module being back online after the "
        "factory reset, within which the host has written the host values again.",
    )


class ExceptionClaim(_Model):
    """An applicability exception of guide §1.5; the requirement becomes NOT APPLICABLE."""

    requirement: str = Field(description="The requirement ID it applies to (CDR-DVM-4532 …).")
    exception: Literal[
        "single-integrated-device-model",  # module used by one integrated device with its TACs
        "computing-device-unique-tac",  # module only in computing devices, unique TAC each
        "unique-tac-per-model",  # device with a unique TAC for its model
        "not-supported",  # optional feature not implemented (FOTA, bootstrap…)
    ] = Field(description="Which exception of guide §1.5 is claimed.")
    reason: str = Field(description="Why it applies; printed in the report.")

    @model_validator(mode="after")
    def _known(self) -> ExceptionClaim:
        from conformance.requirements import BY_ID  # the catalog; imported late, it is data

        req = BY_ID.get(self.requirement)
        if req is None:
            raise ValueError(f"requirement: unknown ID; expected one of {', '.join(BY_ID)}")
        if self.exception != "not-supported" and not req.host_identity:
            identity = ", ".join(r.id for r in BY_ID.values() if r.host_identity)
            raise ValueError(
                f"exception: the guide §1.5 exceptions concern host identity reporting "
                f"({identity}), not {req.id}"
            )
        return self


class FotaPackage(_Model):
    """The firmware image the FOTA cases deliver; the lab derives corrupt/truncated variants."""

    image: Path | None = Field(
        None, description="The vendor's image; none: the lab makes a reference image."
    )
    new_version: str = Field(description="Firmware version the device reports after the update.")
    package_type: str = Field(
        "application/octet-stream", description="Content type the package server sends."
    )
    new_imeisv: str | None = Field(
        None,
        description="The IMEISV the module reports once this package is installed, when PTCRB "
        "rules make its software change a new software version number; none: device.imeisv "
        "stays.",
    )

    out_of_ram_image: Path | None = Field(
        None, description="With a vendor image: a package that runs the device out of RAM "
        "while it downloads (Update Result 3, ETS int-774).")
    update_failure_image: Path | None = Field(
        None, description="With a vendor image: a package that downloads but fails to install "
        "(Update Result 8, ETS int-779).")

    @field_validator("new_imeisv")
    @classmethod
    def _new_imeisv(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"\d{2}", v):
            raise ValueError("expected exactly 2 digits")
        return v


class Features(_Model):
    """What the device supports; the cases of an unsupported optional feature do not apply."""

    fota: bool = Field(False, description="FOTA supported (FUMO / object 5): its cases apply.")
    fota_protocols: list[Literal["coap", "coaps", "http", "https", "push"]] = Field(
        ["coap", "http"], description="How the device fetches (or is pushed) a package."
    )
    fota_package: FotaPackage | None = Field(None, description="Needed when fota is true.")
    fota_errors: list[Literal["out-of-storage", "unsupported-package", "out-of-ram",
                              "update-failure"]] = Field(
        default_factory=list, description="FOTA error results the lab can provoke."
    )
    bootstrap: bool = Field(False, description="LwM2M bootstrap (client/server initiated).")
    wbxml: bool = Field(False, description="OMA-DM: the client accepts and sends WBXML.")
    large_objects: bool = Field(False, description="OMA-DM: large objects (MoreData).")
    content_formats: list[ContentFormatName] = Field(
        ["text", "tlv"], description="LwM2M content formats the client offers."
    )
    host_identity_reporting: bool = Field(
        True, description="ODIS/DHIR implemented; false: the CSV manual alternative applies."
    )
    oem_dm_server: bool = Field(
        True,
        description="The device has an OEM DM server of its own; false: the CDR-DVM-1533 "
        "update path through it is NOT APPLICABLE.",
    )
    user_interaction: bool = Field(
        False,
        description="OMA-DM: the device has a UI for the user-interaction alerts 1100-1104 "
        "(their cases apply); false: it must refuse them (406).",
    )

    @model_validator(mode="after")
    def _fota_package(self) -> Features:
        if self.fota and self.fota_package is None:
            raise ValueError("fota: true needs fota_package (new_version, optional image)")
        return self


class Notification(_Model):
    """How the lab delivers an OMA-DM Package 0 (server-alerted session)."""

    channel: Literal["udp", "shell", "sms", "none"] = Field(
        "udp", description="udp datagram, a shell command, WAP Push SMS (serial, labgrid), none."
    )
    address: str | None = Field(None, description="host:port for udp.")
    command: str | None = Field(None, description="for shell: gets the bytes (hex) in $PKG0_HEX.")
    version: int = Field(11, description="The trigger's 10-bit version value to send.")
    ui_mode: int = Field(0, ge=0, le=3, description="The trigger's UI mode (0: unspecified).")

    @model_validator(mode="after")
    def _channel(self) -> Notification:
        if self.channel == "shell" and not self.command:
            raise ValueError("command: required with channel: shell")
        return self


AuthType = Literal["md5", "hmac", "basic", "none"]


class DmAccountCredentials(_Model):
    """One factory DM account as the device holds it: credentials and auth types, each way."""

    client_auth: AuthType = Field(
        "md5", description="AAuthType the client uses towards the lab (client AppAuth)."
    )
    client_name: str = Field(description="Client AAuthName (from AT&T's utility).")
    client_secret: SecretStr = Field(description="Client AAuthSecret; use ${VAR}.")
    server_auth: AuthType = Field(
        "md5", description="AAuthType the client demands from the lab (server AppAuth)."
    )
    server_secret: SecretStr = Field(description="Server AAuthSecret; use ${VAR}.")


class FactoryAccounts(_Model):
    """The two factory DM accounts of guide §1.7, each with its own credentials."""

    production: DmAccountCredentials = Field(
        description="CDR-DVM-3954: the account whose Addr is iotprod.sl.attcompute.com."
    )
    development: DmAccountCredentials = Field(
        description="CDR-DVM-3955: the account whose Addr is iotdev.sl.attcompute.com."
    )


_SINGLE_FORM = ("auth", "client_name", "client_secret", "server_secret")


class OmaDm(_Model):
    """The OMA-DM client and its factory DM accounts (CDR-DVM-012, 3954/3955).

    Either ``accounts`` (each account its own credentials and auth types) or the single form
    ``auth``/``client_name``/``client_secret``/``server_secret``, applied to both accounts.
    """

    dm_version: Literal["1.2", "1.3"] = Field("1.2", description="VerProto DM/1.2 or DM/1.3.")
    encoding: Literal["xml", "wbxml"] = Field("xml", description="What the client sends.")
    transport: Literal["http", "https"] = Field("http", description="How it reaches the lab.")
    auth: AuthType = Field(
        "md5", description="Single form: AAuthType of both accounts, both ways; basic/none fail."
    )
    client_name: str | None = Field(None, description="Single form: client AAuthName.")
    client_secret: SecretStr | None = Field(
        None, description="Single form: client AAuthSecret; use ${VAR}."
    )
    server_id: str = Field("ATTLabA", description="ServerID / server AAuthName.")
    server_secret: SecretStr | None = Field(
        None, description="Single form: server AAuthSecret; use ${VAR}."
    )
    accounts: FactoryAccounts | None = Field(
        None, description="Per-account form: production (3954) and development (3955)."
    )
    ddf: Path | None = Field(None, description="The vendor's DDF (OMA DM DDF 1.2 XML).")
    max_msg_size: int = Field(16384, ge=256, description="The lab's MaxMsgSize.")
    notification: Notification = Field(Notification(), description="Package 0 delivery.")

    @model_validator(mode="after")
    def _one_form(self) -> OmaDm:
        single = [name for name in _SINGLE_FORM if name in self.model_fields_set]
        if self.accounts is not None:
            if single:
                raise ValueError(f"accounts: give either accounts or {', '.join(single)}, "
                                 "not both")
            return self
        for name in ("client_name", "client_secret", "server_secret"):
            if getattr(self, name) is None:
                raise ValueError(f"{name}: required (or give accounts: production/development)")
        return self

    def factory_accounts(self) -> FactoryAccounts:
        """Both accounts, the single form given to each."""
        if self.accounts is not None:
            return self.accounts
        assert self.client_name and self.client_secret and self.server_secret  # _one_form
        one = DmAccountCredentials(
            client_auth=self.auth,
            client_name=self.client_name,
            client_secret=self.client_secret,
            server_auth=self.auth,
            server_secret=self.server_secret,
        )
        return FactoryAccounts(production=one, development=one)


class LwM2M(_Model):
    """The LwM2M client (ATT-DMIG-3.2)."""

    endpoint: str = Field(description="Endpoint client name (ep=), e.g. urn:imei:<IMEI>.")
    version: Literal["1.0", "1.1", "1.2"] = Field("1.1", description="lwm2m= of Register.")
    security: Literal["nosec", "psk"] = Field("nosec", description="nosec or DTLS with PSK.")
    psk_identity: str | None = Field(None, description="PSK identity (needed for psk).")
    psk_key: SecretStr | None = Field(None, description="PSK key in hex; use ${VAR}.")
    lifetime: int = Field(300, ge=1, description="Registration lifetime, seconds.")
    binding: str = Field("U", description="Binding mode (U, UQ, S …).")
    queue_mode: bool = Field(
        False, description="The device runs in queue mode: it registers with Q (1.1; in 1.0 "
        "the binding is UQ) and listens only for a while after each message it sends. The lab "
        "then holds its requests until it is heard again (ETS int-108/109 run on it). With "
        "version 1.0 the binding says it (UQ): queue_mode true with a binding without Q is "
        "refused.")
    short_server_id: int | None = Field(
        None, ge=1, le=65534,
        description="Short Server ID (/1/x/0) of the lab's DM server account: the one the "
        "lab's bootstrap writes (default 1), or the one of the device's factory account when "
        "the lab does not bootstrap it. The lab finds the Server instance by it; unset and "
        "not bootstrapped, the registration's only /1 instance is taken.")
    object_ddfs: list[Path] = Field(default_factory=list, description="Vendor DDF XML files.")

    @property
    def queued(self) -> bool:
        """Queue mode declared, by ``queue_mode`` or a binding with Q (the 1.0 way)."""
        return self.queue_mode or "Q" in self.binding

    @model_validator(mode="after")
    def _queue_mode_1_0(self) -> LwM2M:
        # LwM2M 1.0 has no Q parameter: its queue mode is the binding's Q (UQ). Declared in
        # queue mode with a binding without Q, a 1.0 device would be failed for doing what
        # its own declaration says (int-108's b=UQ check) and left asleep by the lab.
        if self.version == "1.0" and self.queue_mode and "Q" not in self.binding:
            raise ValueError(f"binding: LwM2M 1.0 says queue mode in the binding (UQ); "
                             f"queue_mode: true with binding {self.binding!r} contradicts it")
        return self

    @model_validator(mode="after")
    def _psk(self) -> LwM2M:
        if self.security == "psk":
            if not self.psk_identity:
                raise ValueError("psk_identity: required with security: psk")
            if self.psk_key is None:
                raise ValueError("psk_key: required with security: psk (hex, e.g. ${PSK_KEY})")
            if not re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", self.psk_key.get_secret_value()):
                raise ValueError("psk_key: expected hex digits, an even number of them")
        return self


class Lab(_Model):
    """Where the lab listens. Port 0 picks a free port (the built-in devices use that)."""

    host: str = Field("127.0.0.1", description="Address the servers bind to (0.0.0.0: all).")
    advertised_host: str | None = Field(
        None, description="Address the device uses to reach the lab (package URLs)."
    )
    omadm_port: int = Field(0, ge=0, le=65535, description="OMA-DM server (HTTP or HTTPS).")
    lwm2m_port: int = Field(0, ge=0, le=65535, description="LwM2M server, CoAP/UDP.")
    lwm2m_dtls_port: int = Field(0, ge=0, le=65535, description="LwM2M server, CoAP/DTLS.")
    bootstrap_port: int = Field(0, ge=0, le=65535, description="LwM2M bootstrap server.")
    package_port: int = Field(0, ge=0, le=65535, description="Firmware package server.")


class Timeouts(_Model):
    """Seconds. Every wait of the lab has one of these as its bound."""

    request: float = Field(10, gt=0, description="One request/response exchange.")
    session: float = Field(30, gt=0, description="Wait for a session/registration to start.")
    post_update_window: float = Field(60, gt=0, description="CDR-DVM-1533 / ATT-DMIG-4.4.")
    fota: float = Field(120, gt=0, description="Download and update.")


class Limits(_Model):
    """Bounds on what one device may make the lab hold or decode (hostile devices, issue 15).

    Every field is optional; the defaults serve a certification bench. Over a bound the lab
    answers at once (4.xx, HTTP 4xx) and records a finding naming the bound.
    """

    decoded_bytes: int | None = Field(
        None,
        ge=4096,
        description="Decoded text of one OMA-DM message (WBXML string-table expansion, XML "
        "text). Default: 16 x omadm.max_msg_size, at least 1 MiB (the body limit).",
    )
    coap_body_bytes: int = Field(
        1 << 20, ge=1024, description="A CoAP request body after block-wise (Block1) assembly."
    )
    coap_assemblies: int = Field(
        256, ge=1, description="Block1 transfers in progress at once (the oldest is dropped)."
    )
    endpoint_length: int = Field(
        255, ge=16, description="LwM2M endpoint client name (ep=), characters."
    )
    query_bytes: int = Field(
        1024, ge=64, description="All Uri-Query options of a Register or Update, bytes."
    )
    registrations_per_source: int = Field(
        16, ge=1, description="LwM2M endpoints registered from one address and port."
    )
    registrations_total: int = Field(
        4096, ge=1, description="LwM2M endpoints registered at once."
    )
    connections_per_source: int = Field(
        32, ge=1, description="Open HTTP connections from one IP address (OMA-DM, packages)."
    )
    request_deadline: float | None = Field(
        None,
        gt=0,
        description="Seconds a device has to send one whole HTTP request, head and body. "
        "Default: 3 x timeouts.request.",
    )


class SimulatorControl(_Model):
    """Drive a reference device of conformance/simulators (the embedded default)."""

    type: Literal["simulator"] = Field(description="Selects this controller.")
    faults: list[str] = Field(default_factory=list, description="Faults injected by name.")
    server_instance: int = Field(
        0, ge=0, le=65534,
        description="LwM2M reference device: the instance id of its factory Server object "
        "instance (/1/x) when the lab does not bootstrap it (real clients use /1/0, /1/1 …).")


class ShellControl(_Model):
    """A shell command per action, run with bash -c."""

    type: Literal["shell"] = Field(description="Selects this controller.")
    commands: dict[ShellCommandName, str] = Field(
        description="Action -> shell command; lab addresses and action parameters come as "
        "environment variables (LAB_HOST, LAB_OMADM_URL, NEW_FW_VERSION …). start/stop: the "
        "device's life cycle (start runs it, output in device.log; stop ends it)."
    )
    timeout: float = Field(60, gt=0, description="Seconds a command may run.")


PowerAction = Literal["reboot", "factory_reset"]
AT_COMMANDS = "Action -> AT command line(s), one per line, with {PLACEHOLDERS}."


class AtControl(_Model):
    """What every controller speaking AT commands shares (serial, labgrid)."""

    type: Literal["serial", "labgrid"] = Field(description="Selects this controller.")
    commands: dict[Action, str] = Field(description=AT_COMMANDS)
    ok: str = Field("OK", description="Regular expression of a successful final response.")
    error: str = Field(r"(?:\+CM[ES] )?ERROR.*", description="Regular expression of a failure.")
    timeout: float = Field(10, gt=0, description="Seconds to wait for a final result.")
    sms_package0: bool = Field(False, description="Deliver Package 0 as WAP Push SMS (AT+CMGS).")
    sms_destination: str | None = Field(None, description="MSISDN the SMS goes to.")

    @model_validator(mode="after")
    def _sms(self) -> AtControl:
        if self.sms_package0 and not self.sms_destination:
            raise ValueError("sms_destination: required with sms_package0: true (an MSISDN)")
        if self.sms_destination and not re.fullmatch(r"\+?\d{3,20}", self.sms_destination):
            raise ValueError("sms_destination: expected digits, optionally after '+'")
        return self


class SerialControl(AtControl):
    """AT commands through the module's serial port (pyserial)."""

    type: Literal["serial"] = Field(description="Selects this controller.")
    port: str = Field(description="Device path (/dev/ttyUSB2) or pyserial URL (rfc2217://…).")
    baudrate: int = Field(115200, gt=0, description="Ignored by pty and network ports.")


class LabgridControl(AtControl):
    """A bench of a labgrid lab: AT commands over its serial port, power through its switch."""

    type: Literal["labgrid"] = Field(description="Selects this controller.")
    coordinator: str = Field(
        description="The labgrid coordinator, host:port (labgrid's default port is 20408)."
    )
    place: str = Field(description="The labgrid place of the bench to acquire.")
    env: Path | None = Field(
        None,
        description="labgrid environment file (relative to this file) whose target for the "
        "place names its drivers; without it the place's own power and serial resources.",
    )
    serial: str | None = Field(
        None, description="Name of the place's serial port for AT commands, if it has several."
    )
    commands: dict[Action, str] = Field(default_factory=dict, description=AT_COMMANDS)
    power_cycle: list[PowerAction] = Field(
        ["reboot"],
        description="Actions ending with a power cycle (after their AT commands, if any).",
    )
    power_off: float = Field(2, gt=0, le=300, description="Seconds the power stays off.")
    ready_probe: str | None = Field(
        "AT", description="Sent after a power cycle until the module answers (none: no wait)."
    )
    boot_timeout: float = Field(
        60, gt=0, le=600, description="Seconds the module has to answer it after power-on."
    )

    @field_validator("coordinator")
    @classmethod
    def _host_port(cls, value: str) -> str:
        match = re.fullmatch(r"([\w.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):(\d{1,5})", value)
        if match is None or not 0 < int(match.group(2)) < 65536:
            raise ValueError("expected host:port, e.g. coordinator.lab.example.net:20408")
        return value

    @field_validator("place")
    @classmethod
    def _place_name(cls, value: str) -> str:
        if not re.fullmatch(r"[\w.+-]{1,100}", value):
            raise ValueError("expected a labgrid place name (letters, digits, '.', '_', '+', '-')")
        return value


class ManualControl(_Model):
    """Ask the operator; INCONCLUSIVE in a non-interactive run."""

    type: Literal["manual"] = Field(description="Selects this controller.")
    countdown: float = Field(120, gt=0, description="Seconds the operator has for each action.")


Control = Annotated[
    SimulatorControl | ShellControl | SerialControl | LabgridControl | ManualControl,
    Field(discriminator="type"),
]


class Csv(_Model):
    """Host identity data files of the manual alternative (ATT-DMIG-1.5-CSV)."""

    files: list[Path] = Field(
        default_factory=list, description="Host identity CSV files (relative to this file)."
    )


class Declaration(_Model):
    """A device under test: what it claims (PICS) and how the lab reaches and drives it."""

    device: Device = Field(description="The module or integrated device.")
    host: HostDevice = Field(description="Host device values as submitted to PTCRB.")
    host_identity: HostIdentityLife = Field(
        HostIdentityLife(), description="How the host values survive resets (guide §2.2)."
    )
    protocol: Literal["omadm", "lwm2m"] = Field(description="The DM client the device carries.")
    omadm: OmaDm | None = Field(None, description="Needed when protocol is omadm.")
    lwm2m: LwM2M | None = Field(None, description="Needed when protocol is lwm2m.")
    exceptions: list[ExceptionClaim] = Field(
        default_factory=list, description="Applicability exceptions claimed (guide §1.5)."
    )
    features: Features = Field(Features(), description="Supported optional features.")
    lab: Lab = Field(Lab(), description="Where the lab listens.")
    timeouts: Timeouts = Field(Timeouts(), description="Bounds of every wait.")
    limits: Limits = Field(Limits(), description="Bounds against hostile devices.")
    control: Control = Field(
        default_factory=lambda: ManualControl(type="manual"),
        description="How the lab makes the device act (default: ask the operator).",
    )
    csv: Csv = Field(Csv(), description="The manual alternative to host identity reporting.")
    source: Path | None = Field(None, description="Set by the loader: the file it came from.")

    @model_validator(mode="after")
    def _protocol_section(self) -> Declaration:
        if self.protocol == "omadm" and self.omadm is None:
            raise ValueError("protocol: omadm needs an 'omadm:' section")
        if self.protocol == "lwm2m" and self.lwm2m is None:
            raise ValueError("protocol: lwm2m needs an 'lwm2m:' section")
        self._consistent()
        if self.omadm is not None and self.omadm.notification.channel == "sms":
            modem = self.control
            if not isinstance(modem, AtControl) or not modem.sms_package0:
                raise ValueError(
                    "omadm.notification.channel: sms needs control type serial or labgrid with "
                    "sms_package0: true (the lab sends the SMS through the module's modem)"
                )
        return self

    def _consistent(self) -> None:
        """Claims that contradict each other; each check names the field to change."""
        package = self.features.fota_package
        if (
            self.features.fota
            and package is not None
            and package.new_version == self.device.firmware_version
        ):
            raise ValueError(
                f"features.fota_package.new_version: equals device.firmware_version "
                f"({package.new_version!r}); the version the device reports after the "
                "update must differ, or the check proves nothing"
            )
        lwm2m = self.lwm2m
        if (
            self.protocol == "lwm2m"
            and lwm2m is not None
            and lwm2m.version == "1.0"
            and "tlv" not in self.features.content_formats
        ):
            raise ValueError(
                "features.content_formats: an LwM2M 1.0 client must support TLV "
                "(TS 1.0 §6.4); add tlv"
            )
        notification = self.omadm.notification if self.omadm is not None else None
        if (
            notification is not None
            and notification.channel == "udp"
            and "channel" in notification.model_fields_set
            and not notification.address
            and not isinstance(self.control, SimulatorControl)
        ):
            raise ValueError(
                "omadm.notification.address: required with channel: udp (host:port of the "
                "device's Package 0 listener; only a reference device announces its own)"
            )

    def decoded_bound(self) -> int:
        """Bytes of decoded text one OMA-DM message may expand to (``limits.decoded_bytes``)."""
        if self.limits.decoded_bytes is not None:
            return self.limits.decoded_bytes
        declared = self.omadm.max_msg_size if self.omadm is not None else 0
        return max(1 << 20, 16 * declared)

    def request_deadline(self) -> float:
        """Seconds for one whole HTTP request (``limits.request_deadline``)."""
        return self.limits.request_deadline or 3 * self.timeouts.request

    def exception_for(self, requirement: str) -> ExceptionClaim | None:
        return next((e for e in self.exceptions if e.requirement == requirement), None)

    def secrets(self) -> list[str]:
        """Every secret value in the declaration, for the redactor."""
        found: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, SecretStr):
                found.append(value.get_secret_value())
            elif isinstance(value, BaseModel):
                for name in type(value).model_fields:
                    walk(getattr(value, name))
            elif isinstance(value, list | tuple):
                for item in value:
                    walk(item)

        walk(self)
        return [s for s in found if s]

    def summary(self) -> dict[str, str]:
        """Secret-free facts for report headers."""
        return {
            "device": self.device.name,
            "kind": self.device.kind.value,
            "category": self.device.category.value,
            "protocol": self.protocol,
            "IMEI": self.device.imei,
            "IMEISV": self.device.imeisv,
            "manufacturer": self.device.manufacturer,
            "model": self.device.model,
            "firmware": self.device.firmware_version,
            "host": f"{self.host.manufacturer} {self.host.model} {self.host.software_version}",
            "control": self.control.type,
        }


# --------------------------------------------------------------------------- loading


class DeclarationError(ValueError):
    """A declaration that cannot be used; ``problems`` are (field, line, message) triples."""

    def __init__(self, source: str, problems: list[tuple[str, int | None, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: invalid device declaration"]
        for fieldpath, line, message in problems:
            where = f"line {line}, " if line else ""
            lines.append(f"  {where}{fieldpath or '(top level)'}: {message}")
        super().__init__("\n".join(lines))


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _interpolate(
    value: Any, path: tuple[str | int, ...], missing: list[tuple[str | int, ...]]
) -> Any:
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in os.environ:
                missing.append((*path, m.group(1)))
                return ""
            return os.environ[m.group(1)]

        return _ENV.sub(sub, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, (*path, k), missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*path, i), missing) for i, v in enumerate(value)]
    return value


def _line_of(node: yaml.Node | None, loc: tuple[str | int, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of its closest existing parent)."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if getattr(k, "value", None) == key), None)
            if pair is None:
                return line
            # The key's line: for a section that is where "device:" is, not its first field.
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if key >= len(node.value):
                return line
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Relative file paths in a declaration are relative to the declaration's folder."""

    def fix(container: dict[str, Any], key: str) -> None:
        value = container.get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            container[key] = str(base / value)
        elif isinstance(value, list):
            container[key] = [
                str(base / v) if isinstance(v, str) and not Path(v).is_absolute() else v
                for v in value
            ]

    for section, key in (("omadm", "ddf"), ("lwm2m", "object_ddfs"), ("csv", "files")):
        if isinstance(data.get(section), dict):
            fix(data[section], key)
    fota = (data.get("features") or {}).get("fota_package")
    if isinstance(fota, dict):
        for key in ("image", "out_of_ram_image", "update_failure_image"):
            fix(fota, key)
    control = data.get("control")
    if isinstance(control, dict) and control.get("type") == "labgrid":
        fix(control, "env")


def parse_declaration(
    text: str, source: str = "<declaration>", base: Path | None = None
) -> Declaration:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DeclarationError(source, [_yaml_problem(exc)]) from None
    except (ValueError, RecursionError) as exc:  # a 4300+ digit int, nesting past the stack
        problem = f"not valid YAML: {type(exc).__name__}: {str(exc)[:120]}"
        raise DeclarationError(source, [("", None, problem)]) from None
    if not isinstance(data, dict):
        expected = "expected a mapping of sections (device:, host:, …)"
        raise DeclarationError(source, [("", 1, expected)])
    missing: list[tuple[str | int, ...]] = []
    data = _interpolate(data, (), missing)
    # An unset variable is one problem among the others, not a reason to hide them: the file is
    # still validated (the variable as ""), and only what that empty value itself causes is left
    # out.
    problems = [
        (
            ".".join(map(str, p[:-1])),
            _line_of(node, p[:-1]),
            f"environment variable ${{{p[-1]}}} is not set",
        )
        for p in missing
    ]
    unset = {".".join(map(str, p[:-1])) for p in missing}
    if base is not None:
        _resolve_paths(data, base)
    data["source"] = source if base is not None else None
    try:
        declaration = Declaration.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc, message = _explain(err)
            fieldpath = ".".join(map(str, loc))
            if any(fieldpath == u or fieldpath.startswith(u + ".") for u in unset):
                continue
            problems.append((fieldpath, _line_of(node, loc), message))
        raise DeclarationError(source, problems) from None
    if problems:
        raise DeclarationError(source, problems)
    return declaration


_UNION_TAGS = {"simulator", "shell", "serial", "labgrid", "manual"}
# Errors whose offending value is safe and useful to quote back ("…, got 'dtls'").
_QUOTE_INPUT = {
    "literal_error",
    "enum",
    "int_parsing",
    "int_from_float",
    "float_parsing",
    "bool_parsing",
    "union_tag_invalid",
}
_SECRET_NAMES = re.compile(r"secret|key|password", re.IGNORECASE)


def _field_names() -> frozenset[str]:
    """Every field name of the declaration's sections (the subclasses of _Model, at any depth)."""
    models: list[type[_Model]] = [_Model]
    for model in models:
        models += model.__subclasses__()
    return frozenset(name for model in models for name in model.model_fields)


def _explain(err: Any) -> tuple[tuple[str | int, ...], str]:
    """A pydantic error as (field path, message saying what is expected)."""
    loc: tuple[str | int, ...] = tuple(
        p for p in err["loc"] if not (isinstance(p, str) and p in _UNION_TAGS)
    )
    kind, message = err["type"], str(err["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _field_names(), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return loc, f"unknown field ({hint}see docs/declaration.md for the fields)"
    if kind == "missing":
        return loc, "required field is missing"
    if kind == "union_tag_invalid":
        return (*loc, "type"), (
            f"expected one of {', '.join(sorted(_UNION_TAGS))}; got {err['ctx']['tag']!r}"
        )
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return loc, "expected a section (a mapping of fields), got a single value or a list"
    if loc and loc[-1] == "[key]":
        return loc[:-1], f"{err['input']!r} is not a valid key here; {message}"
    if kind == "value_error":
        # Validators say "<field>: what is wrong"; the field goes into the path (and its line).
        named = re.match(r"([a-z_]+(?:\.[a-z_]+)*): (.+)", message, re.DOTALL)
        if named and set(named.group(1).split(".")) <= _field_names():
            return (*loc, *named.group(1).split(".")), named.group(2)
    if kind in _QUOTE_INPUT and not any(_SECRET_NAMES.search(str(p)) for p in loc):
        message = f"{message}; got {err['input']!r}"
    return loc, message


def _yaml_problem(exc: yaml.YAMLError) -> tuple[str, int | None, str]:
    """A YAML syntax error in one line: what the parser expected, where, and what it was in."""
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    message = f"not valid YAML: {problem}"
    if mark is not None:
        message += f" (column {mark.column + 1})"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None:
        message += f", {context} on line {context_mark.line + 1}"
    return ("", line, message)


def load_declaration(path: Path | str) -> Declaration:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DeclarationError(str(path), [("", None, f"cannot read: {exc.strerror}")]) from None
    return parse_declaration(text, source=str(path), base=path.resolve().parent)


# The embedded defaults by name: the reference device of each protocol driven as a simulator,
# and a host device without host identity reporting that supplies the CSV file instead.
BUILTINS = {
    "omadm": "omadm-simulator.yaml",
    "lwm2m": "lwm2m-simulator.yaml",
    "csv-host-device": "csv-host-device.yaml",
}


def builtin_declaration(name: str) -> Declaration:
    """The embedded declaration ``name`` (a key of :data:`BUILTINS`)."""
    if name not in BUILTINS:
        raise DeclarationError(f"builtin:{name}", [("", None, "no such built-in declaration; "
                                                     f"use one of {', '.join(BUILTINS)}")])
    return load_declaration(BUILTIN_DIR / BUILTINS[name])


def json_schema() -> dict[str, Any]:
    """JSON Schema of the declaration, for editors (``conformance schema``)."""
    schema = Declaration.model_json_schema()
    schema["properties"].pop("source", None)
    return schema
