"""SenML JSON (content format 110, RFC 8428 as profiled by LwM2M 1.1 §7.4.5).

``[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},{"n":"6/0","v":1}]``: ``bn``/``bt``
apply to the records that follow until redefined; name = bn + n; ``vd`` is base64url without
padding, ``vlo`` an object link ``3:0``.
"""

from __future__ import annotations

import base64
import json

from conformance.errors import ProtocolError
from conformance.lwm2m.codecs import _records, _values
from conformance.lwm2m.codecs.lwm2m_json import load_json
from conformance.lwm2m.model import Content, ObjLink, Path
from conformance.lwm2m.objects import ObjectRegistry

PROTOCOL = "senml-json"
VALUE_KINDS = ("v", "vs", "vb", "vd", "vlo")
SENML_VERSION = 10  # RFC 8428 §4.4: a pack with a higher bver must be refused


def encode(path: Path, content: Content, registry: ObjectRegistry) -> bytes:
    base, rows = _records.from_content(path, content, registry, PROTOCOL)
    out: list[dict[str, object]] = []
    for name, kind, value in rows:
        record: dict[str, object] = {"bn": base} if not out else {}
        if name:
            record["n"] = name
        if kind == "vd":
            assert isinstance(value, bytes)
            record["vd"] = base64.urlsafe_b64encode(value).decode("ascii").rstrip("=")
        elif kind == "vlo":
            assert isinstance(value, ObjLink)
            record["vlo"] = _records.objlnk_text(value)
        else:
            record[kind] = value
        out.append(record)
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def pack_records(pack: object, protocol: str, labels: dict[object, str]) -> list[_records.Record]:
    """Resolve a SenML pack (list of maps, keys mapped to text labels by ``labels``)."""
    if not isinstance(pack, list):
        raise ProtocolError(protocol, "a SenML pack is an array of records")
    if len(pack) > _values.MAX_ITEMS:
        raise ProtocolError(protocol, f"{len(pack)} records, more than {_values.MAX_ITEMS}")
    out: list[_records.Record] = []
    bn, bt, bv = "", 0.0, 0.0
    for index, raw in enumerate(pack):
        where = f"record {index}"
        if not isinstance(raw, dict):
            raise ProtocolError(protocol, "record is not a map", where=where)
        record: dict[str, object] = {}
        for key, value in raw.items():
            # exact int/str only: CBOR keys false/2.0 must not alias labels 0/2
            label = labels.get(key) if type(key) in (int, str) else None
            if label is None:
                if isinstance(key, str) and key.endswith("_"):  # RFC 8428 §4.4 must-understand
                    raise ProtocolError(protocol, f"unsupported field {key!r}", where=where)
                continue
            record[label] = value
        if "bn" in record:
            if not isinstance(record["bn"], str):
                raise ProtocolError(protocol, "bn is not a string", where=where)
            bn = record["bn"]
        if "bt" in record:
            bt = _number(record["bt"], "bt", protocol, where)
        if "bv" in record:  # base value, added to every numeric value (RFC 8428 §4.1)
            bv = _number(record["bv"], "bv", protocol, where)
        if "bver" in record and (
            isinstance(record["bver"], bool) or not isinstance(record["bver"], int)
            or record["bver"] > SENML_VERSION
        ):
            raise ProtocolError(protocol, f"unsupported SenML version {record['bver']!r}",
                                where=where)
        n = record.get("n", "")
        if not isinstance(n, str):
            raise ProtocolError(protocol, "n is not a string", where=where)
        present = [k for k in VALUE_KINDS if k in record]
        if len(present) != 1:
            raise ProtocolError(protocol, f"record has {len(present)} values (one of v, vs, vb, "
                                "vd, vlo required)", where=where)
        kind = present[0]
        value = record[kind]
        if kind == "vd" and isinstance(value, str):  # JSON spells data as base64url
            value = _records.base64_decode(value, protocol, where, urlsafe=True)
        if kind == "v" and bv and isinstance(value, int | float) and not isinstance(value, bool):
            try:  # keep integers integral when the base value is
                value = value + (int(bv) if bv.is_integer() and isinstance(value, int) else bv)
            except OverflowError:
                raise ProtocolError(protocol, "value + bv out of range", where=where) from None
        t = _number(record.get("t", 0), "t", protocol, where)
        out.append(_records.Record(bn + n, kind, value, bt + t, where))
    return out


def _number(raw: object, key: str, protocol: str, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ProtocolError(protocol, f"{key} is not a number", where=where)
    try:
        return float(raw)
    except OverflowError:
        raise ProtocolError(protocol, f"{key} out of range", where=where) from None


_JSON_LABELS: dict[object, str] = {
    k: k for k in ("bn", "bt", "bv", "bver", "n", "t", *VALUE_KINDS)
}


def decode(path: Path, payload: bytes, registry: ObjectRegistry) -> Content:
    pack = load_json(payload, PROTOCOL)
    return _records.to_content(pack_records(pack, PROTOCOL, _JSON_LABELS), path, registry,
                               PROTOCOL)
