"""The reference device's queue-mode receiver: what it hears asleep and awake.

Over the wire, the matrix rows of int-108/109 and the lab's queue-mode tests use it; here the
gate is checked on aiocoap messages handed to a stand-in message manager.
"""

from __future__ import annotations

from typing import Any

from aiocoap import ACK, CON, Code, Message

from conformance.simulators.lwm2m_queue import QueueRadio

SERVER, BOOTSTRAP = "server", "bootstrap"


class Manager:
    """What QueueRadio wraps of an aiocoap message manager."""

    def __init__(self) -> None:
        self.dispatched: list[Message] = []
        self.sent: list[Message] = []

    def dispatch_message(self, message: Message) -> None:
        self.dispatched.append(message)

    def _send_via_transport(self, message: Message) -> None:
        self.sent.append(message)


class Context:
    def __init__(self, manager: Manager) -> None:
        self.request_interfaces = [type("TokenManager", (), {"token_interface": manager})()]


def radio_on(manager: Manager, awake: float) -> QueueRadio:
    radio = QueueRadio(awake, lambda remote: remote == SERVER)
    radio.install(Context(manager))
    return radio


def message(code: Code, remote: Any) -> Message:
    msg = Message(code=code)
    msg.remote = remote
    return msg


def test_awake_device_hears_the_server() -> None:
    manager = Manager()
    radio = radio_on(manager, awake=93.0)
    manager.dispatch_message(message(Code.GET, SERVER))
    assert len(manager.dispatched) == 1 and not radio.asleep()


def test_asleep_device_drops_server_requests_only() -> None:
    manager = Manager()
    radio = radio_on(manager, awake=0.0)
    assert radio.asleep()
    manager.dispatch_message(message(Code.GET, SERVER))
    manager.dispatch_message(message(Code.PUT, BOOTSTRAP))  # bootstrap is not in queue mode
    manager.dispatch_message(message(Code.CHANGED, SERVER))  # the answer it waits for
    assert [m.code for m in manager.dispatched] == [Code.PUT, Code.CHANGED]
    assert radio.dropped == 1


def test_sending_wakes_the_receiver() -> None:
    manager = Manager()
    radio = radio_on(manager, awake=60.0)
    radio.off_after_next_response()
    manager.dispatch_message(message(Code.CHANGED, SERVER))  # the Update's answer: off now
    manager.dispatch_message(message(Code.GET, SERVER))
    assert [m.code for m in manager.dispatched] == [Code.CHANGED] and radio.asleep()
    manager._send_via_transport(message(Code.POST, SERVER))  # its next Update
    manager.dispatch_message(message(Code.GET, SERVER))
    assert [m.code for m in manager.dispatched] == [Code.CHANGED, Code.GET]
    assert len(manager.sent) == 1 and not radio.asleep()


def test_asleep_device_does_not_answer_a_ping() -> None:
    """A CoAP ping (Empty CON, RFC 7252 §4.3) carries no request, but only a receiver that is
    on hears it: the lab's proof of life must not wake a sleeping device."""
    manager = Manager()
    radio = radio_on(manager, awake=0.0)
    ping, ack = message(Code.EMPTY, SERVER), message(Code.EMPTY, SERVER)
    ping.mtype, ack.mtype = CON, ACK
    manager.dispatch_message(ping)
    manager.dispatch_message(ack)  # an Empty ACK to the device's own CON gets through
    assert manager.dispatched == [ack] and radio.dropped == 1
