"""LwM2M paths, resource types and the value representation every content-format codec shares.

Decoded content is *flat*: a mapping from full resource paths (``/3/0/0``) or resource-instance
paths (``/3/0/7/1``) to typed Python values, as SenML thinks of it. Every codec (text, opaque,
TLV, LwM2M JSON, SenML JSON/CBOR) turns bytes into such a mapping and back, given the path the
request addressed and the object model for the types. An empty object instance, which only TLV
and link-format can carry, maps its instance path (``/3/0``) to ``None``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import Enum, IntEnum

from conformance.errors import ProtocolError


class ContentFormat(IntEnum):
    TEXT = 0
    CBOR = 60
    LINK_FORMAT = 40
    OPAQUE = 42
    SENML_JSON = 110
    SENML_CBOR = 112
    TLV = 11542
    LWM2M_JSON = 11543

    @classmethod
    def by_name(cls, name: str) -> ContentFormat:
        """From the declaration's names: text, opaque, tlv, lwm2m-json, senml-json, senml-cbor."""
        return _BY_NAME[name]

    @property
    def label(self) -> str:
        """The declaration's name of the format ("tlv", "senml-cbor" …)."""
        return _NAMES[self][0]

    @property
    def media_type(self) -> str:
        return _NAMES[self][1]

    @staticmethod
    def describe(number: int | None) -> str:
        """Any Content-Format number in words: a known format's label, else ``ct=N``."""
        if number is None:
            return "(no format)"
        try:
            return ContentFormat(number).label
        except ValueError:
            return _DRAFT_NAMES.get(number, f"ct={number}")


# The one table of names and media types (LwM2M TS 1.1 §7.3, RFC 7252 §12.3, RFC 8428).
_NAMES: dict[ContentFormat, tuple[str, str]] = {
    ContentFormat.TEXT: ("text", "text/plain;charset=utf-8"),
    ContentFormat.CBOR: ("cbor", "application/cbor"),
    ContentFormat.LINK_FORMAT: ("link-format", "application/link-format"),
    ContentFormat.OPAQUE: ("opaque", "application/octet-stream"),
    ContentFormat.SENML_JSON: ("senml-json", "application/senml+json"),
    ContentFormat.SENML_CBOR: ("senml-cbor", "application/senml+cbor"),
    ContentFormat.TLV: ("tlv", "application/vnd.oma.lwm2m+tlv"),
    ContentFormat.LWM2M_JSON: ("lwm2m-json", "application/vnd.oma.lwm2m+json"),
}
_BY_NAME = {name: fmt for fmt, (name, _) in _NAMES.items()}
# Numbers of the LwM2M 1.0 drafts that some old clients still send.
_DRAFT_NAMES = {1542: "tlv(1.0-draft 1542)", 1543: "json(1.0-draft 1543)"}


class ResourceType(str, Enum):
    STRING = "String"
    INTEGER = "Integer"
    UNSIGNED = "Unsigned Integer"
    FLOAT = "Float"
    BOOLEAN = "Boolean"
    OPAQUE = "Opaque"
    TIME = "Time"
    OBJLNK = "Objlnk"
    CORELNK = "Corelnk"
    NONE = "none"  # executable resources carry no value


@dataclass(frozen=True, order=True)
class ObjLink:
    object_id: int
    instance_id: int

    def __str__(self) -> str:
        return f"{self.object_id}:{self.instance_id}"


Value = str | int | float | bool | bytes | ObjLink
Content = dict["Path", Value | None]

_PATH = re.compile(r"^/(\d{1,5})(?:/(\d{1,5})(?:/(\d{1,5})(?:/(\d{1,5}))?)?)?/?$")


@dataclass(frozen=True, order=True)
class Path:
    object_id: int
    instance_id: int | None = None
    resource_id: int | None = None
    resource_instance_id: int | None = None

    @classmethod
    def parse(cls, text: str) -> Path:
        # Paths repeat (every Register's links, every request's Uri-Path): short ones are
        # parsed once; a Path is immutable, so the same one can be handed out again.
        found = _parse_short(text) if len(text) <= 24 else _parse(text)
        if isinstance(found, str):
            raise ProtocolError("lwm2m-path", found)
        return found

    def __str__(self) -> str:
        ids = [self.object_id, self.instance_id, self.resource_id, self.resource_instance_id]
        return "/" + "/".join(str(i) for i in ids if i is not None)

    @property
    def depth(self) -> int:
        """1 object, 2 instance, 3 resource, 4 resource instance."""
        ids = (self.instance_id, self.resource_id, self.resource_instance_id)
        return 1 + sum(i is not None for i in ids)

    def contains(self, other: Path) -> bool:
        """True when ``other`` is this path or below it."""
        mine = (self.object_id, self.instance_id, self.resource_id, self.resource_instance_id)
        theirs = (other.object_id, other.instance_id, other.resource_id, other.resource_instance_id)
        return all(a is None or a == b for a, b in zip(mine, theirs, strict=True))

    def child(self, sub_id: int) -> Path:
        if self.instance_id is None:
            return Path(self.object_id, sub_id)
        if self.resource_id is None:
            return Path(self.object_id, self.instance_id, sub_id)
        if self.resource_instance_id is None:
            return Path(self.object_id, self.instance_id, self.resource_id, sub_id)
        raise ValueError(f"{self} has no children")

    @property
    def resource_path(self) -> Path:
        """The resource this path is in (drops the resource instance)."""
        return Path(self.object_id, self.instance_id, self.resource_id)


def _parse(text: str) -> Path | str:
    """The Path ``text`` names, or why it names none."""
    m = _PATH.match(text)
    if not m:
        return f"not an LwM2M path: {text!r}"
    obj, inst, res, rinst = (int(p) if p is not None else None for p in m.groups())
    if any(p is not None and p > 65535 for p in (obj, inst, res, rinst)):
        return f"id above 65535 in {text!r}"
    assert obj is not None  # the pattern requires the object id
    return Path(obj, inst, res, rinst)


# Bounded: what devices send decides the keys.
_parse_short = functools.lru_cache(maxsize=4096)(_parse)
