"""The device (in this process, real UDP sockets) against the stub LwM2M server."""

from __future__ import annotations

import pytest
from aiocoap import ACK, CON, RST, Code, Message

from conformance.declaration import builtin_declaration
from conformance.lwm2m import codecs
from conformance.lwm2m.codecs import parse_links
from conformance.lwm2m.model import ContentFormat, Path
from conformance.lwm2m.objects import ObjectRegistry

from .conftest import DeviceRunner, StubServer

P = Path.parse
REGISTRY = ObjectRegistry.builtin()
DECLARED = builtin_declaration("lwm2m")
FORMATS = [ContentFormat.TEXT, ContentFormat.TLV, ContentFormat.LWM2M_JSON,
           ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR]


def registered(devices: DeviceRunner, stub: StubServer, *faults: str, **kw):  # type: ignore[no-untyped-def]
    devices.start(*faults, server=stub.uri, **kw)
    return stub.next_event("register")


def test_register_parameters_and_links(devices: DeviceRunner, stub: StubServer) -> None:
    event = registered(devices, stub)
    assert event.params == {"ep": DECLARED.lwm2m.endpoint, "lt": "300",  # type: ignore[union-attr]
                            "lwm2m": "1.1", "b": "U"}
    links = parse_links(event.payload.decode())
    assert links[0].target == "/" and links[0].value("rt") == "oma.lwm2m"
    objects = codecs.object_links(links)
    assert objects[10241] == [0] and 0 in objects[1] and 0 in objects[3] and 0 in objects[5]
    assert 0 not in objects  # the Security object is never announced


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path", ["/10241/0/5905", "/10241/0/5908", "/10241/0", "/3/0"])
def test_read_every_format(devices: DeviceRunner, stub: StubServer, fmt: ContentFormat,
                           path: str) -> None:
    remote = registered(devices, stub).remote
    target = P(path)
    response = stub.request(remote, Code.GET, path, accept=int(fmt))
    if fmt is ContentFormat.TEXT and target.depth < 3:
        assert response.code == Code.NOT_ACCEPTABLE
        return
    assert response.code == Code.CONTENT and response.opt.content_format == int(fmt)
    content = codecs.decode(fmt, target, response.payload, REGISTRY)
    if target.object_id == 10241:
        expected = {5905: DECLARED.host.manufacturer, 5906: DECLARED.host.model,
                    5907: DECLARED.host.unique_id, 5908: DECLARED.host.software_version}
        for rid, value in expected.items():
            if target.resource_id in (None, rid):
                assert content[P(f"/10241/0/{rid}")] == value
    else:
        assert content[P("/3/0/0")] == DECLARED.device.manufacturer
        assert content[P("/3/0/3")] == DECLARED.device.firmware_version


def test_default_format_and_opaque(devices: DeviceRunner, stub: StubServer) -> None:
    remote = registered(devices, stub).remote
    response = stub.request(remote, Code.GET, "/10241/0")
    assert response.opt.content_format == int(ContentFormat.SENML_CBOR)  # 1.1 default here
    assert stub.request(remote, Code.GET, "/3/0/0", accept=42).code == Code.NOT_ACCEPTABLE
    assert stub.request(remote, Code.GET, "/3/0/0", accept=50).code == Code.NOT_ACCEPTABLE


def test_tlv_default_for_lwm2m_1_0(devices: DeviceRunner, stub: StubServer) -> None:
    from .conftest import nosec_declaration

    event = registered(devices, stub, declaration=nosec_declaration(version="1.0"))
    assert event.params["lwm2m"] == "1.0"
    response = stub.request(event.remote, Code.GET, "/10241/0")
    assert response.opt.content_format == int(ContentFormat.TLV)


@pytest.mark.parametrize(
    ("code", "path", "options", "expected"),
    [
        (Code.PUT, "/10241/0/5905", {"content_format": 0, "payload": b"x"},
         Code.METHOD_NOT_ALLOWED),
        (Code.POST, "/3/0/0", {}, Code.METHOD_NOT_ALLOWED),  # Execute a readable resource
        (Code.GET, "/3/0/4", {}, Code.METHOD_NOT_ALLOWED),  # Read an executable
        (Code.GET, "/42/0", {}, Code.NOT_FOUND),
        (Code.GET, "/3/9", {}, Code.NOT_FOUND),
        (Code.GET, "/3/0/99", {}, Code.NOT_FOUND),
        (Code.GET, "/0/0", {}, Code.UNAUTHORIZED),  # Security object from a DM server
        (Code.GET, "/not/a/path", {}, Code.NOT_FOUND),
        (Code.PUT, "/1/0/1", {"content_format": 50, "payload": b"{}"},
         Code.UNSUPPORTED_CONTENT_FORMAT),
        (Code.PUT, "/1/0/1", {"content_format": 0, "payload": b"abc"}, Code.BAD_REQUEST),
        (Code.PUT, "/1/0", {"content_format": 11542, "payload": b"\xff\xff"}, Code.BAD_REQUEST),
        (Code.PUT, "/1/0/1", {"payload": b"60"}, Code.BAD_REQUEST),  # no Content-Format
        (Code.FETCH, "/3/0", {}, Code.METHOD_NOT_ALLOWED),
    ],
)
def test_refusals(devices: DeviceRunner, stub: StubServer, code: Code, path: str,
                  options: dict[str, object], expected: Code) -> None:
    remote = registered(devices, stub).remote
    response = stub.request(remote, code, path, **options)
    assert response.code == expected, response.payload
    # and the device is still fine afterwards
    assert stub.request(remote, Code.GET, "/3/0/0", accept=0).payload == b"Conformance Lab"


def test_write_then_read_back(devices: DeviceRunner, stub: StubServer) -> None:
    remote = registered(devices, stub).remote
    assert stub.request(remote, Code.PUT, "/1/0/2", content_format=0,
                        payload=b"7").code == Code.CHANGED
    assert stub.request(remote, Code.GET, "/1/0/2", accept=0).payload == b"7"
    payload = codecs.encode(ContentFormat.TLV, P("/1/0"), {P("/1/0/3"): 70}, REGISTRY)
    assert stub.request(remote, Code.POST, "/1/0", content_format=11542,
                        payload=payload).code == Code.CHANGED
    assert stub.request(remote, Code.GET, "/1/0/3", accept=0).payload == b"70"


def test_lifetime_write_sends_update_with_lt(devices: DeviceRunner, stub: StubServer) -> None:
    remote = registered(devices, stub).remote
    assert stub.request(remote, Code.PUT, "/1/0/1", content_format=0,
                        payload=b"120").code == Code.CHANGED
    assert stub.next_event("update").params == {"lt": "120"}


def test_create_delete_and_discover(devices: DeviceRunner, stub: StubServer) -> None:
    remote = registered(devices, stub).remote
    payload = codecs.encode(ContentFormat.SENML_JSON, P("/10241"),
                            {P("/10241/4/5905"): "Second Host", P("/10241/4/5906"): "M2"},
                            REGISTRY)
    created = stub.request(remote, Code.POST, "/10241", content_format=110, payload=payload)
    assert created.code == Code.CREATED and list(created.opt.location_path) == ["10241", "4"]
    assert stub.request(remote, Code.GET, "/10241/4/5905", accept=0).payload == b"Second Host"
    found = stub.request(remote, Code.GET, "/10241", accept=40)
    targets = [link.target for link in parse_links(found.payload.decode())]
    assert "/10241/0/5905" in targets and "/10241/4" in targets
    assert stub.request(remote, Code.DELETE, "/10241/4").code == Code.DELETED
    assert stub.request(remote, Code.GET, "/10241/4", accept=112).code == Code.NOT_FOUND
    assert stub.request(remote, Code.DELETE, "/3/0").code == Code.METHOD_NOT_ALLOWED


def test_write_attributes_show_in_discover(devices: DeviceRunner, stub: StubServer) -> None:
    remote = registered(devices, stub).remote
    ok = stub.request(remote, Code.PUT, "/3/0/9", uri_query=["pmin=2", "pmax=30", "st=5"])
    assert ok.code == Code.CHANGED
    found = stub.request(remote, Code.GET, "/3/0/9", accept=40)
    link = parse_links(found.payload.decode())[0]
    assert (link.value("pmin"), link.value("pmax"), link.value("st")) == ("2", "30", "5")
    bad = stub.request(remote, Code.PUT, "/3/0/0", uri_query=["gt=5"])
    assert bad.code == Code.BAD_REQUEST


def test_update_trigger_and_reboot(devices: DeviceRunner, stub: StubServer) -> None:
    remote = registered(devices, stub).remote
    assert stub.request(remote, Code.POST, "/1/0/8").code == Code.CHANGED
    assert stub.next_event("update").query == []
    assert stub.request(remote, Code.POST, "/3/0/4").code == Code.CHANGED
    assert stub.next_event("register").params["lt"] == "300"


def test_disable_deregisters_for_the_timeout(devices: DeviceRunner, stub: StubServer) -> None:
    remote = registered(devices, stub).remote
    assert stub.request(remote, Code.PUT, "/1/0/5", content_format=0,
                        payload=b"1").code == Code.CHANGED
    assert stub.request(remote, Code.POST, "/1/0/4").code == Code.CHANGED
    stub.next_event("deregister")
    stub.next_event("register", timeout=3.0)  # back after the 1 s Disable Timeout


def test_lifetime_update_before_expiry(devices: DeviceRunner, stub: StubServer) -> None:
    from .conftest import nosec_declaration

    registered(devices, stub, declaration=nosec_declaration(lifetime=2))
    update = stub.next_event("update", timeout=2.0)  # due at 90% of lt: 1.8 s
    assert update.query == []


def test_observe_notifications_increase(devices: DeviceRunner, stub: StubServer) -> None:
    remote = registered(devices, stub).remote
    observation = stub.observe(remote, "/3/0/15", accept=0)
    assert observation.first.code == Code.CONTENT and observation.first.opt.observe is not None
    first_seq = observation.first.opt.observe
    stub.request(remote, Code.PUT, "/3/0/15", content_format=0, payload=b"Europe/Paris")
    note = observation.next()
    assert note.payload == b"Europe/Paris" and note.opt.observe > first_seq
    stub.request(remote, Code.PUT, "/3/0/15", content_format=0, payload=b"Asia/Tokyo")
    second = observation.next()
    assert second.payload == b"Asia/Tokyo" and second.opt.observe > note.opt.observe


def test_observe_refusals(devices: DeviceRunner, stub: StubServer, raw) -> None:  # type: ignore[no-untyped-def]
    registered(devices, stub)
    peer = raw(devices.devices[0].local_address())
    for path, accept, code in ((["3", "0", "99"], 0, Code.NOT_FOUND),
                               (["3", "0", "0"], 42, Code.NOT_ACCEPTABLE),
                               (["3", "0"], 40, Code.CONTENT)):  # Discover: answered, not observed
        peer.send(Message(mtype=CON, code=Code.GET, token=b"o1", uri_path=path, observe=0,
                          accept=accept))
        answer = peer.receive()
        assert answer is not None and answer.code == code and answer.opt.observe is None


def observe_raw(raw, devices: DeviceRunner, token: bytes):  # type: ignore[no-untyped-def]
    """A raw peer observing /3/0/15 Timezone (text), after the first (piggybacked) answer."""
    peer = raw(devices.devices[0].local_address())
    peer.send(Message(mtype=CON, code=Code.GET, token=token, uri_path=["3", "0", "15"],
                      observe=0, accept=0))
    first = peer.receive()
    assert first is not None and first.mtype == ACK and first.opt.observe is not None
    return peer


def next_notification(peer, token: bytes):  # type: ignore[no-untyped-def]
    note = peer.receive()
    assert note is not None and note.token == token and note.opt.observe is not None, note
    return note


@pytest.mark.parametrize("fault", [None, "ignores-observe-cancel"])
def test_observe_cancel_by_rst(devices: DeviceRunner, stub: StubServer, raw, fault) -> None:  # type: ignore[no-untyped-def]
    remote = registered(devices, stub, *([fault] if fault else [])).remote
    peer = observe_raw(raw, devices, b"rst1")
    stub.request(remote, Code.PUT, "/3/0/15", content_format=0, payload=b"Europe/Paris")
    note = next_notification(peer, b"rst1")
    assert note.payload == b"Europe/Paris"
    peer.send(Message(mtype=RST, mid=note.mid, code=Code.EMPTY))  # reject: cancels (RFC 7641)
    stub.request(remote, Code.PUT, "/3/0/15", content_format=0, payload=b"Asia/Tokyo")
    after = peer.receive(timeout=0.5)
    if fault is None:
        assert after is None
    else:
        assert after is not None and after.payload == b"Asia/Tokyo" and after.token == b"rst1"


@pytest.mark.parametrize("fault", [None, "ignores-observe-cancel"])
def test_observe_cancel_by_get(devices: DeviceRunner, stub: StubServer, raw, fault) -> None:  # type: ignore[no-untyped-def]
    remote = registered(devices, stub, *([fault] if fault else [])).remote
    peer = observe_raw(raw, devices, b"get1")
    peer.send(Message(mtype=CON, code=Code.GET, token=b"get1", uri_path=["3", "0", "15"],
                      observe=1, accept=0))
    answer = peer.receive()
    assert answer is not None and answer.code == Code.CONTENT and answer.opt.observe is None
    stub.request(remote, Code.PUT, "/3/0/15", content_format=0, payload=b"UTC")
    after = peer.receive(timeout=0.5)
    if fault is None:
        assert after is None
    else:
        assert after is not None and after.payload == b"UTC"


def test_bad_input_never_crashes(devices: DeviceRunner, stub: StubServer) -> None:
    remote = registered(devices, stub).remote
    for payload, fmt in ((b"\xa1\x00", 112), (b"[{", 110), (b"{\"e\":3}", 11543),
                         (b"\x00", 11542), (b"\xff" * 40, 0)):
        response = stub.request(remote, Code.PUT, "/1/0", content_format=fmt, payload=payload)
        assert response.code in (Code.BAD_REQUEST, Code.UNSUPPORTED_CONTENT_FORMAT)
    assert stub.request(remote, Code.PUT, "/3/0/9", uri_query=["pmin=x"]).code == (
        Code.BAD_REQUEST)
    assert stub.request(remote, Code.GET, "/3/0/0", accept=0).code == Code.CONTENT


def test_deregister_on_quit(devices: DeviceRunner, stub: StubServer) -> None:
    registered(devices, stub)
    device = devices.devices[0]
    devices.call(device.quit())
    stub.next_event("deregister")


@pytest.mark.parametrize(("path", "most"), [
    ("5/0/0", 1024 * 1024),  # a pushed image: the firmware storage (the client's default)
    ("3/0/14", 8 * 1024 * 1024),  # any other body: the largest the device reassembles
])
def test_oversized_block1_is_413(devices: DeviceRunner, stub: StubServer, raw,  # type: ignore[no-untyped-def]
                                 path: str, most: int) -> None:
    registered(devices, stub)
    peer = raw(devices.devices[0].local_address())
    peer.send(Message(mtype=CON, code=Code.PUT, uri_path=path.split("/"), content_format=42,
                      block1=(8192, True, 6), payload=bytes(1024)))  # starts at 8 MiB
    answer = peer.receive()
    assert answer is not None and answer.code == Code.REQUEST_ENTITY_TOO_LARGE
    assert answer.opt.size1 == most


def test_a_push_declared_over_the_storage_is_refused_at_its_first_block(  # type: ignore[no-untyped-def]
        devices: DeviceRunner, stub: StubServer, raw) -> None:
    """Block 0 of a push whose Size1 (RFC 7959 §4) is over the storage: 4.13 at once."""
    registered(devices, stub)
    peer = raw(devices.devices[0].local_address())
    peer.send(Message(mtype=CON, code=Code.PUT, uri_path=["5", "0", "0"], content_format=42,
                      block1=(0, True, 6), size1=2 * 1024 * 1024, payload=bytes(1024)))
    answer = peer.receive()
    assert answer is not None and answer.code == Code.REQUEST_ENTITY_TOO_LARGE
    assert answer.opt.size1 == 1024 * 1024
