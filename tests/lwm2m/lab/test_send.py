"""The lab's Send interface (``POST /dp``, TS 1.1 §6.4.6) against fake devices."""

from __future__ import annotations

import time

from aiocoap import Code

from conformance.lwm2m.codecs import composite
from conformance.lwm2m.lab import Lwm2mLab
from conformance.lwm2m.model import Content, ContentFormat, Path

from .conftest import FakeDevice

VALUES: Content = {Path(1, 0, 1): 60, Path(3, 0, 0): "ACME"}


def registered(lab: Lwm2mLab, make_device) -> FakeDevice:  # type: ignore[no-untyped-def]
    device: FakeDevice = make_device(lab.addresses()["LAB_LWM2M_URI"])
    assert device.register("ep=sender&lt=60&lwm2m=1.1&b=U").code == Code.CREATED
    lab.wait_registration("sender", timeout=5)
    return device


def test_send_is_accepted_kept_and_recorded(lab: Lwm2mLab, make_device) -> None:  # type: ignore[no-untyped-def]
    device = registered(lab, make_device)
    since = time.time()
    for fmt in (ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR):
        payload = composite.encode(fmt, VALUES, lab.registry)
        assert device.request(Code.POST, "/dp", payload=payload,
                              content_format=int(fmt)).code == Code.CHANGED
    report = lab.wait_send("sender", since, timeout=5)
    assert report is not None and report.content == VALUES
    assert report.content_format == ContentFormat.SENML_JSON
    assert any(e.summary.startswith("Send from sender: /1/0/1, /3/0/0") for e in lab.transcript)
    assert lab.wait_send("sender", time.time() + 1, timeout=0.2) is None


def test_send_refusals(lab: Lwm2mLab, make_device) -> None:  # type: ignore[no-untyped-def]
    stranger: FakeDevice = make_device(lab.addresses()["LAB_LWM2M_URI"])
    payload = composite.encode(ContentFormat.SENML_JSON, VALUES, lab.registry)
    assert stranger.request(Code.POST, "/dp", payload=payload,
                            content_format=110).code == Code.NOT_FOUND
    device = registered(lab, make_device)
    assert device.request(Code.POST, "/dp", payload=b"60",
                          content_format=0).code == Code.UNSUPPORTED_CONTENT_FORMAT
    assert device.request(Code.POST, "/dp", payload=b'[{"n":"/x","v":1}]',
                          content_format=110).code == Code.BAD_REQUEST
    assert device.request(Code.POST, "/dp", payload=b"\xff",
                          content_format=112).code == Code.BAD_REQUEST
    assert lab.wait_send("sender", 0, timeout=0.2) is None
    errors = [e.error for e in lab.transcript if e.error and "Send" in (e.summary or "")]
    assert len(errors) == 4
