"""Opaque (content format 42): the bytes of one Opaque resource or resource instance."""

from __future__ import annotations

from conformance.errors import ProtocolError
from conformance.lwm2m.codecs import _values
from conformance.lwm2m.model import Content, Path, ResourceType
from conformance.lwm2m.objects import ObjectRegistry

PROTOCOL = "lwm2m-opaque"


def _check_path(path: Path, registry: ObjectRegistry) -> None:
    if path.depth < 3:
        raise ProtocolError(PROTOCOL, f"opaque carries one value, not {path}")
    definition = registry.resource(path)
    if definition is None:
        return
    if definition.multiple and path.depth == 3:
        raise ProtocolError(PROTOCOL, f"opaque cannot carry the multiple resource {path}")
    if definition.type is not ResourceType.OPAQUE:
        raise ProtocolError(PROTOCOL, f"{path} is {definition.type.value}, not Opaque")


def encode(path: Path, content: Content, registry: ObjectRegistry) -> bytes:
    _check_path(path, registry)
    if set(content) != {path}:
        raise ProtocolError(PROTOCOL, f"opaque carries exactly {path}, got "
                            f"{_values.paths_of(content)}")
    value = _values.check_value(ResourceType.OPAQUE, content[path], PROTOCOL, path)
    assert isinstance(value, bytes)
    return value


def decode(path: Path, payload: bytes, registry: ObjectRegistry) -> Content:
    _check_path(path, registry)
    return {path: bytes(payload)}
