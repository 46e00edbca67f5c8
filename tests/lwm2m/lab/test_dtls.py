"""DTLS 1.2 PSK on the lab: exact port, registration, server-initiated requests, wrong keys."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiocoap import Code

from conformance.lwm2m.dtls import (
    inspect_client_hello,
    normalise_client_hello_version,
)
from conformance.lwm2m.lab import Lwm2mLab
from conformance.lwm2m.model import ContentFormat
from conformance.verdicts import DeviceTimeout

from .conftest import IDENTITY, KEY, wait_entry


def _port(uri: str) -> int:
    return int(uri.rsplit(":", 1)[1])


def test_dtls_port_is_the_one_bound(lab: Lwm2mLab) -> None:
    # aiocoap's tinydtls server would bind port+1 (port 1 for "0"); the lab binds exactly.
    port = _port(lab.addresses()["LAB_LWM2M_DTLS_URI"])
    assert port > 1024
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        with pytest.raises(OSError):
            probe.bind(("127.0.0.1", port))  # already ours
    finally:
        probe.close()


def test_register_over_dtls_and_server_initiated_requests(lab: Lwm2mLab, make_device) -> None:
    uri = lab.addresses()["LAB_LWM2M_DTLS_URI"]
    device = make_device(uri, psk=(IDENTITY, KEY))
    device.site.values["/10241/0/5905"] = (0, b"ACME Inc")
    assert device.register("ep=secure1&lt=60&lwm2m=1.1&b=U").code == Code.CREATED
    reg = lab.wait_registration("secure1", timeout=5)
    assert reg.secure is True and reg.psk_identity == IDENTITY

    # The trap: a request the *server* starts towards the DTLS client.
    read = lab.read("secure1", "/10241/0/5905", fmt=ContentFormat.TEXT)
    assert read.code == "2.05"
    assert read.content is not None and list(read.content.values()) == ["ACME Inc"]
    write = lab.write("secure1", "/10241/0/5906", "X", fmt=ContentFormat.TEXT)
    assert write.code == "2.04"
    assert device.site.values["/10241/0/5906"] == (0, b"X")
    assert lab.execute("secure1", "/3/0/4").code == "2.04"

    entries = [e for e in lab.transcript if e.device == "secure1"]
    assert any(e.summary.startswith("CON GET /10241/0/5905") for e in entries)
    assert any(e.headers.get("Security") == "DTLS" for e in entries)
    assert any("handshake complete" in e.summary for e in lab.transcript)
    # the key never reaches the transcript, in any form
    text = "\n".join(str(e.to_json()) for e in lab.transcript)
    assert KEY.hex() not in text and "secretPSKkey" not in text


def test_wrong_key_does_not_register(lab: Lwm2mLab, make_device) -> None:
    uri = lab.addresses()["LAB_LWM2M_DTLS_URI"]
    device = make_device(uri, psk=(IDENTITY, b"wrong-key-123"))
    pending = device.request_later(Code.POST, "/rd?ep=intruder&lt=60", payload=b"</1/0>")
    failure = wait_entry(lab.transcript, lambda e: bool(e.error) and "DTLS" in e.summary)
    assert "PSK key differs" in failure.summary
    with pytest.raises(DeviceTimeout):
        lab.wait_registration("intruder", timeout=0.2)
    pending.cancel()


def test_unknown_identity_is_recorded(lab: Lwm2mLab, make_device) -> None:
    device = make_device(lab.addresses()["LAB_LWM2M_DTLS_URI"], psk=("stranger", KEY))
    pending = device.request_later(Code.POST, "/rd?ep=stranger&lt=60", payload=b"</1/0>")
    wait_entry(lab.transcript, lambda e: "unknown PSK identity 'stranger'" in e.summary)
    assert lab.registration("stranger") is None
    pending.cancel()


def test_offered_identities_are_reported(lab: Lwm2mLab, make_device) -> None:
    """wait_psk_lookup: an identity a peer offered, known or not; None when none offered it."""
    since = time.time()
    device = make_device(lab.addresses()["LAB_LWM2M_DTLS_URI"], psk=("offered", KEY))
    pending = device.request_later(Code.POST, "/rd?ep=offered&lt=60", payload=b"</1/0>")
    assert lab.wait_psk_lookup("offered", since, 5) is False
    assert lab.wait_psk_lookup("never-offered", since, 0.2) is None
    pending.cancel()
    good = make_device(lab.addresses()["LAB_LWM2M_DTLS_URI"], psk=(IDENTITY, KEY))
    assert good.register("ep=known&lt=60&lwm2m=1.1&b=U").code == Code.CREATED
    assert lab.wait_psk_lookup(IDENTITY, since, 5) is True


def _client_hello(record_version: bytes, with_reneg: bool) -> bytes:
    suites = b"\xc0\xa8" + (b"\x00\xff" if with_reneg else b"")
    body = (
        b"\xfe\xfd" + bytes(32) + b"\x00" + b"\x00" + len(suites).to_bytes(2, "big") + suites
        + b"\x01\x00"
    )
    handshake = b"\x01" + len(body).to_bytes(3, "big") + b"\x00\x00" + b"\x00\x00\x00"
    handshake += len(body).to_bytes(3, "big") + body
    return b"\x16" + record_version + b"\x00\x00" + bytes(6) + len(handshake).to_bytes(
        2, "big"
    ) + handshake


def test_client_hello_inspection() -> None:
    hello = inspect_client_hello(_client_hello(b"\xfe\x00", with_reneg=False))
    assert hello is not None and hello.record_version == 0xFE00
    assert hello.renegotiation_info is False and hello.cipher_suites == [0xC0A8]
    assert inspect_client_hello(_client_hello(b"\xfe\xfd", with_reneg=True)).renegotiation_info
    assert inspect_client_hello(b"\x16\xfe") is None
    assert inspect_client_hello(b"garbage" * 5) is None
    fixed = normalise_client_hello_version(_client_hello(b"\xfe\x00", with_reneg=True))
    assert fixed[1:3] == b"\xfe\xfd"
    untouched = _client_hello(b"\xfe\xff", with_reneg=True)
    assert normalise_client_hello_version(untouched) is untouched


def test_fe00_client_hello_gets_a_hello_verify_request(lab: Lwm2mLab) -> None:
    # mbedtls 2.x style record version on the first ClientHello: tinydtls must still answer.
    port = _port(lab.addresses()["LAB_LWM2M_DTLS_URI"])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(3)
    try:
        sock.sendto(_client_hello(b"\xfe\x00", with_reneg=True), ("127.0.0.1", port))
        reply, _ = sock.recvfrom(2048)
    finally:
        sock.close()
    assert reply[0] == 22 and reply[13] == 3  # handshake: HelloVerifyRequest
    assert any("accepted as fefd" in e.summary for e in lab.transcript)


def test_garbage_datagrams_do_not_hurt_the_dtls_server(lab: Lwm2mLab, make_device) -> None:
    port = _port(lab.addresses()["LAB_LWM2M_DTLS_URI"])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for junk in (b"", b"\x16", b"\x17\xfe\xfd" + bytes(20), bytes(range(256)) * 4):
            sock.sendto(junk, ("127.0.0.1", port))
    finally:
        sock.close()
    device = make_device(lab.addresses()["LAB_LWM2M_DTLS_URI"], psk=(IDENTITY, KEY))
    assert device.register("ep=after-junk&lt=60").code == Code.CREATED


# ----------------------------------------------------------------- independent client (libcoap)

COAP_CLIENT = shutil.which("coap-client-openssl")


@pytest.fixture()
def libcoap(lab: Lwm2mLab) -> Iterator[object]:
    if COAP_CLIENT is None:
        pytest.skip("coap-client-openssl (libcoap3-bin) is not installed")
    yield COAP_CLIENT


@pytest.fixture()
def coap_client(libcoap: object, lab: Lwm2mLab) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start Debian's libcoap client (OpenSSL DTLS) against the lab; killed at teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def run(uri: str, identity: str, key: bytes) -> subprocess.Popen[bytes]:
        lab.transcript.redactor.add(key)
        argv = [str(COAP_CLIENT), "-B", "5", "-u", identity, "-k", key.decode(), "-m", "post"]
        argv += ["-t", "40", "-e", "</1/0>", uri]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        started.append(proc)
        return proc

    yield run
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_libcoap_good_key_registers(lab: Lwm2mLab, coap_client: Callable[..., Any]) -> None:
    base = lab.addresses()["LAB_LWM2M_DTLS_URI"]
    proc = coap_client(f"{base}/rd?ep=libcoap&lt=60", IDENTITY, KEY)
    reg = lab.wait_registration("libcoap", timeout=5)
    assert reg.secure and reg.objects == {1: [0]} and reg.psk_identity == IDENTITY
    proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_libcoap_wrong_key_does_not_register(
    lab: Lwm2mLab, coap_client: Callable[..., Any]
) -> None:
    base = lab.addresses()["LAB_LWM2M_DTLS_URI"]
    coap_client(f"{base}/rd?ep=libcoap-bad&lt=60", IDENTITY, b"not-the-key")
    failure = wait_entry(lab.transcript, lambda e: bool(e.error) and "DTLS" in e.summary)
    assert "handshake failed" in failure.summary
    assert lab.registration("libcoap-bad") is None
