"""The SyncML DM message model (OMA-DM 1.2/1.3 representation protocol), pure data.

Both codecs (``xmlcodec`` and ``wbxml``) turn bytes into these objects and back; the session
engine, the reference device and the test cases only ever see these. Element names follow
the DTD so that the mapping to XML is mechanical: ``Item.target`` is ``<Target><LocURI>``.
Values stay strings as on the wire (CmdID, MsgID, status codes): a device that sends a
non-numeric MsgID must reach the catalog as such, not be normalised away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

SYNCML_NS = "SYNCML:SYNCML1.2"
METINF_NS = "syncml:metinf"
CT_DM_XML = "application/vnd.syncml.dm+xml"
CT_DM_WBXML = "application/vnd.syncml.dm+wbxml"


class AlertCode:
    DISPLAY = "1100"
    CONFIRM = "1101"
    SERVER_INITIATED = "1200"
    CLIENT_INITIATED = "1201"
    NEXT_MESSAGE = "1222"
    SESSION_ABORT = "1223"
    CLIENT_EVENT = "1224"
    GENERIC = "1226"


class StatusCode:
    OK = "200"
    ACCEPTED_FOR_PROCESSING = "202"
    AUTH_ACCEPTED = "212"
    CHUNK_ACCEPTED = "213"
    OPERATION_CANCELLED = "214"
    NOT_EXECUTED = "215"
    ATOMIC_ROLLBACK_OK = "216"
    BAD_REQUEST = "400"
    INVALID_CREDENTIALS = "401"
    FORBIDDEN = "403"
    NOT_FOUND = "404"
    NOT_ALLOWED = "405"
    OPTIONAL_FEATURE_NOT_SUPPORTED = "406"
    MISSING_CREDENTIALS = "407"
    INCOMPLETE_COMMAND = "412"
    REQUEST_ENTITY_TOO_LARGE = "413"
    UNSUPPORTED_MEDIA_TYPE = "415"
    ALREADY_EXISTS = "418"
    DEVICE_FULL = "420"
    PERMISSION_DENIED = "425"
    COMMAND_FAILED = "500"
    ATOMIC_FAILED = "507"
    ATOMIC_ROLLBACK_FAILED = "516"


# Digest/credential types of <Meta><Type> in <Cred>/<Chal>.
AUTH_BASIC = "syncml:auth-basic"
AUTH_MD5 = "syncml:auth-md5"
AUTH_HMAC = "syncml:auth-MAC"  # HMAC itself travels in the x-syncml-hmac transport header


@dataclass
class Meta:
    """``<Meta>`` with the MetInf elements DM uses."""

    format: str | None = None  # chr, int, b64, bin, bool, node, xml, null, date, time, float
    type: str | None = None  # MIME type, or a DDF type, or an auth type in Cred/Chal
    size: int | None = None
    max_msg_size: int | None = None
    max_obj_size: int | None = None
    next_nonce: str | None = None  # base64, in a Chal
    mark: str | None = None  # severity of a Generic Alert (informational, warning, …)
    version: str | None = None
    # MetInf elements this model has no field for, kept so that nothing a device sends is lost.
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class Cred:
    data: str  # base64 digest (md5) or base64 name:password (basic)
    meta: Meta = field(default_factory=lambda: Meta(format="b64", type=AUTH_MD5))


@dataclass
class Chal:
    meta: Meta


@dataclass
class Item:
    target: str | None = None  # <Target><LocURI>
    target_name: str | None = None
    source: str | None = None  # <Source><LocURI>
    source_name: str | None = None
    meta: Meta | None = None
    data: str | bytes | None = None  # bytes only for WBXML opaque data that is not UTF-8
    more_data: bool = False

    def text(self) -> str | None:
        """Data as text (bytes decoded as UTF-8 with replacement, for messages and reports)."""
        if isinstance(self.data, bytes):
            return self.data.decode("utf-8", "replace")
        return self.data


@dataclass
class SyncHdr:
    session_id: str
    msg_id: str
    target: str  # server: the URL; client: the DevId
    source: str
    ver_dtd: str = "1.2"
    ver_proto: str = "DM/1.2"
    target_name: str | None = None
    source_name: str | None = None
    cred: Cred | None = None
    meta: Meta | None = None
    resp_uri: str | None = None
    no_resp: bool = False


@dataclass
class Command:
    """A body command. ``name`` is the element name; subclasses set it."""

    name: ClassVar[str] = ""
    cmd_id: str


@dataclass
class ItemCommand(Command):
    items: list[Item] = field(default_factory=list)
    meta: Meta | None = None
    no_resp: bool = False
    cred: Cred | None = None


@dataclass
class Get(ItemCommand):
    name: ClassVar[str] = "Get"


@dataclass
class Replace(ItemCommand):
    name: ClassVar[str] = "Replace"


@dataclass
class Add(ItemCommand):
    name: ClassVar[str] = "Add"


@dataclass
class Delete(ItemCommand):
    name: ClassVar[str] = "Delete"


@dataclass
class Copy(ItemCommand):
    name: ClassVar[str] = "Copy"


@dataclass
class Exec(ItemCommand):
    name: ClassVar[str] = "Exec"
    correlator: str | None = None


@dataclass
class Alert(Command):
    name: ClassVar[str] = "Alert"
    data: str = ""  # the alert code
    items: list[Item] = field(default_factory=list)
    correlator: str | None = None
    no_resp: bool = False
    cred: Cred | None = None


@dataclass
class Atomic(Command):
    name: ClassVar[str] = "Atomic"
    commands: list[Command] = field(default_factory=list)
    meta: Meta | None = None
    no_resp: bool = False


@dataclass
class Sequence(Command):
    name: ClassVar[str] = "Sequence"
    commands: list[Command] = field(default_factory=list)
    meta: Meta | None = None
    no_resp: bool = False


@dataclass
class Status(Command):
    name: ClassVar[str] = "Status"
    msg_ref: str = ""
    cmd_ref: str = ""
    cmd: str = ""  # the name of the command this status is for ("SyncHdr", "Get", …)
    data: str = ""  # the status code
    target_refs: list[str] = field(default_factory=list)
    source_refs: list[str] = field(default_factory=list)
    chal: Chal | None = None
    cred: Cred | None = None
    items: list[Item] = field(default_factory=list)


@dataclass
class Results(Command):
    name: ClassVar[str] = "Results"
    msg_ref: str = ""
    cmd_ref: str = ""
    meta: Meta | None = None
    target_refs: list[str] = field(default_factory=list)
    source_refs: list[str] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)


COMMAND_TYPES: dict[str, type[Command]] = {
    cls.name: cls
    for cls in (Get, Replace, Add, Delete, Copy, Exec, Alert, Atomic, Sequence, Status, Results)
}


@dataclass
class SyncML:
    header: SyncHdr
    body: list[Command] = field(default_factory=list)
    final: bool = True

    def commands(self, kind: type[Command] | None = None) -> list[Command]:
        """Top-level commands, optionally of one type."""
        return [c for c in self.body if kind is None or isinstance(c, kind)]

    def statuses(self) -> list[Status]:
        return [c for c in self.body if isinstance(c, Status)]

    def results(self) -> list[Results]:
        return [c for c in self.body if isinstance(c, Results)]

    def alerts(self, code: str | None = None) -> list[Alert]:
        return [c for c in self.body if isinstance(c, Alert) and (code is None or c.data == code)]
