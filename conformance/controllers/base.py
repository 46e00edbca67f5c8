"""The one interface through which the lab makes a device act.

A test case asks the controller to trigger a session, sideload an update, reboot… and the
controller does it the way the declaration says: driving a reference device, running a shell
command, sending AT commands, or asking the operator. Whatever the means, the verdict rules are
the same: a controller that cannot make the device act raises
:class:`~conformance.verdicts.Inconclusive` with the reason (never a device FAIL, never a PASS),
and every action is bounded by a timeout whose expiry is INCONCLUSIVE too.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from conformance.declaration import ACTIONS, Declaration
from conformance.evidence.transcript import Transcript
from conformance.verdicts import Inconclusive

Progress = Callable[[str], None]

# Keyword names of the host values a sideload/OEM update may change besides the host software
# version; the same names travel in the simulator's JSON params.
HOST_UPDATE_KEYS = ("host_manufacturer", "host_model", "host_unique_id")

# Action parameter -> environment variable (shell) / placeholder (serial AT commands).
PARAM_VARIABLES: dict[str, str] = {
    "firmware_version": "NEW_FW_VERSION",
    "host_software_version": "NEW_HOST_SW_VERSION",
    "host_manufacturer": "NEW_HOST_MANUFACTURER",
    "host_model": "NEW_HOST_MODEL",
    "host_unique_id": "NEW_HOST_UNIQUE_ID",
    # ui_answer: what the user does with the next user-interaction alert (OMA-DM 1100-1104)
    "answer": "UI_ANSWER",
    "text": "UI_TEXT",
    "choices": "UI_CHOICES",
    "paths": "SEND_PATHS",
}


@dataclass(frozen=True)
class ActionResult:
    """What a controller did. Returned only when the device was made to act."""

    action: str
    ok: bool
    detail: str
    started: float  # time.time() when the action began
    finished: float
    dialogue: tuple[str, ...] = field(default=())  # e.g. the AT dialogue, line by line

    @property
    def duration(self) -> float:
        return self.finished - self.started


class ControllerError(RuntimeError):
    """The controller itself broke (a harness ERROR, not a device verdict)."""


def action_variables(
    declaration: Declaration, action: str, params: Mapping[str, str | None]
) -> dict[str, str]:
    """The variables an action passes to the device's tooling (documented in declaration.md).

    Always: the device's identity, the action's name and the host values the device should hold
    once the action is done (the declared ones unless the action brings new ones). Updates add
    NEW_* for what they change.
    """
    host = declaration.host
    variables = {
        "DM_ACTION": action,
        "DEVICE_NAME": declaration.device.name,
        "DEVICE_IMEI": declaration.device.imei,
        "DEVICE_IMEISV": declaration.device.imeisv,
        "DEVICE_FW_VERSION": declaration.device.firmware_version,
        "HOST_MANUFACTURER": host.manufacturer,
        "HOST_MODEL": host.model,
        "HOST_SW_VERSION": host.software_version,
        "HOST_UNIQUE_ID": host.unique_id,
    }
    if declaration.lwm2m is not None:
        variables["LWM2M_ENDPOINT"] = declaration.lwm2m.endpoint
    if action == "set_host_values":
        for key, name in (
            ("manufacturer", "HOST_MANUFACTURER"),
            ("model", "HOST_MODEL"),
            ("software_version", "HOST_SW_VERSION"),
            ("unique_id", "HOST_UNIQUE_ID"),
        ):
            value = params.get(key)
            if value is not None:
                variables[name] = value
        return variables
    for key, value in params.items():
        if value is None or key not in PARAM_VARIABLES:
            continue
        variables[PARAM_VARIABLES[key]] = value
        if key.startswith("host_"):
            # What the host will report afterwards: HOST_* follow the update.
            variables["HOST_" + PARAM_VARIABLES[key].removeprefix("NEW_HOST_")] = value
    return variables


class Controller(abc.ABC):
    """Makes the device under test act. One instance per run; ``start`` before any action."""

    kind: ClassVar[str]
    # The declaration's control section this controller reads (None: it reads none of its own).
    control_type: ClassVar[type[Any] | None] = None

    def __init__(
        self,
        declaration: Declaration,
        run_dir: Path,
        *,
        transcript: Transcript | None = None,
        progress: Progress | None = None,
    ) -> None:
        if self.control_type is not None and not isinstance(
            declaration.control, self.control_type
        ):
            raise TypeError(
                f"{type(self).__name__} needs a declaration with control.type: {self.kind}"
            )
        self.declaration = declaration
        self.run_dir = Path(run_dir)
        self.transcript = transcript
        self.progress = progress
        self.lab_addresses: dict[str, str] = {}

    # ------------------------------------------------------------------ lifecycle

    def start(self, lab_addresses: dict[str, str]) -> None:
        """Connect to the device (or start it); the lab's addresses are known from now on."""
        self.lab_addresses = dict(lab_addresses)

    def stop(self) -> None:  # noqa: B027 - most controllers hold nothing to release
        """Release the device (idempotent)."""

    def cold_start(self) -> ActionResult:
        """Stop the device and start it again as at the start of a run (a case that needs a
        device fresh from power-on). INCONCLUSIVE where the controller cannot."""
        raise Inconclusive(f"{self.kind} controller cannot cold-start the device")

    @abc.abstractmethod
    def capabilities(self) -> set[str]:
        """The declaration actions this controller can perform."""

    # ------------------------------------------------------------------ the actions

    def trigger_session(self) -> ActionResult:
        return self._act("trigger_session", {})

    def sideload_update(
        self, firmware_version: str, host_software_version: str | None = None, **host: str
    ) -> ActionResult:
        return self._act(
            "sideload_update", _update_params(firmware_version, host_software_version, host)
        )

    def oem_server_update(
        self, firmware_version: str, host_software_version: str | None = None, **host: str
    ) -> ActionResult:
        params = _update_params(firmware_version, host_software_version, host)
        return self._act("oem_server_update", params)

    def reboot(self) -> ActionResult:
        return self._act("reboot", {})

    def factory_reset(self) -> ActionResult:
        return self._act("factory_reset", {})

    def set_host_values(
        self, manufacturer: str, model: str, software_version: str, unique_id: str
    ) -> ActionResult:
        params = {
            "manufacturer": manufacturer,
            "model": model,
            "software_version": software_version,
            "unique_id": unique_id,
        }
        return self._act("set_host_values", params)

    def ui_answer(self, answer: str, text: str | None = None,
                  choices: str | None = None) -> ActionResult:
        """The user's answer to the next user-interaction alert: accept, decline or cancel,
        with the text typed (1102) or the choices picked (1103/1104, "1,3")."""
        params = {"answer": answer}
        if text is not None:
            params["text"] = text
        if choices is not None:
            params["choices"] = choices
        return self._act("ui_answer", params)

    def send_generic_alert(self) -> ActionResult:
        return self._act("send_generic_alert", {})

    def abort_session(self) -> ActionResult:
        return self._act("abort_session", {})

    def send(self, paths: list[str]) -> ActionResult:
        """LwM2M 1.1 Send: the client reports the values of ``paths`` to the lab."""
        return self._act("send", {"paths": " ".join(paths)})

    # ------------------------------------------------------------------ for implementations

    @abc.abstractmethod
    def _perform(self, action: str, params: dict[str, str]) -> ActionResult:
        """Do ``action``; raise Inconclusive when the device could not be made to act."""

    def _act(self, action: str, params: dict[str, str]) -> ActionResult:
        if action not in ACTIONS:
            raise ControllerError(f"unknown action {action!r}")
        if action not in self.capabilities():
            raise Inconclusive(
                f"{self.kind} controller has no command for {action} in the declaration"
            )
        shown = " ".join(f"{k}={v}" for k, v in params.items())
        self._record("lab->device", f"{action} {shown}".strip())
        try:
            result = self._perform(action, params)
        except Inconclusive as exc:
            self._record("note", f"{action} not done: {exc}")
            raise
        self._record("note", f"{action} done in {result.duration:.1f} s: {result.detail}")
        return result

    def _record(self, direction: str, summary: str, raw: bytes = b"") -> None:
        if self.transcript is not None:
            self.transcript.record(
                "control",
                direction,  # type: ignore[arg-type]
                summary,
                device=self.declaration.device.name,
                raw=raw,
            )

    def _say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    def _result(
        self, action: str, started: float, detail: str, dialogue: tuple[str, ...] = ()
    ) -> ActionResult:
        return ActionResult(action, True, detail, started, time.time(), dialogue)


def _update_params(
    firmware_version: str, host_software_version: str | None, host: Mapping[str, str]
) -> dict[str, str]:
    unknown = sorted(set(host) - set(HOST_UPDATE_KEYS))
    if unknown:
        raise TypeError(f"unknown host values {unknown}; expected some of {HOST_UPDATE_KEYS}")
    params = {"firmware_version": firmware_version}
    if host_software_version is not None:
        params["host_software_version"] = host_software_version
    params.update(host)
    return params


def tail(text: str, lines: int = 10) -> str:
    """The last lines of a command's output, for an INCONCLUSIVE reason."""
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return "\n".join(kept) if kept else "(no output)"
