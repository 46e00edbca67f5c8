"""The ``serial`` controller: the vendor's AT commands over a serial port (pyserial).

The AT dialogue itself is :class:`~conformance.controllers.at.AtController`'s; this controller
opens the declared port (a device path or any pyserial URL).

For OMA-DM, :class:`SmsPackage0Channel` delivers Package 0 as a WAP Push SMS through the same
modem (``AT+CMGF=0``, ``AT+CMGS``), so a module with no IP reachability can still be alerted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conformance.controllers import sms
from conformance.controllers.at import READ_SLICE, AtController
from conformance.controllers.base import Progress
from conformance.declaration import Declaration, SerialControl
from conformance.errors import ConfigurationError
from conformance.evidence.transcript import Transcript
from conformance.omadm.delivery import DeliveryFailed
from conformance.verdicts import Inconclusive


class SerialController(AtController):
    kind = "serial"

    def __init__(
        self,
        declaration: Declaration,
        run_dir: Path,
        *,
        transcript: Transcript | None = None,
        progress: Progress | None = None,
    ) -> None:
        if not isinstance(declaration.control, SerialControl):
            raise TypeError("SerialController needs a declaration with control.type: serial")
        super().__init__(declaration, run_dir, transcript=transcript, progress=progress)
        self.control: SerialControl = declaration.control

    def _open_port(self) -> Any:
        import serial  # pyserial; imported here so other controllers work without a port

        try:
            port = serial.serial_for_url(
                self.control.port, baudrate=self.control.baudrate, timeout=READ_SLICE
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise Inconclusive(f"cannot open serial port {self.control.port}: {exc}") from None
        self._record("note", f"serial port {self.control.port} open at {self.control.baudrate}")
        return port


class SmsPackage0Channel:
    """Package 0 as WAP Push SMS through the module's own modem (a ``Package0Channel``).

    The SMS goes to ``control.sms_destination``, the MSISDN of the device under test.
    """

    def __init__(self, controller: SerialController, *, timeout: float | None = None) -> None:
        destination = controller.control.sms_destination
        if not destination:
            raise ConfigurationError("control.sms_destination is needed to send Package 0 by SMS")
        self.controller = controller
        self.destination = destination
        self.timeout = timeout
        self._reference = 0
        self.dialogue: list[str] = []  # of the last delivery

    def deliver(self, data: bytes) -> None:
        self._reference = (self._reference + 1) % 256
        pdus = sms.wap_push_sms(self.destination, data, reference=self._reference)
        controller = self.controller
        try:
            with controller._lock:
                dialogue = controller.command("AT+CMGF=0", self.timeout)
                for pdu in pdus:
                    dialogue += controller.send_pdu(pdu, self.timeout)
        except Inconclusive as exc:
            raise DeliveryFailed(f"Package 0 to {self.describe()}: {exc}") from None
        self.dialogue = dialogue
        controller._record(
            "note", f"Package 0 ({len(data)} octets) sent as {len(pdus)} WAP Push SMS", raw=data
        )

    def describe(self) -> str:
        return f"sms {self.destination} via {self.controller.control.port}"
