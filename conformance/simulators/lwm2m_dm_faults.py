"""Faults of the reference device's Device Management and Service Enablement interface, each
breaking what one OMA ETS test (int-205…290) checks and nothing else.

:class:`DmFaults` is asked by the CoAP site (lwm2m_site.py) at the few places a DM operation
passes through: a Read's content and payload, a Write's decoded content, Create, Delete,
the composite operations, Discover and Write-Attributes. With no fault injected every
method leaves the operation as it is. ``grep`` for a fault name finds its whole behaviour.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aiocoap import Code

from conformance.lwm2m.model import Content, ContentFormat, Path, ResourceType
from conformance.simulators.lwm2m_faults import Faults
from conformance.simulators.lwm2m_store import ObjectStore, OperationError, Role

SERVER, DEVICE = 1, 3
SENML_RI_REFUSED = {ContentFormat.SENML_JSON: "senml-json-resource-instance-refused",
                    ContentFormat.SENML_CBOR: "senml-cbor-resource-instance-refused"}
SENML_WRITE_IGNORED = {ContentFormat.SENML_JSON: "senml-json-write-ignored",
                       ContentFormat.SENML_CBOR: "senml-cbor-write-ignored",
                       ContentFormat.CBOR: "cbor-write-ignored"}
CHANGE_ATTRIBUTES = ("gt", "lt", "st")


class DmFaults:
    def __init__(self, faults: Faults, store: ObjectStore) -> None:
        self.faults = faults
        self.store = store
        self._cached_lifetime: dict[Path, bytes] = {}

    def _has(self, name: str) -> bool:
        return bool(self.faults) and name in self.faults

    # ------------------------------------------------------------------ Read

    def read(self, path: Path, fmt: ContentFormat, content: Content, *,
             observe: bool) -> Content:
        """The content a (non-Observe) Read answers; may refuse it."""
        if observe:
            return content
        if path.depth == 4 and fmt in SENML_RI_REFUSED and self._has(SENML_RI_REFUSED[fmt]):
            raise OperationError(Code.NOT_ACCEPTABLE, f"{fmt.name} of a resource instance")
        if path.depth == 4 and self._has("resource-instance-read-first"):
            whole = self.store.read(path.resource_path, Role.SERVER)
            if whole:
                first = min(whole)
                return {path: whole[first]}
        if fmt is ContentFormat.TLV and path == Path(DEVICE, 0, 1) and self._has(
                "tlv-model-number-wrong"):
            return {path: f"{content.get(path)!s}-TLV"}
        if fmt is ContentFormat.LWM2M_JSON and path == Path(DEVICE, 0, 3) and self._has(
                "lwm2m-json-firmware-version-empty"):
            return {path: ""}
        if path == Path(DEVICE) and self._has("object-read-drops-manufacturer"):
            return {p: v for p, v in content.items() if p.resource_id != 0}
        if path.depth == 2 and path.object_id == SERVER and self._has("instance-read-drops-ssid"):
            return {p: v for p, v in content.items() if p.resource_id != 0}
        return content

    def payload(self, path: Path, fmt: ContentFormat, content: Content,
                encoded: bytes, *, observe: bool) -> bytes:
        """The single-value payload a (non-Observe) Read answers."""
        if fmt is ContentFormat.CBOR and not observe and self._has("cbor-boolean-as-integer"):
            value = content.get(path)
            return bytes([int(value)]) if isinstance(value, bool) else encoded
        if fmt is not ContentFormat.TEXT or observe or path.depth < 3:
            return encoded
        if path == Path(DEVICE, 0, 2) and self._has("text-serial-number-empty"):
            return b""
        resource = self.store.registry.resource(path)
        value = content.get(path)
        if self._has("text-boolean-as-word") and resource is not None and (
                resource.type is ResourceType.BOOLEAN) and isinstance(value, bool):
            return b"true" if value else b"false"
        if self._has("text-lifetime-read-cached") and path.object_id == SERVER and (
                path.resource_id == 1 and path.depth == 3):
            return self._cached_lifetime.setdefault(path, encoded)
        return encoded

    def hides_content_format(self, path: Path, accept: int | None) -> bool:
        return accept is None and path.depth == 1 and self._has(
            "no-content-format-without-accept")

    # ------------------------------------------------------------------ Write / Create

    def before_write(self, path: Path, fmt: ContentFormat, content: Content,
                     role: Role) -> Content | None:
        """The content a server's Write (PUT/POST) stores; None: answer 2.04, store nothing."""
        if role is not Role.SERVER:
            return content
        if fmt in SENML_WRITE_IGNORED and self._has(SENML_WRITE_IGNORED[fmt]):
            return None
        if fmt is ContentFormat.TEXT and self._has("text-write-digits-truncated"):
            content = {p: int(str(v)[:3]) if isinstance(v, int) and not isinstance(v, bool)
                       and v > 999 else v for p, v in content.items()}
        if fmt is ContentFormat.TLV and path.object_id == SERVER and self._has(
                "tlv-write-skips-disable-timeout"):
            content = {p: v for p, v in content.items() if p.resource_id != 5}
        if fmt is ContentFormat.LWM2M_JSON and self._has("lwm2m-json-write-drops-booleans"):
            content = {p: v for p, v in content.items() if not isinstance(v, bool)}
        if path.depth == 3 and path.object_id == SERVER and path.resource_id == 0:
            # Two ways to get the read-only Short Server ID wrong, told apart by the value:
            # the same value acknowledged as a no-op (int-551), a new one taken (int-256).
            value, current = content.get(path), self.store.get(path)
            if value == current and self._has("ssid-write-acknowledged"):
                return None  # answered 2.04, nothing changes
            if (value != current and isinstance(value, int) and not isinstance(value, bool)
                    and self._has("short-server-id-writable")):
                self.store.set(path, value)
                return None
        if path.depth == 4 and self._has("resource-instance-write-replaces-resource"):
            self.store.set(path.resource_path, {})
        return content

    @contextmanager
    def writing(self, path: Path, *, partial: bool) -> Iterator[None]:
        """Around the store's Write: partial-update-no-lifetime-update unhooks the Lifetime
        write, so the value is kept but no Update goes out."""
        hooks = self.store.hooks.write
        key = (SERVER, 1)
        if not (partial and path.object_id == SERVER and path.depth == 2 and key in hooks
                and self._has("partial-update-no-lifetime-update")):
            yield
            return
        hook = hooks.pop(key)
        try:
            yield
        finally:
            hooks[key] = hook

    def before_create(self, content: Content) -> Content:
        if self._has("create-drops-values"):
            return {}
        return content

    # ------------------------------------------------------------------ Delete / Execute

    def keeps_deleted(self, path: Path, role: Role) -> bool:
        """delete-keeps-instance: a Delete the device would obey is answered, not done."""
        return (role is Role.SERVER and path.depth == 2 and path.object_id not in (SERVER, DEVICE)
                and path.instance_id in self.store.instance_ids(path.object_id)
                and self._has("delete-keeps-instance"))

    # ------------------------------------------------------------------ composite

    def composite_paths(self, paths: list[Path | None]) -> list[Path | None]:
        if self._has("read-composite-drops-resource-instances"):
            return [p for p in paths if p is None or p.depth < 4]
        return paths

    def composite_refusal(self, error: OperationError) -> bool:
        """Whether a path Read-Composite cannot read refuses the whole request."""
        return (error.code == Code.NOT_FOUND and self._has("read-composite-refuses-missing")) or (
            error.code == Code.METHOD_NOT_ALLOWED and self._has(
                "read-composite-refuses-executable"))

    def root_objects(self, objects: list[int]) -> list[int]:
        """The objects a Read-Composite of ``/`` covers (never Security, unless the fault)."""
        if self._has("read-composite-root-exposes-security"):
            return objects
        return [o for o in objects if o != 0]

    def composite_answer(self, request_fmt: ContentFormat,
                         accept: ContentFormat) -> ContentFormat:
        return request_fmt if self._has("read-composite-ignores-accept") else accept

    def before_write_composite(self, content: Content) -> Content:
        if self._has("write-composite-refuses-time") and any(
                (r := self.store.registry.resource(p)) is not None and r.type is ResourceType.TIME
                for p in content):
            raise OperationError(Code.BAD_REQUEST, "a Time value in Write-Composite")
        if self._has("write-composite-drops-resource-instances"):
            return {p: v for p, v in content.items() if p.depth < 4}
        return content

    # ------------------------------------------------------------------ attributes

    def discover_attributes(self, by_path: dict[Path, dict[str, str]]
                            ) -> dict[Path, dict[str, str]]:
        if not self._has("discover-hides-change-attributes"):
            return by_path
        return {p: {k: v for k, v in a.items() if k not in CHANGE_ATTRIBUTES}
                for p, a in by_path.items()}

    def attributes_skipped(self, path: Path) -> bool:
        """resource-instance-attributes-dropped: answered 2.04, kept nowhere."""
        return path.depth == 4 and self._has("resource-instance-attributes-dropped")

    def security_attributes_accepted(self, path: Path) -> bool:
        return path.object_id == 0 and self._has("security-attributes-accepted")
