"""Reference firmware images and the HTTP(S) package server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from conformance.declaration import Declaration
from conformance.errors import ProtocolError
from conformance.evidence.transcript import Transcript
from conformance.fota.packages import corrupted, image_info, make_reference_image, truncated
from conformance.fota.server import PackageServer
from conformance.runtime import LabLoop


def test_reference_image_round_trip() -> None:
    image = make_reference_image("FW-2.0.0", 4096)
    info = image_info(image)
    assert (info.version, info.size) == ("FW-2.0.0", 4096)
    assert make_reference_image("FW-2.0.0", 4096) == image  # deterministic
    assert image_info(make_reference_image("FW-3", 4096)).digest != info.digest


@pytest.mark.parametrize("variant", [corrupted, truncated])
def test_broken_variants_are_refused(variant: object) -> None:
    image = make_reference_image("FW-2.0.0", 4096)
    broken = variant(image)  # type: ignore[operator]
    assert broken != image
    with pytest.raises(ProtocolError) as err:
        image_info(broken)
    assert err.value.where


def test_variants_of_a_foreign_image_differ() -> None:
    vendor = bytes(range(256)) * 10
    assert len(corrupted(vendor)) == len(vendor) and corrupted(vendor) != vendor
    assert len(truncated(vendor)) < len(vendor)


@given(st.binary(max_size=300))
def test_image_info_only_raises_protocol_error(data: bytes) -> None:
    try:
        image_info(data)
    except ProtocolError:
        pass


@given(st.integers(min_value=0, max_value=2000))
def test_any_cut_of_an_image_is_refused(cut: int) -> None:
    image = make_reference_image("v1", 1024)
    with pytest.raises(ProtocolError):
        image_info(image[: min(cut, len(image) - 1)])


@pytest.fixture
def packages(
    loop: LabLoop, declaration: Declaration, transcript: Transcript, tmp_path: Path
) -> Iterator[PackageServer]:
    server = PackageServer(loop, declaration, transcript, tmp_path)
    server.start()
    yield server
    server.stop()


def test_http_and_https_download(packages: PackageServer, transcript: Transcript) -> None:
    image = make_reference_image("FW-2.0.0")
    urls = packages.publish("fw.bin", image)
    plain = requests.get(urls.http, timeout=5)
    assert plain.status_code == 200 and plain.content == image
    ca = packages.addresses()["LAB_CA_FILE"]
    secure = requests.get(urls.https, timeout=5, verify=ca)
    assert secure.status_code == 200 and secure.content == image
    # the client can hold the whole body before the server has logged it: wait, don't race
    got = packages.wait_downloads("fw.bin", 2, timeout=5)
    assert [(d.scheme, d.status, d.complete, d.whole) for d in got] == [
        ("http", 200, True, True),
        ("https", 200, True, True),
    ]
    assert any(e.protocol == "fota" and "200 fw.bin" in e.summary for e in transcript)


def test_https_is_refused_without_the_lab_ca(packages: PackageServer) -> None:
    urls = packages.publish("fw.bin", b"x" * 10)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(urls.https, timeout=5, verify=True)


def test_https_certificate_covers_localhost(packages: PackageServer) -> None:
    url = packages.publish("fw.bin", b"abc").https.replace("127.0.0.1", "localhost")
    got = requests.get(url, timeout=5, verify=packages.addresses()["LAB_CA_FILE"])
    assert got.content == b"abc"


def test_range_requests(packages: PackageServer) -> None:
    image = make_reference_image("FW-2.0.0", 10_000)
    url = packages.publish("fw.bin", image).http
    part = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=5)
    assert part.status_code == 206 and part.content == image[100:200]
    assert part.headers["Content-Range"] == "bytes 100-199/10000"
    tail = requests.get(url, headers={"Range": "bytes=-10"}, timeout=5)
    assert tail.content == image[-10:]
    rest = requests.get(url, headers={"Range": "bytes=9990-"}, timeout=5)
    assert rest.content == image[9990:]
    bad = requests.get(url, headers={"Range": "bytes=20000-"}, timeout=5)
    assert bad.status_code == 416
    got = packages.wait_downloads("fw.bin", 4, timeout=5)
    assert [d.range for d in got] == [(100, 199), (9990, 9999), (9990, 9999), None]
    assert [d.whole for d in got] == [False, False, False, False]


def test_missing_package_and_unreachable_url(packages: PackageServer) -> None:
    base = packages.addresses()["LAB_PACKAGE_URL"]
    assert requests.get(base + "nothing.bin", timeout=5).status_code == 404
    assert packages.downloads("nothing.bin")[0].status == 404
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(packages.unreachable_url(), timeout=5)


def test_broken_variants_are_served_as_published(packages: PackageServer) -> None:
    image = make_reference_image("FW-2.0.0", 8192)
    url = packages.publish("bad.bin", corrupted(image)).http
    body = requests.get(url, timeout=5).content
    with pytest.raises(ProtocolError):
        image_info(body)
    url = packages.publish("short.bin", truncated(image)).http
    assert len(requests.get(url, timeout=5).content) == len(truncated(image))


def test_cut_transfer_breaks_off_at_the_offset(packages: PackageServer) -> None:
    """cut_at: the whole size is promised, the connection drops after the bytes before it,
    also for a Range request that resumes (ETS int-775, connection lost mid-download)."""
    image = make_reference_image("FW-2.0.0", 40_000)
    url = packages.publish("cut.bin", image, cut_at=20_000).http
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(url, timeout=5).raise_for_status()
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(url, headers={"Range": "bytes=20000-"}, timeout=5)
    got = packages.wait_downloads("cut.bin", 2, timeout=5)
    assert [(d.sent, d.size, d.complete) for d in got] == [
        (20_000, 40_000, False), (0, 20_000, False)]
    packages.publish("cut.bin", image)  # published again without cut_at: served whole
    assert requests.get(url, timeout=5).content == image
