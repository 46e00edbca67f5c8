"""Registries for the codec tests: the shipped objects plus test objects from the LwM2M TS."""

from __future__ import annotations

import pytest

from conformance.lwm2m.objects import ObjectRegistry, load_ddf

_ITEM = (
    '<Item ID="{id}"><Name>r{id}</Name><Operations>{ops}</Operations>'
    "<MultipleInstances>{mult}</MultipleInstances><Mandatory>Optional</Mandatory>"
    "<Type>{type}</Type><RangeEnumeration/><Units/><Description/></Item>"
)


def ddf(object_id: int, items: list[tuple[int, str, str, str]], multiple: bool = True) -> bytes:
    """A minimal DDF document: items are (id, operations, Single|Multiple, type)."""
    body = "".join(_ITEM.format(id=i, ops=o, mult=m, type=t) for i, o, m, t in items)
    return (
        f"<LWM2M><Object ObjectType=\"MODefinition\"><Name>test {object_id}</Name>"
        f"<ObjectID>{object_id}</ObjectID><ObjectURN>urn:oma:lwm2m:x:{object_id}</ObjectURN>"
        f"<MultipleInstances>{'Multiple' if multiple else 'Single'}</MultipleInstances>"
        f"<Mandatory>Optional</Mandatory><Resources>{body}</Resources></Object></LWM2M>"
    ).encode()


# Objects 65 and 66 of the LwM2M TS 1.0 TLV examples (figure 28), as Leshan's
# LwM2mNodeDecoderTest (eclipse-leshan/leshan, leshan-core/src/test/java/org/eclipse/leshan/
# core/node/codec/LwM2mNodeDecoderTest.java) defines them.
OBJ65 = ddf(65, [(0, "R", "Multiple", "Objlnk"), (1, "R", "Single", "String"),
                 (2, "R", "Single", "Integer")])
OBJ66 = ddf(66, [(0, "R", "Single", "String"), (1, "R", "Single", "String"),
                 (2, "R", "Single", "Objlnk")])

# One resource of every type, single (ids 0-8) and multiple (ids 10-18), for property tests.
TYPES = ["String", "Integer", "Unsigned Integer", "Float", "Boolean", "Opaque", "Time",
         "Objlnk", "Corelnk"]
ALL_TYPES_ID = 60000
ALL_TYPES = ddf(
    ALL_TYPES_ID,
    [(i, "RW", "Single", t) for i, t in enumerate(TYPES)]
    + [(10 + i, "RW", "Multiple", t) for i, t in enumerate(TYPES)]
    + [(20, "E", "Single", "")],
)


def make_registry() -> ObjectRegistry:
    registry = ObjectRegistry.builtin()
    for doc in (OBJ65, OBJ66, ALL_TYPES):
        for obj in load_ddf(doc, source="test"):
            registry.add(obj)
    return registry


@pytest.fixture(scope="session")
def registry() -> ObjectRegistry:
    return make_registry()
