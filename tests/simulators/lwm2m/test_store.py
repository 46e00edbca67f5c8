"""Object store semantics: the access rules of the LwM2M object model, without sockets."""

from __future__ import annotations

import pytest
from aiocoap import Code

from conformance.declaration import builtin_declaration
from conformance.lwm2m.model import Path
from conformance.lwm2m.objects import ObjectRegistry
from conformance.simulators import lwm2m_objects as objs
from conformance.simulators.lwm2m_faults import Faults
from conformance.simulators.lwm2m_state import DeviceState
from conformance.simulators.lwm2m_store import ObjectStore, OperationError, Role

P = Path.parse


def make_store(*faults: str) -> ObjectStore:
    declaration = builtin_declaration("lwm2m")
    store = ObjectStore(ObjectRegistry.builtin())
    objs.populate(store, declaration, DeviceState.from_declaration(declaration), Faults(faults))
    store.set_instance(objs.SECURITY, 0, objs.security_instance(
        "coap://127.0.0.1:5683", bootstrap=False, ssid=1))
    store.set_instance(objs.SERVER, 0, objs.server_instance(
        ssid=1, lifetime=300, binding="U", bootstrap_trigger=False))
    return store


def refused(code: Code, fn, *args, **kwargs) -> OperationError:  # type: ignore[no-untyped-def]
    with pytest.raises(OperationError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, info.value
    return info.value


def test_read_resource_instance_object() -> None:
    store = make_store()
    declaration = builtin_declaration("lwm2m")
    assert store.read(P("/3/0/0")) == {P("/3/0/0"): declaration.device.manufacturer}
    instance = store.read(P("/10241/0"))
    assert instance[P("/10241/0/5905")] == declaration.host.manufacturer
    assert instance[P("/10241/0/5908")] == declaration.host.software_version
    whole = store.read(P("/3"))
    assert P("/3/0/4") not in whole  # executable: no value in a Read
    assert whole[P("/3/0/6/1")] == 5  # multiple resource flattened to its instances
    assert store.read(P("/3/0/6/0")) == {P("/3/0/6/0"): 1}


def test_missing_things_are_404() -> None:
    store = make_store()
    for path in ("/42", "/3/1", "/3/0/99", "/3/0/6/7", "/3/0/22"):
        refused(Code.NOT_FOUND, store.read, P(path))


def test_security_object_hidden_from_dm_server_only() -> None:
    store = make_store()
    refused(Code.UNAUTHORIZED, store.read, P("/0/0"))
    refused(Code.UNAUTHORIZED, store.present, P("/0"))
    assert store.read(P("/0/0/0"), Role.BOOTSTRAP) == {P("/0/0/0"): "coap://127.0.0.1:5683"}


def test_read_of_write_only_and_executable_is_405() -> None:
    store = make_store()
    store.set_instance(objs.FIRMWARE, 0, {0: None, 2: None, 3: 0})
    refused(Code.METHOD_NOT_ALLOWED, store.read, P("/5/0/0"))
    refused(Code.METHOD_NOT_ALLOWED, store.read, P("/3/0/4"))


def test_write_read_only_is_405_and_keeps_value() -> None:
    store = make_store()
    before = store.read(P("/10241/0/5905"))
    refused(Code.METHOD_NOT_ALLOWED, store.write, P("/10241/0/5905"),
            {P("/10241/0/5905"): "X"}, replace=True)
    refused(Code.METHOD_NOT_ALLOWED, store.write, P("/10241/0"),
            {P("/10241/0/5906"): "X"}, replace=False)
    assert store.read(P("/10241/0/5905")) == before


def test_host_object_writable_fault_accepts_write() -> None:
    store = make_store("host-object-writable")
    store.write(P("/10241/0/5905"), {P("/10241/0/5905"): "Changed"}, replace=True)
    assert store.read(P("/10241/0/5905")) == {P("/10241/0/5905"): "Changed"}


def test_write_writable_resource_and_partial_update() -> None:
    store = make_store()
    store.write(P("/1/0/1"), {P("/1/0/1"): 60}, replace=True)
    store.write(P("/1/0"), {P("/1/0/2"): 5, P("/1/0/3"): 50}, replace=False)
    got = store.read(P("/1/0"))
    assert (got[P("/1/0/1")], got[P("/1/0/2")], got[P("/1/0/3")]) == (60, 5, 50)


def test_write_outside_target_or_on_object_is_refused() -> None:
    store = make_store()
    refused(Code.BAD_REQUEST, store.write, P("/1/0/1"), {P("/1/0/2"): 1}, replace=True)
    refused(Code.METHOD_NOT_ALLOWED, store.write, P("/1"), {P("/1/0/1"): 1}, replace=True)
    refused(Code.NOT_FOUND, store.write, P("/1/0/99"), {P("/1/0/99"): 1}, replace=True)


def test_execute_rules_and_hook() -> None:
    store = make_store()
    calls: list[tuple[int, bytes]] = []
    store.hooks.execute[(3, 4)] = lambda iid, args: calls.append((iid, args))
    store.execute(P("/3/0/4"), b"0='x'")
    assert calls == [(0, b"0='x'")]
    refused(Code.METHOD_NOT_ALLOWED, store.execute, P("/3/0/0"), b"")
    refused(Code.METHOD_NOT_ALLOWED, store.execute, P("/3/0"), b"")
    refused(Code.NOT_FOUND, store.execute, P("/3/7/4"), b"")


def test_create_and_delete_multi_instance_object() -> None:
    store = make_store()
    iid = store.create(P("/10241"), {P("/10241/3/5905"): "Other", P("/10241/3/5906"): "M"})
    assert iid == 3
    assert store.read(P("/10241/3/5905")) == {P("/10241/3/5905"): "Other"}
    auto = store.create(P("/10241"), {})
    assert auto == 1  # lowest free id
    refused(Code.BAD_REQUEST, store.create, P("/10241"), {P("/10241/3/5905"): "dup"})
    store.delete(P("/10241/3"))
    refused(Code.NOT_FOUND, store.read, P("/10241/3"))
    refused(Code.NOT_FOUND, store.delete, P("/10241/3"))


def test_single_instance_objects_refuse_create_and_delete() -> None:
    store = make_store()
    refused(Code.METHOD_NOT_ALLOWED, store.create, P("/3"), {})
    refused(Code.METHOD_NOT_ALLOWED, store.delete, P("/3/0"))
    refused(Code.METHOD_NOT_ALLOWED, store.delete, P("/1/0"))
    refused(Code.METHOD_NOT_ALLOWED, store.delete, P("/10241"))


def test_bootstrap_write_and_delete() -> None:
    store = make_store()
    store.set_instance(objs.SECURITY, 9, objs.security_instance(
        "coap://bs", bootstrap=True, ssid=0))
    store.bootstrap_delete_all()
    assert store.instance_ids(objs.SECURITY) == [9]  # the bootstrap account survives
    assert store.instance_ids(objs.SERVER) == []
    assert store.instance_ids(objs.DEVICE) == [0]  # /3 is never deleted
    assert store.instance_ids(objs.HOST) == [0]  # nor the device's other own objects
    refused(Code.BAD_REQUEST, store.delete, P("/10241"), Role.BOOTSTRAP)
    store.set_instance(objs.SERVER, 3, {0: 5})
    store.delete(P("/1/3"), Role.BOOTSTRAP)
    assert store.instance_ids(objs.SERVER) == []
    store.write(P("/0/1"), {P("/0/1/0"): "coaps://lab:5684", P("/0/1/1"): False,
                            P("/0/1/2"): 0, P("/0/1/10"): 7}, replace=True, role=Role.BOOTSTRAP)
    store.write(P("/1/0"), {P("/1/0/0"): 7, P("/1/0/1"): 30, P("/1/0/7"): "U"},
                replace=True, role=Role.BOOTSTRAP)
    assert store.instance(objs.SECURITY, 1)[0] == "coaps://lab:5684"
    assert store.instance(objs.SERVER, 0)[1] == 30


def test_bootstrapped_instance_starts_with_the_defaults() -> None:
    """A Server instance a bootstrap server writes has the device's optional resources (the
    ETS int-551/555 cases find /1/x/2, 3, 5 by Discover); what was written wins."""
    store = make_store()
    store.bootstrap_delete_all()
    store.defaults[objs.SERVER] = objs.server_defaults()
    store.write(P("/1/0"), {P("/1/0/0"): 7, P("/1/0/1"): 30, P("/1/0/2"): 5}, replace=True,
                role=Role.BOOTSTRAP)
    instance = store.instance(objs.SERVER, 0)
    assert (instance[2], instance[3], instance[5]) == (5, 0, 86400)


def test_present_lists_executables_for_discover() -> None:
    store = make_store()
    present = store.present(P("/3/0"))
    assert P("/3/0/4") in present and present[P("/3/0/4")] is None
    assert P("/3/0/6/1") in present
    refused(Code.NOT_FOUND, store.present, P("/3/0/99"))


def test_listeners_hear_changes() -> None:
    store = make_store()
    heard: list[Path] = []
    unsubscribe = store.subscribe(heard.append)
    store.set(P("/3/0/9"), 50)
    unsubscribe()
    store.set(P("/3/0/9"), 40)
    assert heard == [P("/3/0/9")]


@pytest.mark.parametrize(
    ("fault", "path", "declared"),
    [
        ("wrong-device-values", "/3/0/0", lambda d: d.device.manufacturer),
        ("wrong-host-values", "/10241/0/5905", lambda d: d.host.manufacturer),
    ],
)
def test_value_faults_change_exactly_their_value(fault: str, path: str, declared) -> None:  # type: ignore[no-untyped-def]
    declaration = builtin_declaration("lwm2m")
    clean, broken = make_store(), make_store(fault)
    assert clean.read(P(path))[P(path)] == declared(declaration)
    assert broken.read(P(path))[P(path)] != declared(declaration)
    # everything else is the same
    for obj in ("/3", "/10241"):
        a, b = clean.read(P(obj)), broken.read(P(obj))
        for volatile in (P(path), P("/3/0/13")):  # the faulty value, and the clock
            a.pop(volatile, None)
            b.pop(volatile, None)
        assert a == b


def test_no_host_object_fault() -> None:
    refused(Code.NOT_FOUND, make_store("no-host-object").read, P("/10241/0"))


def test_write_composite_spans_objects_and_merges_resource_instances() -> None:
    store = make_store()
    store.create(Path(16), {Path(16, 0, 0, 0): "a", Path(16, 0, 0, 1): "b"})
    store.write_composite({Path(1, 0, 6): True, Path(16, 0, 0, 1): "bb", Path(16, 0, 0, 2): "c"})
    assert store.read(Path(1, 0, 6)) == {Path(1, 0, 6): True}
    assert store.read(Path(16, 0, 0)) == {Path(16, 0, 0, 0): "a", Path(16, 0, 0, 1): "bb",
                                          Path(16, 0, 0, 2): "c"}


def test_write_composite_refusal_changes_nothing() -> None:
    store = make_store()
    before = store.read(Path(1, 0, 6))
    with pytest.raises(OperationError) as refused:  # /3/0/0 is read-only
        store.write_composite({Path(1, 0, 6): not before[Path(1, 0, 6)], Path(3, 0, 0): "x"})
    assert refused.value.code == Code.METHOD_NOT_ALLOWED
    assert store.read(Path(1, 0, 6)) == before
    with pytest.raises(OperationError):  # no such instance
        store.write_composite({Path(16, 9, 0, 0): "x"})
