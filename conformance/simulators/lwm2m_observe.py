"""Write-Attributes and Observe/Notify for the reference LwM2M device (TS 1.1 Core §5.1.2, §6.4).

Attributes are kept per path exactly as the server wrote them; an observation uses the
nearest ones (resource over instance over object, then the Server object's default pmin /1/0/2
and pmax /1/0/3). A notification goes out when an observed value changed, no earlier than pmin
after the previous one, and at the latest pmax after it; gt/lt/st filter changes of numeric
resources. Everything waits on timers and change events: nothing polls.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable

from aiocoap import Code

from conformance.lwm2m.model import Content, Path
from conformance.simulators.lwm2m_store import ObjectStore, OperationError

log = logging.getLogger("lwm2m-device.observe")

INT_ATTRIBUTES = ("pmin", "pmax", "epmin", "epmax")
NUMBER_ATTRIBUTES = ("gt", "lt", "st")


class Attributes:
    """Write-Attributes storage: path -> {name: value as text}."""

    def __init__(self) -> None:
        self.by_path: dict[Path, dict[str, str]] = {}
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Called after every change: running observations re-read pmin/pmax at once."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    def write(self, path: Path, query: list[str], *, numeric: bool) -> None:
        """Apply ``pmin=10&pmax=``-style query items (an empty value removes the attribute)."""
        updates: dict[str, str | None] = {}
        for item in query:
            name, has_value, raw = item.partition("=")
            if name not in INT_ATTRIBUTES + NUMBER_ATTRIBUTES:
                raise OperationError(Code.BAD_REQUEST, f"unknown attribute {name!r}")
            if not has_value or raw == "":
                updates[name] = None
                continue
            try:
                number = int(raw) if name in INT_ATTRIBUTES else float(raw)
            except ValueError:
                raise OperationError(Code.BAD_REQUEST, f"{name}={raw!r} is not a number") from None
            if name in INT_ATTRIBUTES and number < 0:
                raise OperationError(Code.BAD_REQUEST, f"{name} must not be negative")
            if name in NUMBER_ATTRIBUTES and (path.resource_id is None or not numeric):
                raise OperationError(Code.BAD_REQUEST, f"{name} needs a numeric resource")
            if name == "st" and number <= 0:
                raise OperationError(Code.BAD_REQUEST, "st must be positive")
            updates[name] = raw
        if not updates:
            raise OperationError(Code.BAD_REQUEST, "Write-Attributes without attributes")
        merged = dict(self.by_path.get(path, {}))
        for name, raw_value in updates.items():
            if raw_value is None:
                merged.pop(name, None)
            else:
                merged[name] = raw_value
        pmin, pmax = merged.get("pmin"), merged.get("pmax")
        if pmin is not None and pmax is not None and int(pmax) < int(pmin):
            raise OperationError(Code.BAD_REQUEST, "pmax is smaller than pmin")
        gt, lt = merged.get("gt"), merged.get("lt")
        if gt is not None and lt is not None and float(lt) >= float(gt):
            # TS 1.1 §5.1.2: lt < gt (and lt + 2*st < gt) when both are set
            st = float(merged.get("st", "0"))
            if not float(lt) + 2 * st < float(gt):
                raise OperationError(Code.BAD_REQUEST, "lt + 2*st must be below gt")
        if merged:
            self.by_path[path] = merged
        else:
            self.by_path.pop(path, None)
        self._changed()

    def effective(self, path: Path) -> dict[str, str]:
        """Object-level, then instance-level, then resource-level attributes (later wins)."""
        levels = [Path(path.object_id)]
        if path.instance_id is not None:
            levels.append(Path(path.object_id, path.instance_id))
        if path.resource_id is not None:
            levels.append(path.resource_path)
        out: dict[str, str] = {}
        for level in levels:
            out.update(self.by_path.get(level, {}))
        return out

    def clear(self) -> None:
        self.by_path.clear()
        self._changed()

    def forget(self, deleted: Path) -> None:
        """A Delete: the attributes of what no longer exists go with it (a new instance
        under the same id starts with none)."""
        gone = [p for p in self.by_path if deleted.contains(p)]
        for path in gone:
            del self.by_path[path]
        if gone:
            self._changed()


# Observe sequence numbers are shared by all observations and only increase (RFC 7641 §4.4),
# so a renewed observation on the same token never goes backwards.
_sequence = itertools.count(1)


def next_sequence() -> int:
    return next(_sequence) & 0xFFFFFF


class Notifier:
    """Drives one observation: waits for changes and pmin/pmax, then asks for a notification."""

    def __init__(
        self,
        store: ObjectStore,
        attributes: Attributes,
        path: Path,
        read: Callable[[], Content],
        send: Callable[[], Awaitable[None]],
        *,
        default_periods: Callable[[], tuple[int, int]],
        ignored: frozenset[str] = frozenset(),
    ) -> None:
        self._ignored = ignored  # attributes a fault makes the device ignore
        self._store = store
        self._attributes = attributes
        self._path = path
        self._read = read
        self._send = send
        self._default_periods = default_periods
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()  # a value changed, or the attributes did
        self.last: Content = {}  # what the server was last told

    def _on_change(self, changed: Path) -> None:
        if self._path.contains(changed) or changed.contains(self._path):
            self._changed.set()
            self._wake.set()

    async def run(self, first: Content) -> None:
        unsubscribe = self._store.subscribe(self._on_change)
        unsubscribe_attributes = self._attributes.subscribe(self._wake.set)
        self.last = first
        if self._read() != first:  # changed before we listened: that change counts too
            self._changed.set()
            self._wake.set()
        try:
            await self._loop(first)
        finally:
            unsubscribe()
            unsubscribe_attributes()

    def _effective(self) -> dict[str, str]:
        attrs = self._attributes.effective(self._path)
        return {k: v for k, v in attrs.items() if k not in self._ignored}

    def _periods(self) -> tuple[float, float | None, dict[str, str]]:
        attrs = self._effective()
        default_pmin, default_pmax = self._default_periods()
        pmin = float(attrs.get("pmin", default_pmin))
        pmax_raw = float(attrs.get("pmax", default_pmax))
        pmax = pmax_raw if pmax_raw > 0 else None  # 0: no maximum period
        return pmin, pmax, attrs

    async def _loop(self, last: Content) -> None:
        loop = asyncio.get_running_loop()
        last_sent = loop.time()
        while True:
            pmin, pmax, _ = self._periods()
            timeout = None if pmax is None else max(0.0, last_sent + pmax - loop.time())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass
            self._wake.clear()
            due_to_change = self._changed.is_set()
            self._changed.clear()
            expired = pmax is not None and loop.time() - last_sent >= pmax - 0.001
            if not due_to_change and not expired:
                continue  # only the attributes changed: wait again with the new periods
            if due_to_change:
                wait = last_sent + pmin - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)  # pmin: hold the notification back, a timer
                    self._changed.clear()
            try:
                current = self._read()
            except OperationError as exc:
                log.info("observed %s is gone: %s", self._path, exc)
                raise
            pmin, pmax, attrs = self._periods()
            expired = pmax is not None and loop.time() - last_sent >= pmax - 0.001
            if current == last and not expired:
                continue
            if not expired and not self._passes(attrs, last, current):
                continue
            await self._send()
            last, last_sent = current, loop.time()
            self.last = last


    def _passes(self, attrs: dict[str, str], before: Content, after: Content) -> bool:
        return _passes_thresholds(attrs, before, after, self._path)


class CompositeNotifier(Notifier):
    """Observe-Composite (TS 1.1 §6.4.3): one relation over several paths. A change under any
    path counts; the periods are the strictest of the paths' own (the largest pmin, the
    smallest pmax); gt/lt/st do not apply to a composite relation.

    ``frozen``: the periods are read once when the relation starts (fault
    composite-attributes-frozen: Write-Attributes during the relation changes nothing).
    """

    def __init__(self, *args: object, paths: list[Path], frozen: bool = False,
                 **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self._paths = paths
        self._frozen: tuple[float, float | None, dict[str, str]] | None = None
        self._freeze = frozen

    def _on_change(self, changed: Path) -> None:
        if any(p.contains(changed) or changed.contains(p) for p in self._paths):
            self._changed.set()
            self._wake.set()

    def _periods(self) -> tuple[float, float | None, dict[str, str]]:
        if self._frozen is not None:
            return self._frozen
        default_pmin, default_pmax = self._default_periods()
        pmins, pmaxes = [], []
        for path in self._paths:
            attrs = self._attributes.effective(path)
            pmins.append(float(attrs.get("pmin", default_pmin)))
            pmaxes.append(float(attrs.get("pmax", default_pmax)))
        positive = [p for p in pmaxes if p > 0]
        periods: tuple[float, float | None, dict[str, str]] = (
            max(pmins), min(positive) if positive else None, {})
        if self._freeze:
            self._frozen = periods
        return periods

    def _passes(self, attrs: dict[str, str], before: Content, after: Content) -> bool:
        return True


def _passes_thresholds(attrs: dict[str, str], before: Content, after: Content,
                       path: Path) -> bool:
    """gt/lt: crossing the threshold; st: a change of at least st (numeric single resource)."""
    if not any(name in attrs for name in NUMBER_ATTRIBUTES):
        return True
    old, new = before.get(path), after.get(path)
    if not isinstance(new, int | float) or isinstance(new, bool):
        return True
    if not isinstance(old, int | float) or isinstance(old, bool):
        return True
    if "st" in attrs and abs(new - old) >= float(attrs["st"]):
        return True
    for name in ("gt", "lt"):
        if name in attrs:
            threshold = float(attrs[name])
            if (old > threshold) != (new > threshold) or (old < threshold) != (new < threshold):
                return True
    return False

