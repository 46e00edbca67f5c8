"""Write-Attributes validation and the notification timing rules (pmin/pmax/st/gt/lt)."""

from __future__ import annotations

import asyncio

import pytest
from aiocoap import Code

from conformance.declaration import builtin_declaration
from conformance.lwm2m.model import Path
from conformance.lwm2m.objects import ObjectRegistry
from conformance.simulators import lwm2m_objects as objs
from conformance.simulators.lwm2m_faults import Faults
from conformance.simulators.lwm2m_observe import Attributes, Notifier, next_sequence
from conformance.simulators.lwm2m_state import DeviceState
from conformance.simulators.lwm2m_store import ObjectStore, OperationError

P = Path.parse


def test_attributes_inherit_and_remove() -> None:
    attrs = Attributes()
    attrs.write(P("/3"), ["pmin=5", "pmax=60"], numeric=False)
    attrs.write(P("/3/0/9"), ["pmax=10", "st=2"], numeric=True)
    assert attrs.effective(P("/3/0/9")) == {"pmin": "5", "pmax": "10", "st": "2"}
    assert attrs.effective(P("/3/0/0")) == {"pmin": "5", "pmax": "60"}
    attrs.write(P("/3/0/9"), ["st"], numeric=True)  # no value: remove
    assert "st" not in attrs.effective(P("/3/0/9"))


@pytest.mark.parametrize(
    ("path", "query", "numeric"),
    [
        ("/3/0/9", ["pmin=abc"], True),
        ("/3/0/9", ["foo=1"], True),
        ("/3/0/9", ["pmin=10", "pmax=5"], True),
        ("/3/0", ["gt=5"], False),  # gt/lt/st only on a numeric resource
        ("/3/0/0", ["st=1"], False),
        ("/3/0/9", ["gt=10", "lt=20"], True),  # lt must be below gt
        ("/3/0/9", ["pmin=-1"], True),
        ("/3/0/9", ["pmax=0.5"], True),  # periods are integer seconds
        ("/3/0/9", [], True),
    ],
)
def test_bad_attributes_are_400(path: str, query: list[str], numeric: bool) -> None:
    with pytest.raises(OperationError) as info:
        Attributes().write(P(path), query, numeric=numeric)
    assert info.value.code == Code.BAD_REQUEST


def test_sequence_numbers_increase() -> None:
    first = next_sequence()
    assert next_sequence() > first


def _store() -> ObjectStore:
    declaration = builtin_declaration("lwm2m")
    store = ObjectStore(ObjectRegistry.builtin())
    objs.populate(store, declaration, DeviceState.from_declaration(declaration), Faults())
    return store


async def _notifier(store: ObjectStore, attrs: Attributes, path: Path,
                    sent: asyncio.Queue[tuple[float, object]]) -> asyncio.Task[None]:
    loop = asyncio.get_running_loop()

    async def send() -> None:
        sent.put_nowait((loop.time(), store.read(path)[path]))

    notifier = Notifier(store, attrs, path, lambda: store.read(path), send,
                        default_periods=lambda: (0, 0))
    task = asyncio.create_task(notifier.run(store.read(path)))
    await asyncio.sleep(0)  # let it subscribe before the test changes values
    return task


def test_change_notifies_but_not_before_pmin() -> None:
    async def test() -> None:
        store, attrs = _store(), Attributes()
        attrs.write(P("/3/0/9"), ["pmin=1"], numeric=True)
        sent: asyncio.Queue[tuple[float, object]] = asyncio.Queue()
        start = asyncio.get_running_loop().time()
        task = await _notifier(store, attrs, P("/3/0/9"), sent)
        store.set(P("/3/0/9"), 50)
        when, value = await asyncio.wait_for(sent.get(), 2)
        assert value == 50 and when - start >= 0.99
        task.cancel()
    asyncio.run(test())


def test_pmax_notifies_without_change_and_attribute_change_wakes() -> None:
    async def test() -> None:
        store, attrs = _store(), Attributes()
        sent: asyncio.Queue[tuple[float, object]] = asyncio.Queue()
        task = await _notifier(store, attrs, P("/3/0/9"), sent)
        assert sent.empty()
        attrs.write(P("/3/0/9"), ["pmax=1"], numeric=True)  # was: no pmax at all
        _, value = await asyncio.wait_for(sent.get(), 2)
        assert value == 87
        task.cancel()
    asyncio.run(test())


def test_step_filters_small_changes() -> None:
    async def test() -> None:
        store, attrs = _store(), Attributes()
        attrs.write(P("/3/0/9"), ["st=10"], numeric=True)
        sent: asyncio.Queue[tuple[float, object]] = asyncio.Queue()
        task = await _notifier(store, attrs, P("/3/0/9"), sent)
        store.set(P("/3/0/9"), 85)  # below the step: no notification
        store.set(P("/3/0/9"), 70)  # 17 from the last notified 87
        _, value = await asyncio.wait_for(sent.get(), 2)
        assert value == 70
        assert sent.empty()
        task.cancel()
    asyncio.run(test())


def test_delete_forgets_the_attributes_under_it() -> None:
    attrs = Attributes()
    attrs.write(Path(16), ["pmin=5"], numeric=False)
    attrs.write(Path(16, 0), ["pmax=60"], numeric=False)
    attrs.write(Path(16, 0, 0), ["pmin=2"], numeric=False)
    attrs.write(Path(16, 1), ["pmax=30"], numeric=False)
    attrs.forget(Path(16, 0))
    assert attrs.effective(Path(16, 0, 0)) == {"pmin": "5"}  # the object's own stay
    assert attrs.effective(Path(16, 1)) == {"pmin": "5", "pmax": "30"}
