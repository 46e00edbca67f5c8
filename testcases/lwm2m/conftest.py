"""The LwM2M catalog's shared set-up: the device under test, online and registered.

``device`` (session) brings the device up once: the controller starts it, and when the
declaration says ``bootstrap`` the lab answers its Bootstrap-Request with the declared DM server
account; then the lab waits for its Register. A device that never shows up makes every case
INCONCLUSIVE (the lab cannot decide), never FAIL. ``registered`` (per case) makes sure the
device is registered before a case starts (a reboot through the controller brings back a
device an earlier case left unregistered), so the cases do not depend on their order.

``pytest_generate_tests`` parametrises ``fmt`` (formats that carry one resource value) and
``instance_fmt`` (formats that carry a whole instance) over the content formats the declaration
lists. Opaque carries only Opaque resources (TS 1.1 §7.4.2), so it is left out of both.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from conformance.declaration import Declaration
from conformance.lwm2m.codecs import parse_links
from conformance.lwm2m.lab import Lwm2mLab, Registration, Response
from conformance.lwm2m.model import ContentFormat, Path, Value
from conformance.verdicts import DeviceFault, DeviceTimeout, Inconclusive

FORMAT_NAMES: dict[int, str] = {
    ContentFormat.TEXT: "text",
    ContentFormat.OPAQUE: "opaque",
    ContentFormat.TLV: "tlv",
    ContentFormat.LWM2M_JSON: "lwm2m-json",
    ContentFormat.SENML_JSON: "senml-json",
    ContentFormat.SENML_CBOR: "senml-cbor",
    ContentFormat.LINK_FORMAT: "link-format",
}
VALUE_FORMATS = ("text", "tlv", "lwm2m-json", "senml-json", "senml-cbor")
INSTANCE_FORMATS = ("tlv", "lwm2m-json", "senml-json", "senml-cbor")
# OMA ETS interop tests "Querying basic information in <format>" (secondary reference)
ETS_READ = {"text": "LightweightM2M-1.0-int-201", "tlv": "LightweightM2M-1.0-int-203",
            "lwm2m-json": "LightweightM2M-1.0-int-204"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "ets(id): the OMA LwM2M ETS interoperability test the case corresponds to"
    )


def _declaration(config: pytest.Config) -> Declaration | None:
    get = getattr(config, "conformance_declaration", None)
    try:
        return get() if get is not None else None
    except Exception:  # no usable declaration at collection: the plugin reports it itself
        return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    dut = _declaration(metafunc.config)
    declared = list(dut.features.content_formats) if dut is not None else []
    for name, allowed in (("fmt", VALUE_FORMATS), ("instance_fmt", INSTANCE_FORMATS)):
        if name in metafunc.fixturenames:
            chosen = [f for f in declared if f in allowed]
            params = [
                pytest.param(ContentFormat.by_name(f), id=f, marks=[pytest.mark.ets(ETS_READ[f])])
                if name == "fmt" and f in ETS_READ else pytest.param(ContentFormat.by_name(f), id=f)
                for f in chosen
            ]
            metafunc.parametrize(name, params)


def fmt_name(fmt: int | None) -> str:
    return FORMAT_NAMES.get(int(fmt), str(fmt)) if fmt is not None else "(no format)"


@dataclass
class Baseline:
    """What the device should report now: the declared values unless a case changed them."""

    firmware_version: str
    host_software_version: str


class DeviceUnderTest:
    """The LwM2M device as the cases see it: its endpoint, the lab facade, the controller."""

    def __init__(self, lab: Any, controller: Any, dut: Declaration) -> None:
        assert dut.lwm2m is not None, "an LwM2M declaration has an lwm2m section"
        self.lab = lab
        self.lw: Lwm2mLab = lab.lwm2m
        self.controller = controller
        self.dut = dut
        self.ep = dut.lwm2m.endpoint
        self.timeouts = dut.timeouts
        self.baseline = Baseline(dut.device.firmware_version, dut.host.software_version)

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
        """``bootstrap`` or ``register``, whichever the device sends first (transcript events)."""
        bs_query, registered = f"/bs?ep={self.ep}", f"registered {self.ep} as "

        def kind(entry: Any) -> str | None:
            if entry.direction == "device->lab" and bs_query in entry.summary:
                return "bootstrap"
            if entry.direction == "note" and entry.summary.startswith(registered):
                return "register"
            return None

        found = self.wait_entry(kind, self.timeouts.session, since=0.0)
        if found is None:
            raise DeviceTimeout(
                f"{self.ep} sent neither a Bootstrap-Request nor a Register within "
                f"{self.timeouts.session} s (timeouts.session)"
            )
        return found

    def wait_entry(self, match: Any, timeout: float, *, since: float) -> Any:
        """The first ``match(entry)`` that is not None among transcript entries recorded at or
        after ``since`` (already there or arriving within ``timeout`` s); None if none."""
        found: list[Any] = []
        event = threading.Event()

        def listener(entry: Any) -> None:
            if event.is_set() or entry.time < since:
                return
            result = match(entry)
            if result is not None:
                found.append(result)
                event.set()

        self.lab.transcript.subscribe(listener)
        for entry in self.lab.transcript:
            listener(entry)
        event.wait(timeout)
        event.set()  # there is no unsubscribe: the listener goes inert
        return found[0] if found else None

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
        registered, updated = f"registered {self.ep} as ", "registration update "

        def told(entry: Any) -> bool | None:
            if entry.direction == "note" and entry.device == self.ep and (
                    entry.summary.startswith(registered) or entry.summary.startswith(updated)):
                return True
            return None

        if self.wait_entry(told, timeout, since=since) is None:
            return None
        return self.lw.registration(self.ep)

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


@pytest.fixture(scope="session")
def device(lab: Any, controller: Any, dut: Declaration) -> DeviceUnderTest:
    """The device, brought online once per run (bootstrapped if declared, registered)."""
    dut_ = DeviceUnderTest(lab, controller, dut)
    dut_.bring_up()
    return dut_


@pytest.fixture
def registered(device: DeviceUnderTest) -> Registration:
    """The device's current registration (re-established if an earlier case lost it)."""
    return device.ensure_registered()


@pytest.fixture
def restore_lifetime(device: DeviceUnderTest) -> Iterator[None]:
    """Put /1/0/1 back to the declared lifetime after a case that changed it."""
    yield
    declared = device.dut.lwm2m.lifetime if device.dut.lwm2m else 300
    if device.lw.registration(device.ep) is not None:
        try:
            device.lw.write(device.ep, "/1/0/1", declared, fmt=device.value_format())
        except Inconclusive:
            pass  # the next case's `registered` fixture reboots the device if need be
