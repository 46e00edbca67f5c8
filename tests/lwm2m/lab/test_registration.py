"""Registration interface over UDP: register, update, de-register, expiry, deviations, errors."""

from __future__ import annotations

import time

import pytest
from aiocoap import Code

from conformance.lwm2m.lab import Lwm2mLab
from conformance.lwm2m.model import ContentFormat
from conformance.verdicts import DeviceTimeout


def test_register_update_deregister(lab: Lwm2mLab, make_device) -> None:
    device = make_device(lab.addresses()["LAB_LWM2M_URI"])
    response = device.register(
        "ep=dev1&lt=60&lwm2m=1.1&b=U", '</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>,</10241/0>'
    )
    assert response.code == Code.CREATED
    assert device.location and device.location.startswith("/rd/")

    reg = lab.wait_registration("dev1", timeout=5)
    assert reg.endpoint == "dev1"
    assert reg.lifetime == 60 and reg.lwm2m == "1.1" and reg.binding == "U"
    assert reg.objects == {1: [0], 3: [0], 10241: [0]}
    assert reg.secure is False
    assert reg.location == device.location.lstrip("/")
    assert reg.content_format == ContentFormat.LWM2M_JSON
    assert reg.deviations == []

    assert device.request(Code.POST, device.location + "?lt=120").code == Code.CHANGED
    updated = lab.wait_update("dev1", timeout=5)
    assert updated.lifetime == 120
    body = b"</1/0>,</3/0>,</10241/0>,</5/0>"
    assert device.request(Code.POST, device.location, payload=body, content_format=40).code == (
        Code.CHANGED
    )
    assert lab.wait_update("dev1", timeout=5).objects[5] == [0]

    assert device.request(Code.DELETE, device.location).code == Code.DELETED
    event = lab.wait_deregistration("dev1", timeout=5)
    assert event.kind == "deregister"
    assert lab.registration("dev1") is None
    # the old location is gone
    assert device.request(Code.POST, device.location).code == Code.NOT_FOUND


def test_a_deregister_before_the_wait_counts_since_the_mark(lab: Lwm2mLab, make_device) -> None:
    """A client that de-registers and registers again before the case starts waiting (it came
    straight back): waiting "since" the request that made it leave finds the De-register;
    waiting for "no registration" would wait in vain (a false 'no De-register' FAIL, seen on
    the disable-timeout-ignored fault when its parts ran the catalog faster)."""
    device = make_device(lab.addresses()["LAB_LWM2M_URI"])
    assert device.register("ep=quick&lt=60&lwm2m=1.1&b=U", "</1/0>").code == Code.CREATED
    lab.wait_registration("quick", timeout=5)
    since = time.time()
    assert device.request(Code.DELETE, device.location).code == Code.DELETED
    assert device.register("ep=quick&lt=60&lwm2m=1.1&b=U", "</1/0>").code == Code.CREATED
    lab.wait_registration("quick", timeout=5, newer_than=since)
    assert lab.wait_deregistration("quick", timeout=5, since=since).kind == "deregister"
    with pytest.raises(DeviceTimeout):
        lab.wait_deregistration("quick", timeout=0.3)  # registered now: nothing to wait for


def test_update_event_carries_its_own_parameters(lab: Lwm2mLab, make_device) -> None:
    """An Update without lt= is told apart from one with it: the event carries what the
    Update itself sent, not the lifetime the lab has stored."""
    device = make_device(lab.addresses()["LAB_LWM2M_URI"])
    assert device.register("ep=carried&lt=60&lwm2m=1.1&b=U", "</1/0>,</3/0>").code == (
        Code.CREATED)
    lab.wait_registration("carried", timeout=5)
    assert device.request(Code.POST, device.location).code == Code.CHANGED
    bare = lab.next_update("carried", timeout=5)
    assert bare.carried.lifetime is None and not bare.carried.object_links
    assert bare.registration.lifetime == 60  # the stored value stays
    assert device.request(Code.POST, device.location + "?lt=90&b=UQ").code == Code.CHANGED
    told = lab.next_update("carried", timeout=5)
    assert (told.carried.lifetime, told.carried.binding) == (90, "UQ")


def test_lifetime_expiry(lab: Lwm2mLab, make_device) -> None:
    device = make_device(lab.addresses()["LAB_LWM2M_URI"])
    assert device.register("ep=short&lt=1&lwm2m=1.1&b=U").code == Code.CREATED
    lab.wait_registration("short", timeout=5)
    event = lab.wait_deregistration("short", timeout=5)
    assert event.kind == "expire"
    assert any("expired" in e.summary for e in lab.transcript if e.device == "short")


@pytest.mark.parametrize(
    ("query", "links", "expected"),
    [
        ("ep=d2&lt=60&lwm2m=1.1", "</1/0>,</3/0>", "b= absent"),
        ("ep=d4&lt=60&lwm2m=1.1&b=U", '</>;rt="oma.lwm2m",</1>;ver="1.1",</1/0>', "quoted"),
        ("ep=d5&lt=60&lwm2m=1.1&b=U", '</>;rt="oma.lwm2m";ct=112,</1/0>', "SenML CBOR"),
        ('ep=d6&lt=60&lwm2m="1.1"&b=U', "</1/0>", "value quoted"),
    ],
)
def test_deviations_accepted_and_recorded(
    lab: Lwm2mLab, make_device, query: str, links: str, expected: str
) -> None:
    device = make_device(lab.addresses()["LAB_LWM2M_URI"])
    assert device.register(query, links).code == Code.CREATED
    ep = query.split("&")[0][3:]
    reg = lab.wait_registration(ep, timeout=5)
    assert any(expected in d for d in reg.deviations), reg.deviations
    assert any(expected in e.summary for e in lab.transcript if e.direction == "note")


def test_no_root_link_is_no_deviation(lab: Lwm2mLab, make_device) -> None:
    """The </>;rt="oma.lwm2m" link is optional (TS: only an alternate root path needs it)."""
    device = make_device(lab.addresses()["LAB_LWM2M_URI"])
    assert device.register("ep=d3&lt=60&lwm2m=1.1&b=U", "</1/0>,</3/0>").code == Code.CREATED
    reg = lab.wait_registration("d3", timeout=5)
    assert reg.deviations == [] and reg.root == ""
    assert not [e for e in lab.transcript if e.device == "d3" and "deviation" in e.summary]


def test_alternate_root_path(lab: Lwm2mLab, make_device) -> None:
    device = make_device(lab.addresses()["LAB_LWM2M_URI"])
    links = '</lwm2m>;rt="oma.lwm2m",</lwm2m/3/0>,</lwm2m/10241/0>'
    assert device.register("ep=alt&lt=60&lwm2m=1.1&b=U", links).code == Code.CREATED
    reg = lab.wait_registration("alt", timeout=5)
    assert reg.root == "/lwm2m" and reg.objects == {3: [0], 10241: [0]}
    device.site.values["/lwm2m/3/0/0"] = (0, b"Maker")
    assert lab.read("alt", "/3/0/0", fmt=ContentFormat.TEXT).content is not None


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("lt=60&lwm2m=1.1&b=U", "ep="),
        ("ep=&lt=60", "ep= is empty"),
        ("ep=x&lt=abc", "lt="),
        ("ep=x&lt=0", "lt="),
        ("ep=x&lt=60&b=XYZ", "b="),
        ("ep=x&ep=y", "twice"),
        ("ep=x&lwm2m=one", "lwm2m="),
        ("ep=x&sms=notanumber", "sms="),
    ],
)
def test_bad_queries_are_400(lab: Lwm2mLab, make_device, query: str, reason: str) -> None:
    device = make_device(lab.addresses()["LAB_LWM2M_URI"])
    response = device.register(query)
    assert response.code == Code.BAD_REQUEST
    errors = [e.error or "" for e in lab.transcript if e.error]
    assert any(reason in err for err in errors), errors


def test_unsupported_version_is_412(lab: Lwm2mLab, make_device) -> None:
    device = make_device(lab.addresses()["LAB_LWM2M_URI"])
    assert device.register("ep=v&lt=60&lwm2m=9.9").code == Code.PRECONDITION_FAILED


def test_bad_bodies(lab: Lwm2mLab, make_device) -> None:
    device = make_device(lab.addresses()["LAB_LWM2M_URI"])
    bad_links = device.request(
        Code.POST, "/rd?ep=b1&lt=60", payload=b"1/0>;;<<", content_format=40
    )
    assert bad_links.code == Code.BAD_REQUEST
    not_utf8 = device.request(Code.POST, "/rd?ep=b2&lt=60", payload=b"\xff\xfe", content_format=40)
    assert not_utf8.code == Code.BAD_REQUEST
    wrong_ct = device.request(Code.POST, "/rd?ep=b3&lt=60", payload=b"{}", content_format=50)
    assert wrong_ct.code == Code.UNSUPPORTED_CONTENT_FORMAT
    assert lab.registration("b1") is None and lab.registration("b3") is None


def test_conflicting_endpoint_newest_wins(lab: Lwm2mLab, make_device) -> None:
    uri = lab.addresses()["LAB_LWM2M_URI"]
    first, second = make_device(uri), make_device(uri)
    assert first.register("ep=twin&lt=60&b=U&lwm2m=1.1").code == Code.CREATED
    old = lab.wait_registration("twin", timeout=5)
    assert second.register("ep=twin&lt=60&b=U&lwm2m=1.1").code == Code.CREATED
    new = lab.wait_registration("twin", timeout=5, newer_than=old.registered_at)
    assert new.peer != old.peer and new.location != old.location
    assert [e.kind for e in lab.events("twin")].count("conflict") == 1
    # the first device's location is no longer valid
    assert first.request(Code.POST, first.location or "").code == Code.NOT_FOUND


def test_wait_registration_times_out_inconclusive(lab: Lwm2mLab) -> None:
    started = time.monotonic()
    with pytest.raises(DeviceTimeout):
        lab.wait_registration("nobody", timeout=0.5)
    assert time.monotonic() - started < 5


def test_forget_on_next_update(lab: Lwm2mLab, make_device) -> None:
    """Armed, the next Update is answered 4.04 and the registration dropped (ETS int-105);
    a Register after it is a new registration."""
    device = make_device(lab.addresses()["LAB_LWM2M_URI"])
    assert device.register("ep=forgot&lt=60&lwm2m=1.1&b=U", "</1/0>").code == Code.CREATED
    first = lab.wait_registration("forgot", timeout=5)
    assert lab.forget_on_next_update("forgot") is None
    since = time.time()
    assert device.request(Code.POST, device.location).code == Code.NOT_FOUND
    assert lab.registration("forgot") is None
    assert device.register("ep=forgot&lt=60&lwm2m=1.1&b=U", "</1/0>").code == Code.CREATED
    again = lab.wait_registration("forgot", timeout=5, newer_than=since)
    assert again.registered_at > first.registered_at
    rejected = lab.forget_on_next_update("forgot", armed=False)
    assert rejected is not None and rejected >= since
    assert device.request(Code.POST, device.location).code == Code.CHANGED  # disarmed
