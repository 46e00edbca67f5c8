"""The device declaration: what a device claims (PICS) and how to reach and drive it (PIXIT).

A lab or a vendor describes a device once, in YAML; :func:`load_declaration` validates it with
pydantic and reports every problem with the file, the field and the line. Secrets may come from
the environment (``${VAR}``) and are kept as ``SecretStr`` so they never show in a repr.
Without a declaration the suite uses the built-in ones (:func:`builtin_declaration`), which
describe the reference devices in ``conformance/simulators/``.
"""

from __future__ import annotations

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
]
ACTIONS: tuple[str, ...] = Action.__args__  # type: ignore[attr-defined]

ContentFormatName = Literal[
    "text", "opaque", "tlv", "lwm2m-json", "senml-json", "senml-cbor", "link-format"
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
    kind: DeviceKind
    category: Category = Category.DOM
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
            raise ValueError("expected 15 digits")
        if not luhn_valid(v):
            raise ValueError(f"check digit {v[-1]} is wrong (Luhn)")
        return v

    @field_validator("imeisv")
    @classmethod
    def _imeisv(cls, v: str) -> str:
        if not re.fullmatch(r"\d{2}", v):
            raise ValueError("expected exactly 2 digits")
        return v


class HostDevice(_Model):
    """Host identity as submitted to PTCRB (CDR-DVM-4532, object 10241, the CSV file)."""

    manufacturer: str
    model: str
    software_version: str
    unique_id: str = Field(description="AT&T onboarding Device ID; alphanumeric.")

    @field_validator("unique_id")
    @classmethod
    def _unique_id(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9]+", v):
            raise ValueError("expected an alphanumeric string")
        return v


class ExceptionClaim(_Model):
    """An applicability exception of guide §1.5; the requirement becomes NOT APPLICABLE."""

    requirement: str
    exception: Literal[
        "single-integrated-device-model",  # module used by one integrated device with its TACs
        "computing-device-unique-tac",  # module only in computing devices, unique TAC each
        "unique-tac-per-model",  # device with a unique TAC for its model
        "not-supported",  # optional feature not implemented (FOTA, bootstrap…)
    ]
    reason: str


class FotaPackage(_Model):
    """The firmware image the FOTA cases deliver; the lab derives corrupt/truncated variants."""

    image: Path | None = Field(
        None, description="The vendor's image; none: the lab makes a reference image."
    )
    new_version: str = Field(description="Firmware version the device reports after the update.")
    package_type: str = "application/octet-stream"


class Features(_Model):
    fota: bool = False
    fota_protocols: list[Literal["coap", "coaps", "http", "https", "push"]] = ["coap", "http"]
    fota_package: FotaPackage | None = None
    fota_errors: list[Literal["out-of-storage", "unsupported-package"]] = Field(
        default_factory=list, description="FOTA error results the lab can provoke."
    )
    bootstrap: bool = False
    wbxml: bool = False
    large_objects: bool = False
    content_formats: list[ContentFormatName] = ["text", "tlv"]
    host_identity_reporting: bool = Field(
        True, description="ODIS/DHIR implemented; false: the CSV manual alternative applies."
    )

    @model_validator(mode="after")
    def _fota_package(self) -> Features:
        if self.fota and self.fota_package is None:
            raise ValueError("fota: true needs fota_package (new_version, optional image)")
        return self


class Notification(_Model):
    """How the lab delivers an OMA-DM Package 0 (server-alerted session)."""

    channel: Literal["udp", "shell", "sms", "none"] = "udp"
    address: str | None = Field(None, description="host:port for udp.")
    command: str | None = Field(None, description="for shell: gets the bytes (hex) in $PKG0_HEX.")
    version: int = Field(11, description="The trigger's 10-bit version value to send.")
    ui_mode: int = Field(0, ge=0, le=3)


class OmaDm(_Model):
    dm_version: Literal["1.2", "1.3"] = "1.2"
    encoding: Literal["xml", "wbxml"] = "xml"
    transport: Literal["http", "https"] = "http"
    auth: Literal["md5", "hmac", "basic", "none"] = "md5"
    client_name: str
    client_secret: SecretStr
    server_id: str = "ATTLabA"
    server_secret: SecretStr
    ddf: Path | None = Field(None, description="The vendor's DDF (OMA DM DDF 1.2 XML).")
    max_msg_size: int = Field(16384, ge=256)
    notification: Notification = Notification()


class LwM2M(_Model):
    endpoint: str
    version: Literal["1.0", "1.1", "1.2"] = "1.1"
    security: Literal["nosec", "psk"] = "nosec"
    psk_identity: str | None = None
    psk_key: SecretStr | None = Field(None, description="Hex.")
    lifetime: int = Field(300, ge=1)
    binding: str = "U"
    object_ddfs: list[Path] = Field(default_factory=list, description="Vendor DDF XML files.")

    @model_validator(mode="after")
    def _psk(self) -> LwM2M:
        if self.security == "psk":
            if not self.psk_identity or self.psk_key is None:
                raise ValueError("security: psk needs psk_identity and psk_key")
            if not re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", self.psk_key.get_secret_value()):
                raise ValueError("psk_key: expected hex digits")
        return self


class Lab(_Model):
    """Where the lab listens. Port 0 picks a free port (the built-in devices use that)."""

    host: str = "127.0.0.1"
    advertised_host: str | None = Field(
        None, description="Address the device uses to reach the lab (package URLs)."
    )
    omadm_port: int = Field(0, ge=0, le=65535)
    lwm2m_port: int = Field(0, ge=0, le=65535)
    lwm2m_dtls_port: int = Field(0, ge=0, le=65535)
    bootstrap_port: int = Field(0, ge=0, le=65535)
    package_port: int = Field(0, ge=0, le=65535)


class Timeouts(_Model):
    """Seconds. Every wait of the lab has one of these as its bound."""

    request: float = Field(10, gt=0, description="One request/response exchange.")
    session: float = Field(30, gt=0, description="Wait for a session/registration to start.")
    post_update_window: float = Field(60, gt=0, description="CDR-DVM-1533 / ATT-DMIG-4.4.")
    fota: float = Field(120, gt=0, description="Download and update.")


class SimulatorControl(_Model):
    type: Literal["simulator"]
    faults: list[str] = Field(default_factory=list, description="Faults injected by name.")


class ShellControl(_Model):
    type: Literal["shell"]
    commands: dict[Action, str] = Field(
        description="Action -> shell command; lab addresses and action parameters come as "
        "environment variables (LAB_HOST, LAB_OMADM_URL, NEW_FW_VERSION …)."
    )
    timeout: float = 60


class SerialControl(_Model):
    type: Literal["serial"]
    port: str
    baudrate: int = 115200
    commands: dict[Action, str] = Field(description="Action -> AT command (with {placeholders}).")
    ok: str = Field("OK", description="Regular expression of a successful final response.")
    error: str = Field(r"(?:\+CM[ES] )?ERROR.*", description="Regular expression of a failure.")
    timeout: float = 10
    sms_package0: bool = Field(False, description="Deliver Package 0 as WAP Push SMS (AT+CMGS).")
    sms_destination: str | None = Field(None, description="MSISDN the SMS goes to.")


class ManualControl(_Model):
    type: Literal["manual"]
    countdown: float = Field(120, gt=0, description="Seconds the operator has for each action.")


Control = Annotated[
    SimulatorControl | ShellControl | SerialControl | ManualControl, Field(discriminator="type")
]


class Csv(_Model):
    """Host identity data files of the manual alternative (ATT-DMIG-1.5-CSV)."""

    files: list[Path] = Field(default_factory=list)


class Declaration(_Model):
    device: Device
    host: HostDevice
    protocol: Literal["omadm", "lwm2m"]
    omadm: OmaDm | None = None
    lwm2m: LwM2M | None = None
    exceptions: list[ExceptionClaim] = Field(default_factory=list)
    features: Features = Features()
    lab: Lab = Lab()
    timeouts: Timeouts = Timeouts()
    control: Control = Field(default_factory=lambda: ManualControl(type="manual"))
    csv: Csv = Csv()
    source: Path | None = Field(None, description="Set by the loader: the file it came from.")

    @model_validator(mode="after")
    def _protocol_section(self) -> Declaration:
        if self.protocol == "omadm" and self.omadm is None:
            raise ValueError("protocol: omadm needs an 'omadm:' section")
        if self.protocol == "lwm2m" and self.lwm2m is None:
            raise ValueError("protocol: lwm2m needs an 'lwm2m:' section")
        return self

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
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
            if nxt is None:
                return line
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if key >= len(node.value):
                return line
            node = node.value[key]
        else:
            return line
        line = node.start_mark.line + 1
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
        fix(fota, "image")


def parse_declaration(
    text: str, source: str = "<declaration>", base: Path | None = None
) -> Declaration:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise DeclarationError(source, [("", line, f"not valid YAML: {exc}")]) from None
    if not isinstance(data, dict):
        expected = "expected a mapping of sections (device:, host:, …)"
        raise DeclarationError(source, [("", 1, expected)])
    missing: list[tuple[str | int, ...]] = []
    data = _interpolate(data, (), missing)
    if missing:
        raise DeclarationError(
            source,
            [
                (
                    ".".join(map(str, p[:-1])),
                    _line_of(node, p[:-1]),
                    f"environment variable ${{{p[-1]}}} is not set",
                )
                for p in missing
            ],
        )
    if base is not None:
        _resolve_paths(data, base)
    data["source"] = source if base is not None else None
    try:
        return Declaration.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in _UNION_TAGS))
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                message = "unknown field (check the spelling; see docs/declaration.md)"
            elif err["type"] == "missing":
                message = "required field is missing"
            problems.append((".".join(map(str, loc)), _line_of(node, loc), message))
        raise DeclarationError(source, problems) from None


_UNION_TAGS = {"simulator", "shell", "serial", "manual"}


def load_declaration(path: Path | str) -> Declaration:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DeclarationError(str(path), [("", None, f"cannot read: {exc.strerror}")]) from None
    return parse_declaration(text, source=str(path), base=path.resolve().parent)


def builtin_declaration(protocol: Literal["omadm", "lwm2m"]) -> Declaration:
    """The embedded default: the reference device of ``protocol`` driven as a simulator."""
    return load_declaration(BUILTIN_DIR / f"{protocol}-simulator.yaml")


def json_schema() -> dict[str, Any]:
    """JSON Schema of the declaration, for editors (``conformance schema``)."""
    schema = Declaration.model_json_schema()
    schema["properties"].pop("source", None)
    return schema
