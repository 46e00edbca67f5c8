"""Composite payloads (LwM2M 1.1 §5.4.3 Read-Composite, §5.4.4 Write-Composite, §5.5.1
Observe-Composite, §6.4.6 Send): SenML JSON (110) or SenML CBOR (112) records naming *full*
paths of different objects in one pack.

- a request's path list: records with a name and no value (``[{"n":"/3/0/0"},{"n":"/1/0"}]``);
  ``"/"`` is the root (``None`` here); at least one and at most MAX_PATHS;
- a content pack: records with full names and values, in any object (a Read-Composite answer,
  a Write-Composite body, a composite notification, a Send).

Only the two SenML formats carry composites (TS 1.1 §7.4); any other number is ProtocolError
(4.15 / 4.06 for the callers). Everything a peer sends is bounded like the other codecs.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

import cbor2

from conformance.errors import ProtocolError
from conformance.lwm2m.codecs import _records, _values, senml_cbor, senml_json
from conformance.lwm2m.codecs.lwm2m_json import load_json
from conformance.lwm2m.model import Content, ContentFormat, ObjLink, Path
from conformance.lwm2m.objects import ObjectRegistry

PROTOCOL = "lwm2m-composite"
FORMATS = (ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR)
ROOT = "/"
MAX_PATHS = 64  # paths one composite request may name


def _format(fmt: ContentFormat | int) -> ContentFormat:
    if int(fmt) not in (int(f) for f in FORMATS):
        raise ProtocolError(PROTOCOL, f"content format {int(fmt)} carries no composite "
                            "(SenML JSON 110 or SenML CBOR 112 only)", where="Content-Format")
    return ContentFormat(int(fmt))


def _dump(fmt: ContentFormat, records: list[dict[str, object]]) -> bytes:
    if fmt is ContentFormat.SENML_JSON:
        return json.dumps(records, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    labels = senml_cbor.LABELS
    return bytes(cbor2.dumps([{labels[k]: v for k, v in r.items()} for r in records]))


def _load(fmt: ContentFormat, payload: bytes) -> list[dict[str, object]]:
    """The pack as maps keyed by SenML text labels (unknown labels dropped)."""
    if fmt is ContentFormat.SENML_JSON:
        pack = load_json(payload, senml_json.PROTOCOL)
        labels: dict[object, str] = {k: k for k in senml_cbor.LABELS}
    else:
        pack = senml_cbor.load_cbor(payload, senml_cbor.PROTOCOL)
        labels = {v: k for k, v in senml_cbor.LABELS.items()}
    if not isinstance(pack, list):
        raise ProtocolError(PROTOCOL, "a SenML pack is an array of records")
    if len(pack) > _values.MAX_ITEMS:
        raise ProtocolError(PROTOCOL, f"{len(pack)} records, more than {_values.MAX_ITEMS}")
    out = []
    for index, raw in enumerate(pack):
        if not isinstance(raw, dict):
            raise ProtocolError(PROTOCOL, "record is not a map", where=f"record {index}")
        out.append({labels[k]: v for k, v in raw.items()
                    if type(k) in (int, str) and k in labels})
    return out


# --------------------------------------------------------------------------- path lists


def encode_paths(fmt: ContentFormat | int, paths: Sequence[Path | None]) -> bytes:
    """A Read-/Observe-Composite request body: one name-only record per path (None = root)."""
    return _dump(_format(fmt), [{"n": ROOT if p is None else str(p)} for p in paths])


def decode_paths(fmt: ContentFormat | int, payload: bytes) -> list[Path | None]:
    """The paths a composite request names (``bn`` + ``n``), None for the root ``/``."""
    records = _load(_format(fmt), payload)
    if not records:
        raise ProtocolError(PROTOCOL, "a composite path list names at least one path")
    if len(records) > MAX_PATHS:
        raise ProtocolError(PROTOCOL, f"{len(records)} paths, more than {MAX_PATHS}")
    out: list[Path | None] = []
    bn = ""
    for index, record in enumerate(records):
        where = f"record {index}"
        if "bn" in record:
            if not isinstance(record["bn"], str):
                raise ProtocolError(PROTOCOL, "bn is not a string", where=where)
            bn = record["bn"]
        n = record.get("n", "")
        if not isinstance(n, str):
            raise ProtocolError(PROTOCOL, "n is not a string", where=where)
        name = bn + n
        if name in ("", ROOT):
            out.append(None)
            continue
        try:
            out.append(Path.parse(name))
        except ProtocolError:
            raise ProtocolError(PROTOCOL, f"name {name[:60]!r} is not an LwM2M path",
                                where=where) from None
    return out


# --------------------------------------------------------------------------- content packs


def encode(fmt: ContentFormat | int, content: Content, registry: ObjectRegistry) -> bytes:
    """Values of any objects as one pack with full names (empty instances have no record)."""
    known = _format(fmt)
    protocol = senml_json.PROTOCOL if known is ContentFormat.SENML_JSON else senml_cbor.PROTOCOL
    records: list[dict[str, object]] = []
    for object_id in sorted({p.object_id for p in content}):
        part = {p: v for p, v in content.items() if p.object_id == object_id}
        base, rows = _records.from_content(Path(object_id), part, registry, protocol)
        for name, kind, value in rows:
            if kind == "vd" and known is ContentFormat.SENML_JSON:
                assert isinstance(value, bytes)
                value = base64.urlsafe_b64encode(value).decode("ascii").rstrip("=")
            elif kind == "vlo":
                assert isinstance(value, ObjLink)
                value = _records.objlnk_text(value)
            records.append({"n": base + name, kind: value})
    return _dump(known, records)


def decode(fmt: ContentFormat | int, payload: bytes, registry: ObjectRegistry) -> Content:
    """A pack of full names and values, typed by the object model; the names may span objects."""
    known = _format(fmt)
    labels: dict[object, str]
    if known is ContentFormat.SENML_JSON:
        protocol, labels = senml_json.PROTOCOL, {k: k for k in senml_cbor.LABELS}
        pack = load_json(payload, protocol)
    else:
        protocol = senml_cbor.PROTOCOL
        labels = {v: k for k, v in senml_cbor.LABELS.items()}
        pack = senml_cbor.load_cbor(payload, protocol)
    records = senml_json.pack_records(pack, protocol, labels)
    content: Content = {}
    for object_id in sorted({_object_of(r, protocol) for r in records}):
        part = [r for r in records if _object_of(r, protocol) == object_id]
        decoded = _records.to_content(part, Path(object_id), registry, protocol)
        content.update(decoded)
    return content


def _object_of(record: _records.Record, protocol: str) -> int:
    try:
        return Path.parse(record.name).object_id
    except ProtocolError:
        raise ProtocolError(protocol, f"name {record.name[:60]!r} is not an LwM2M path",
                            where=record.where) from None


def describe_paths(content: Content) -> str:
    """The paths of ``content``, comma-separated (transcript notes)."""
    return ", ".join(_values.paths_of(content))
