"""The device process against the real lab server (Lwm2mLab) over UDP and DTLS PSK.

This is the interaction the certification cases rely on: the device registers with the lab,
and the lab's requests reach the device over the socket / DTLS session the device opened.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path as FsPath
from typing import Any

import pytest

from conformance.declaration import Declaration, builtin_declaration
from conformance.evidence.transcript import Transcript
from conformance.fota.packages import make_reference_image
from conformance.lwm2m.model import ContentFormat, Path
from conformance.runtime import LabLoop

lab_module = pytest.importorskip("conformance.lwm2m.lab")
Lwm2mLab = lab_module.Lwm2mLab

DECLARED = builtin_declaration("lwm2m")
EP = DECLARED.lwm2m.endpoint  # type: ignore[union-attr]
P = Path.parse


def declaration(security: str) -> Declaration:
    assert DECLARED.lwm2m is not None
    return DECLARED.model_copy(update={
        "lwm2m": DECLARED.lwm2m.model_copy(update={"security": security}),
        "timeouts": DECLARED.timeouts.model_copy(update={"request": 5.0, "session": 10.0}),
    })


@pytest.fixture(params=["nosec", "psk"])
def lab(request: pytest.FixtureRequest, lab_loop: LabLoop, tmp_path: FsPath) -> Iterator[Any]:
    server = Lwm2mLab(lab_loop, declaration(request.param), Transcript(), tmp_path / "lab")
    server.start()
    server.security = request.param
    yield server
    server.stop()


def server_uri(lab: Any) -> str:
    return lab.addresses()["LAB_LWM2M_DTLS_URI" if lab.security == "psk" else "LAB_LWM2M_URI"]


def test_register_read_write_observe_deregister(lab: Any, spawn: Any, tmp_path: FsPath) -> None:
    device = spawn("--server", server_uri(lab), "--state-dir", str(tmp_path / "state"))
    ready = device.line()
    assert ready is not None and ready["event"] == "ready"
    reg = lab.wait_registration(EP, 10)
    assert reg.secure == (lab.security == "psk")
    assert reg.objects[10241] == [0]
    for fmt in (ContentFormat.TEXT, ContentFormat.TLV, ContentFormat.LWM2M_JSON,
                ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR):
        response = lab.read(EP, "/10241/0/5905", fmt)
        assert response.code == "2.05" and response.content_format == int(fmt)
        assert response.content[P("/10241/0/5905")] == DECLARED.host.manufacturer
    assert lab.read(EP, "/3/0/3", ContentFormat.OPAQUE).code == "4.06"
    assert lab.write(EP, "/10241/0/5905", "X", ContentFormat.TEXT).code == "4.05"
    assert lab.read(EP, "/0/0").code in ("4.01", "4.04")
    assert lab.discover(EP, "/3/0").code == "2.05"
    observation = lab.observe(EP, "/3/0/15", ContentFormat.TEXT)
    assert observation.initial.code == "2.05"
    assert lab.write(EP, "/3/0/15", "Asia/Tokyo", ContentFormat.TEXT).code == "2.04"
    note = observation.next(5)
    assert note.content[P("/3/0/15")] == "Asia/Tokyo"
    observation.cancel("get")
    assert lab.execute(EP, "/1/0/8").code == "2.04"
    lab.wait_update(EP, 5)
    assert device.call("quit")["ok"] is True
    lab.wait_deregistration(EP, 5)
    assert device.proc.wait(10) == 0


def dut_file(tmp_path: FsPath, old: str, new: str) -> str:
    """The built-in declaration with one line changed."""
    assert DECLARED.source is not None
    text = FsPath(DECLARED.source).read_text()
    assert old in text
    path = tmp_path / "dut.yaml"
    path.write_text(text.replace(old, new))
    return str(path)


@pytest.mark.parametrize("secure_pull", [False, True])
def test_fota_pull_from_lab_and_reregistration(lab: Any, spawn: Any, tmp_path: FsPath,
                                               secure_pull: bool) -> None:
    if secure_pull and lab.security != "psk":
        pytest.skip("coaps pull needs the PSK")
    dut = dut_file(tmp_path, "fota_protocols: [coap,", "fota_protocols: [coap, coaps,")
    spawn("--dut", dut, "--server", server_uri(lab)).line()
    first = lab.wait_registration(EP, 10)
    image = make_reference_image("FW-3.0.0", size=8 * 1024)
    lab.publish_package("fw3.bin", image)
    uri = lab.package_uri("fw3.bin", secure=secure_pull)
    states = lab.observe(EP, "/5/0/3", ContentFormat.TEXT)
    assert lab.write(EP, "/5/0/1", uri, ContentFormat.TEXT).code == "2.04"
    seen = []
    while not seen or seen[-1] != 2:
        seen.append(states.next(10).content[P("/5/0/3")])
    assert seen == [1, 2]
    assert lab.execute(EP, "/5/0/2").code == "2.04"
    again = lab.wait_registration(EP, 10, newer_than=first.registered_at)
    assert again.location
    assert lab.read(EP, "/3/0/3", ContentFormat.TEXT).content[P("/3/0/3")] == "FW-3.0.0"
    assert lab.read(EP, "/5/0/5", ContentFormat.TEXT).content[P("/5/0/5")] == 1
    assert any(d.name == "fw3.bin" for d in lab.downloads())


def test_sideload_update_reaches_lab(lab: Any, spawn: Any) -> None:
    device = spawn("--server", server_uri(lab))
    device.line()
    lab.wait_registration(EP, 10)
    answer = device.call("sideload_update", {"firmware_version": "FW-1.1.0",
                                             "host_software_version": "41"})
    assert answer["ok"] is True
    lab.wait_update(EP, 5)
    assert lab.read(EP, "/10241/0/5908", ContentFormat.TEXT).content[P("/10241/0/5908")] == "41"


def test_client_initiated_bootstrap(lab: Any, spawn: Any) -> None:
    secure = lab.security == "psk"
    uri = lab.addresses()["LAB_BOOTSTRAP_DTLS_URI" if secure else "LAB_BOOTSTRAP_URI"]
    spawn("--bootstrap", uri).line()
    lab.wait_bootstrap_request(EP, 10)
    session = lab.bootstrap(EP)
    results = session.provision()
    assert [r.code for r in results][-1] == "2.04", results
    reg = lab.wait_registration(EP, 10)
    assert reg.secure == secure


def test_wrong_psk_does_not_register(lab: Any, spawn: Any, tmp_path: FsPath) -> None:
    if lab.security != "psk":
        pytest.skip("PSK only")
    wrong = dut_file(tmp_path, "73656372657450534b6b6579", "00112233445566778899aabb")
    spawn("--dut", wrong, "--server", server_uri(lab)).line()
    with pytest.raises(Exception, match=r"registration|[Tt]imeout"):
        lab.wait_registration(EP, 3)


def test_ignores_observe_cancel_fault_over_each_transport(lab: Any, spawn: Any) -> None:
    """The fault must show over DTLS too: its notifications leave outside aiocoap's pipe.
    (Both cancel modes are covered on UDP in test_device_interactions; one each here.)"""
    mode = "rst" if lab.security == "psk" else "get"
    spawn("--server", server_uri(lab), "--fault", "ignores-observe-cancel").line()
    lab.wait_registration(EP, 10)
    assert lab.write_attributes(EP, "/3/0/9", pmin=0, pmax=1).code == "2.04"
    observation = lab.observe(EP, "/3/0/9", ContentFormat.TEXT)
    observation.next(5)
    observation.cancel(mode)
    late = threading.Event()
    mark = lab.transcript.mark()

    def listener(entry: Any) -> None:  # the lab drops them; its transcript still shows them
        if entry.seq > mark and entry.direction == "device->lab" and (
                "Observe" in (entry.headers or {})):
            late.set()

    lab.transcript.subscribe(listener)
    assert late.wait(3), "no notification after the cancel: the fault did not show"
