"""A hostile device at the HTTP level, over real sockets: connections that send nothing or half
a request, a device that hangs up mid-message, slow senders, broken framing, oversized bodies.

The lab answers per protocol (408, 400, 413), records what it received (raw, with ``error=``),
never files a device's behaviour as a lab internal error, is not held by a hanging socket
(neither the next device nor the lab's own stop), and serves the next device normally.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

from conformance.evidence.transcript import Entry, Transcript
from conformance.omadm import codec
from conformance.omadm.lab import OmaDmLab
from conformance.omadm.server import MAX_BODY

DM_XML = "application/vnd.syncml.dm+xml"


def _head(length: int | None, *, chunked: bool = False) -> bytes:
    lines = ["POST /oma HTTP/1.1", "Host: lab", f"Content-Type: {DM_XML}"]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _no_internal_error(transcript: Transcript) -> None:
    notes = [e.summary for e in transcript if "internal error" in e.summary]
    assert not notes, f"a device's behaviour was filed as a lab bug: {notes}"


def test_half_open_connections_hold_neither_the_next_device_nor_the_stop(
    make_lab: Callable[..., OmaDmLab], tools: Any, transcript: Transcript
) -> None:
    lab = make_lab(request=1.0)
    idle = tools.connect(lab.http_url)  # connects and sends nothing
    half_head = tools.connect(lab.http_url)
    half_head.sendall(b"POST /oma HTTP/1.1\r\nHost: lab\r\nContent-Ty")
    stalled = tools.connect(lab.http_url)
    stalled.sendall(_head(5000) + b"<SyncML><SyncHdr>")
    try:
        tools.good_session(lab)  # served while the three connections hang
        reply = tools.read_response(stalled)
        assert reply.startswith(b"HTTP/1.1 408"), reply[:80]
        entry = tools.wait_entry(lambda e: "then nothing for" in (e.error or ""))
        assert entry.raw == b"<SyncML><SyncHdr>" and entry.direction == "device->lab"
        assert "17 of 5000 bytes" in (entry.error or "")
        started = time.monotonic()
        lab.stop()  # the idle and half-header sockets are still open
        assert time.monotonic() - started < 1.0
    finally:
        for sock in (idle, half_head, stalled):
            sock.close()
    _no_internal_error(transcript)


def test_device_hanging_up_mid_message_is_recorded_not_a_lab_error(
    make_lab: Callable[..., OmaDmLab], tools: Any, transcript: Transcript
) -> None:
    lab = make_lab(request=2.0)
    sock = tools.connect(lab.http_url)
    sock.sendall(_head(5000) + b"<SyncML><SyncHdr><VerDTD>1.2")
    sock.close()
    entry = tools.wait_entry(lambda e: "closed the connection" in (e.error or ""))
    assert entry.raw == b"<SyncML><SyncHdr><VerDTD>1.2"
    assert "after 28 of 5000 bytes" in (entry.error or "")
    _no_internal_error(transcript)
    tools.good_session(lab)


def test_broken_chunked_framing_is_answered_400(
    make_lab: Callable[..., OmaDmLab], tools: Any, transcript: Transcript
) -> None:
    lab = make_lab(request=2.0)
    sock = tools.connect(lab.http_url)
    try:
        sock.sendall(_head(None, chunked=True) + b"8\r\n<SyncML>\r\nzz-not-a-size\r\n")
        reply = tools.read_response(sock)
    finally:
        sock.close()
    # aiohttp's parser answers this itself (HTTP/1.0 400), before or after the handler began.
    assert reply.startswith(b"HTTP/1.") and reply[9:12] == b"400", reply[:80]
    _no_internal_error(transcript)
    tools.good_session(lab)


def test_slow_sender_within_the_idle_timeout_is_served(
    make_lab: Callable[..., OmaDmLab], tools: Any, transcript: Transcript
) -> None:
    lab = make_lab(request=2.0)
    dev = tools.scripted(lab, session_id="51")
    body = codec.encode(dev.package1(), "xml")
    sock = tools.connect(lab.http_url)
    try:
        sock.sendall(_head(len(body)))
        step = len(body) // 8 + 1
        for offset in range(0, len(body), step):  # the device paces its own sends
            sock.sendall(body[offset : offset + step])
            time.sleep(0.1)
        session = lab.wait_session(timeout=10)
        assert session.session_id == "51" and session.auth.verified
        session.close()
        reply = tools.read_response(sock)
    finally:
        sock.close()
    assert reply.startswith(b"HTTP/1.1 200")
    first = next(e for e in transcript if e.direction == "device->lab")
    assert first.raw == body and first.error is None


def _chunks(total: int) -> Iterator[bytes]:
    block = b"<" * 65536
    for _ in range(total // len(block) + 1):
        yield block


def test_oversized_chunked_body_is_refused_413(
    omadm_lab: OmaDmLab, tools: Any, transcript: Transcript
) -> None:
    resp = requests.post(
        omadm_lab.http_url,
        data=_chunks(MAX_BODY + 65536),  # no Content-Length: the lab counts as it reads
        headers={"Content-Type": DM_XML},
        timeout=10,
    )
    assert resp.status_code == 413
    entry: Entry = tools.wait_entry(lambda e: "larger than" in (e.error or ""))
    assert entry.raw and set(entry.raw) == {ord("<")}  # the head of what came is kept
    tools.good_session(omadm_lab)


def test_bytes_that_are_not_http_get_400_and_the_lab_goes_on(
    omadm_lab: OmaDmLab, tools: Any
) -> None:
    sock = tools.connect(omadm_lab.http_url)
    try:
        sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not HTTP at all\r\n\r\n")
        reply = tools.read_response(sock)
    finally:
        sock.close()
    assert (reply.startswith(b"HTTP/1.") and reply[9:12] == b"400") or reply == b""
    tools.good_session(omadm_lab)
