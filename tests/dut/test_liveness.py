"""Proof of life before silence is blamed (conformance/dut/liveness.py): one retry, then FAIL;
without proof of life the silence stays INCONCLUSIVE."""

from __future__ import annotations

import pytest

from conformance.dut.liveness import ask_alive
from conformance.evidence.transcript import Transcript
from conformance.verdicts import DeviceFault, DeviceTimeout


class Device:
    """Answers after ``silent`` unanswered requests."""

    def __init__(self, silent: int) -> None:
        self.silent = silent
        self.asked = 0

    def send(self) -> str:
        self.asked += 1
        if self.asked <= self.silent:
            raise DeviceTimeout("no answer from the device within 5 s")
        return "2.05"


def alive(_since: float) -> str:
    return "dev1 is registered (rd/1) and answered the lab 0.2 s before"


def test_answered_first_time() -> None:
    device = Device(silent=0)
    assert ask_alive("Read /3/0/0", device.send, alive, Transcript(), "dev1") == "2.05"
    assert device.asked == 1


def test_silence_without_proof_of_life_stays_inconclusive() -> None:
    device = Device(silent=5)
    with pytest.raises(DeviceTimeout):
        ask_alive("Read /3/0/0", device.send, lambda _since: None, Transcript(), "dev1")
    assert device.asked == 1


def test_one_lost_exchange_is_asked_again() -> None:
    device, transcript = Device(silent=1), Transcript()
    assert ask_alive("Read /3/0/0", device.send, alive, transcript, "dev1") == "2.05"
    assert device.asked == 2
    assert any("asking once more" in e.summary for e in transcript)


def test_silence_twice_after_proof_of_life_fails_naming_the_request() -> None:
    device = Device(silent=5)
    with pytest.raises(DeviceFault) as failed:
        ask_alive("Execute /1/1/8", device.send, alive, Transcript(), "dev1")
    assert device.asked == 2
    message = str(failed.value)
    assert "Execute /1/1/8 went unanswered twice" in message and "registered (rd/1)" in message
