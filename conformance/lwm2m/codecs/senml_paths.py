"""SenML packs that span several objects (LwM2M 1.1 composite operations and Send, TS 1.1
§6.3.2.1, §6.4.6, §7.4.5-7.4.6): a pack of full names, and a pack of values under any paths.

- A path list (the body of a FETCH Observe-Composite / Read-Composite): records with a name
  only, ``[{"n":"/3/0/0"},{"n":"/1/0/1"}]`` (CBOR: label 0 for ``n``).
- Values under several objects (their answers, a Send): each object's records are encoded as
  the single-path codecs do, packs joined (a record's ``bn`` holds until the next ``bn``).
Pure: bytes in, paths or Content out, ProtocolError for anything malformed.
"""

from __future__ import annotations

import json

import cbor2

from conformance.errors import ProtocolError
from conformance.lwm2m.codecs import _records, _values, senml_cbor, senml_json
from conformance.lwm2m.model import Content, ContentFormat, Path
from conformance.lwm2m.objects import ObjectRegistry

SENML = (ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR)
MAX_PATHS = 64  # paths a composite request may name


def _check(fmt: int) -> ContentFormat:
    if fmt not in SENML:
        raise ProtocolError("lwm2m", f"content format {fmt} carries no composite pack",
                            where="Content-Format")
    return ContentFormat(fmt)


def _records_of(fmt: ContentFormat, payload: bytes) -> list[_records.Record]:
    if fmt is ContentFormat.SENML_JSON:
        pack = senml_json.load_json(payload, senml_json.PROTOCOL)
        return senml_json.pack_records(pack, senml_json.PROTOCOL, senml_json._JSON_LABELS)
    pack = senml_cbor.load_cbor(payload, senml_cbor.PROTOCOL)
    return senml_json.pack_records(pack, senml_cbor.PROTOCOL, senml_cbor._BY_LABEL)


def encode_paths(fmt: int, paths: list[Path]) -> bytes:
    """The path list of a composite request."""
    if _check(fmt) is ContentFormat.SENML_JSON:
        return json.dumps([{"n": str(p)} for p in paths], separators=(",", ":")).encode()
    return bytes(cbor2.dumps([{senml_cbor.LABELS["n"]: str(p)} for p in paths]))


def decode_paths(fmt: int, payload: bytes) -> list[Path]:
    """The paths a composite request names: records of a name (``bn`` + ``n``), no value."""
    known = _check(fmt)
    if known is ContentFormat.SENML_JSON:
        protocol, pack = senml_json.PROTOCOL, senml_json.load_json(payload, senml_json.PROTOCOL)
        n_key, bn_key = "n", "bn"
    else:
        protocol, pack = senml_cbor.PROTOCOL, senml_cbor.load_cbor(payload, senml_cbor.PROTOCOL)
        n_key, bn_key = senml_cbor.LABELS["n"], senml_cbor.LABELS["bn"]  # type: ignore[assignment]
    if not isinstance(pack, list) or not pack:
        raise ProtocolError(protocol, "a composite path list is a non-empty array of records")
    if len(pack) > MAX_PATHS:
        raise ProtocolError(protocol, f"{len(pack)} paths, more than {MAX_PATHS}")
    out: list[Path] = []
    base = ""
    for index, record in enumerate(pack):
        where = f"record {index}"
        if not isinstance(record, dict):
            raise ProtocolError(protocol, "record is not a map", where=where)
        bn, n = record.get(bn_key, base), record.get(n_key, "")
        if not isinstance(bn, str) or not isinstance(n, str):
            raise ProtocolError(protocol, "bn/n is not a string", where=where)
        base = bn
        try:
            out.append(Path.parse(bn + n))
        except ProtocolError:
            raise ProtocolError(protocol, f"{(bn + n)[:60]!r} is not an LwM2M path",
                                where=where) from None
    return out


def encode_content(fmt: int, content: Content, registry: ObjectRegistry) -> bytes:
    """Values under any objects as one pack (per object, as the single-path codec does)."""
    known = _check(fmt)
    by_object: dict[int, Content] = {}
    for path, value in content.items():
        by_object.setdefault(path.object_id, {})[path] = value
    packs: list[object] = []
    for oid in sorted(by_object):
        if known is ContentFormat.SENML_JSON:
            packs.extend(json.loads(senml_json.encode(Path(oid), by_object[oid], registry)))
        else:
            packs.extend(cbor2.loads(senml_cbor.encode(Path(oid), by_object[oid], registry)))
    if known is ContentFormat.SENML_JSON:
        return json.dumps(packs, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return bytes(cbor2.dumps(packs))


def decode_content(fmt: int, payload: bytes, registry: ObjectRegistry) -> Content:
    """A pack of values under any objects (a Send, a composite answer or notification)."""
    known = _check(fmt)
    protocol = senml_json.PROTOCOL if known is ContentFormat.SENML_JSON else senml_cbor.PROTOCOL
    by_object: dict[int, list[_records.Record]] = {}
    for record in _records_of(known, payload):
        try:
            oid = Path.parse(record.name).object_id
        except ProtocolError:
            raise ProtocolError(protocol, f"name {record.name[:60]!r} is not an LwM2M path",
                                where=record.where) from None
        by_object.setdefault(oid, []).append(record)
    content: Content = {}
    for oid, records in by_object.items():
        content.update(_records.to_content(records, Path(oid), registry, protocol))
    return content


def describe_paths(content: Content) -> str:
    return ", ".join(_values.paths_of(content))
