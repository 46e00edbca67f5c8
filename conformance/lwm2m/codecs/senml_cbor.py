"""SenML CBOR (content format 112, RFC 8428 §6 as profiled by LwM2M 1.1 §7.4.6).

The JSON records with integer labels: bn -2, bt -3, n 0, v 2, vs 3, vb 4, t 6, vd 8 (a byte
string), and the LwM2M object link under the text label ``vlo``.
"""

from __future__ import annotations

import cbor2

from conformance.errors import ProtocolError
from conformance.lwm2m.codecs import _records
from conformance.lwm2m.codecs.senml_json import pack_records
from conformance.lwm2m.model import Content, ObjLink, Path
from conformance.lwm2m.objects import ObjectRegistry

PROTOCOL = "senml-cbor"

LABELS: dict[str, int | str] = {
    "bver": -1, "bn": -2, "bt": -3, "bv": -5,
    "n": 0, "v": 2, "vs": 3, "vb": 4, "t": 6, "vd": 8, "vlo": "vlo",
}
_BY_LABEL: dict[object, str] = {v: k for k, v in LABELS.items()}


def encode(path: Path, content: Content, registry: ObjectRegistry) -> bytes:
    base, rows = _records.from_content(path, content, registry, PROTOCOL)
    out: list[dict[int | str, object]] = []
    for name, kind, value in rows:
        record: dict[int | str, object] = {LABELS["bn"]: base} if not out else {}
        if name:
            record[LABELS["n"]] = name
        if kind == "vlo":
            assert isinstance(value, ObjLink)
            value = _records.objlnk_text(value)
        record[LABELS[kind]] = value
        out.append(record)
    return bytes(cbor2.dumps(out))


def load_cbor(payload: bytes, protocol: str) -> object:
    """cbor2.loads reporting every failure as ProtocolError (cbor2 raises many kinds)."""
    try:
        return cbor2.loads(payload)
    except Exception as exc:  # CBORDecodeError, ValueError, RecursionError, MemoryError, …
        raise ProtocolError(protocol, f"invalid CBOR: {type(exc).__name__}: {exc}"[:200],
                            data=payload) from None


def decode(path: Path, payload: bytes, registry: ObjectRegistry) -> Content:
    pack = load_cbor(payload, PROTOCOL)
    if isinstance(pack, list):
        for index, record in enumerate(pack):
            if isinstance(record, dict) and isinstance(record.get(LABELS["vd"]), str):
                raise ProtocolError(PROTOCOL, "vd is a text string, not a byte string",
                                    where=f"record {index}")
    return _records.to_content(pack_records(pack, PROTOCOL, _BY_LABEL), path, registry, PROTOCOL)
