"""The reference OMA-DM device's user interface, scripted: its answers to alerts 1100-1104.

OMA-TS-DM_Protocol 1.2 "User Interaction Commands": the server's Alert carries an options item
(``MINDT=…&MAXDT=…&DR=…``), the text, and for 1103/1104 one item per choice. The client
answers with the Status of the Alert: 200 (shown, confirmed, text or choices in its Items),
304 for a declined confirmation, 214 when the user cancels. A device without a UI refuses them
as an optional feature it lacks (406).

What "the user" does comes from the control channel (``ui_answer``: accept, decline or cancel,
with the text typed and the choices picked) and applies to every alert until changed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import parse_qsl

from conformance.omadm.model import Alert, Item

DISPLAY, CONFIRM, TEXT_INPUT, SINGLE_CHOICE, MULTIPLE_CHOICE = (
    "1100", "1101", "1102", "1103", "1104")
UI_ALERTS = (DISPLAY, CONFIRM, TEXT_INPUT, SINGLE_CHOICE, MULTIPLE_CHOICE)
ANSWERS = ("accept", "decline", "cancel")
MAX_TEXT = 256  # what the simulated user types is bounded like any control input


class UiError(ValueError):
    """A ui_answer the scripted user cannot give."""


@dataclass(frozen=True)
class UiAnswer:
    answer: str = "accept"
    text: str | None = None  # typed into a text input (else the alert's default, DR)
    choices: tuple[str, ...] = ()  # picked choice numbers (else the default, else "1")


def parse_answer(params: dict[str, object]) -> UiAnswer:
    unknown = set(params) - {"answer", "text", "choices"}
    if unknown:
        raise UiError(f"unknown parameter(s) {', '.join(sorted(unknown))}")
    answer = str(params.get("answer", "accept"))
    if answer not in ANSWERS:
        raise UiError(f"answer {answer!r}: expected one of {', '.join(ANSWERS)}")
    text = params.get("text")
    if text is not None and len(str(text)) > MAX_TEXT:
        raise UiError(f"text longer than {MAX_TEXT} characters")
    raw = str(params.get("choices") or "")
    choices = tuple(c.strip() for c in raw.split(",") if c.strip())
    if any(not (c.isascii() and c.isdigit() and len(c) <= 3) for c in choices):
        raise UiError(f"choices {raw!r}: expected numbers such as 1,3")
    return UiAnswer(answer, None if text is None else str(text), choices)


def options_of(alert: Alert) -> dict[str, str]:
    """The alert's user-interaction options (first item), e.g. {"MAXDT": "30", "DR": "1"}."""
    first = alert.items[0].text() if alert.items else None
    return dict(parse_qsl(first or "", keep_blank_values=True)[:16])


class ScriptedUi:
    """Answers user-interaction alerts as its user was told to (thread-safe)."""

    def __init__(self, present: bool, stub: bool = False, goes_on: bool = False) -> None:
        self.present = present  # the declaration's features.user_interaction
        self.stub = stub  # fault ui-stub-answers: 200 at once, nobody asked
        # fault ui-answer-ignored: the package goes on after a "No" or a cancel
        self.goes_on = goes_on
        self._lock = threading.Lock()
        self._next = UiAnswer()

    def script(self, answer: UiAnswer) -> None:
        with self._lock:
            self._next = answer

    def respond(self, alert: Alert) -> tuple[str, list[Item]]:
        """(status code, status items) for a user-interaction alert."""
        if self.stub:
            return "200", []
        if not self.present:
            return "406", []
        with self._lock:
            script = self._next
        if alert.data == DISPLAY:
            return "200", []
        if script.answer == "cancel":
            return "214", []
        if alert.data == CONFIRM:
            return ("304" if script.answer == "decline" else "200"), []
        default = options_of(alert).get("DR")
        if alert.data == TEXT_INPUT:
            text = script.text if script.text is not None else (default or "")
            return "200", [Item(data=text)]
        count = max(0, len(alert.items) - 2)  # options, text, then the choices
        picked = script.choices or tuple(c for c in (default or "1").split("-") if c)
        picked = tuple(c for c in picked if c.isdigit() and 1 <= int(c) <= count)
        if alert.data == SINGLE_CHOICE:
            picked = picked[:1]
        return "200", [Item(data=c) for c in picked]
