"""The reference device's object instances and the LwM2M access rules around them.

The store holds typed values (as the codecs decode them) and enforces the object model on every
operation a server or bootstrap server asks for, raising :class:`OperationError` with the CoAP
code the LwM2M TS prescribes (4.04 missing, 4.05 operation not allowed by the object model,
4.01 Security object for a DM server, 4.00 bad content). Behaviour that is more than storing a
value (firmware download on a Package URI write, Update on /1/0/8 …) hangs on hooks, so this
module stays free of I/O and can be tested directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from aiocoap import Code

from conformance.lwm2m.model import Content, Path, Value
from conformance.lwm2m.objects import ObjectDef, ObjectRegistry, ResourceDef

ResourceValue = Value | dict[int, Value]  # single value, or resource instance id -> value
Instance = dict[int, ResourceValue | None]  # None: an executable resource (no value)

SECURITY = 0
BOOTSTRAP_DELETABLE = (0, 1)  # Security and Server: what a bootstrap server provisions


class Role(Enum):
    SERVER = "server"  # a DM server: object model access rules apply, Security is hidden
    BOOTSTRAP = "bootstrap"  # the bootstrap server: may write anything, sees Security


class OperationError(Exception):
    """An LwM2M operation refused with a CoAP response code."""

    def __init__(self, code: Code, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


WriteHook = Callable[[int, Value], None]  # (instance id, new value); may raise OperationError
ExecHook = Callable[[int, bytes], None]  # (instance id, arguments)
DynamicValue = Callable[[int], Value]  # (instance id) -> value read at this moment
Listener = Callable[[Path], None]


@dataclass
class Hooks:
    write: dict[tuple[int, int], WriteHook]
    execute: dict[tuple[int, int], ExecHook]
    dynamic: dict[tuple[int, int], DynamicValue]


class ObjectStore:
    def __init__(self, registry: ObjectRegistry) -> None:
        self.registry = registry
        self._objects: dict[int, dict[int, Instance]] = {}
        self.hooks = Hooks({}, {}, {})
        self._listeners: list[Listener] = []
        # Objects whose read-only resources a server may write anyway (fault host-object-writable).
        self.writable_objects: set[int] = set()
        # Resources a new instance starts with (object id -> defaults): optional resources the
        # device implements, before a bootstrap server or a Create writes them.
        self.defaults: dict[int, Instance] = {}

    # ------------------------------------------------------------------ device-side access

    def add_object(self, object_id: int) -> None:
        if self.registry.get(object_id) is None:
            raise KeyError(f"object {object_id} is not in the registry")
        self._objects.setdefault(object_id, {})

    def remove_object(self, object_id: int) -> None:
        self._objects.pop(object_id, None)

    def set_instance(self, object_id: int, instance_id: int, values: Instance) -> None:
        self.add_object(object_id)
        self._objects[object_id][instance_id] = dict(values)
        self._changed(Path(object_id, instance_id))

    def set(self, path: Path, value: ResourceValue) -> None:
        """Device-internal update of one resource (no access check); observers are told."""
        assert path.instance_id is not None and path.resource_id is not None
        inst = self._objects[path.object_id][path.instance_id]
        if path.resource_instance_id is not None:
            multi = inst.setdefault(path.resource_id, {})
            assert isinstance(multi, dict)
            assert not isinstance(value, dict)
            multi[path.resource_instance_id] = value
        else:
            inst[path.resource_id] = value
        self._changed(path)

    def get(self, path: Path) -> ResourceValue | None:
        """Device-internal read of one resource (no access check), None if absent."""
        assert path.instance_id is not None and path.resource_id is not None
        inst = self._objects.get(path.object_id, {}).get(path.instance_id)
        if inst is None:
            return None
        dyn = self.hooks.dynamic.get((path.object_id, path.resource_id))
        if dyn is not None:
            return dyn(path.instance_id)
        return inst.get(path.resource_id)

    def object_ids(self) -> list[int]:
        return sorted(self._objects)

    def instance_ids(self, object_id: int) -> list[int]:
        return sorted(self._objects.get(object_id, {}))

    def resource_ids(self, object_id: int, instance_id: int) -> list[int]:
        return sorted(self._objects[object_id][instance_id])

    def instance(self, object_id: int, instance_id: int) -> Instance:
        return dict(self._objects[object_id][instance_id])

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _changed(self, path: Path) -> None:
        for listener in list(self._listeners):
            listener(path)

    # ------------------------------------------------------------------ model lookups

    def _object(self, path: Path, role: Role) -> tuple[ObjectDef, dict[int, Instance]]:
        if path.object_id == SECURITY and role is Role.SERVER:
            # LwM2M TS Core §7.1.1: the Security object is not accessible to a DM server.
            raise OperationError(Code.UNAUTHORIZED, "the Security object is not accessible")
        definition = self.registry.get(path.object_id)
        if definition is None or path.object_id not in self._objects:
            raise OperationError(Code.NOT_FOUND, f"no object {path.object_id}")
        return definition, self._objects[path.object_id]

    def _instance(self, path: Path, role: Role) -> tuple[ObjectDef, Instance]:
        definition, instances = self._object(path, role)
        assert path.instance_id is not None
        if path.instance_id not in instances:
            raise OperationError(Code.NOT_FOUND, f"no instance {path}")
        return definition, instances[path.instance_id]

    def _resource_def(self, definition: ObjectDef, path: Path) -> ResourceDef:
        assert path.resource_id is not None
        rdef = definition.resource(path.resource_id)
        if rdef is None:
            raise OperationError(Code.NOT_FOUND, f"no resource {path.resource_path}")
        return rdef

    # ------------------------------------------------------------------ Read

    def read(self, path: Path, role: Role = Role.SERVER) -> Content:
        """Flat content of ``path``: readable resources only; single resource must be readable."""
        definition, instances = self._object(path, role)
        if path.instance_id is None:
            out: Content = {}
            for iid in sorted(instances):
                out.update(self._read_instance(definition, path.child(iid), instances[iid], role))
            return out
        _, inst = self._instance(path, role)
        if path.resource_id is None:
            return self._read_instance(definition, path, inst, role)
        rdef = self._resource_def(definition, path)
        if not (rdef.readable or role is Role.BOOTSTRAP):
            raise OperationError(Code.METHOD_NOT_ALLOWED, f"{path.resource_path} is not readable")
        if path.resource_id not in inst:
            raise OperationError(Code.NOT_FOUND, f"no resource {path.resource_path}")
        content = self._resource_content(path.resource_path, rdef)
        if path.resource_instance_id is not None:
            if path not in content:
                raise OperationError(Code.NOT_FOUND, f"no resource instance {path}")
            return {path: content[path]}
        return content

    def _read_instance(
        self, definition: ObjectDef, path: Path, inst: Instance, role: Role
    ) -> Content:
        out: Content = {}
        for rid in sorted(inst):
            rdef = definition.resource(rid)
            if rdef is not None and (rdef.readable or role is Role.BOOTSTRAP):
                out.update(self._resource_content(path.child(rid), rdef))
        return out or {path: None}

    def _resource_content(self, path: Path, rdef: ResourceDef) -> Content:
        value = self.get(path)
        if isinstance(value, dict):
            return {path.child(riid): v for riid, v in sorted(value.items())}
        if value is None:
            return {}
        return {path: value}

    # ------------------------------------------------------------------ Write

    def write(
        self, path: Path, content: Content, *, replace: bool, role: Role = Role.SERVER
    ) -> None:
        """Write (PUT: ``replace``, POST: partial update) at instance or resource level."""
        if role is Role.BOOTSTRAP:
            self._bootstrap_write(path, content)
            return
        definition, _ = self._object(path, role)
        if path.instance_id is None:
            raise OperationError(Code.METHOD_NOT_ALLOWED, "Write on an object (use Create)")
        _, inst = self._instance(path, role)
        if path.resource_instance_id is not None:
            replace = False  # writing one resource instance keeps its siblings
        grouped = self._group(path, content)
        for rid in grouped:
            rdef = self._resource_def(definition, Path(path.object_id, path.instance_id, rid))
            if not (rdef.writable or path.object_id in self.writable_objects):
                raise OperationError(
                    Code.METHOD_NOT_ALLOWED,
                    f"/{path.object_id}/{path.instance_id}/{rid} is not writable",
                )
        self._apply(definition, path, inst, grouped, replace=replace)

    def write_composite(self, content: Content, role: Role = Role.SERVER) -> None:
        """Write-Composite (TS 1.1 §5.4.4): each resource written as a partial update of its
        instance; every target is checked before any is changed, so a refusal changes nothing."""
        by_instance: dict[Path, Content] = {}
        for p, value in content.items():
            if p.instance_id is None or p.resource_id is None:
                raise OperationError(Code.BAD_REQUEST, f"{p} names no resource")
            by_instance.setdefault(Path(p.object_id, p.instance_id), {})[p] = value
        for target, part in by_instance.items():
            definition, _ = self._instance(target, role)
            for rid, grouped in self._group(target, part).items():
                rdef = self._resource_def(definition, target.child(rid))
                if not (rdef.writable or target.object_id in self.writable_objects):
                    raise OperationError(Code.METHOD_NOT_ALLOWED, f"{target}/{rid} is not writable")
                if rdef.multiple != isinstance(grouped, dict):
                    raise OperationError(Code.BAD_REQUEST, f"{target}/{rid} instance mismatch")
        for target, part in by_instance.items():
            self.write(target, part, replace=False, role=role)

    def _group(self, target: Path, content: Content) -> dict[int, ResourceValue]:
        """Content keyed by resource id, every entry inside ``target``."""
        grouped: dict[int, ResourceValue] = {}
        for p, value in content.items():
            if not target.contains(p) or p.object_id != target.object_id:
                raise OperationError(Code.BAD_REQUEST, f"{p} is outside {target}")
            if p.instance_id != target.instance_id or p.resource_id is None:
                raise OperationError(Code.BAD_REQUEST, f"{p} does not name a resource")
            if value is None:
                raise OperationError(Code.BAD_REQUEST, f"{p} has no value")
            if p.resource_instance_id is None:
                grouped[p.resource_id] = value
            else:
                multi = grouped.setdefault(p.resource_id, {})
                if not isinstance(multi, dict):
                    raise OperationError(Code.BAD_REQUEST, f"{p.resource_path} given twice")
                multi[p.resource_instance_id] = value
        if not grouped and target.resource_id is None:
            return grouped
        if not grouped:
            raise OperationError(Code.BAD_REQUEST, f"no value for {target}")
        return grouped

    def _apply(
        self,
        definition: ObjectDef,
        path: Path,
        inst: Instance,
        grouped: dict[int, ResourceValue],
        *,
        replace: bool,
    ) -> None:
        assert path.instance_id is not None
        for rid, value in grouped.items():
            rdef = self._resource_def(definition, Path(path.object_id, path.instance_id, rid))
            if rdef.multiple != isinstance(value, dict) and path.resource_instance_id is None:
                kind = "multiple" if rdef.multiple else "single"
                raise OperationError(Code.BAD_REQUEST, f"resource {rid} is {kind}-instance")
        for rid, value in grouped.items():
            hook = self.hooks.write.get((path.object_id, rid))
            if hook is not None and not isinstance(value, dict):
                hook(path.instance_id, value)
            rdef = definition.resources[rid]
            if not rdef.readable and hook is not None:
                continue  # e.g. /5/0/0 Package: the hook consumed it, nothing to keep
            old = inst.get(rid)
            if isinstance(value, dict) and isinstance(old, dict) and not replace:
                old.update(value)  # partial update merges resource instances
            else:
                inst[rid] = dict(value) if isinstance(value, dict) else value
            self._changed(Path(path.object_id, path.instance_id, rid))

    def _bootstrap_write(self, path: Path, content: Content) -> None:
        definition = self.registry.get(path.object_id)
        if definition is None:
            raise OperationError(Code.NOT_FOUND, f"no object {path.object_id}")
        self._objects.setdefault(path.object_id, {})
        by_instance: dict[int, Content] = {}
        for p, value in content.items():
            if not path.contains(p) or p.instance_id is None:
                raise OperationError(Code.BAD_REQUEST, f"{p} is outside {path}")
            by_instance.setdefault(p.instance_id, {})[p] = value
        for iid, part in by_instance.items():
            if iid not in self._objects[path.object_id]:
                self._objects[path.object_id][iid] = self._executables(path.object_id)
            inst = self._objects[path.object_id][iid]
            target = Path(path.object_id, iid)
            values = {p: v for p, v in part.items() if p.resource_id is not None}
            grouped = self._group(target, values) if values else {}
            for rid in grouped:
                self._resource_def(definition, target.child(rid))
            # Bootstrap-Write replaces the resources it carries and keeps the others.
            self._apply(definition, target, inst, grouped, replace=True)
            self._changed(target)

    def _executables(self, object_id: int) -> Instance:
        """A new instance has the executable resources the device implements for its object,
        and its defaults."""
        return {**self.defaults.get(object_id, {}),
                **{rid: None for (oid, rid) in self.hooks.execute if oid == object_id}}

    # ------------------------------------------------------------------ Execute

    def execute(self, path: Path, arguments: bytes, role: Role = Role.SERVER) -> None:
        if path.resource_id is None or path.resource_instance_id is not None:
            raise OperationError(Code.METHOD_NOT_ALLOWED, f"Execute needs a resource: {path}")
        definition, _ = self._instance(path, role)
        rdef = self._resource_def(definition, path)
        if not rdef.executable:
            raise OperationError(Code.METHOD_NOT_ALLOWED, f"{path} is not executable")
        hook = self.hooks.execute.get((path.object_id, path.resource_id))
        if hook is None:
            raise OperationError(Code.METHOD_NOT_ALLOWED, f"{path} is not implemented")
        assert path.instance_id is not None
        hook(path.instance_id, arguments)

    # ------------------------------------------------------------------ Create / Delete

    def create(self, path: Path, content: Content, role: Role = Role.SERVER) -> int:
        """Create an instance of the object ``path``; returns its id."""
        definition, instances = self._object(path, role)
        ids = {p.instance_id for p in content if p.instance_id is not None}
        if len(ids) > 1:
            raise OperationError(Code.BAD_REQUEST, "Create carries more than one instance")
        if ids:
            iid = ids.pop()
            assert iid is not None
        else:
            iid = next(i for i in range(65536) if i not in instances)
        if iid in instances:
            raise OperationError(Code.BAD_REQUEST, f"instance /{path.object_id}/{iid} exists")
        if not definition.multiple and instances:
            raise OperationError(Code.METHOD_NOT_ALLOWED, f"object {path.object_id} is single")
        target = Path(path.object_id, iid)
        values = {p: v for p, v in content.items() if p.resource_id is not None}
        grouped = self._group(target, values) if values else {}
        for rid in grouped:  # Create may set read-only resources (TS Core §6.3.6)
            self._resource_def(definition, target.child(rid))
        inst = self._executables(path.object_id)
        instances[iid] = inst
        self._apply(definition, target, inst, grouped, replace=True)
        self._changed(target)
        return iid

    def delete(self, path: Path, role: Role = Role.SERVER) -> None:
        if role is Role.BOOTSTRAP:
            self._bootstrap_delete(path)
            return
        if path.instance_id is None or path.resource_id is not None:
            raise OperationError(Code.METHOD_NOT_ALLOWED, f"Delete needs an instance: {path}")
        definition, instances = self._object(path, role)
        if path.instance_id not in instances:
            raise OperationError(Code.NOT_FOUND, f"no instance {path}")
        if not definition.multiple or path.object_id == 1:
            raise OperationError(Code.METHOD_NOT_ALLOWED, f"{path} cannot be deleted")
        del instances[path.instance_id]
        self._changed(path)

    def _bootstrap_delete(self, path: Path | None) -> None:
        """Bootstrap-Delete ``/`` (None), an object or an instance of the configuration objects.

        Only the accounts (/0 except the bootstrap account, /1) are configuration here; the
        device's own objects (/3, /4, /5, /10241) are firmware and survive a Delete of ``/``
        (as objects whose instances cannot be removed do in Anjay); naming one is 4.00, as
        Leshan answers for /3.
        """
        targets = [path] if path is not None else [Path(o) for o in BOOTSTRAP_DELETABLE]
        for target in targets:
            if target.resource_id is not None:
                raise OperationError(Code.BAD_REQUEST, f"Bootstrap-Delete of a resource: {target}")
            if target.object_id not in BOOTSTRAP_DELETABLE:
                raise OperationError(Code.BAD_REQUEST, f"object {target.object_id} is not "
                                     "deletable")
            if target.object_id not in self._objects:
                continue
            instances = self._objects[target.object_id]
            for iid in list(instances):
                if target.instance_id not in (None, iid):
                    continue
                if target.object_id == SECURITY and instances[iid].get(1) is True:
                    continue  # the bootstrap server's own account survives (TS Core §6.1.7.5)
                del instances[iid]
                self._changed(Path(target.object_id, iid))

    def bootstrap_delete_all(self) -> None:
        self._bootstrap_delete(None)

    # ------------------------------------------------------------------ Discover

    def present(self, path: Path, role: Role = Role.SERVER) -> Content:
        """Everything under ``path`` for Discover: every resource, executable ones as None."""
        _, instances = self._object(path, role)
        if path.instance_id is not None:
            self._instance(path, role)
        out: Content = {}
        for iid in sorted(instances):
            if path.instance_id not in (None, iid):
                continue
            inst = instances[iid]
            if not inst:
                out[Path(path.object_id, iid)] = None
            for rid in sorted(inst):
                rpath = Path(path.object_id, iid, rid)
                value = inst[rid]
                if isinstance(value, dict):
                    for riid, v in sorted(value.items()):
                        out[rpath.child(riid)] = v
                else:
                    out[rpath] = value
        if path.resource_id is not None and not any(path.contains(p) for p in out):
            raise OperationError(Code.NOT_FOUND, f"no resource {path}")
        return out
