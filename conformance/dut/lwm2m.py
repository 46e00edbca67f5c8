"""The LwM2M device under test as the catalog cases drive it: online and registered.

:class:`Lwm2mDevice` brings the device up once (bootstrap when it asks for it, then its
registration), re-registers it when an earlier case left it unregistered, and reads values with
the verdict rules of the catalog: a refusal is the device's, a payload that does not decode is
judged by the content-format cases. It decides nothing on transcript text: registrations,
updates and bootstrap requests come from the lab's typed events.
"""

from __future__ import annotations

import time
from typing import Any

from conformance.controllers.base import Controller
from conformance.declaration import Declaration
from conformance.dut.common import Baseline, HarnessError, facade
from conformance.fota.server import PackageServer
from conformance.lab import Lab
from conformance.lwm2m.codecs import parse_links
from conformance.lwm2m.lab import Lwm2mLab, Registration, Response
from conformance.lwm2m.model import ContentFormat, Path, Value
from conformance.verdicts import DeviceFault, DeviceTimeout, Inconclusive

VALUE_FORMATS = ("text", "tlv", "lwm2m-json", "senml-json", "senml-cbor")
INSTANCE_FORMATS = ("tlv", "lwm2m-json", "senml-json", "senml-cbor")


def fmt_name(fmt: int | None) -> str:
    return ContentFormat.describe(None if fmt is None else int(fmt))


class Lwm2mDevice:
    """The LwM2M device as the cases see it: its endpoint, the lab facade, the controller."""

    def __init__(self, lab: Lab, controller: Controller, dut: Declaration) -> None:
        if dut.lwm2m is None:
            raise HarnessError("an LwM2M device needs the declaration's lwm2m section")
        self.lab = lab
        self.lw: Lwm2mLab = facade(lab.lwm2m, "LwM2M")
        self.packages: PackageServer = facade(lab.packages, "firmware package")
        self.controller = controller
        self.dut = dut
        self.lwm2m = dut.lwm2m
        self.ep = dut.lwm2m.endpoint
        self.timeouts = dut.timeouts
        self.baseline = Baseline.declared(dut)

    # -- coming online ---------------------------------------------------------------------

    def bring_up(self) -> Registration:
        """First contact: bootstrap when the device asks for it, then its registration."""
        if self.lw.registration(self.ep) is not None:
            return self.ensure_registered()
        if self.dut.features.bootstrap and self._first_contact() == "bootstrap":
            self.lw.wait_bootstrap_request(self.ep, self.timeouts.request)
            try:
                self.provision()
            except DeviceTimeout as exc:  # silence mid-bootstrap: a client retries, so do we
                self.lab.transcript.note(
                    "lwm2m", f"bring-up bootstrap of {self.ep} failed ({exc}); waiting for "
                    "its next Bootstrap-Request")
                self.lw.wait_bootstrap_request(self.ep, 2 * self.timeouts.session)
                self.provision()
        return self.lw.wait_registration(self.ep)

    def _first_contact(self) -> str:
        """``bootstrap`` or ``register``, whichever the device sends first (lab events)."""
        try:
            return self.lw.wait_first_contact(self.ep, self.timeouts.session)
        except DeviceTimeout:
            raise DeviceTimeout(
                f"{self.ep} sent neither a Bootstrap-Request nor a Register within "
                f"{self.timeouts.session} s (timeouts.session)"
            ) from None

    def provision(self) -> list[tuple[str, Response]]:
        """The client-initiated bootstrap the lab answers; every step must succeed."""
        session = self.lw.bootstrap(self.ep)
        session.provision()
        steps = session.responses
        refused = [f"{what} -> {r.code}" for what, r in steps if not r.ok]
        if refused:
            raise BootstrapRefused(", ".join(refused), steps)
        return steps

    def ensure_registered(self) -> Registration:
        """The current registration; a device an earlier case left unregistered is rebooted."""
        reg = self.lw.registration(self.ep)
        if reg is not None:
            return reg
        self.lab.transcript.note("lwm2m", f"{self.ep} is not registered: rebooting it")
        since = time.time()
        self.controller.reboot()
        return self.lw.wait_registration(self.ep, newer_than=since - 1)

    # -- waiting for the device to talk to the lab ----------------------------------------

    def wait_update_since(self, since: float, timeout: float) -> Registration | None:
        """An Update the lab received at or after ``since``; None when none came in time."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                reg = self.lw.wait_update(self.ep, remaining)
            except DeviceTimeout:
                return None
            if reg.updated_at >= since:
                return reg

    def wait_report_since(self, since: float, timeout: float) -> Registration | None:
        """A Register or an Update of the device at or after ``since`` (it told the server);
        the registration as it is then, or None when neither came within ``timeout`` s."""
        return self.lw.wait_report(self.ep, since, timeout)

    # -- reading values -----------------------------------------------------------------------

    def value_format(self) -> ContentFormat:
        """The simplest declared format for single values (text when offered)."""
        declared = self.dut.features.content_formats
        name = next((f for f in VALUE_FORMATS if f in declared), "tlv")
        return ContentFormat.by_name(name)

    def instance_format(self) -> ContentFormat:
        """The first declared format that carries a whole instance (TLV when none is)."""
        declared = self.dut.features.content_formats
        name = next((f for f in INSTANCE_FORMATS if f in declared), "tlv")
        return ContentFormat.by_name(name)

    def firmware_reset(self) -> None:
        """Write an empty /5/0/1 Package URI: the TS's way back to State 0 (E.6)."""
        self.lw.write(self.ep, "/5/0/1", "", fmt=self.value_format())

    def read_value(self, path: str, fmt: int | None = None, *, own_format: bool = False) -> Value:
        """One resource's value. A refusal is a DeviceFault; a payload that does not decode is
        a DeviceFault when the case judges content formats (``own_format``), else INCONCLUSIVE
        (the value cannot be judged; the ATT-DMIG-3.2 format cases judge the encoding)."""
        fmt = self.value_format() if fmt is None else fmt
        response = self.lw.read(self.ep, path, fmt=fmt)
        if response.code != "2.05":
            raise DeviceFault(f"Read {path} in {fmt_name(fmt)} answered {response.code}, "
                              "expected 2.05 Content")
        return single_value(response, path, fmt, own_format=own_format)

    @staticmethod
    def discovered_paths(response: Response) -> list[Path]:
        return discovered_paths(response)

    @staticmethod
    def decoded(response: Response, path: str, fmt: int | None, *,
                own_format: bool) -> dict[Path, Any]:
        return decoded(response, path, fmt, own_format=own_format)

    @staticmethod
    def fmt_name(fmt: int | None) -> str:
        return fmt_name(fmt)

    def read_int(self, path: str, fmt: int | None = None) -> int:
        """An integer resource (State, Update Result …); anything else is a DeviceFault."""
        value = self.read_value(path, fmt)
        if not isinstance(value, int) or isinstance(value, bool):
            raise DeviceFault(f"{path} is {value!r}, expected an integer")
        return value

    def instances(self, object_id: int) -> list[int]:
        """Instance ids of an object, by Discover (link-format needs no value codec)."""
        response = self.lw.discover(self.ep, f"/{object_id}")
        if response.code != "2.05":
            raise DeviceFault(f"Discover /{object_id} answered {response.code}, expected 2.05")
        return sorted({
            p.instance_id for p in discovered_paths(response)
            if p.object_id == object_id and p.instance_id is not None
        })


class BootstrapRefused(Inconclusive):
    """Bring-up could not bootstrap the device (the bootstrap cases judge it)."""

    def __init__(self, what: str, steps: list[tuple[str, Response]]) -> None:
        super().__init__(f"bootstrap steps refused: {what}")
        self.steps = steps


def decoded(response: Response, path: str, fmt: int | None, *, own_format: bool) -> dict[Path, Any]:
    """The decoded content, or the right verdict when it does not decode."""
    if response.content is not None and response.decode_error is None:
        return response.content
    reason = response.decode_error or "no payload"
    message = (f"Read {path} in {fmt_name(fmt)}: the {fmt_name(response.content_format)} "
               f"payload does not decode: {reason}")
    if own_format:
        raise DeviceFault(message)
    raise Inconclusive(message + " (the encoding is judged by the ATT-DMIG-3.2 format cases)")


def single_value(response: Response, path: str, fmt: int | None, *, own_format: bool) -> Value:
    content = decoded(response, path, fmt, own_format=own_format)
    target = Path.parse(path)
    if target not in content:
        raise DeviceFault(f"Read {path} in {fmt_name(fmt)} carried {sorted(map(str, content))}, "
                          f"not {path}")
    value = content[target]
    assert value is not None, f"{path} came back without a value"
    return value


def discovered_paths(response: Response) -> list[Path]:
    text = response.payload.decode("utf-8", "replace")
    out = []
    for link in parse_links(text):
        try:
            out.append(Path.parse(link.target))
        except Exception:  # "</>" and other non-LwM2M targets are not object paths
            continue
    return out
