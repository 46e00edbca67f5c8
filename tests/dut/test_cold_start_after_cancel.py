"""A device that answers a GET cancel as a notification is cold-started (RFC 7641 §3.6).

Seen with lwm2m-node-lib: it took the cancelling GET (Observe=1) for a new observation and kept
the old one's timer, which then cancelled every later observation of the resource, so the
observe cases after it FAILed or PASSed by the case order. Answered as a plain GET, the device
is left alone; a device the controller cannot restart keeps its state, noted in the evidence.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.evidence.transcript import Transcript
from conformance.lwm2m.lab import Response
from conformance.verdicts import Inconclusive


class Controller:
    def __init__(self, can_reboot: bool = True) -> None:
        self.reboots = 0
        self.can_reboot = can_reboot

    def capabilities(self) -> set[str]:
        return {"reboot"} if self.can_reboot else set()

    def reboot(self) -> None:
        if not self.can_reboot:
            raise Inconclusive("shell controller has no command for reboot in the declaration")
        self.reboots += 1


def device(controller: Controller) -> SimpleNamespace:
    dut = SimpleNamespace(ep="urn:dev", controller=controller,
                          lab=SimpleNamespace(transcript=Transcript()),
                          come_back=lambda since: object())
    for method in ("cold_start", "reboot", "_act_and_come_back"):
        setattr(dut, method, functools.partial(getattr(Lwm2mDevice, method), dut))
    return dut


def after_cancel(dut: SimpleNamespace, answer: Response) -> None:
    Lwm2mDevice._after_get_cancel(dut, answer)  # type: ignore[arg-type]


def notes(dut: SimpleNamespace) -> list[str]:
    return [e.summary for e in dut.lab.transcript]


def test_a_cancel_answered_as_a_notification_cold_starts_the_device() -> None:
    dut = device(Controller())
    after_cancel(dut, Response(code="2.05", observe=3))
    assert dut.controller.reboots == 1
    assert any("answered the cancel (Observe=1) as a notification (Observe=3)" in n
               and "cold-starting it" in n for n in notes(dut))


def test_a_plain_answer_leaves_the_device_alone() -> None:
    dut = device(Controller())
    after_cancel(dut, Response(code="2.05"))
    assert dut.controller.reboots == 0 and not notes(dut)


def test_a_device_that_cannot_be_restarted_keeps_its_state_noted() -> None:
    dut = device(Controller(can_reboot=False))
    after_cancel(dut, Response(code="2.05", observe=3))
    assert any(n.startswith("cold start: shell controller has no command for reboot")
               for n in notes(dut))
