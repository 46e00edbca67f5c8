"""OMA LwM2M TLV (content format 11542, OMA-TS-LightweightM2M_Core-V1_1 §7.4.3).

Type byte: bits 7-6 what the entry is (00 object instance, 01 resource instance, 10 multiple
resource, 11 resource with value), bit 5 identifier length (0: 8 bits, 1: 16 bits), bits 4-3
length type (0: length in bits 2-0; 1/2/3: an 8/16/24-bit length field follows the id).
Integers are signed big-endian in the smallest of 1, 2, 4 or 8 bytes (202 is ``00 ca``).

Which nesting is legal depends on the path the request addressed; see :func:`decode`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from conformance.errors import ProtocolError
from conformance.lwm2m.codecs import _values
from conformance.lwm2m.model import Content, ObjLink, Path, ResourceType, Value
from conformance.lwm2m.objects import ObjectRegistry

PROTOCOL = "lwm2m-tlv"

OBJECT_INSTANCE = 0
RESOURCE_INSTANCE = 1
MULTIPLE_RESOURCE = 2
RESOURCE_VALUE = 3
KIND_NAMES = ("object instance", "resource instance", "multiple resource", "resource")

_MAX_LENGTH = 0xFFFFFF  # 24-bit length field
_INT_SIZES = {1: ">b", 2: ">h", 4: ">i", 8: ">q"}
_FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class Tlv:
    """One decoded entry: ``value`` holds the raw bytes, ``children`` the nested entries."""

    kind: int
    id: int
    offset: int  # of the type byte, for error messages
    value: bytes = b""
    children: tuple[Tlv, ...] = ()

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind]


# --- framing -----------------------------------------------------------------------------------


def header(kind: int, ident: int, length: int) -> bytes:
    """Type byte, identifier and length field of one entry."""
    if length > _MAX_LENGTH:
        raise ProtocolError(PROTOCOL, f"value of {length} bytes exceeds the 24-bit length field")
    type_byte = kind << 6
    id_bytes = bytes((ident,)) if ident <= 0xFF else ident.to_bytes(2, "big")
    if ident > 0xFF:
        type_byte |= 0x20
    if length <= 7:
        return bytes((type_byte | length,)) + id_bytes
    size = 1 if length <= 0xFF else 2 if length <= 0xFFFF else 3
    return bytes((type_byte | size << 3,)) + id_bytes + length.to_bytes(size, "big")


def entry(kind: int, ident: int, value: bytes) -> bytes:
    return header(kind, ident, len(value)) + value


def parse(
    data: bytes, start: int = 0, end: int | None = None, *, depth: int = 0,
    count: list[int] | None = None,
) -> list[Tlv]:
    """Split ``data[start:end]`` into entries, nesting into containers (00 and 10).

    At most :data:`_values.MAX_ITEMS` entries in all (``count`` carries the tally down).
    """
    end = len(data) if end is None else end
    count = [0] if count is None else count
    entries: list[Tlv] = []
    pos = start
    while pos < end:
        offset = pos
        count[0] += 1
        if count[0] > _values.MAX_ITEMS:
            raise ProtocolError(PROTOCOL, f"more than {_values.MAX_ITEMS} entries",
                                where=f"byte {offset}")
        if end - pos < 2:
            raise ProtocolError(PROTOCOL, "truncated entry header", where=f"byte {offset}",
                                data=data[pos:end])
        type_byte = data[pos]
        kind = type_byte >> 6
        id_size = 2 if type_byte & 0x20 else 1
        length_size = (type_byte >> 3) & 0x03
        head = 1 + id_size + length_size
        if end - pos < head:
            raise ProtocolError(PROTOCOL, "truncated entry header", where=f"byte {offset}",
                                data=data[pos:end])
        ident = int.from_bytes(data[pos + 1 : pos + 1 + id_size], "big")
        if length_size:
            length = int.from_bytes(data[pos + 1 + id_size : pos + head], "big")
        else:
            length = type_byte & 0x07
        vstart = pos + head
        vend = vstart + length
        if vend > end:
            raise ProtocolError(
                PROTOCOL,
                f"{KIND_NAMES[kind]} {ident} claims {length} bytes, {end - vstart} remain",
                where=f"byte {offset}", data=data[offset:offset + 16],
            )
        if kind in (OBJECT_INSTANCE, MULTIPLE_RESOURCE):
            if depth >= 2:  # object instance > multiple resource > resource instance at most
                raise ProtocolError(PROTOCOL, f"{KIND_NAMES[kind]} nested too deep",
                                    where=f"byte {offset}")
            children = tuple(parse(data, vstart, vend, depth=depth + 1, count=count))
            entries.append(Tlv(kind, ident, offset, children=children))
        else:
            entries.append(Tlv(kind, ident, offset, value=data[vstart:vend]))
        pos = vend
    return entries


# --- values ------------------------------------------------------------------------------------


def encode_int(value: int) -> bytes:
    """Signed big-endian in the smallest of 1, 2, 4, 8 bytes (TS 1.1 §7.4.3.1)."""
    for size, fmt in _INT_SIZES.items():
        if -(1 << (8 * size - 1)) <= value < (1 << (8 * size - 1)):
            return struct.pack(fmt, value)
    raise ProtocolError(PROTOCOL, f"integer {value} does not fit 64 bits")


def encode_unsigned(value: int) -> bytes:
    # Signed form while it fits, so a 1.0 client reading it as Integer sees the same number;
    # only 2**63 .. 2**64-1 need the unsigned 8-byte form.
    return encode_int(value) if value <= _values.INT64_MAX else value.to_bytes(8, "big")


def encode_float(value: float) -> bytes:
    """4 bytes when single precision holds the value exactly, else 8."""
    if abs(value) <= _FLOAT32_MAX:  # false for NaN and infinities too: they take 8 bytes
        single = struct.pack(">f", value)
        if struct.unpack(">f", single)[0] == value:
            return single
    return struct.pack(">d", value)


def encode_value(rtype: ResourceType, value: Value) -> bytes:
    if rtype in (ResourceType.STRING, ResourceType.CORELNK):
        return str(value).encode("utf-8")
    if rtype in (ResourceType.INTEGER, ResourceType.TIME, ResourceType.UNSIGNED):
        assert isinstance(value, int)  # check_value ran first
        return encode_unsigned(value) if rtype is ResourceType.UNSIGNED else encode_int(value)
    if rtype is ResourceType.FLOAT:
        assert isinstance(value, float)
        return encode_float(value)
    if rtype is ResourceType.BOOLEAN:
        return b"\x01" if value else b"\x00"
    if rtype is ResourceType.OBJLNK:
        assert isinstance(value, ObjLink)
        return struct.pack(">HH", value.object_id, value.instance_id)
    assert isinstance(value, bytes)
    return value


def decode_value(rtype: ResourceType | None, raw: bytes, where: str) -> Value:
    """Interpret an entry's bytes by the resource type; unknown resources stay bytes."""
    if rtype in (ResourceType.STRING, ResourceType.CORELNK):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(PROTOCOL, f"string is not UTF-8 ({exc.reason})",
                                where=where, data=raw) from None
    if rtype in (ResourceType.INTEGER, ResourceType.TIME, ResourceType.UNSIGNED):
        if len(raw) not in _INT_SIZES:
            raise ProtocolError(PROTOCOL, f"integer of {len(raw)} bytes (1, 2, 4 or 8 allowed)",
                                where=where, data=raw)
        if rtype is ResourceType.UNSIGNED and len(raw) == 8 and raw[0] & 0x80:
            return int.from_bytes(raw, "big")  # only the unsigned 8-byte form sets this bit
        return int.from_bytes(raw, "big", signed=True)
    if rtype is ResourceType.FLOAT:
        if len(raw) == 4:
            return float(struct.unpack(">f", raw)[0])
        if len(raw) == 8:
            return float(struct.unpack(">d", raw)[0])
        raise ProtocolError(PROTOCOL, f"float of {len(raw)} bytes (4 or 8 allowed)",
                            where=where, data=raw)
    if rtype is ResourceType.BOOLEAN:
        if raw not in (b"\x00", b"\x01"):
            raise ProtocolError(PROTOCOL, f"boolean is {raw.hex() or 'empty'}, not 00 or 01",
                                where=where, data=raw)
        return raw == b"\x01"
    if rtype is ResourceType.OBJLNK:
        if len(raw) != 4:
            raise ProtocolError(PROTOCOL, f"object link of {len(raw)} bytes (4 required)",
                                where=where, data=raw)
        obj, inst = struct.unpack(">HH", raw)
        return ObjLink(obj, inst)
    return raw  # Opaque, executable or unknown: the bytes as they came


# --- encode ------------------------------------------------------------------------------------


def encode(path: Path, content: Content, registry: ObjectRegistry) -> bytes:
    """Encode ``content`` as the answer for ``path`` (object, instance, resource or instance)."""
    entries = _values.entries_under(path, content, PROTOCOL)
    if path.depth == 4:
        if len(entries) != 1 or entries[0][0] != path:
            raise ProtocolError(PROTOCOL, f"a resource instance read needs exactly {path}")
        return _resource_instance(path, entries[0][1], registry)
    if path.depth == 3:
        if not entries and not _values.is_multiple(registry, path, content):
            raise ProtocolError(PROTOCOL, f"no value for {path}")
        return _resource(path, entries, registry)
    if path.depth == 2:
        return _instance_body(entries, registry)
    by_instance: dict[Path, list[tuple[Path, Value | None]]] = {}
    for key, value in entries:  # entries are sorted, so groups come out in order
        by_instance.setdefault(Path(key.object_id, key.instance_id), []).append((key, value))
    out = bytearray()
    for instance, below in by_instance.items():
        body = _instance_body(below, registry)
        assert instance.instance_id is not None
        out += entry(OBJECT_INSTANCE, instance.instance_id, body)
    return bytes(out)


def _instance_body(entries: list[tuple[Path, Value | None]], registry: ObjectRegistry) -> bytes:
    by_resource: dict[Path, list[tuple[Path, Value | None]]] = {}
    for key, value in entries:
        if key.resource_id is not None:
            by_resource.setdefault(key.resource_path, []).append((key, value))
    return b"".join(_resource(resource, below, registry) for resource, below in by_resource.items())


def _resource(resource: Path, entries: list[tuple[Path, Value | None]],
              registry: ObjectRegistry) -> bytes:
    assert resource.resource_id is not None
    if _values.is_multiple(registry, resource, dict(entries)):
        body = b"".join(_resource_instance(p, v, registry) for p, v in entries
                        if p.resource_instance_id is not None)
        if any(p.resource_instance_id is None for p, _ in entries):
            raise ProtocolError(PROTOCOL, "a multiple resource needs instance paths",
                                where=str(resource))
        return entry(MULTIPLE_RESOURCE, resource.resource_id, body)
    if len(entries) != 1 or entries[0][0] != resource:
        raise ProtocolError(PROTOCOL, "a single resource has exactly one value",
                            where=str(resource))
    value = entries[0][1]
    rtype = _values.resource_type(registry, resource)
    checked = _values.check_value(rtype, value, PROTOCOL, resource)
    return entry(RESOURCE_VALUE, resource.resource_id,
                 encode_value(rtype or _values.infer_type(checked), checked))


def _resource_instance(path: Path, value: Value | None, registry: ObjectRegistry) -> bytes:
    assert path.resource_instance_id is not None
    rtype = _values.resource_type(registry, path)
    checked = _values.check_value(rtype, value, PROTOCOL, path)
    return entry(RESOURCE_INSTANCE, path.resource_instance_id,
                 encode_value(rtype or _values.infer_type(checked), checked))


# --- decode ------------------------------------------------------------------------------------


def decode(path: Path, payload: bytes, registry: ObjectRegistry) -> Content:
    """Decode a TLV payload addressed to ``path``.

    Accepted shapes: for an object, object-instance entries; for an instance, its resources
    (or one object-instance entry with the same id, as Leshan also accepts); for a resource,
    a resource entry (single) or a multiple-resource entry or bare resource-instance entries
    (multiple); for a resource instance, one resource-instance entry. Ids must match the path.
    """
    entries = parse(payload)
    content: Content = {}
    if path.depth == 1:
        seen: set[int] = set()
        for tlv in entries:
            _expect(tlv, (OBJECT_INSTANCE,), path)
            if tlv.id in seen:
                raise ProtocolError(PROTOCOL, f"object instance {tlv.id} appears twice",
                                    where=f"byte {tlv.offset}")
            seen.add(tlv.id)
            instance = Path(path.object_id, tlv.id)
            _instance(instance, tlv.children, registry, content, tlv.offset)
        return content
    instance = Path(path.object_id, path.instance_id)
    if len(entries) == 1 and entries[0].kind == OBJECT_INSTANCE and path.depth <= 3:
        wrapper = entries[0]
        if wrapper.id != path.instance_id:
            raise ProtocolError(PROTOCOL, f"object instance {wrapper.id} where {instance} was "
                                "addressed", where=f"byte {wrapper.offset}")
        entries = list(wrapper.children)
    if path.depth == 2:
        _instance(instance, entries, registry, content, 0)
        return content
    if path.depth == 3:
        multiple = _is_multiple(registry, path, entries)
        if multiple and all(t.kind == RESOURCE_INSTANCE for t in entries):
            _instances_of(path, entries, registry, content)  # bare instances (or none)
            return content
        if len(entries) != 1:
            raise ProtocolError(PROTOCOL, f"{len(entries)} entries for the single resource "
                                f"{path}", where="byte 0")
        tlv = entries[0]
        _expect(tlv, (RESOURCE_VALUE, MULTIPLE_RESOURCE), path)
        _same_id(tlv, path.resource_id, path)
        _resource_entry(path, tlv, registry, content)
        return content
    if len(entries) != 1:
        raise ProtocolError(PROTOCOL, f"{len(entries)} entries for the resource instance {path}",
                            where="byte 0")
    tlv = entries[0]
    _expect(tlv, (RESOURCE_INSTANCE,), path)
    _same_id(tlv, path.resource_instance_id, path)
    where = f"byte {tlv.offset}"
    content[path] = decode_value(_values.resource_type(registry, path), tlv.value, where)
    return content


def _instance(instance: Path, entries: list[Tlv] | tuple[Tlv, ...], registry: ObjectRegistry,
              content: Content, offset: int) -> None:
    if instance in content:
        raise ProtocolError(PROTOCOL, f"{instance} appears twice", where=f"byte {offset}")
    if not entries:
        content[instance] = None  # an empty instance
        return
    seen: set[int] = set()
    for tlv in entries:
        _expect(tlv, (RESOURCE_VALUE, MULTIPLE_RESOURCE), instance)
        if tlv.id in seen:
            raise ProtocolError(PROTOCOL, f"resource {tlv.id} appears twice in {instance}",
                                where=f"byte {tlv.offset}")
        seen.add(tlv.id)
        _resource_entry(instance.child(tlv.id), tlv, registry, content)


def _resource_entry(resource: Path, tlv: Tlv, registry: ObjectRegistry, content: Content) -> None:
    definition = registry.resource(resource)
    if tlv.kind == MULTIPLE_RESOURCE:
        if definition is not None and not definition.multiple:
            raise ProtocolError(PROTOCOL, f"{resource} is a single resource, sent as multiple",
                                where=f"byte {tlv.offset}")
        _instances_of(resource, tlv.children, registry, content)
        return
    if definition is not None and definition.multiple:
        raise ProtocolError(PROTOCOL, f"{resource} is a multiple resource, sent as single",
                            where=f"byte {tlv.offset}")
    where = f"byte {tlv.offset}"
    content[resource] = decode_value(definition.type if definition else None, tlv.value, where)


def _instances_of(resource: Path, entries: list[Tlv] | tuple[Tlv, ...],
                  registry: ObjectRegistry, content: Content) -> None:
    rtype = _values.resource_type(registry, resource)
    for tlv in entries:
        _expect(tlv, (RESOURCE_INSTANCE,), resource)
        key = resource.child(tlv.id)
        if key in content:
            raise ProtocolError(PROTOCOL, f"{key} appears twice", where=f"byte {tlv.offset}")
        content[key] = decode_value(rtype, tlv.value, f"byte {tlv.offset}")


def _is_multiple(registry: ObjectRegistry, path: Path, entries: list[Tlv]) -> bool:
    definition = registry.resource(path)
    if definition is not None:
        return definition.multiple
    return not entries or entries[0].kind in (RESOURCE_INSTANCE, MULTIPLE_RESOURCE)


def _expect(tlv: Tlv, kinds: tuple[int, ...], path: Path) -> None:
    if tlv.kind not in kinds:
        allowed = " or ".join(KIND_NAMES[k] for k in kinds)
        raise ProtocolError(PROTOCOL, f"{tlv.kind_name} {tlv.id} where {path} allows {allowed}",
                            where=f"byte {tlv.offset}")


def _same_id(tlv: Tlv, expected: int | None, path: Path) -> None:
    if tlv.id != expected:
        raise ProtocolError(PROTOCOL, f"{tlv.kind_name} {tlv.id} where {path} was addressed",
                            where=f"byte {tlv.offset}")


def describe(payload: bytes) -> str:
    """The entry tree without a model (transcripts); raises ProtocolError on bad framing."""
    lines: list[str] = []

    def walk(entries: list[Tlv] | tuple[Tlv, ...], indent: str) -> None:
        for tlv in entries:
            if tlv.children or tlv.kind in (OBJECT_INSTANCE, MULTIPLE_RESOURCE):
                lines.append(f"{indent}{tlv.kind_name} {tlv.id}")
                walk(tlv.children, indent + "  ")
            else:
                lines.append(f"{indent}{tlv.kind_name} {tlv.id}: {_guess(tlv.value)}")

    walk(parse(payload), "")
    return "\n".join(lines)


def _guess(raw: bytes) -> str:
    """Without a model: printable text reads as text, short values also as an integer."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if len(text) > 1 and text.isprintable():
        return repr(text)
    if len(raw) in _INT_SIZES:
        return f"{raw.hex()} (int {int.from_bytes(raw, 'big', signed=True)})"
    return raw.hex() or "(empty)"
