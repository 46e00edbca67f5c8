"""Control actions (sideload, reboot, …), bootstrap, and each fault seen over the wire."""

from __future__ import annotations

import pytest
from aiocoap import Code

from conformance.declaration import builtin_declaration
from conformance.errors import ProtocolError
from conformance.lwm2m import codecs
from conformance.lwm2m.codecs import parse_links
from conformance.lwm2m.model import ContentFormat, Path
from conformance.lwm2m.objects import ObjectRegistry

from .conftest import DeviceRunner, StubServer, nosec_declaration

P = Path.parse
REGISTRY = ObjectRegistry.builtin()
DECLARED = builtin_declaration("lwm2m")
SIDELOAD = {"firmware_version": "FW-1.5.0", "host_software_version": "41",
            "host_model": "Arrow22"}


def text(stub: StubServer, remote: object, path: str) -> str:
    response = stub.request(remote, Code.GET, path, accept=0)
    assert response.code == Code.CONTENT, (path, response)
    return response.payload.decode()


def start(devices: DeviceRunner, stub: StubServer, *faults: str, **kw: object):  # type: ignore[no-untyped-def]
    device = devices.start(*faults, server=stub.uri, **kw)
    return device, stub.next_event("register")


# ---------------------------------------------------------------------- actions


def test_sideload_updates_values_then_registration(devices: DeviceRunner,
                                                   stub: StubServer) -> None:
    device, _ = start(devices, stub)
    devices.call(device.sideload_update(SIDELOAD))
    update = stub.next_event("update")
    assert text(stub, update.remote, "/3/0/3") == "FW-1.5.0"
    assert text(stub, update.remote, "/10241/0/5908") == "41"
    assert text(stub, update.remote, "/10241/0/5906") == "Arrow22"
    assert text(stub, update.remote, "/10241/0/5905") == DECLARED.host.manufacturer


def test_sideload_survives_restart_with_state_dir(devices: DeviceRunner,
                                                  stub: StubServer) -> None:
    device, _ = start(devices, stub)
    devices.call(device.sideload_update(SIDELOAD))
    stub.next_event("update")
    assert device.options.state_dir is not None
    from conformance.simulators.lwm2m_state import DeviceState

    again = DeviceState.load(DECLARED, device.options.state_dir)
    assert (again.firmware_version, again.host_software_version) == ("FW-1.5.0", "41")


def test_trigger_session_reboot_set_host_values(devices: DeviceRunner, stub: StubServer) -> None:
    device, _ = start(devices, stub)
    devices.call(device.trigger_session({}))
    stub.next_event("update")
    devices.call(device.set_host_values({"unique_id": "NEWID42"}))
    stub.next_event("update")  # the host wrote new values: the server is told (ATT-DMIG-4.4)
    devices.call(device.reboot({}))
    event = stub.next_event("register")
    assert text(stub, event.remote, "/10241/0/5907") == "NEWID42"


HOST_PATHS = ("/10241/0/5905", "/10241/0/5906", "/10241/0/5907", "/10241/0/5908")


def host_texts(stub: StubServer, remote: object) -> list[str]:
    return [text(stub, remote, p) for p in HOST_PATHS]


DECLARED_HOST = [DECLARED.host.manufacturer, DECLARED.host.model, DECLARED.host.unique_id,
                 DECLARED.host.software_version]


def test_factory_reset_host_rewrites(devices: DeviceRunner, stub: StubServer) -> None:
    """host_identity.factory_reset host-rewrites (built-in): the module clears the values and
    the host writes them again once the module is back."""
    assert DECLARED.host_identity.factory_reset == "host-rewrites"
    device, event = start(devices, stub)
    assert host_texts(stub, event.remote) == DECLARED_HOST  # registered: it answers
    devices.call(device.factory_reset({}))
    event = after_deregister(stub)
    assert host_texts(stub, event.remote) == DECLARED_HOST


def after_deregister(stub: StubServer):  # type: ignore[no-untyped-def]
    """The Register that follows the De-register (a retransmitted earlier Register may come
    first)."""
    while stub.next_event().kind != "deregister":
        pass
    return stub.next_event("register")


def test_host_values_lost_on_reboot_fault(devices: DeviceRunner, stub: StubServer) -> None:
    device, _ = start(devices, stub, "host-values-lost-on-reboot")
    devices.call(device.reboot({}))
    event = stub.next_event("register")
    assert host_texts(stub, event.remote) == ["", "", "", ""]


def test_host_values_lost_on_factory_reset_fault(devices: DeviceRunner,
                                                 stub: StubServer) -> None:
    device, _ = start(devices, stub, "host-values-lost-on-factory-reset")
    devices.call(device.reboot({}))
    assert host_texts(stub, stub.next_event("register").remote) == DECLARED_HOST
    devices.call(device.factory_reset({}))
    assert host_texts(stub, after_deregister(stub).remote) == ["", "", "", ""]


def test_set_host_values_not_reported_fault(devices: DeviceRunner, stub: StubServer) -> None:
    device, event = start(devices, stub, "set-host-values-not-reported")
    devices.call(device.set_host_values({"software_version": "41"}))
    stub.no_event(1.0)
    assert text(stub, event.remote, "/10241/0/5908") == "41"  # read at once, just not told


def test_factory_reset_deregisters_then_registers_again(devices: DeviceRunner,
                                                        stub: StubServer) -> None:
    """TS 1.1 §6.2.3: a client that no longer needs the server (factory reset) De-registers."""
    device, event = start(devices, stub)
    stub.request(event.remote, Code.PUT, "/3/0/9", uri_query=["pmax=30"])
    devices.call(device.factory_reset({}))
    stub.next_event("deregister")
    stub.next_event("register")
    assert device.site is not None and device.site.attributes.by_path == {}


def test_no_deregister_on_factory_reset_fault(devices: DeviceRunner, stub: StubServer) -> None:
    device, _ = start(devices, stub, "no-deregister-on-factory-reset")
    devices.call(device.factory_reset({}))
    stub.next_event("register")  # straight away: no De-register before it


def test_factory_server_instance_as_declared(devices: DeviceRunner, stub: StubServer) -> None:
    """--server-instance 1: the factory Server object instance is /1/1 (Anjay's demo client)."""
    _, event = start(devices, stub, server_instance=1)
    assert "</1/1>" in event.payload.decode() and "</1/0>" not in event.payload.decode()
    answer = stub.request(event.remote, Code.GET, "/1/1/0", accept=0)
    assert answer.code == Code.CONTENT and answer.payload == b"1"


def test_bootstrap_then_register_with_written_account(devices: DeviceRunner,
                                                      stub: StubServer) -> None:
    devices.start(bootstrap=stub.uri)
    request = stub.next_event("bootstrap")
    assert request.params == {"ep": DECLARED.lwm2m.endpoint}  # type: ignore[union-attr]
    bs = request.remote
    assert stub.request(bs, Code.DELETE, "/").code == Code.DELETED
    security = codecs.encode(ContentFormat.TLV, P("/0/1"), {
        P("/0/1/0"): stub.uri, P("/0/1/1"): False, P("/0/1/2"): 3, P("/0/1/3"): b"",
        P("/0/1/4"): b"", P("/0/1/5"): b"", P("/0/1/10"): 101}, REGISTRY)
    server = codecs.encode(ContentFormat.TLV, P("/1/0"), {
        P("/1/0/0"): 101, P("/1/0/1"): 120, P("/1/0/6"): False, P("/1/0/7"): "U"}, REGISTRY)
    assert stub.request(bs, Code.PUT, "/0/1", content_format=11542,
                        payload=security).code == Code.CHANGED
    assert stub.request(bs, Code.PUT, "/1/0", content_format=11542,
                        payload=server).code == Code.CHANGED
    found = stub.request(bs, Code.GET, "/", accept=40).payload.decode()
    assert "</0/1>;ssid=101" in found and "</1/0>;ssid=101" in found
    assert stub.request(bs, Code.POST, "/bs").code == Code.CHANGED
    event = stub.next_event("register")
    assert event.params["lt"] == "120"
    objects = codecs.object_links(parse_links(event.payload.decode()))
    assert objects[10241] == [0] and 0 in objects[5]  # Delete of / kept the device's objects
    # the executables the client implements exist in the instance the bootstrap wrote (the
    # stub is bootstrap and DM server at one address, so look inside rather than Discover)
    assert {4, 8, 9} <= set(devices.devices[0].store.instance(1, 0))


def test_bootstrap_finish_without_account_is_406(devices: DeviceRunner,
                                                 stub: StubServer) -> None:
    devices.start(bootstrap=stub.uri)
    bs = stub.next_event("bootstrap").remote
    assert stub.request(bs, Code.POST, "/bs").code == Code.NOT_ACCEPTABLE


def test_more_host_instances_follow_a_sideload(devices: DeviceRunner, stub: StubServer) -> None:
    device, event = start(devices, stub, host_instances=2)
    assert codecs.object_links(parse_links(event.payload.decode()))[10241] == [0, 1]
    devices.call(device.sideload_update({"host_software_version": "50"}))
    update = stub.next_event("update")
    assert text(stub, update.remote, "/10241/0/5908") == "50"
    assert text(stub, update.remote, "/10241/1/5908") == "50"


# ---------------------------------------------------------------------- faults


def test_fault_no_host_object(devices: DeviceRunner, stub: StubServer) -> None:
    _, event = start(devices, stub, "no-host-object")
    assert 10241 not in codecs.object_links(parse_links(event.payload.decode()))
    assert stub.request(event.remote, Code.GET, "/10241/0", accept=112).code == Code.NOT_FOUND


def test_fault_host_object_not_in_links(devices: DeviceRunner, stub: StubServer) -> None:
    _, event = start(devices, stub, "host-object-not-in-links")
    assert 10241 not in codecs.object_links(parse_links(event.payload.decode()))
    assert text(stub, event.remote, "/10241/0/5905") == DECLARED.host.manufacturer


def test_fault_host_object_writable(devices: DeviceRunner, stub: StubServer) -> None:
    _, event = start(devices, stub, "host-object-writable")
    written = stub.request(event.remote, Code.PUT, "/10241/0/5905", content_format=0,
                           payload=b"Hacked")
    assert written.code == Code.CHANGED
    assert text(stub, event.remote, "/10241/0/5905") == "Hacked"


@pytest.mark.parametrize(("fault", "path", "declared"), [
    ("wrong-host-values", "/10241/0/5905", DECLARED.host.manufacturer),
    ("wrong-device-values", "/3/0/0", DECLARED.device.manufacturer),
])
def test_fault_wrong_values(devices: DeviceRunner, stub: StubServer, fault: str, path: str,
                            declared: str) -> None:
    _, event = start(devices, stub, fault)
    assert text(stub, event.remote, path) != declared


@pytest.mark.parametrize(("fault", "fmt"), [
    ("tlv-length-bug", ContentFormat.TLV),
    ("senml-cbor-broken", ContentFormat.SENML_CBOR),
])
def test_fault_broken_encoding(devices: DeviceRunner, stub: StubServer, fault: str,
                               fmt: ContentFormat) -> None:
    _, event = start(devices, stub, fault)
    response = stub.request(event.remote, Code.GET, "/10241/0", accept=int(fmt))
    assert response.code == Code.CONTENT
    with pytest.raises(ProtocolError):
        codecs.decode(fmt, P("/10241/0"), response.payload, REGISTRY)
    # the other formats stay correct
    good = stub.request(event.remote, Code.GET, "/10241/0", accept=110)
    assert codecs.decode(110, P("/10241/0"), good.payload, REGISTRY)[P("/10241/0/5905")] == (
        DECLARED.host.manufacturer)


def test_fault_no_registration_update(devices: DeviceRunner, stub: StubServer) -> None:
    device, event = start(devices, stub, "no-registration-update",
                          declaration=nosec_declaration(lifetime=1))
    assert stub.request(event.remote, Code.POST, "/1/0/8").code == Code.CHANGED
    devices.call(device.trigger_session({}))
    stub.no_event(within=1.5)  # lifetime 1 s: a conforming device updates after 1 s


def test_fault_ignores_update_trigger(devices: DeviceRunner, stub: StubServer) -> None:
    device, event = start(devices, stub, "ignores-update-trigger")
    assert stub.request(event.remote, Code.POST, "/1/0/8").code == Code.CHANGED
    stub.no_event(within=0.5)
    devices.call(device.trigger_session({}))  # other updates still happen
    stub.next_event("update")


def test_fault_update_trigger_once(devices: DeviceRunner, stub: StubServer) -> None:
    _, event = start(devices, stub, "update-trigger-once")
    assert stub.request(event.remote, Code.POST, "/1/0/8").code == Code.CHANGED
    stub.next_event("update")  # the first trigger is honoured
    assert stub.request(event.remote, Code.POST, "/1/0/8").code == Code.CHANGED
    stub.no_event(within=0.5)  # the second brings none


def test_fault_update_trigger_unanswered(devices: DeviceRunner, stub: StubServer) -> None:
    _, event = start(devices, stub, "update-trigger-unanswered")
    with pytest.raises(TimeoutError):  # acknowledged by aiocoap, never answered
        stub.request(event.remote, Code.POST, "/1/0/8", timeout=1.0)
    assert text(stub, event.remote, "/3/0/0")  # other requests are still answered


def test_fault_no_post_update_update(devices: DeviceRunner, stub: StubServer) -> None:
    device, event = start(devices, stub, "no-post-update-update")
    devices.call(device.sideload_update(SIDELOAD))
    stub.no_event(within=0.5)
    assert text(stub, event.remote, "/3/0/3") == "FW-1.5.0"  # values changed, no Update


def test_fault_renewal_at_update(devices: DeviceRunner, stub: StubServer) -> None:
    """The sideload goes unreported but a lifetime renewal goes out with it, unless a
    triggered Update has just restarted the renewal timer."""
    device, event = start(devices, stub, "renewal-at-update")
    devices.call(device.sideload_update(SIDELOAD))
    assert stub.next_event("update").kind == "update"  # the renewal, due at that moment
    assert stub.request(event.remote, Code.POST, "/1/0/8").code == Code.CHANGED
    stub.next_event("update")  # the trigger's
    devices.call(device.sideload_update({**SIDELOAD, "firmware_version": "FW-1.6.0"}))
    stub.no_event(within=0.5)
    assert text(stub, event.remote, "/3/0/3") == "FW-1.6.0"  # values changed, no Update


def test_fault_stale_host_values(devices: DeviceRunner, stub: StubServer) -> None:
    device, _ = start(devices, stub, "stale-host-values")
    devices.call(device.sideload_update(SIDELOAD))
    update = stub.next_event("update")
    assert text(stub, update.remote, "/3/0/3") == "FW-1.5.0"
    assert text(stub, update.remote, "/10241/0/5908") == DECLARED.host.software_version
