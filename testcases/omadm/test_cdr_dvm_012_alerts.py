"""CDR-DVM-012 — alerts: user interaction (1100-1104), the device's Generic Alert (1226) outside
FUMO, and a session the device aborts itself (1223) (OMA DM Protocol 1.2 "User Interaction
Commands", "Generic Alert", "Session Abort").

- User interaction (``features.user_interaction: true``): the lab scripts the user's answer
  through the controller (``ui_answer``) and sends the alert in a session. Display: 200.
  Confirmation: 200 confirmed, 304 (not executed) declined, 214 (operation cancelled)
  cancelled. Text input: 200 with the typed text in the Status Item. Single/multiple choice:
  200 with the picked choice numbers in the Status Items.
  A "No" to a confirmation inside a Sequence: the Sequence's later commands are not executed
  (215); a cancel stops the processing of the rest of the package (215 for what follows).
- No UI (``features.user_interaction: false``): each of the five alerts is refused as an
  optional feature the client lacks, 406. 200, 304 and 214 claim a user's answer that nobody
  gave.
- Generic Alert: asked through the controller (``send_generic_alert``), the device opens a
  session whose Alert 1226 has Items with Meta Type (a reversed domain name), Meta Format (a DM
  format), Mark (when present) one of the DM severities, Data, and a non-empty Source when it
  names one. The lab answers it 200; an alert answered 200 is not sent again in the next
  session.
- Client abort: asked through the controller (``abort_session``) in a session, the device's
  next message carries Alert 1223; it sends nothing more in that session, and its next session
  works.

Interpretation: what the device's user does cannot be seen by the lab, so the controller tells
the device (the reference device's scripted UI; an operator with the manual controller); a
controller that cannot is INCONCLUSIVE. A client that does not support the user-interaction
alerts must report 406 "Optional Feature Not Supported" (DM Protocol 1.2 "User interaction
alert codes"); the lab accepts no other refusal from a device without a UI.
"""

from __future__ import annotations

import pytest

from conformance.dut.common import require_action
from conformance.dut.omadm import DmDevice, close_quietly, decisive, get, show
from conformance.dut.omadm_alerts import (
    UI_NAMES,
    answer_items,
    ask_user,
    event_session,
    generic_alert_problems,
    lab_status_for,
    same_alert,
    ui_alert,
    user_answers,
)
from conformance.omadm.model import Sequence
from conformance.verdicts import DeviceFault, NotApplicable

pytestmark = pytest.mark.requirement("CDR-DVM-012")

TEXT = "Conformance lab: user interaction test"
CHOICES = ("Red", "Green", "Blue")
CONFIRM = {"accept": "200", "decline": "304", "cancel": "214"}


def _options(dm: DmDevice, extra: str = "") -> str:
    # The user gets less time than the lab waits: a device that times out answers in time.
    maxdt = max(1, int(dm.timeouts.request) - 2)
    return f"MAXDT={maxdt}" + (f"&{extra}" if extra else "")


@pytest.mark.applies(feature="user_interaction")
def test_display_alert(dm: DmDevice) -> None:
    """Alert 1100: the device shows the text and answers 200."""
    result = ask_user(dm, ui_alert("1100", TEXT, options=_options(dm)))
    assert result.status == "200", f"display alert 1100 answered {show(result)}, expected 200"


@pytest.mark.applies(feature="user_interaction")
@pytest.mark.parametrize("answer", list(CONFIRM))
def test_confirmation_alert(dm: DmDevice, answer: str) -> None:
    """Alert 1101: 200 when the user confirms, 304 when they decline, 214 when they cancel."""
    user_answers(dm, answer)
    result = ask_user(dm, ui_alert("1101", TEXT, options=_options(dm)))
    want = CONFIRM[answer]
    assert result.status == want, (
        f"the user was told to {answer} the confirmation alert 1101; the device answered "
        f"{show(result)}, expected {want}")


@pytest.mark.applies(feature="user_interaction")
def test_text_input_alert(dm: DmDevice) -> None:
    """Alert 1102: 200 with the text the user typed in the Status Item."""
    typed = "ConfLab 42"
    user_answers(dm, "accept", text=typed)
    result = ask_user(dm, ui_alert("1102", TEXT, options=_options(dm, "MAXLEN=32&IT=A&ET=T")))
    assert result.status == "200", f"text input alert 1102 answered {show(result)}, expected 200"
    items = answer_items(result)
    assert items == [typed], (
        f"the user typed {typed!r}; the Status of alert 1102 carries {items or 'no Item'}")


@pytest.mark.applies(feature="user_interaction")
@pytest.mark.parametrize(("code", "picked"), [("1103", ("2",)), ("1104", ("1", "3"))],
                         ids=["single", "multiple"])
def test_choice_alert(dm: DmDevice, code: str, picked: tuple[str, ...]) -> None:
    """Alerts 1103/1104: 200 with the numbers of the choices the user picked."""
    user_answers(dm, "accept", choices=",".join(picked))
    result = ask_user(dm, ui_alert(code, TEXT, options=_options(dm), choices=CHOICES))
    name = UI_NAMES[code]
    assert result.status == "200", f"{name} alert {code} answered {show(result)}, expected 200"
    items = answer_items(result)
    assert sorted(items) == sorted(picked), (
        f"the user picked {', '.join(picked)}; the Status of the {name} alert {code} carries "
        f"{items or 'no Item'}")


@pytest.mark.applies(feature="user_interaction")
def test_declined_confirmation_ends_a_sequence(dm: DmDevice) -> None:
    """A "No" (304) to a confirmation in a Sequence: the Sequence's later commands are not
    executed (215)."""
    user_answers(dm, "decline")
    sequence = Sequence(cmd_id="", commands=[ui_alert("1101", TEXT, options=_options(dm)),
                                             get("./DevInfo/Man")])
    result = dm.send([sequence])[0]
    decisive(result, "Sequence [Alert 1101, Get]", dm.shared().auth)
    confirm, after = result.children
    assert confirm.status == "304", (
        f"declined confirmation 1101 in a Sequence answered {show(confirm)}, expected 304")
    assert after.status == "215", (
        f"the Get after a declined confirmation in a Sequence answered {show(after)}, expected "
        "215 (not executed)")


@pytest.mark.applies(feature="user_interaction")
def test_cancelled_interaction_stops_the_package(dm: DmDevice) -> None:
    """A cancelled confirmation (214): the rest of the lab's package is not processed (215)."""
    user_answers(dm, "cancel")
    confirm, after = dm.send([ui_alert("1101", TEXT, options=_options(dm)),
                              get("./DevInfo/Man")])
    decisive(confirm, "Alert 1101", dm.shared().auth)
    assert confirm.status == "214", f"cancelled confirmation answered {show(confirm)}, want 214"
    assert after.status == "215", (
        f"the Get after a cancelled confirmation answered {show(after)}, expected 215 (not "
        "executed: a cancel stops the processing of the package)")


@pytest.mark.parametrize("code", list(UI_NAMES))
def test_ui_alert_refused_without_ui(dm: DmDevice, code: str) -> None:
    """A device without a UI refuses alerts 1100-1104 with 406 (optional feature)."""
    if dm.dut.features.user_interaction:
        raise NotApplicable("the declaration says the device has a UI "
                            "(features.user_interaction): the user-interaction cases judge it")
    result = ask_user(dm, ui_alert(code, TEXT, options=_options(dm), choices=CHOICES))
    assert result.status == "406", (
        f"the device declares no UI; {UI_NAMES[code]} alert {code} answered {show(result)}, "
        "expected 406 (optional feature not supported): 200, 304 and 214 claim a user's answer")


def test_generic_alert_form(dm: DmDevice) -> None:
    """The device's own Generic Alert: Meta Type, Format, Mark, Data, Source; the lab's 200."""
    session = event_session(dm)
    alerts = session.alerts("1226")
    close_quietly(session)
    problems = [f"Alert {a.cmd_id}: {p}" for a in alerts for p in generic_alert_problems(a)]
    assert not problems, "Generic Alert 1226 not well formed: " + "; ".join(problems)
    for alert in alerts:
        status = lab_status_for(session, alert)
        if status is None or status.data != "200":
            raise RuntimeError(f"the lab did not answer the device's Generic Alert {alert.cmd_id} "
                               f"with Status 200 ({status.data if status else 'no Status'})")


def test_generic_alert_not_resent(dm: DmDevice) -> None:
    """A Generic Alert the lab answered 200 is delivered: the next session does not repeat it."""
    session = event_session(dm)
    alerts = session.alerts("1226")
    close_quietly(session)
    delivered = [a for a in alerts if (s := lab_status_for(session, a)) and s.data == "200"]
    if not delivered:
        raise RuntimeError("the lab answered none of the device's Generic Alerts with 200")
    after = dm.open()
    try:
        again = [a for a in after.alerts("1226") if any(same_alert(a, d) for d in delivered)]
    finally:
        close_quietly(after)
    assert not again, (
        f"session {after.session_id} repeats {len(again)} Generic Alert(s) that the lab answered "
        f"200 in session {session.session_id}")


def test_client_abort(dm: DmDevice) -> None:
    """Told to abort, the device sends Alert 1223, then nothing more in that session."""
    require_action(dm.controller, "abort_session", "make the device abort its session")
    with dm.fresh() as session:
        session.get("./DevInfo/DevId")
        dm.controller.abort_session()
        answer = session.send([get("./DevInfo/Man")])[0]
    messages = session.messages
    aborts = [i for i, m in enumerate(messages)
              if m.direction == "device->lab" and m.msg.alerts("1223")]
    if not aborts:
        raise DeviceFault(f"asked to abort session {session.session_id}, the device sent no "
                          f"Alert 1223 (its answer to the next Get: {show(answer)}; session "
                          f"{session.ended or 'open'})")
    if "1223" not in (session.ended or ""):
        raise RuntimeError(f"the lab did not record the device's abort ({session.ended})")
    after = dm.open()  # the device runs one session at a time: the aborted one is over
    try:
        worked = after.get("./DevInfo/DevId")
    finally:
        close_quietly(after)
    later = [m for m in session.messages[aborts[0] + 1:] if m.direction == "device->lab"]
    assert not later, (
        f"the device sent {len(later)} more message(s) in session {session.session_id} after "
        "its own Alert 1223")
    assert after.session_id != session.session_id, (
        f"the session after the abort reuses the aborted SessionID {session.session_id}")
    assert worked.status == "200", f"the session after the abort failed: Get {show(worked)}"
