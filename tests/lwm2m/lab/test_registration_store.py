"""The registration store's peer index follows registrations, address changes and removals."""

from __future__ import annotations

import asyncio

from conformance.lwm2m.registrations import Registration, RegistrationStore


def reg(store: RegistrationStore, endpoint: str, peer: str) -> Registration:
    return Registration(
        endpoint=endpoint,
        location=store.new_location(),
        lifetime=60,
        lwm2m="1.1",
        binding="U",
        sms=None,
        queue=False,
        links=[],
        objects={},
        peer=peer,
        secure=False,
        query="",
        registered_at=0.0,
        updated_at=0.0,
    )


def test_peer_index_follows_updates_and_removals() -> None:
    async def scenario() -> None:
        store = RegistrationStore()
        a = reg(store, "ep-a", "10.0.0.1:5683")
        b = reg(store, "ep-b", "10.0.0.2:5683")
        store.register(a)
        store.register(b)
        assert store.by_peer("10.0.0.1:5683") is a and store.by_peer("10.0.0.2:5683") is b
        a.peer = "10.0.0.9:4000"  # the server sets the new address, then records the Update
        store.update(a)
        assert store.by_peer("10.0.0.1:5683") is None
        assert store.by_peer("10.0.0.9:4000") is a
        again = reg(store, "ep-a", "10.0.0.9:4000")  # re-registration replaces a
        store.register(again)
        assert store.by_peer("10.0.0.9:4000") is again
        store.deregister(again)
        assert store.by_peer("10.0.0.9:4000") is None
        assert store.by_peer("10.0.0.2:5683") is b
        store.clear()

    asyncio.run(scenario())


def test_two_endpoints_from_one_address_keep_the_slot() -> None:
    async def scenario() -> None:
        store = RegistrationStore()
        first, second = reg(store, "one", "p:1"), reg(store, "two", "p:1")
        store.register(first)
        store.register(second)
        assert store.by_peer("p:1") is second
        store.deregister(second)
        assert store.by_peer("p:1") is first  # the other endpoint at that address remains
        store.clear()

    asyncio.run(scenario())
