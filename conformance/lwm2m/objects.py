"""The LwM2M object model: object/resource definitions loaded from OMA DDF XML, and a registry.

The DDF format is the OMA LwM2M registry's (``<LWM2M><Object ObjectType="MODefinition">``).
The suite ships the definitions it certifies against (objects 0, 1, 3, 4, 5 and AT&T's
HostDeviceInfo 10241, see ``ddf/``); a declaration may add a vendor's own files. Vendor files
are untrusted input: a bad one raises :class:`ProtocolError` naming the file, element and line.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path as FsPath

from lxml import etree

from conformance import xmlsafe
from conformance.errors import ProtocolError
from conformance.lwm2m.model import Path, ResourceType

PROTOCOL = "lwm2m-ddf"

_TYPES = {t.value.lower(): t for t in ResourceType}
_TYPES[""] = ResourceType.NONE  # executable resources leave <Type> empty
_TYPES["unsigned"] = ResourceType.UNSIGNED  # seen in some vendor files


@dataclass(frozen=True)
class ResourceDef:
    id: int
    name: str
    operations: str  # "R", "W", "RW", "E" or "" (bootstrap-only, e.g. the Security object)
    multiple: bool
    mandatory: bool
    type: ResourceType
    range: str = ""
    units: str = ""
    description: str = ""

    @property
    def readable(self) -> bool:
        return "R" in self.operations

    @property
    def writable(self) -> bool:
        return "W" in self.operations

    @property
    def executable(self) -> bool:
        return "E" in self.operations


@dataclass(frozen=True)
class ObjectDef:
    id: int
    name: str
    urn: str
    version: str
    lwm2m_version: str
    multiple: bool
    mandatory: bool
    resources: dict[int, ResourceDef] = field(default_factory=dict, hash=False)
    description: str = ""
    source: str = ""  # the file it came from, for messages

    def resource(self, resource_id: int) -> ResourceDef | None:
        return self.resources.get(resource_id)


def load_ddf(data: bytes, *, source: str = "") -> list[ObjectDef]:
    """Parse one OMA LwM2M DDF XML document (one or more ``<Object>``)."""
    label = source or "DDF"
    try:
        root = xmlsafe.parse(data, protocol=PROTOCOL)
    except ProtocolError as exc:
        raise ProtocolError(PROTOCOL, f"{label}: {exc.message}", where=exc.where) from None
    if xmlsafe.local_name(root) != "LWM2M":
        raise _error(label, root, f"root element is <{xmlsafe.local_name(root)}>, not <LWM2M>")
    objects = [_object(el, label) for el in root if xmlsafe.local_name(el) == "Object"]
    if not objects:
        raise _error(label, root, "no <Object> definition")
    return objects


def _error(label: str, element: etree._Element, message: str) -> ProtocolError:
    return ProtocolError(PROTOCOL, f"{label}: {message}", where=f"line {element.sourceline}")


def _children(element: etree._Element) -> dict[str, etree._Element]:
    return {xmlsafe.local_name(child): child for child in element}


def _text(parent: etree._Element, kids: dict[str, etree._Element], name: str, label: str,
          *, required: bool = True) -> str:
    child = kids.get(name)
    if child is None:
        if required:
            raise _error(label, parent, f"<{xmlsafe.local_name(parent)}> lacks <{name}>")
        return ""
    return (child.text or "").strip()


def _int(parent: etree._Element, text: str, what: str, label: str) -> int:
    # Length first: int() refuses more than 4300 digits with a ValueError.
    if not text.isdecimal() or len(text) > 5 or int(text) > 65535:
        raise _error(label, parent, f"{what} {text!r} is not an id 0..65535")
    return int(text)


def _choice(parent: etree._Element, text: str, what: str, label: str,
            yes: str, no: str) -> bool:
    if text.lower() == yes.lower():
        return True
    if text.lower() == no.lower():
        return False
    raise _error(label, parent, f"{what} is {text!r}, expected {yes} or {no}")


def _object(element: etree._Element, label: str) -> ObjectDef:
    kids = _children(element)
    oid = _int(element, _text(element, kids, "ObjectID", label), "ObjectID", label)
    where = f"{label} object {oid}"
    items = kids.get("Resources")
    if items is None:
        raise _error(label, element, f"object {oid} lacks <Resources>")
    resources_: dict[int, ResourceDef] = {}
    for item in items:
        if xmlsafe.local_name(item) != "Item":
            continue
        res = _resource(item, where)
        if res.id in resources_:
            raise _error(where, item, f"resource {res.id} defined twice")
        resources_[res.id] = res
    return ObjectDef(
        id=oid,
        name=_text(element, kids, "Name", label),
        urn=_text(element, kids, "ObjectURN", label, required=False),
        # an empty version means 1.0 (LwM2M TS 1.1 §5.1.2, registry convention)
        version=_text(element, kids, "ObjectVersion", label, required=False) or "1.0",
        lwm2m_version=_text(element, kids, "LWM2MVersion", label, required=False) or "1.0",
        multiple=_choice(element, _text(element, kids, "MultipleInstances", label),
                         "MultipleInstances", where, "Multiple", "Single"),
        mandatory=_choice(element, _text(element, kids, "Mandatory", label),
                          "Mandatory", where, "Mandatory", "Optional"),
        resources=resources_,
        description=_text(element, kids, "Description1", label, required=False),
        source=label,
    )


def _resource(item: etree._Element, label: str) -> ResourceDef:
    rid = _int(item, item.get("ID", ""), "Item ID", label)
    where = f"{label} resource {rid}"
    kids = _children(item)
    operations = _text(item, kids, "Operations", where).upper()
    if operations not in ("", "R", "W", "RW", "E"):
        raise _error(where, item, f"Operations {operations!r} is not R, W, RW, E or empty")
    type_text = _text(item, kids, "Type", where, required=False).lower()
    rtype = _TYPES.get(type_text)
    if rtype is None:
        raise _error(where, item, f"unknown Type {type_text!r}")
    return ResourceDef(
        id=rid,
        name=_text(item, kids, "Name", where),
        operations=operations,
        multiple=_choice(item, _text(item, kids, "MultipleInstances", where),
                         "MultipleInstances", where, "Multiple", "Single"),
        mandatory=_choice(item, _text(item, kids, "Mandatory", where),
                          "Mandatory", where, "Mandatory", "Optional"),
        type=rtype,
        range=_text(item, kids, "RangeEnumeration", where, required=False),
        units=_text(item, kids, "Units", where, required=False),
        description=_text(item, kids, "Description", where, required=False),
    )


@functools.cache
def _builtin_objects() -> tuple[ObjectDef, ...]:
    folder = resources.files("conformance.lwm2m") / "ddf"
    found: list[ObjectDef] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".xml"):
            found.extend(load_ddf(entry.read_bytes(), source=f"ddf/{entry.name}"))
    return tuple(found)


class ObjectRegistry:
    """Object definitions by id. ``builtin()`` gives a fresh registry of the shipped objects."""

    def __init__(self, objects: Iterable[ObjectDef] = ()) -> None:
        self._objects: dict[int, ObjectDef] = {}
        for obj in objects:
            self.add(obj)

    @classmethod
    def builtin(cls) -> ObjectRegistry:
        return cls(_builtin_objects())

    def add(self, obj: ObjectDef) -> None:
        """Add or replace (a vendor file may redefine a shipped object) a definition."""
        self._objects[obj.id] = obj

    def add_files(self, paths: Iterable[str | FsPath]) -> list[ObjectDef]:
        """Load vendor DDF files (from a declaration); returns what they defined."""
        added: list[ObjectDef] = []
        for path in paths:
            try:
                data = FsPath(path).read_bytes()
            except OSError as exc:
                raise ProtocolError(PROTOCOL, f"cannot read DDF file: {exc.strerror}",
                                    where=str(path)) from None
            for obj in load_ddf(data, source=str(path)):
                self.add(obj)
                added.append(obj)
        return added

    def get(self, object_id: int) -> ObjectDef | None:
        return self._objects.get(object_id)

    def resource(self, path: Path) -> ResourceDef | None:
        """The definition of the resource ``path`` is (or is an instance of), if known."""
        if path.resource_id is None:
            return None
        obj = self._objects.get(path.object_id)
        return obj.resources.get(path.resource_id) if obj is not None else None

    def objects(self) -> list[ObjectDef]:
        return [self._objects[k] for k in sorted(self._objects)]

    def __contains__(self, object_id: object) -> bool:
        return object_id in self._objects

    def __iter__(self) -> Iterator[ObjectDef]:
        return iter(self.objects())

    def __len__(self) -> int:
        return len(self._objects)
