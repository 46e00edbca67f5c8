"""OMA-DM alerts as the catalog drives them: user interaction (1100-1104), the device's Generic
Alert (1226) and its own session abort (1223). Reading, never judging: the cases decide.

User interaction (OMA-TS-DM_Protocol 1.2, "User Interaction Commands"): the lab's Alert carries
an options item (``MAXDT=…``, ``DR=…``, ``MAXLEN=…``), the text, and for 1103/1104 one item per
choice; the device answers in the Alert's Status (its Items carry the typed text or the picked
choice numbers). What the user does is scripted through the controller (``ui_answer``).
"""

from __future__ import annotations

import re

from conformance.dut.common import require_action
from conformance.dut.omadm import DmDevice, decisive, require_authenticated
from conformance.omadm.lab import DmSession
from conformance.omadm.model import Alert, Item, Status
from conformance.omadm.session import CommandResult

UI_NAMES = {"1100": "display", "1101": "confirmation", "1102": "text input",
            "1103": "single choice", "1104": "multiple choice"}
# Generic Alert Meta (DM 1.2 "Generic Alert"): Type a reversed domain name, Format a MetInf
# format, Mark (optional) one of the severities.
REVERSED_DOMAIN = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9_-]+)+")
FORMATS = ("b64", "bin", "bool", "chr", "int", "node", "null", "xml", "date", "time", "float")
MARKS = ("fatal", "critical", "minor", "warning", "informational", "harmless", "indeterminate")


def ui_alert(code: str, text: str, *, options: str = "", choices: tuple[str, ...] = ()) -> Alert:
    """A user-interaction alert: options item, text item, then the choices (1103/1104)."""
    items = [Item(data=options), Item(data=text), *(Item(data=c) for c in choices)]
    return Alert(cmd_id="", data=code, items=items)


def user_answers(dm: DmDevice, answer: str, text: str | None = None,
                 choices: str | None = None) -> None:
    """Script what the device's user does with the next user-interaction alert."""
    require_action(dm.controller, "ui_answer", "script the device user's answer")
    dm.controller.ui_answer(answer, text=text, choices=choices)


def ask_user(dm: DmDevice, alert: Alert) -> CommandResult:
    """Send ``alert`` in the shared session; the device's answer, if it may decide a check."""
    session = dm.shared()
    result = dm.send([alert])[0]
    return decisive(result, f"Alert {alert.data} ({UI_NAMES.get(alert.data, '')})", session.auth)


def answer_items(result: CommandResult) -> list[str]:
    """The texts of the Items in the Status of a user-interaction alert (typed text, choices)."""
    status = result.status_cmd
    return [item.text() or "" for item in status.items] if status is not None else []


def event_session(dm: DmDevice) -> DmSession:
    """The session the device opens to send a Generic Alert when asked (send_generic_alert)."""
    require_action(dm.controller, "send_generic_alert", "make the device send a Generic Alert")
    dm.release()
    dm.omadm.expect_session()
    dm.controller.send_generic_alert()
    session = dm.omadm.wait_session(alert="1226")
    dm.adopt(session)
    return require_authenticated(session)


def generic_alert_problems(alert: Alert) -> list[str]:
    """What the form of a Generic Alert lacks (empty: well formed)."""
    if not alert.items:
        return ["no Item"]
    problems = []
    for n, item in enumerate(alert.items, start=1):
        meta = item.meta
        kind = meta.type if meta is not None else None
        fmt = meta.format if meta is not None else None
        mark = meta.mark if meta is not None else None
        where = f"Item {n}"
        if not kind:
            problems.append(f"{where}: no Meta Type")
        elif not REVERSED_DOMAIN.fullmatch(kind.strip()):
            problems.append(f"{where}: Meta Type {kind!r} is not a reversed domain name")
        if not fmt:
            problems.append(f"{where}: no Meta Format")
        elif fmt.strip() not in FORMATS:
            problems.append(f"{where}: Meta Format {fmt!r} is not a DM format")
        if mark is not None and mark.strip() not in MARKS:
            problems.append(f"{where}: Meta Mark {mark!r} is not one of {', '.join(MARKS)}")
        if item.source is not None and not item.source.strip():
            problems.append(f"{where}: empty Source LocURI")
        if item.data is None:
            problems.append(f"{where}: no Data")
    return problems


def lab_status_for(session: DmSession, alert: Alert) -> Status | None:
    """The lab's Status to the device's ``alert`` (the message after the one carrying it)."""
    messages = session.messages
    for i, message in enumerate(messages):
        if message.direction != "device->lab" or alert not in message.msg.body:
            continue
        msg_id = message.msg.header.msg_id
        for later in messages[i + 1:]:
            if later.direction == "lab->device":
                return next((s for s in later.msg.statuses()
                             if s.cmd_ref == alert.cmd_id and s.msg_ref in (msg_id, "")), None)
    return None


def same_alert(a: Alert, b: Alert) -> bool:
    """The same Generic Alert sent again (correlator, sources, types and data)."""
    def key(alert: Alert) -> tuple[object, ...]:
        return (alert.correlator, tuple((i.source, i.meta.type if i.meta else None, i.text())
                                        for i in alert.items))
    return key(a) == key(b)
