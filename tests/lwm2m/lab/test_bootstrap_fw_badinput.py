"""Bootstrap server (both ways), /bspack, CoAP firmware serving, and hostile input."""

from __future__ import annotations

import socket

import pytest
from aiocoap import Code, Message

from conformance.lwm2m import codecs
from conformance.lwm2m.lab import LabError, Lwm2mLab
from conformance.lwm2m.model import ContentFormat, Path
from conformance.lwm2m.server import MAX_BODY

from .conftest import IDENTITY, KEY, FakeDevice, wait_entry


def test_client_initiated_bootstrap(lab: Lwm2mLab, make_device) -> None:
    device: FakeDevice = make_device(lab.addresses()["LAB_BOOTSTRAP_URI"])
    assert device.request(Code.POST, "/bs?ep=boot1&pct=11542").code == Code.CHANGED
    request = lab.wait_bootstrap_request("boot1", timeout=5)
    assert request.params["pct"] == "11542" and not request.secure

    session = lab.bootstrap("boot1")
    results = session.provision()
    assert [r.code for r in results] == ["2.02", "2.02", "2.04", "2.04", "2.04"]
    codes = [(m.code, "/".join(m.opt.uri_path)) for m in device.site.received]
    assert codes == [
        (Code.DELETE, "0"), (Code.DELETE, "1"), (Code.PUT, "0/1"), (Code.PUT, "1/0"),
        (Code.POST, "bs"),
    ]
    # the Security instance carries the declared PSK config for the lab's coap URI (nosec here)
    fmt, payload = device.site.values["/0/1"]
    security = codecs.decode(fmt, Path(0, 1), payload, lab.registry)
    assert security[Path(0, 1, 0)] == lab.addresses()["LAB_LWM2M_URI"]
    assert security[Path(0, 1, 2)] == 3 and security[Path(0, 1, 10)] == 1
    fmt, payload = device.site.values["/1/0"]
    server = codecs.decode(fmt, Path(1, 0), payload, lab.registry)
    assert server[Path(1, 0, 1)] == 300 and server[Path(1, 0, 7)] == "U"
    device.site.values["/"] = (40, b"</0/0>,</0/1>,</1/0>")
    assert session.discover("/").payload == b"</0/0>,</0/1>,</1/0>"


def test_stale_bootstrap_request_passed_over_and_bootstrap_read(lab: Lwm2mLab,
                                                                 make_device) -> None:
    """newer_than passes over a request a reset made obsolete; Bootstrap-Read is a GET with
    the Accept asked for, its answer decoded."""
    device: FakeDevice = make_device(lab.addresses()["LAB_BOOTSTRAP_URI"])
    assert device.request(Code.POST, "/bs?ep=boot3").code == Code.CHANGED
    stale = lab.wait_bootstrap_request("boot3", timeout=5)
    assert device.request(Code.POST, "/bs?ep=boot3").code == Code.CHANGED
    fresh = lab.wait_bootstrap_request("boot3", timeout=5, newer_than=stale.time + 1e-6)
    assert fresh.time > stale.time
    session = lab.bootstrap("boot3")
    server = {Path(1, 0, 0): 1, Path(1, 0, 1): 300}
    tlv = codecs.encode(ContentFormat.TLV, Path(1), server, lab.registry)
    device.site.values["/1"] = (int(ContentFormat.TLV), tlv)
    read = session.read("/1", ContentFormat.TLV)
    assert read.code == "2.05" and read.content == server
    assert device.site.received[-1].opt.accept == ContentFormat.TLV
    assert session.responses[-1][0] == "Bootstrap-Read /1"


def test_bootstrap_psk_key_goes_out_as_bytes_and_is_redacted(
    lab_loop, transcript, tmp_path, make_device
) -> None:
    from .conftest import declaration

    psk_lab = Lwm2mLab(lab_loop, declaration(security="psk"), transcript, tmp_path)
    psk_lab.start()
    try:
        device: FakeDevice = make_device(psk_lab.addresses()["LAB_BOOTSTRAP_DTLS_URI"],
                                         psk=(IDENTITY, KEY))
        assert device.request(Code.POST, "/bs?ep=boot2").code == Code.CHANGED
        assert psk_lab.wait_bootstrap_request("boot2", timeout=5).secure
        psk_lab.bootstrap("boot2").provision()
        fmt, payload = device.site.values["/0/1"]
        security = codecs.decode(fmt, Path(0, 1), payload, psk_lab.registry)
        assert security[Path(0, 1, 0)] == psk_lab.addresses()["LAB_LWM2M_DTLS_URI"]
        assert security[Path(0, 1, 2)] == 0
        assert security[Path(0, 1, 3)] == IDENTITY.encode() and security[Path(0, 1, 5)] == KEY
        assert all(KEY not in e.raw and KEY.hex() not in e.decoded for e in transcript)
    finally:
        psk_lab.stop()


def test_server_initiated_bootstrap(lab: Lwm2mLab, make_device) -> None:
    device: FakeDevice = make_device(lab.addresses()["LAB_LWM2M_URI"])
    assert device.register("ep=boot3&lt=60&lwm2m=1.1&b=U").code == Code.CREATED
    lab.wait_registration("boot3", timeout=5)
    session = lab.bootstrap("boot3", server_initiated=True)
    assert session.write("/1/0", {Path(1, 0, 1): 99, Path(1, 0, 0): 1}).code == "2.04"
    assert session.finish().code == "2.04"
    assert device.site.received[-1].opt.uri_path == ("bs",)

    # to a bare address (a client that listens but is not registered), from the bootstrap port
    other: FakeDevice = make_device(lab.addresses()["LAB_LWM2M_URI"])
    port = other.context.request_interfaces[0].token_interface.message_interface._pool._transport
    address = f"127.0.0.1:{port.get_extra_info('socket').getsockname()[1]}"
    direct = lab.bootstrap("nobody-yet", server_initiated=True, address=address)
    assert direct.delete("/1").code == "2.02"
    with pytest.raises(LabError):
        lab.bootstrap("never-asked")


def test_bootstrap_request_refused_when_bootstrap_not_declared(
    lab_loop, transcript, tmp_path, make_device
) -> None:
    """features.bootstrap false: the lab bootstraps no client, so a Bootstrap-Request gets the
    TS's 4.00 Bad Request (Unknown Endpoint Client Name), not a 2.04 and then silence."""
    from .conftest import declaration

    base = declaration()
    no_bs = base.model_copy(
        update={"features": base.features.model_copy(update={"bootstrap": False})})
    no_bs_lab = Lwm2mLab(lab_loop, no_bs, transcript, tmp_path)
    no_bs_lab.start()
    try:
        device: FakeDevice = make_device(no_bs_lab.addresses()["LAB_BOOTSTRAP_URI"])
        answer = device.request(Code.POST, "/bs?ep=nobs1")
        assert answer.code == Code.BAD_REQUEST
        assert answer.payload == b"Unknown Endpoint Client Name"
        note = wait_entry(transcript, lambda e: "Bootstrap-Request refused" in e.summary)
        assert "features.bootstrap is false" in note.summary and note.device == "nobs1"
        with pytest.raises(LabError):  # nothing queued for a bootstrap
            no_bs_lab.bootstrap("nobs1")
    finally:
        no_bs_lab.stop()


def test_bspack_and_bad_bootstrap_request(lab: Lwm2mLab, make_device) -> None:
    device: FakeDevice = make_device(lab.addresses()["LAB_BOOTSTRAP_URI"])
    assert device.request(Code.GET, "/bspack?ep=bp").code == Code.NOT_FOUND
    lab.set_bootstrap_pack(b"\x80")
    pack = device.request(Code.GET, "/bspack?ep=bp")
    assert pack.code == Code.CONTENT and pack.opt.content_format == 112
    assert any("Bootstrap-Pack-Request" in e.summary for e in lab.transcript)
    assert device.request(Code.POST, "/bs").code == Code.BAD_REQUEST


def test_firmware_over_coap_blockwise(lab: Lwm2mLab, make_device) -> None:
    image = bytes(range(256)) * 13  # 3328 bytes: 4 blocks of 1024
    uri = lab.publish_package("fw-2", image)
    assert uri == lab.addresses()["LAB_LWM2M_URI"] + "/fw/fw-2"
    device: FakeDevice = make_device(lab.addresses()["LAB_LWM2M_URI"])
    got = device.request(Code.GET, "/fw/fw-2")
    assert got.code == Code.CONTENT and got.payload == image
    downloads = lab.downloads("fw-2")
    assert len(downloads) == 1 and downloads[0].complete
    assert downloads[0].blocks_served == 4 and downloads[0].bytes_served == len(image)
    # a device that stops half way is recorded as incomplete
    half = device.request(Code.GET, "/fw/fw-2", block2=(0, False, 4), blockwise=False)
    assert half.opt.block2.more
    assert lab.downloads("fw-2")[-1].complete is False
    assert device.request(Code.GET, "/fw/none").code == Code.NOT_FOUND


def _udp_port(lab: Lwm2mLab) -> int:
    return int(lab.addresses()["LAB_LWM2M_URI"].rsplit(":", 1)[1])


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (b"\x48\x01\x12\x34\xaa\xbb", "token of 8 bytes"),  # token shorter than announced
        (b"\x49\x01\x12\x34" + bytes(9), "reserved token length"),
        (b"\x40\x01\x12\x34\xb2rd\xff", "payload marker"),  # marker, then nothing
        (b"\x40\x01\x12\x34\xf0", "partial payload marker"),  # option delta 15
    ],
)
def test_unparsable_con_is_rst_and_recorded(lab: Lwm2mLab, datagram: bytes, reason: str) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(3)
    try:
        sock.sendto(datagram, ("127.0.0.1", _udp_port(lab)))
        reply, _ = sock.recvfrom(64)
    finally:
        sock.close()
    assert reply == b"\x70\x00" + datagram[2:4]  # RST with the same MID (RFC 7252 §4.2)
    entry = wait_entry(lab.transcript, lambda e: e.summary.startswith("unparsable CoAP"))
    assert entry.raw == datagram and entry.error and reason in entry.error


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (b"\x70\x45\x12\x34", "Reset with code 2.05"),
        (b"\x70\x01\x12\x34", "Reset with code 0.01"),
        (b"\x60\x01\x12\x34\xb2rd", "Acknowledgement carrying request code 0.01"),
        (b"\x50\x00\x12\x34", "Empty Non-confirmable"),
    ],
)
def test_type_and_code_that_do_not_fit_are_recorded_not_answered(
    lab: Lwm2mLab, datagram: bytes, reason: str
) -> None:
    # Not a CON: nothing to reject with a RST (RFC 7252 §4.2, §4.3). A CoAP ping after it gets
    # the first answer, so the malformed message got none.
    ping = b"\x40\x00\x56\x78"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(3)
    try:
        sock.sendto(datagram, ("127.0.0.1", _udp_port(lab)))
        sock.sendto(ping, ("127.0.0.1", _udp_port(lab)))
        reply, _ = sock.recvfrom(64)
    finally:
        sock.close()
    assert reply == b"\x70\x00\x56\x78"  # the ping's RST
    entry = wait_entry(lab.transcript, lambda e: e.raw == datagram)
    assert entry.error and reason in entry.error


def test_response_whose_token_ends_in_ff_is_fine(lab: Lwm2mLab) -> None:
    # A CON GET with token ff: the datagram ends in 0xff without being a payload marker.
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(3)
    try:
        sock.sendto(b"\x41\x01\x12\x36\xff", ("127.0.0.1", _udp_port(lab)))
        reply = Message.decode(sock.recvfrom(256)[0])
    finally:
        sock.close()
    assert reply.code == Code.NOT_FOUND and reply.token == b"\xff"


def test_duplicates_and_storm_are_recorded_and_answered(lab: Lwm2mLab) -> None:
    # CON POST /rd?ep=storm&lt=60, MID 0x4242, token 01, sent 30 times over
    datagram = b"\x41\x02\x42\x42\x01" + b"\xb2rd" + b"\x48ep=storm" + b"\x05lt=60"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(3)
    replies = []
    try:
        for _ in range(30):
            sock.sendto(datagram, ("127.0.0.1", _udp_port(lab)))
            replies.append(sock.recvfrom(256)[0])
    finally:
        sock.close()
    decoded = [Message.decode(r) for r in replies]
    assert all(m.code == Code.CREATED and m.mid == 0x4242 for m in decoded)
    assert len({tuple(m.opt.location_path) for m in decoded}) == 1  # registered once
    assert len([e for e in lab.events("storm") if e.kind == "register"]) == 1
    assert any("(duplicate MID)" in e.summary for e in lab.transcript)
    assert any(e.error and "retransmission storm" in e.error for e in lab.transcript)


def test_oversized_body_is_413(lab: Lwm2mLab, make_device) -> None:
    device: FakeDevice = make_device(lab.addresses()["LAB_LWM2M_URI"])
    # Block1 announcing a body beyond the lab's bound: refused before assembling it
    response = device.request(Code.POST, "/rd?ep=huge&lt=60", payload=b"x" * 1024,
                              block1=(MAX_BODY // 1024 + 1, True, 6), content_format=40,
                              blockwise=False)
    assert response.code == Code.REQUEST_ENTITY_TOO_LARGE and response.opt.size1 == MAX_BODY
    assert any(e.error and "oversized" in e.error for e in lab.transcript)


def test_blockwise_registration_body(lab: Lwm2mLab, make_device) -> None:
    device: FakeDevice = make_device(lab.addresses()["LAB_LWM2M_URI"])
    links = ",".join(f"</{i}/0>" for i in range(3000, 3400))
    assert device.register("ep=manylinks&lt=60&b=U&lwm2m=1.1", links).code == Code.CREATED
    assert len(lab.wait_registration("manylinks", timeout=5).objects) == 400


def test_read_with_unsupported_accept_is_returned(lab: Lwm2mLab, make_device) -> None:
    device: FakeDevice = make_device(lab.addresses()["LAB_LWM2M_URI"])
    device.register("ep=acc&lt=60&b=U&lwm2m=1.1")
    lab.wait_registration("acc", timeout=5)
    device.site.values["/3/0"] = (int(ContentFormat.TLV), b"")
    assert lab.read("acc", "/3/0", fmt=ContentFormat.SENML_JSON).code == "4.06"
