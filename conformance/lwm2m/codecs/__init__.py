"""LwM2M content-format codecs (pure): bytes <-> flat :data:`Content`, typed by the object model.

Other parts call :func:`encode`, :func:`decode`, :func:`supports` and :func:`describe`. An
unknown content format raises ``ProtocolError("lwm2m-content", "unsupported content format
N")`` so the server can answer 4.15; every other bad payload raises the format's own
ProtocolError with where= the byte/char offset or record.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from conformance.errors import ProtocolError
from conformance.lwm2m.codecs import (
    _values,
    cbor,
    lwm2m_json,
    opaque,
    senml_cbor,
    senml_json,
    text,
    tlv,
)
from conformance.lwm2m.codecs.linkformat import (
    Link,
    discover_links,
    format_links,
    object_links,
    parse_links,
)
from conformance.lwm2m.model import Content, ContentFormat, Path, ResourceType
from conformance.lwm2m.objects import ObjectRegistry

__all__ = [
    "Link",
    "decode",
    "describe",
    "discover_links",
    "encode",
    "format_links",
    "object_links",
    "parse_links",
    "supports",
]

PROTOCOL = "lwm2m-content"

Encoder = Callable[[Path, Content, ObjectRegistry], bytes]
Decoder = Callable[[Path, bytes, ObjectRegistry], Content]

_CODECS: dict[ContentFormat, tuple[Encoder, Decoder]] = {
    ContentFormat.TEXT: (text.encode, text.decode),
    ContentFormat.CBOR: (cbor.encode, cbor.decode),
    ContentFormat.OPAQUE: (opaque.encode, opaque.decode),
    ContentFormat.TLV: (tlv.encode, tlv.decode),
    ContentFormat.LWM2M_JSON: (lwm2m_json.encode, lwm2m_json.decode),
    ContentFormat.SENML_JSON: (senml_json.encode, senml_json.decode),
    ContentFormat.SENML_CBOR: (senml_cbor.encode, senml_cbor.decode),
}


def content_format(fmt: ContentFormat | int) -> ContentFormat:
    """The format for a number, or ProtocolError (4.15) when the suite has no codec for it."""
    try:
        known = ContentFormat(fmt)
    except ValueError:
        raise ProtocolError(PROTOCOL, f"unsupported content format {int(fmt)}",
                            where="Content-Format") from None
    if known not in _CODECS:
        raise ProtocolError(PROTOCOL, f"unsupported content format {int(fmt)}",
                            where="Content-Format")
    return known


def encode(fmt: ContentFormat | int, path: Path, content: Content,
           registry: ObjectRegistry) -> bytes:
    """Encode ``content`` (paths at or below ``path``) as the payload for ``path``."""
    return _CODECS[content_format(fmt)][0](path, content, registry)


def decode(fmt: ContentFormat | int, path: Path, payload: bytes,
           registry: ObjectRegistry) -> Content:
    """Decode a payload addressed to ``path``; raises only ProtocolError."""
    return _CODECS[content_format(fmt)][1](path, bytes(payload), registry)


def supports(fmt: ContentFormat | int, path: Path,
             registry: ObjectRegistry | None = None) -> bool:
    """Whether ``fmt`` can carry ``path``: text/opaque/CBOR only a single value (with a
    registry, also not a multiple resource, and opaque only an Opaque resource)."""
    try:
        known = content_format(fmt)
    except ProtocolError:
        return False
    if known not in (ContentFormat.TEXT, ContentFormat.OPAQUE, ContentFormat.CBOR):
        return True
    if path.depth < 3:
        return False
    definition = registry.resource(path) if registry is not None else None
    if definition is None:
        return True
    if definition.multiple and path.depth == 3:
        return False
    is_opaque = definition.type is ResourceType.OPAQUE
    if known is ContentFormat.CBOR:
        return True  # CBOR carries every single value, Opaque as a byte string
    return is_opaque if known is ContentFormat.OPAQUE else not is_opaque


def describe(fmt: int | None, payload: bytes, path: Path | None = None,
             registry: ObjectRegistry | None = None) -> str:
    """A human-readable rendering for transcripts; never raises (falls back to hex)."""
    try:
        return _describe(fmt, bytes(payload), path, registry)
    except Exception as exc:  # a transcript line must never break the lab
        return f"<{_name(fmt)} undecodable: {exc}> {_hex(payload)}"


def _describe(fmt: int | None, payload: bytes, path: Path | None,
              registry: ObjectRegistry | None) -> str:
    if not payload:
        return "(empty)"
    if fmt == ContentFormat.LINK_FORMAT:
        return "\n".join(str(link) for link in parse_links(payload.decode("utf-8")))
    if fmt is not None and path is not None and fmt in _CODECS:
        content = decode(fmt, path, payload, registry or ObjectRegistry.builtin())
        if not content:
            return "(no values)"
        keys = sorted(content, key=_values.path_key)
        return "\n".join(f"{key} = {_show(content[key])}" for key in keys)
    if fmt == ContentFormat.TLV:
        return tlv.describe(payload)
    if fmt == ContentFormat.SENML_CBOR:
        return json.dumps(senml_cbor.load_cbor(payload, "senml-cbor"), default=_show)
    if fmt in (ContentFormat.TEXT, ContentFormat.LWM2M_JSON, ContentFormat.SENML_JSON, None):
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return _hex(payload)


def _show(value: object) -> str:
    if isinstance(value, bytes):
        return f"0x{value.hex()}" if len(value) <= 64 else f"0x{value[:64].hex()}… ({len(value)} B)"
    if value is None:
        return "(empty instance)"
    return repr(value) if isinstance(value, str) else str(value)


def _name(fmt: int | None) -> str:
    try:
        return ContentFormat(fmt).name.lower() if fmt is not None else "payload"
    except ValueError:
        return f"format {fmt}"


def _hex(payload: bytes) -> str:
    data = bytes(payload)
    shown = data[:256].hex(" ")
    return shown + (f" … ({len(data)} bytes)" if len(data) > 256 else "")
