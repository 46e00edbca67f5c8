"""After a reboot or a factory reset, the device is back by whichever it sends first.

Seen on the built-in device (1 run in 6 of ``./run suite``): a cold start of a device that
declares bootstrap waited the whole ``timeouts.session`` (20 s) for a Bootstrap-Request that a
rebooted device, which keeps its account, never sends, though its Register had come at once.
The other way round, the reboot cases waited for a Register only, so a client that bootstraps
at every start (Zephyr's does) was left with its Bootstrap-Request unanswered and FAILed them.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.lwm2m.lab import Registration
from conformance.lwm2m.server import BootstrapRequest
from conformance.verdicts import DeviceTimeout

EP = "urn:dev:back"


class Lab:
    """The lab's waits; ``first`` is what the device sends first ("bootstrap", "register", or
    None: nothing), ``register`` the Register that comes in the end (None: none)."""

    def __init__(self, first: str | None, register: Registration | None) -> None:
        self.first = first
        self.register = register
        self.calls: list[str] = []

    def wait_first_contact(self, ep: str, timeout: float | None = None, *,
                           since: float = 0.0) -> str:
        self.calls.append("first")
        if self.first is None:
            raise DeviceTimeout("neither a Bootstrap-Request nor a Register within 20 s")
        return self.first

    def wait_bootstrap_request(self, ep: str, timeout: float | None = None, *,
                               newer_than: float = 0.0) -> BootstrapRequest:
        self.calls.append("bootstrap")
        return BootstrapRequest(endpoint=EP, params={}, peer="127.0.0.1:5683", secure=False,
                                remote=None, time=1.0)

    def wait_registration(self, ep: str, timeout: float | None = None, *,
                          newer_than: float | None = None) -> Registration:
        self.calls.append("register")
        if self.register is None:
            raise DeviceTimeout("no registration within 20 s")
        return self.register


def device(lab: Lab, bootstrap: bool = True) -> SimpleNamespace:
    dut = SimpleNamespace(ep=EP, lw=lab, dut=SimpleNamespace(
        features=SimpleNamespace(bootstrap=bootstrap)), provisioned=0,
        timeouts=SimpleNamespace(request=2.0, session=20.0))

    def provision() -> None:
        dut.provisioned += 1

    dut.provision = provision
    dut._first_contact = functools.partial(Lwm2mDevice._first_contact, dut)
    return dut


def come_back(dut: SimpleNamespace) -> Registration | None:
    return Lwm2mDevice.come_back(dut, since=0.0)  # type: ignore[arg-type]


def registration() -> Registration:
    return Registration(endpoint=EP, location="rd/1", lifetime=60, lwm2m="1.1", binding="U",
                        sms=None, queue=False, links=[], objects={}, peer="127.0.0.1:5683",
                        secure=False, query="", registered_at=1.0, updated_at=1.0)


def test_a_device_that_kept_its_account_is_back_at_its_register() -> None:
    back = registration()
    lab = Lab(first="register", register=back)
    dut = device(lab)
    assert come_back(dut) is back
    assert lab.calls == ["first", "register"] and dut.provisioned == 0


def test_a_device_that_asks_for_bootstrap_is_provisioned_then_registers() -> None:
    back = registration()
    lab = Lab(first="bootstrap", register=back)
    dut = device(lab)
    assert come_back(dut) is back
    assert lab.calls == ["first", "bootstrap", "register"] and dut.provisioned == 1


def test_a_device_that_sends_nothing_is_not_back() -> None:
    lab = Lab(first=None, register=registration())
    assert come_back(device(lab)) is None
    assert lab.calls == ["first"]  # one session timeout, not two


def test_without_bootstrap_only_the_register_is_awaited() -> None:
    back = registration()
    lab = Lab(first=None, register=back)
    assert come_back(device(lab, bootstrap=False)) is back
    assert lab.calls == ["register"]
