"""Typing shared by the content-format codecs: resource types from the registry, value checks.

Encoders get content from the suite itself, decoders from a device; both sides report a value
that does not fit its resource type as :class:`ProtocolError`, so the caller handles one type.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from conformance.errors import ProtocolError
from conformance.lwm2m.model import Content, ObjLink, Path, ResourceType, Value
from conformance.lwm2m.objects import ObjectRegistry

INT64_MIN = -(2**63)
# Values (TLV entries, SenML records) one payload may hold: a 1 MiB payload of 2-byte TLV
# entries or tiny SenML records took the lab's loop seconds to decode (issue 15).
MAX_ITEMS = 4096
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1

_INT_TEXT = re.compile(r"-?[0-9]+")
_FLOAT_TEXT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_OBJLNK_TEXT = re.compile(r"([0-9]{1,5}):([0-9]{1,5})")


def path_key(path: Path) -> tuple[int, ...]:
    """Sort key for paths of mixed depth (Path's own ordering cannot compare None with int)."""
    ids = (path.object_id, path.instance_id, path.resource_id, path.resource_instance_id)
    return tuple(-1 if i is None else i for i in ids)


def resource_type(registry: ObjectRegistry | None, path: Path) -> ResourceType | None:
    """The declared type of the resource at (or containing) ``path``; None when unknown."""
    if registry is None:
        return None
    definition = registry.resource(path)
    return definition.type if definition is not None else None


def is_multiple(registry: ObjectRegistry | None, path: Path, content: Content) -> bool:
    """Whether the resource at ``path`` is multi-instance: from the model, else from content."""
    definition = registry.resource(path) if registry is not None else None
    if definition is not None:
        return definition.multiple
    return any(p.resource_instance_id is not None and path.contains(p) for p in content)


def infer_type(value: object) -> ResourceType:
    """A resource type for a value without a definition (bool before int: bool is an int)."""
    if isinstance(value, bool):
        return ResourceType.BOOLEAN
    if isinstance(value, int):
        return ResourceType.INTEGER
    if isinstance(value, float):
        return ResourceType.FLOAT
    if isinstance(value, str):
        return ResourceType.STRING
    if isinstance(value, bytes | bytearray):
        return ResourceType.OPAQUE
    if isinstance(value, ObjLink):
        return ResourceType.OBJLNK
    raise TypeError(f"no LwM2M type for {type(value).__name__}")


def check_value(rtype: ResourceType | None, value: object, protocol: str, path: Path) -> Value:
    """Validate (and where lossless, coerce) a value for its resource type before encoding."""
    if value is None:
        raise ProtocolError(protocol, "resource without a value", where=str(path))
    if rtype is None:
        try:
            rtype = infer_type(value)
        except TypeError as exc:
            raise ProtocolError(protocol, str(exc), where=str(path)) from None
    def bad() -> ProtocolError:  # built only when raised: this runs for every value encoded
        return ProtocolError(
            protocol, f"{type(value).__name__} value for a {rtype.value} resource",
            where=str(path),
        )

    if rtype in (ResourceType.STRING, ResourceType.CORELNK):
        if not isinstance(value, str):
            raise bad()
        return value
    if rtype in (ResourceType.INTEGER, ResourceType.TIME, ResourceType.UNSIGNED):
        low = 0 if rtype is ResourceType.UNSIGNED else INT64_MIN
        high = UINT64_MAX if rtype is ResourceType.UNSIGNED else INT64_MAX
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise bad()
        return value
    if rtype is ResourceType.FLOAT:
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, float):
            raise bad()
        return value
    if rtype is ResourceType.BOOLEAN:
        if not isinstance(value, bool):
            raise bad()
        return value
    if rtype is ResourceType.OPAQUE:
        if not isinstance(value, bytes | bytearray):
            raise bad()
        return bytes(value)
    if rtype is ResourceType.OBJLNK:
        if not isinstance(value, ObjLink) or not (
            0 <= value.object_id <= 65535 and 0 <= value.instance_id <= 65535
        ):
            raise bad()
        return value
    raise ProtocolError(protocol, "an executable resource carries no value", where=str(path))


def entries_under(path: Path, content: Content, protocol: str) -> list[tuple[Path, Value | None]]:
    """Content below ``path``, sorted, refusing paths outside it or a value on a bare instance."""
    out: list[tuple[Path, Value | None]] = []
    for key in sorted(content, key=path_key):
        if not path.contains(key):
            raise ProtocolError(protocol, f"{key} is not below the addressed path {path}")
        if key.depth < 2 or (key.depth == 2 and content[key] is not None):
            raise ProtocolError(protocol, "only an empty instance maps an instance path",
                                where=str(key))
        if key.depth >= 3 and content[key] is None:
            raise ProtocolError(protocol, "resource without a value", where=str(key))
        out.append((key, content[key]))
    return out


def text_value(rtype: ResourceType | None, text: str, protocol: str, where: str) -> Value:
    """A value from its LwM2M plain-text form (TS 1.1 §7.4.1)."""
    rtype = rtype or ResourceType.STRING
    if rtype in (ResourceType.STRING, ResourceType.CORELNK):
        return text
    if rtype in (ResourceType.INTEGER, ResourceType.TIME, ResourceType.UNSIGNED):
        if not _INT_TEXT.fullmatch(text):
            raise ProtocolError(protocol, f"{text[:40]!r} is not a decimal integer", where=where)
        if len(text) > 21:  # beyond 64 bits anyway; int() refuses > 4300 digits (ValueError)
            raise ProtocolError(protocol, f"{rtype.value} {text[:40]}… out of range", where=where)
        number = int(text)
        low = 0 if rtype is ResourceType.UNSIGNED else INT64_MIN
        high = UINT64_MAX if rtype is ResourceType.UNSIGNED else INT64_MAX
        if not low <= number <= high:
            raise ProtocolError(protocol, f"{rtype.value} {number} out of range", where=where)
        return number
    if rtype is ResourceType.FLOAT:
        if not _FLOAT_TEXT.fullmatch(text):
            raise ProtocolError(protocol, f"{text[:40]!r} is not a decimal number", where=where)
        number_f = float(text)
        if math.isinf(number_f):
            raise ProtocolError(protocol, f"{text[:40]!r} overflows a double", where=where)
        return number_f
    if rtype is ResourceType.BOOLEAN:
        if text not in ("0", "1"):
            raise ProtocolError(protocol, f"boolean {text[:40]!r} is not 0 or 1", where=where)
        return text == "1"
    if rtype is ResourceType.OBJLNK:
        return objlnk_from_text(text, protocol, where)
    if rtype is ResourceType.OPAQUE:
        raise ProtocolError(protocol, "an Opaque resource has no plain-text form", where=where)
    raise ProtocolError(protocol, "an executable resource carries no value", where=where)


def value_text(rtype: ResourceType | None, value: Value, protocol: str, path: Path) -> str:
    """The LwM2M plain-text form of a (checked) value."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ProtocolError(protocol, f"float {value} has no text form", where=str(path))
        return repr(value)
    if isinstance(value, bytes):
        raise ProtocolError(protocol, "an Opaque resource has no plain-text form", where=str(path))
    return str(value)


def objlnk_from_text(text: str, protocol: str, where: str) -> ObjLink:
    m = _OBJLNK_TEXT.fullmatch(text)
    if not m or int(m.group(1)) > 65535 or int(m.group(2)) > 65535:
        raise ProtocolError(protocol, f"{text[:40]!r} is not an object link O:I", where=where)
    return ObjLink(int(m.group(1)), int(m.group(2)))


def check_in(path: Path, found: Path, protocol: str, where: str) -> None:
    if not path.contains(found):
        raise ProtocolError(protocol, f"{found} is outside the addressed path {path}", where=where)


def add_unique(content: Content, key: Path, value: Value | None, protocol: str, where: str) -> None:
    if key in content:
        raise ProtocolError(protocol, f"{key} appears twice", where=where)
    content[key] = value


def paths_of(content: Iterable[Path]) -> list[str]:
    return [str(p) for p in sorted(content, key=path_key)]


def single_value(path: Path, content: Content, registry: ObjectRegistry | None, protocol: str,
                 name: str) -> tuple[ResourceType | None, Value]:
    """The one checked value a single-value format (text, CBOR) carries for ``path``."""
    check_single(path, registry, protocol, name)
    if set(content) != {path}:
        raise ProtocolError(protocol, f"{name} carries exactly {path}, got {paths_of(content)}")
    rtype = resource_type(registry, path)
    return rtype, check_value(rtype, content[path], protocol, path)


def check_single(path: Path, registry: ObjectRegistry | None, protocol: str, name: str) -> None:
    """A single-value format addresses one resource (not a multiple one) or resource instance."""
    if path.depth < 3:
        raise ProtocolError(protocol, f"{name} carries one value, not {path}")
    definition = registry.resource(path) if registry is not None else None
    if definition is not None and definition.multiple and path.depth == 3:
        raise ProtocolError(protocol, f"{name} cannot carry the multiple resource {path}")
