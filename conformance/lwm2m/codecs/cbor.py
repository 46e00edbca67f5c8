"""CBOR (content format 60, LwM2M TS 1.1 §7.4.6 "CBOR"): one value of a single resource or a
resource instance as one CBOR data item (RFC 8949).

Integer/Unsigned as CBOR integers, Float as a CBOR float (an integer is accepted), Boolean as
true/false, String and Corelnk as text strings, Opaque as a byte string, Time as an integer
(tag 1 epoch-based time accepted), Objlnk as the text ``3:0``.
"""

from __future__ import annotations

from datetime import datetime

import cbor2

from conformance.errors import ProtocolError
from conformance.lwm2m.codecs import _values
from conformance.lwm2m.codecs.senml_cbor import load_cbor
from conformance.lwm2m.model import Content, ObjLink, Path, ResourceType, Value
from conformance.lwm2m.objects import ObjectRegistry

PROTOCOL = "lwm2m-cbor"


def encode(path: Path, content: Content, registry: ObjectRegistry) -> bytes:
    _, value = _values.single_value(path, content, registry, PROTOCOL, "CBOR")
    item: object = f"{value.object_id}:{value.instance_id}" if isinstance(value, ObjLink) else value
    return bytes(cbor2.dumps(item))


def decode(path: Path, payload: bytes, registry: ObjectRegistry) -> Content:
    _values.check_single(path, registry, PROTOCOL, "CBOR")
    item = load_cbor(payload, PROTOCOL)
    rtype = _values.resource_type(registry, path)
    if rtype is None:
        try:
            rtype = _values.infer_type(item)
        except TypeError as exc:
            raise ProtocolError(PROTOCOL, str(exc), where="payload") from None
    return {path: _typed(rtype, item)}


def _typed(rtype: ResourceType, item: object) -> Value:
    if rtype is ResourceType.TIME and isinstance(item, datetime):  # cbor2 decodes tag 1 so
        item = int(item.timestamp())
    if rtype is ResourceType.FLOAT and isinstance(item, int) and not isinstance(item, bool):
        item = float(item)
    if rtype is ResourceType.OBJLNK:
        if not isinstance(item, str):
            raise ProtocolError(PROTOCOL, f"{type(item).__name__} for an Objlnk resource")
        return _values.objlnk_from_text(item, PROTOCOL, "payload")
    try:
        return _values.check_value(rtype, item, PROTOCOL, Path(0))
    except ProtocolError as exc:
        raise ProtocolError(PROTOCOL, exc.message, where="payload") from None
