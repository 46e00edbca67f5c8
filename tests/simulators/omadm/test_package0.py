"""Package 0: a valid notification starts a 1200 session with its SessionID, a bad one none.

Ordering is the barrier, not time: the listener handles datagrams one by one, so when the
session of a later valid notification arrives, an earlier one has already been dealt with.
"""

from __future__ import annotations

import queue
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conformance.omadm import notification
from conformance.omadm.model import AlertCode
from conformance.simulators.omadm_package0 import Package0Listener, session_id_text

SERVER = ("ATTLabA", "ref-server-secret-3954", b"null")
WAIT = 15.0


@pytest.fixture
def listener() -> Iterator[tuple[Package0Listener, queue.Queue[notification.Notification]]]:
    got: queue.Queue[notification.Notification] = queue.Queue()
    lst = Package0Listener("127.0.0.1", 0, got.put, lambda: SERVER)
    lst.start()
    yield lst, got
    lst.stop()


def send(address: tuple[str, int], data: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(data, address)


def test_valid_notification_is_taken_and_a_forged_one_ignored(
    listener: tuple[Package0Listener, queue.Queue[notification.Notification]],
) -> None:
    lst, got = listener
    name, secret, nonce = SERVER
    send(lst.address, notification.build(name, secret + "x", nonce, 0x1111))  # forged
    send(lst.address, b"\x00garbage")
    send(lst.address, notification.build("OtherServer", secret, nonce, 0x2222))
    send(lst.address, notification.build(name, secret, nonce, 0x3333))
    first = got.get(timeout=WAIT)
    assert first.session_id == 0x3333
    assert got.empty()
    assert (lst.received, lst.accepted) == (4, 1)


def test_digest_uses_the_server_nonce(
    listener: tuple[Package0Listener, queue.Queue[notification.Notification]],
) -> None:
    lst, _ = listener
    name, secret, _ = SERVER
    assert not lst.handle(notification.build(name, secret, b"another nonce", 7))
    assert lst.handle(notification.build(name, secret, b"null", 7))


def test_session_id_is_hexadecimal() -> None:
    assert session_id_text(0x00AB) == "AB"
    assert session_id_text(1234) == "4D2"


# --------------------------------------------------------------------------- with the lab


def test_lab_notification_starts_a_1200_session_with_its_session_id(
    rig: Callable[..., Any],
) -> None:
    r = rig()
    r.lab.expect_session()
    forged = r.lab.notify(0x0ABC, wrong_digest=True)
    sid = r.lab.notify(0x1D2F)
    session = r.lab.wait_session(WAIT)
    assert session.package1.alerts(AlertCode.SERVER_INITIATED)
    assert session.session_id == session_id_text(sid) != session_id_text(forged)
    session.close()
    assert r.session_end().ok
    assert r.ended.empty()  # the forged one started nothing


def test_ignores_package0_digest_fault(rig: Callable[..., Any]) -> None:
    r = rig(None, "ignores-package0-digest")
    r.lab.expect_session()
    sid = r.lab.notify(0x0ABC, wrong_digest=True)
    session = r.lab.wait_session(WAIT)
    assert session.session_id == session_id_text(sid)
    session.close()
    assert r.session_end().ok


def test_wrong_package0_session_id_fault(rig: Callable[..., Any]) -> None:
    r = rig(None, "wrong-package0-session-id")
    r.lab.expect_session()
    sid = r.lab.notify(0x0ABC)
    session = r.lab.wait_session(WAIT)
    assert session.package1.alerts(AlertCode.SERVER_INITIATED)
    assert session.session_id != session_id_text(sid)
    session.close()
    r.session_end()
