"""A hostile device against the firmware package server (HTTP): a download cut mid-transfer,
garbage Range headers, a download that stalls. The cut download is evidence (recorded as
incomplete, with the bytes sent), never a lab failure, and the next download is whole."""

from __future__ import annotations

import hashlib
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from conformance.declaration import Declaration
from conformance.evidence.transcript import Transcript
from conformance.fota.server import PackageServer
from conformance.runtime import LabLoop

IMAGE = hashlib.sha256(b"seed").digest() * (16 * 1024 * 1024 // 32)  # 16 MiB, beyond buffers


@pytest.fixture
def packages(
    loop: LabLoop, declaration: Declaration, transcript: Transcript, tmp_path: Path
) -> Iterator[PackageServer]:
    decl = declaration.model_copy(
        update={"timeouts": declaration.timeouts.model_copy(update={"request": 2})}
    )
    server = PackageServer(loop, decl, transcript, tmp_path)
    server.start()
    yield server
    server.stop()


def _get(url: str, extra: str = "") -> socket.socket:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall(f"GET {parts.path} HTTP/1.1\r\nHost: lab\r\n{extra}\r\n".encode())
    return sock


def test_download_cut_by_the_device_is_recorded_incomplete(
    packages: PackageServer, tools: Any, transcript: Transcript
) -> None:
    urls = packages.publish("fw.bin", IMAGE)
    sock = _get(urls.http)
    got = 0
    while got < 1024 * 1024:  # the device reads a megabyte, then hangs up hard (RST)
        got += len(sock.recv(65536))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    entry = tools.wait_entry(lambda e: "transfer ended early" in (e.error or ""))
    assert entry.direction == "lab->device" and "fw.bin" in entry.summary
    cut = packages.wait_downloads("fw.bin", 1, timeout=5)[-1]
    assert not cut.complete and not cut.whole and cut.sent < cut.size == len(IMAGE)
    whole = requests.get(urls.http, timeout=20)  # the next download is served whole
    assert whole.status_code == 200 and whole.content == IMAGE


@pytest.mark.parametrize(
    "header",
    ["bytes=abc", "bytes=99999999999999999999999-", "bytes=5-1", "bytes=-0", "items=0-1",
     "bytes=0-1,5-9",
     pytest.param("bytes=" + "9" * 5000 + "-", id="5000-digits")],
)
def test_garbage_range_is_416_and_recorded(
    header: str, packages: PackageServer, transcript: Transcript
) -> None:
    urls = packages.publish("small.bin", b"0123456789")
    resp = requests.get(urls.http, headers={"Range": header}, timeout=10)
    assert resp.status_code in (416, 200)  # a Range the server ignores is allowed by RFC 9110
    if resp.status_code == 200:
        assert resp.content == b"0123456789"
    assert any(e.direction == "device->lab" and header[:40] in e.summary for e in transcript)


def test_a_stalled_download_does_not_hold_the_lab_stop(packages: PackageServer) -> None:
    urls = packages.publish("fw.bin", IMAGE)
    sock = _get(urls.http)
    try:
        sock.recv(1000)  # the response has started; the device never reads again
        started = time.monotonic()
        packages.stop()
        assert time.monotonic() - started < 2
    finally:
        sock.close()
