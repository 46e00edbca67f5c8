"""The answer to a GET cancel (RFC 7641 §3.6), told apart from a notification that crosses it.

The cancelling GET carries the relation's token, so a notification the device sent before it
took the GET arrives on that token too. Seen with the fault-free reference device (1 run in 6
of ``./run suite``, in the stored-notifications case, whose cancel follows the flush of stored
notifications): the crossing ``CON 2.05 Observe=3`` was taken for the answer, so the lab
judged the device to have answered the cancel as a notification and cold-started it (the
cancel cases would have FAILed it). The answer is the ACK of the GET, or a separate response
after its Empty ACK (RFC 7252 §5.2); a CON/NON with Observe before that is in flight.

The device here is a raw UDP socket scripted step by step, so each order is exact.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from aiocoap import ACK, CON, Code, Message

from conformance.lwm2m.lab import Lwm2mLab, Observation
from conformance.lwm2m.operations import MAX_CROSSED, Response

from .conftest import raw_register

EP = "urn:dev:cancel-crossing"


class Scripted:
    """A registered UDP socket that answers what the test tells it to, one datagram at a time."""

    def __init__(self, lab: Lwm2mLab) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.lab_address = raw_register(lab, self.sock, EP)

    def receive(self) -> Message:
        return Message.decode(self.sock.recvfrom(2048)[0])

    def send(self, message: Message) -> None:
        self.sock.sendto(message.encode(), self.lab_address)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(1) as executor:
        yield executor


def observed(lab: Lwm2mLab, device: Scripted, pool: ThreadPoolExecutor) -> Observation:
    """The lab observes /3/0/13; the device accepts (ACK 2.05 Observe=1)."""
    started = pool.submit(lab.observe, EP, "/3/0/13")
    get = device.receive()
    assert get.opt.observe == 0
    device.send(Message(_mtype=ACK, _mid=get.mid, _token=get.token, code=Code.CONTENT,
                        observe=1, content_format=0, payload=b"1000"))
    return started.result(timeout=5)


def cancelling(lab: Lwm2mLab, device: Scripted,
               pool: ThreadPoolExecutor) -> tuple[Future[Response], Message]:
    observation = observed(lab, device, pool)
    answer = pool.submit(observation.cancel, "get")
    get = device.receive()
    assert get.opt.observe == 1 and get.mtype == CON
    return answer, get


def notification(get: Message, observe: int | None, mid: int) -> Message:
    return Message(_mtype=CON, _mid=mid, _token=get.token, code=Code.CONTENT, observe=observe,
                   content_format=0, payload=b"1001")


@pytest.fixture()
def device(lab: Lwm2mLab) -> Iterator[Scripted]:
    scripted = Scripted(lab)
    yield scripted
    scripted.close()


def test_notification_before_the_ack_is_not_the_answer(
        lab: Lwm2mLab, device: Scripted, pool: ThreadPoolExecutor) -> None:
    answer, get = cancelling(lab, device, pool)
    device.send(notification(get, 2, mid=0x7001))
    ack = device.receive()  # the lab acknowledges the notification in flight…
    assert (ack.mtype, ack.code, ack.mid) == (ACK, Code.EMPTY, 0x7001)
    assert not answer.done()  # …and keeps waiting for the GET's own answer
    device.send(Message(_mtype=ACK, _mid=get.mid, _token=get.token, code=Code.CONTENT,
                        content_format=0, payload=b"1001"))
    reply = answer.result(timeout=5)
    assert (reply.code, reply.observe) == ("2.05", None)
    assert any("notification Observe=2 crossed the cancel" in e.summary for e in lab.transcript)


def test_piggybacked_answer_with_observe_is_a_notification(
        lab: Lwm2mLab, device: Scripted, pool: ThreadPoolExecutor) -> None:
    """lwm2m-node-lib's way: the ACK of the GET itself carries Observe."""
    answer, get = cancelling(lab, device, pool)
    device.send(Message(_mtype=ACK, _mid=get.mid, _token=get.token, code=Code.CONTENT,
                        observe=2, content_format=0, payload=b"1001"))
    assert answer.result(timeout=5).observe == 2


def test_separate_answer_with_observe_after_empty_ack_is_a_notification(
        lab: Lwm2mLab, device: Scripted, pool: ThreadPoolExecutor) -> None:
    answer, get = cancelling(lab, device, pool)
    device.send(Message(_mtype=ACK, _mid=get.mid, code=Code.EMPTY))
    device.send(notification(get, 3, mid=0x7002))
    reply = answer.result(timeout=5)
    assert (reply.code, reply.observe) == ("2.05", 3)
    assert not any("crossed the cancel" in e.summary for e in lab.transcript)


def test_separate_answer_without_observe_before_the_ack_is_the_answer(
        lab: Lwm2mLab, device: Scripted, pool: ThreadPoolExecutor) -> None:
    """RFC 7252 §5.2.2: the separate response may overtake its Empty ACK."""
    answer, get = cancelling(lab, device, pool)
    device.send(notification(get, None, mid=0x7003))
    reply = answer.result(timeout=5)
    assert (reply.code, reply.observe) == ("2.05", None)


def test_a_flood_of_crossing_notifications_is_bounded(
        lab: Lwm2mLab, device: Scripted, pool: ThreadPoolExecutor) -> None:
    """A device that keeps notifying before it acknowledges the GET: each is acknowledged,
    at most MAX_CROSSED are kept and noted, and the answer still ends the cancel."""
    answer, get = cancelling(lab, device, pool)
    flood = MAX_CROSSED + 8
    for n in range(flood):
        device.send(notification(get, 2 + n, mid=0x7100 + n))
        assert device.receive().mid == 0x7100 + n  # the lab's Empty ACK of each
    device.send(Message(_mtype=ACK, _mid=get.mid, _token=get.token, code=Code.CONTENT,
                        content_format=0, payload=b"1001"))
    assert answer.result(timeout=5).observe is None
    noted = [e for e in lab.transcript if "crossed the cancel" in e.summary]
    assert len(noted) == MAX_CROSSED
