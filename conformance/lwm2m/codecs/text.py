"""Plain text (content format 0, TS 1.1 §7.4.1): one value of a single resource or instance.

Integers and time in decimal, floats in decimal notation, booleans ``0``/``1``, object links
``3:0``, strings as UTF-8. Opaque resources have no text form in LwM2M 1.1.
"""

from __future__ import annotations

from conformance.errors import ProtocolError
from conformance.lwm2m.codecs import _values
from conformance.lwm2m.model import Content, Path
from conformance.lwm2m.objects import ObjectRegistry

PROTOCOL = "lwm2m-text"


def encode(path: Path, content: Content, registry: ObjectRegistry) -> bytes:
    rtype, value = _values.single_value(path, content, registry, PROTOCOL, "plain text")
    return _values.value_text(rtype, value, PROTOCOL, path).encode("utf-8")


def decode(path: Path, payload: bytes, registry: ObjectRegistry) -> Content:
    _values.check_single(path, registry, PROTOCOL, "plain text")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(PROTOCOL, f"not UTF-8 ({exc.reason})", where=f"byte {exc.start}",
                            data=payload) from None
    rtype = _values.resource_type(registry, path)
    return {path: _values.text_value(rtype, text, PROTOCOL, "payload")}
