"""The LwM2M 1.0 JSON format (content format 11543, OMA-TS-LightweightM2M-V1_0 §6.4.4).

``{"bn":"/3/0/","e":[{"n":"0","sv":"Open Mobile Alliance"},{"n":"6/0","v":1}]}``: names are
relative to ``bn``; values in ``v`` (number), ``sv`` (string; Opaque as base64), ``bv``
(boolean) or ``ov`` (object link ``3:0``); ``t`` a time relative to ``bt``.
"""

from __future__ import annotations

import base64
import json

from conformance.errors import ProtocolError
from conformance.lwm2m.codecs import _records, _values
from conformance.lwm2m.model import Content, ObjLink, Path
from conformance.lwm2m.objects import ObjectRegistry

PROTOCOL = "lwm2m-json"

_KEYS = {"v": "v", "vs": "sv", "vb": "bv", "vd": "sv", "vlo": "ov"}  # record kind -> JSON key
_KINDS = {"v": "v", "sv": "vs", "bv": "vb", "ov": "vlo"}


def encode(path: Path, content: Content, registry: ObjectRegistry) -> bytes:
    base, rows = _records.from_content(path, content, registry, PROTOCOL)
    entries: list[dict[str, object]] = []
    for name, kind, value in rows:
        item: dict[str, object] = {"n": name} if name else {}
        if kind == "vd":
            assert isinstance(value, bytes)
            item["sv"] = base64.b64encode(value).decode("ascii")
        elif kind == "vlo":
            assert isinstance(value, ObjLink)
            item["ov"] = _records.objlnk_text(value)
        else:
            item[_KEYS[kind]] = value
        entries.append(item)
    return json.dumps({"bn": base, "e": entries}, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def load_json(payload: bytes, protocol: str) -> object:
    """json.loads that reports every failure (and NaN/Infinity) as ProtocolError."""
    def refuse(constant: str) -> object:
        raise ValueError(f"{constant} is not JSON")

    try:
        return json.loads(payload.decode("utf-8"), parse_constant=refuse)
    except UnicodeDecodeError as exc:
        raise ProtocolError(protocol, f"not UTF-8 ({exc.reason})", where=f"byte {exc.start}",
                            data=payload) from None
    except json.JSONDecodeError as exc:
        raise ProtocolError(protocol, f"invalid JSON: {exc.msg}", where=f"char {exc.pos}",
                            data=payload) from None
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(protocol, f"invalid JSON: {exc}", data=payload) from None


def _time(item: dict[str, object], key: str, where: str) -> float:
    raw = item.get(key, 0)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ProtocolError(PROTOCOL, f"{key} is not a number", where=where)
    return float(raw)


def records(payload: bytes, path: Path) -> list[_records.Record]:
    doc = load_json(payload, PROTOCOL)
    if not isinstance(doc, dict):
        raise ProtocolError(PROTOCOL, "top level is not an object")
    entries = doc.get("e")
    if not isinstance(entries, list):
        raise ProtocolError(PROTOCOL, "no \"e\" array", where="e")
    if len(entries) > _values.MAX_ITEMS:
        raise ProtocolError(PROTOCOL, f"{len(entries)} entries, more than {_values.MAX_ITEMS}",
                            where="e")
    bn = doc.get("bn", "")
    if not isinstance(bn, str):
        raise ProtocolError(PROTOCOL, "bn is not a string", where="bn")
    bt = _time(doc, "bt", "bt")
    out: list[_records.Record] = []
    for index, item in enumerate(entries):
        where = f"e[{index}]"
        if not isinstance(item, dict):
            raise ProtocolError(PROTOCOL, "entry is not an object", where=where)
        n = item.get("n", "")
        if not isinstance(n, str):
            raise ProtocolError(PROTOCOL, "n is not a string", where=where)
        present = [k for k in _KINDS if k in item]
        if len(present) != 1:
            raise ProtocolError(PROTOCOL, f"entry has {len(present)} values (one of v, sv, bv, "
                                "ov required)", where=where)
        name = bn + n or str(path)
        if not name.startswith("/"):
            name = "/" + name  # seen in the wild: "bn":"1024/0/"
        out.append(_records.Record(name, _KINDS[present[0]], item[present[0]],
                                   bt + _time(item, "t", where), where))
    return out


def decode(path: Path, payload: bytes, registry: ObjectRegistry) -> Content:
    return _records.to_content(records(payload, path), path, registry, PROTOCOL,
                               opaque_in_strings=True)
