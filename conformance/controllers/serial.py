"""The ``serial`` controller: the vendor's AT commands over a serial port (pyserial).

The AT dialogue itself, and Package 0 by SMS through the modem (:class:`SmsPackage0Channel`),
are :mod:`conformance.controllers.at`'s; this controller opens the declared port (a device
path or any pyserial URL).
"""

from __future__ import annotations

from typing import Any

from conformance.controllers.at import READ_SLICE, AtController, SmsPackage0Channel
from conformance.declaration import SerialControl
from conformance.verdicts import Inconclusive

__all__ = ["SerialController", "SmsPackage0Channel"]


class SerialController(AtController):
    kind = "serial"
    control_type = SerialControl
    control: SerialControl

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

    def describe(self) -> str:
        return self.control.port
