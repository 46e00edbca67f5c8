"""The AT dialogue shared by the controllers that drive a module through its AT port.

Each action is one or more AT command lines from the declaration (one per line of the
declared string), with ``{PLACEHOLDERS}`` filled from the action's variables (the same names as
the shell controller's environment, docs/declaration.md). Every command waits for a final
result matching the declared ``ok`` / ``error`` regular expressions; the command echo and
unsolicited result codes (``+CREG: 1``, ``RING`` …) in between are kept in the dialogue but do
not end the wait. ERROR or silence means the lab could not make the device act: INCONCLUSIVE.

:class:`AtController` speaks this dialogue over any open pyserial port; its subclasses only say
how the port is reached: ``serial`` opens it directly, ``labgrid`` acquires a bench first.

For OMA-DM, :class:`SmsPackage0Channel` delivers Package 0 as a WAP Push SMS through the same
modem (``AT+CMGF=0``, ``AT+CMGS``), so a module with no IP reachability can still be alerted.
"""

from __future__ import annotations

import abc
import re
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from conformance.controllers import sms
from conformance.controllers.base import (
    ActionResult,
    Controller,
    ControllerError,
    Progress,
    action_variables,
)
from conformance.declaration import AtControl, Declaration
from conformance.errors import ConfigurationError
from conformance.evidence.transcript import Transcript
from conformance.omadm.delivery import DeliveryFailed
from conformance.verdicts import Inconclusive

CTRL_Z = b"\x1a"
PROMPT = b"> "
READ_SLICE = 0.1  # seconds one read of the port may block
CMGS_RESULT = re.compile(r"\+CMGS:\s*\d+")


class AtError(Inconclusive):
    """The modem answered a command with an error result (the device did not act)."""

    def __init__(self, message: str, response: str = "") -> None:
        super().__init__(message)
        self.response = response


class AtTimeout(Inconclusive):
    """No final result from the modem in time."""


class AtController(Controller):
    """Actions as AT commands over a pyserial port that a subclass opens in ``_open_port``.

    A subclass names its declaration section in ``control_type`` (and narrows ``control``).
    """

    control_type: ClassVar[type[AtControl]] = AtControl
    control: AtControl

    def __init__(
        self,
        declaration: Declaration,
        run_dir: Path,
        *,
        transcript: Transcript | None = None,
        progress: Progress | None = None,
    ) -> None:
        super().__init__(declaration, run_dir, transcript=transcript, progress=progress)
        self.control = declaration.control  # type: ignore[assignment]  # checked by the base
        self._ok = re.compile(self.control.ok)
        self._error = re.compile(self.control.error)
        self._port: Any = None  # serial.Serial; typed loosely: pyserial has no stubs
        self._buffer = bytearray()
        self._lock = threading.RLock()  # one dialogue at a time (actions vs. Package 0 SMS)

    def capabilities(self) -> set[str]:
        return set(self.control.commands)

    # ------------------------------------------------------------------ lifecycle

    def start(self, lab_addresses: dict[str, str]) -> None:
        super().start(lab_addresses)
        port = self._open_port()
        with self._lock:
            self._port = port
            self._buffer.clear()

    @abc.abstractmethod
    def _open_port(self) -> Any:
        """An open pyserial port whose reads block at most READ_SLICE seconds."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the AT port is, for messages (a device path, a labgrid place)."""

    def stop(self) -> None:
        with self._lock:
            if self._port is not None:
                try:
                    self._port.close()
                finally:
                    self._port = None

    # ------------------------------------------------------------------ actions

    def commands_for(self, action: str, params: dict[str, str]) -> list[str]:
        """The declared AT command lines of ``action`` with placeholders filled."""
        template = self.control.commands.get(action, "")  # type: ignore[call-overload]
        variables = {**self.lab_addresses, **action_variables(self.declaration, action, params)}
        lines = []
        for raw in template.splitlines():
            if not raw.strip():
                continue
            try:
                lines.append(raw.strip().format_map(variables))
            except KeyError as exc:
                raise ConfigurationError(
                    f"control.commands.{action}: unknown placeholder {{{exc.args[0]}}}; "
                    f"known: {', '.join(sorted(variables))}"
                ) from None
        return lines

    def _perform(self, action: str, params: dict[str, str]) -> ActionResult:
        started = time.time()
        dialogue = self.run_commands(action, params)
        return self._result(action, started, dialogue[-1] if dialogue else "", tuple(dialogue))

    def run_commands(self, action: str, params: dict[str, str]) -> list[str]:
        """Send the action's AT command lines in order; the whole dialogue."""
        dialogue: list[str] = []
        with self._lock:
            for line in self.commands_for(action, params):
                dialogue += self.command(line)
        return dialogue

    # ------------------------------------------------------------------ AT dialogue

    def command(self, line: str, timeout: float | None = None) -> list[str]:
        """Send one AT command; the dialogue (``> cmd``, ``< response`` …) up to its final result.

        Raises :class:`AtError` on an error result and :class:`AtTimeout` without one.
        """
        timeout = self.control.timeout if timeout is None else timeout
        with self._lock:
            self._write(line.encode("latin-1") + b"\r", shown=line)
            dialogue = [f"> {line}"]
            deadline = time.monotonic() + timeout
            while True:
                response = self._read_line(deadline)
                if response is None:
                    raise AtTimeout(
                        f"no final result to {line} within {timeout:g} s; dialogue:\n"
                        + "\n".join(dialogue)
                    )
                if not response or response == line:
                    continue  # blank separator or the command's echo
                dialogue.append(f"< {response}")
                if self._error.fullmatch(response):
                    raise AtError(
                        f"the modem answered {response} to {line}, so the lab could not make "
                        "the device act; dialogue:\n" + "\n".join(dialogue),
                        response,
                    )
                if self._ok.fullmatch(response):
                    return dialogue

    def send_pdu(self, pdu: sms.SubmitPdu, timeout: float | None = None) -> list[str]:
        """AT+CMGS=<length>, wait for the "> " prompt, the PDU hex + Ctrl-Z, +CMGS and OK."""
        timeout = self.control.timeout if timeout is None else timeout
        line = f"AT+CMGS={pdu.tpdu_length}"
        with self._lock:
            self._write(line.encode() + b"\r", shown=line)
            dialogue = [f"> {line}"]
            deadline = time.monotonic() + timeout
            if not self._await_prompt(deadline, dialogue):
                self._write(b"\x1b", shown="ESC")  # leave text-entry mode whatever happened
                raise AtTimeout(
                    f"no '> ' prompt after {line} within {timeout:g} s; dialogue:\n"
                    + "\n".join(dialogue)
                )
            self._write(pdu.hex.encode() + CTRL_Z, shown=pdu.hex + "<Ctrl-Z>")
            dialogue.append(f"> {pdu.hex}<Ctrl-Z>")
            seen_cmgs = False
            while True:
                response = self._read_line(deadline)
                if response is None:
                    raise AtTimeout(
                        f"no final result to the SMS within {timeout:g} s; dialogue:\n"
                        + "\n".join(dialogue)
                    )
                if not response or response == pdu.hex:
                    continue
                dialogue.append(f"< {response}")
                if self._error.fullmatch(response):
                    raise AtError(
                        f"the modem refused the SMS: {response}; dialogue:\n" + "\n".join(dialogue)
                    )
                seen_cmgs = seen_cmgs or bool(CMGS_RESULT.fullmatch(response))
                if self._ok.fullmatch(response) and seen_cmgs:
                    return dialogue

    def _await_prompt(self, deadline: float, dialogue: list[str]) -> bool:
        while True:
            index = self._buffer.find(PROMPT)
            if index >= 0:
                before = bytes(self._buffer[:index]).decode("latin-1").split("\r\n")
                dialogue += [f"< {text.strip()}" for text in before if text.strip()]
                del self._buffer[: index + len(PROMPT)]
                return True
            if not self._fill(deadline):
                return False

    def _read_line(self, deadline: float) -> str | None:
        """The next response line (without CR/LF), or None when the deadline passes."""
        while True:
            match = re.search(rb"\r\n|\n|\r", self._buffer)
            if match is not None:
                raw = bytes(self._buffer[: match.start()])
                del self._buffer[: match.end()]
                text = raw.decode("latin-1").strip()
                if text:
                    self._record("device->lab", text, raw=raw)
                return text
            if not self._fill(deadline):
                return None

    def _fill(self, deadline: float) -> bool:
        """Read what the port has (waiting at most until ``deadline``); False when time is up."""
        port = self._port
        if port is None:
            raise ControllerError(f"{self.kind} controller not started")
        if time.monotonic() >= deadline:
            return False
        # The port's read timeout (READ_SLICE) bounds each read, so the deadline is checked
        # at least that often while the modem stays silent.
        self._buffer += port.read(max(1, port.in_waiting))
        return True

    def _write(self, data: bytes, *, shown: str) -> None:
        port = self._port
        if port is None:
            raise ControllerError(f"{self.kind} controller not started")
        self._record("lab->device", shown, raw=data)
        port.write(data)
        port.flush()


class SmsPackage0Channel:
    """Package 0 as WAP Push SMS through the module's own modem (a ``Package0Channel``).

    The SMS goes to ``control.sms_destination``, the MSISDN of the device under test.
    """

    def __init__(self, controller: AtController, *, timeout: float | None = None) -> None:
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
        return f"sms {self.destination} via {self.controller.describe()}"
