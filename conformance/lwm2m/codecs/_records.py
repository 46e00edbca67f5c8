"""Name/value records, the common shape of SenML JSON, SenML CBOR and the LwM2M 1.0 JSON format.

Each format reads its own syntax into :class:`Record` (full name = base name + name, value
kind, value, time) and leaves typing and path rules to :func:`to_content`; encoders get the
records from :func:`from_content` and only spell them.

Value kinds use SenML's labels: ``v`` number, ``vs`` string, ``vb`` boolean, ``vd`` data
(opaque), ``vlo`` object link (LwM2M 1.1 §7.4.5).
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass

from conformance.errors import ProtocolError
from conformance.lwm2m.codecs import _values
from conformance.lwm2m.model import Content, ObjLink, Path, ResourceType, Value
from conformance.lwm2m.objects import ObjectRegistry

KIND_OF_TYPE = {
    ResourceType.STRING: "vs",
    ResourceType.CORELNK: "vs",
    ResourceType.INTEGER: "v",
    ResourceType.UNSIGNED: "v",
    ResourceType.TIME: "v",
    ResourceType.FLOAT: "v",
    ResourceType.BOOLEAN: "vb",
    ResourceType.OPAQUE: "vd",
    ResourceType.OBJLNK: "vlo",
}


@dataclass(frozen=True)
class Record:
    name: str
    kind: str
    value: object
    time: float
    where: str  # "record 3", for messages


def base_name(path: Path, content: Content, registry: ObjectRegistry) -> str:
    """The base name encoders put on the first record: the path, with a slash when names follow."""
    if path.depth == 4 or (path.depth == 3 and not _values.is_multiple(registry, path, content)):
        return str(path)
    return f"{path}/"


def from_content(path: Path, content: Content, registry: ObjectRegistry,
                 protocol: str) -> tuple[str, list[tuple[str, str, Value]]]:
    """(base name, [(name relative to it, kind, checked value)]) for ``content`` at ``path``.

    Empty instances have no record form and are left out.
    """
    base = base_name(path, content, registry)
    rows: list[tuple[str, str, Value]] = []
    for key, value in _values.entries_under(path, content, protocol):
        if key.depth < 3:
            continue
        definition = registry.resource(key)
        if definition is not None and definition.multiple != (key.resource_instance_id is not None):
            what = "multiple" if definition.multiple else "single"
            raise ProtocolError(protocol, f"{key} does not address the {what} resource's value")
        rtype = definition.type if definition is not None else None
        checked = _values.check_value(rtype, value, protocol, key)
        kind = KIND_OF_TYPE[rtype or _values.infer_type(checked)]
        if kind == "v" and isinstance(checked, float) and not math.isfinite(checked):
            raise ProtocolError(protocol, f"{checked} has no JSON/SenML number form",
                                where=str(key))
        rows.append((str(key)[len(base):], kind, checked))
    return base, rows


def to_content(records: list[Record], path: Path, registry: ObjectRegistry, protocol: str,
               *, opaque_in_strings: bool = False) -> Content:
    """Typed content from records; the latest record wins when a path repeats with times.

    ``opaque_in_strings``: the LwM2M 1.0 JSON format carries Opaque values base64 in ``sv``.
    """
    content: Content = {}
    times: dict[Path, float] = {}
    for record in records:
        try:
            key = Path.parse(record.name)
        except ProtocolError:
            raise ProtocolError(protocol, f"name {record.name[:60]!r} is not an LwM2M path",
                                where=record.where) from None
        _values.check_in(path, key, protocol, record.where)
        if key.depth < 3:
            raise ProtocolError(protocol, f"{key} names no resource", where=record.where)
        definition = registry.resource(key)
        if definition is not None and definition.multiple != (key.resource_instance_id is not None):
            what = "a multiple" if definition.multiple else "a single"
            raise ProtocolError(protocol, f"{key} does not fit {what} resource",
                                where=record.where)
        rtype = definition.type if definition is not None else None
        value = _typed(rtype, record, protocol, opaque_in_strings)
        if key in times and record.time == times[key]:
            raise ProtocolError(protocol, f"{key} appears twice", where=record.where)
        if key in times and record.time < times[key]:
            continue  # an older value of a time series
        times[key] = record.time
        content[key] = value
    return content


def _typed(rtype: ResourceType | None, record: Record, protocol: str,
           opaque_in_strings: bool) -> Value:
    kind, raw, where = record.kind, record.value, record.where
    if rtype is None:
        expected = kind
    elif rtype is ResourceType.OPAQUE and opaque_in_strings:
        expected = "vs"
    elif rtype is ResourceType.NONE:
        raise ProtocolError(protocol, "an executable resource carries no value", where=where)
    else:
        expected = KIND_OF_TYPE[rtype]
    if kind != expected:
        raise ProtocolError(protocol, f"{kind} value for a {rtype.value if rtype else '?'} "
                            "resource", where=where)
    if kind == "v":
        return _number(rtype, raw, protocol, where)
    if kind == "vs":
        if not isinstance(raw, str):
            raise ProtocolError(protocol, "string value is not a string", where=where)
        if rtype is ResourceType.OPAQUE:
            return _base64(raw, protocol, where, urlsafe=False)
        return raw
    if kind == "vb":
        if not isinstance(raw, bool):
            raise ProtocolError(protocol, "boolean value is not true/false", where=where)
        return raw
    if kind == "vd":
        if not isinstance(raw, bytes):
            raise ProtocolError(protocol, "data value is not bytes", where=where)
        return raw
    if not isinstance(raw, str):
        raise ProtocolError(protocol, "object link is not a string", where=where)
    return _values.objlnk_from_text(raw, protocol, where)


def _number(rtype: ResourceType | None, raw: object, protocol: str, where: str) -> Value:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ProtocolError(protocol, "numeric value is not a number", where=where)
    if isinstance(raw, float) and not math.isfinite(raw):
        raise ProtocolError(protocol, f"{raw} is not a finite number", where=where)
    if rtype is ResourceType.FLOAT:
        if isinstance(raw, int) and abs(raw) > 2**1023:
            raise ProtocolError(protocol, "number out of double range", where=where)
        return float(raw)
    if rtype is None:
        if isinstance(raw, int) and not _values.INT64_MIN <= raw <= _values.UINT64_MAX:
            raise ProtocolError(protocol, f"integer {raw} beyond 64 bits", where=where)
        return raw
    if isinstance(raw, float):
        if not raw.is_integer():
            raise ProtocolError(protocol, f"{raw} is not an integer", where=where)
        raw = int(raw)
    low = 0 if rtype is ResourceType.UNSIGNED else _values.INT64_MIN
    high = _values.UINT64_MAX if rtype is ResourceType.UNSIGNED else _values.INT64_MAX
    if not low <= raw <= high:
        raise ProtocolError(protocol, f"{rtype.value} {raw} out of range", where=where)
    return raw


def _base64(text: str, protocol: str, where: str, *, urlsafe: bool) -> bytes:
    # Strict alphabet check (validate=True); padding optional, as SenML omits it.
    if urlsafe:
        text = text.translate(_URLSAFE)
    try:
        return base64.b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4),
                                validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(protocol, "invalid base64", where=where) from None


def base64_decode(text: str, protocol: str, where: str, *, urlsafe: bool) -> bytes:
    return _base64(text, protocol, where, urlsafe=urlsafe)


_URLSAFE = str.maketrans("-_", "+/")


def objlnk_text(value: ObjLink) -> str:
    return f"{value.object_id}:{value.instance_id}"
