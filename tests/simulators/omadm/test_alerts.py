"""Alerts between the lab and the reference device: the scripted UI (1100-1104), the device's
own Generic Alert (1226), its session abort (1223), and a device Status 500 in the lab."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conformance.declaration import Declaration
from conformance.dut.omadm_alerts import generic_alert_problems, lab_status_for, ui_alert
from conformance.omadm.labauth import HeaderAnswer
from conformance.omadm.model import Alert, Get, Item, Sequence, Status, SyncHdr, SyncML
from conformance.omadm.session import SessionState
from conformance.simulators.omadm_core import EVENT_ALERT_TYPE, ActionError
from conformance.simulators.omadm_ui import ScriptedUi, UiAnswer, UiError, parse_answer

WAIT = 15.0
CHOICES = ("a", "b", "c")


def alert(code: str, options: str = "") -> Alert:
    return ui_alert(code, "text", options=options, choices=CHOICES)


@pytest.mark.parametrize(
    ("answer", "code", "want"),
    [
        (UiAnswer("accept"), "1100", ("200", [])),
        (UiAnswer("cancel"), "1100", ("200", [])),  # a display has nothing to cancel
        (UiAnswer("accept"), "1101", ("200", [])),
        (UiAnswer("decline"), "1101", ("304", [])),
        (UiAnswer("cancel"), "1101", ("214", [])),
        (UiAnswer("accept", text="hello"), "1102", ("200", ["hello"])),
        (UiAnswer("cancel", text="hello"), "1102", ("214", [])),
        (UiAnswer("accept", choices=("2", "3")), "1103", ("200", ["2"])),
        (UiAnswer("accept", choices=("1", "3", "9")), "1104", ("200", ["1", "3"])),
    ],
)
def test_scripted_ui_answers(answer: UiAnswer, code: str, want: tuple[str, list[str]]) -> None:
    ui = ScriptedUi(present=True)
    ui.script(answer)
    status, items = ui.respond(alert(code))
    assert (status, [i.data for i in items]) == want


def test_defaults_come_from_the_alert() -> None:
    ui = ScriptedUi(present=True)
    assert [i.data for i in ui.respond(alert("1102", "DR=typed"))[1]] == ["typed"]
    assert [i.data for i in ui.respond(alert("1104", "DR=1-3"))[1]] == ["1", "3"]


def test_no_ui_refuses_and_the_stub_fault_accepts_everything() -> None:
    for code in ("1100", "1101", "1102", "1103", "1104"):
        assert ScriptedUi(present=False).respond(alert(code)) == ("406", [])
        assert ScriptedUi(present=False, stub=True).respond(alert(code)) == ("200", [])


@pytest.mark.parametrize("params", [{"answer": "maybe"}, {"choices": "1,x"}, {"colour": "1"},
                                    {"text": "x" * 300}])
def test_bad_ui_answers_are_refused(params: dict[str, object]) -> None:
    with pytest.raises(UiError):
        parse_answer(params)


def test_ui_alerts_over_the_wire(
    rig: Callable[..., Any], declaration: Declaration
) -> None:
    r = rig(declaration.model_copy(update={"features": declaration.features.model_copy(
        update={"user_interaction": True})}))
    r.lab.expect_session()
    r.device.trigger_session({})
    session = r.lab.wait_session(WAIT)
    r.device.ui_answer({"answer": "decline"})
    assert session.send([alert("1101")])[0].status == "304"
    r.device.ui_answer({"answer": "accept", "text": "typed on the device"})
    typed = session.send([alert("1102")])[0]
    assert typed.status == "200" and typed.status_cmd is not None
    assert [i.text() for i in typed.status_cmd.items] == ["typed on the device"]
    with pytest.raises(ActionError):
        r.device.ui_answer({"answer": "later"})
    session.close()
    assert r.session_end().ok


def test_stub_device_answers_200_without_a_ui(
    rig: Callable[..., Any], declaration: Declaration
) -> None:
    headless = declaration.model_copy(update={"features": declaration.features.model_copy(
        update={"user_interaction": False})})
    for faults, want in (((), "406"), (("ui-stub-answers",), "200")):
        r = rig(headless, *faults)
        r.lab.expect_session()
        r.device.trigger_session({})
        session = r.lab.wait_session(WAIT)
        assert session.send([alert("1101")])[0].status == want
        session.close()
        assert r.session_end().ok


def _event(r: Any) -> Any:
    r.lab.expect_session()
    r.device.send_generic_alert({})
    session = r.lab.wait_session(WAIT, alert="1226")
    session.close()
    assert r.session_end().ok
    return session


def test_generic_alert_outside_fumo(rig: Callable[..., Any]) -> None:
    r = rig()
    session = _event(r)
    [sent] = session.alerts("1226")
    assert generic_alert_problems(sent) == []
    assert sent.items[0].meta is not None and sent.items[0].meta.type == EVENT_ALERT_TYPE
    status = lab_status_for(session, sent)
    assert status is not None and status.data == "200"
    assert r.device.pending_alerts == []  # delivered: not sent again
    with pytest.raises(ActionError):
        r.device.send_generic_alert({"type": "x"})


def test_generic_alert_faults(rig: Callable[..., Any]) -> None:
    untyped = _event(rig(None, "generic-alert-untyped")).alerts("1226")[0]
    assert generic_alert_problems(untyped) == ["Item 1: no Meta Type"]
    r = rig(None, "generic-alert-resent")
    first = _event(r).alerts("1226")[0]
    r.lab.expect_session()
    r.device.trigger_session({})
    again = r.lab.wait_session(WAIT)
    assert [a.correlator for a in again.alerts("1226")] == [first.correlator]
    again.close()
    assert r.session_end().ok


@pytest.mark.parametrize("faults", [(), ("abort-continues",)])
def test_device_abort_keeps_the_evidence(rig: Callable[..., Any], faults: tuple[str, ...]) -> None:
    r = rig(None, *faults)
    r.lab.expect_session()
    r.device.trigger_session({})
    session = r.lab.wait_session(WAIT)
    assert session.get("./DevInfo/Man").status == "200"
    r.device.abort_session({})
    cut = session.get("./DevInfo/Mod")  # answered by the abort: resolved, not timed out
    assert cut.status == "" and cut.cmd.items[0].target == "./DevInfo/Mod"
    result = r.session_end()
    assert result.ok and "1223" in result.outcome
    assert session.ended == "aborted by the device (Alert 1223)"
    device = [m for m in session.messages if m.direction == "device->lab"]
    aborts = [i for i, m in enumerate(device) if m.msg.alerts("1223")]
    assert aborts and len(device[aborts[0] + 1:]) == len(faults)
    # A message after the abort is evidence, but changes no result the lab handed over.
    assert cut.status == "" and (not faults or any("after the session ended" in e
                                                   for e in session.errors))
    recorded = [e for e in r.transcript if "1223" in (e.summary or "")]
    assert recorded  # the abort is in the transcript, raw and decoded


def test_a_device_status_500_is_kept_and_the_package_goes_on() -> None:
    dev = "IMEI:357099060399038"
    s = SessionState(session_id="5", device=dev, server_uri="http://lab/oma")
    ok = HeaderAnswer("212")
    s.absorb(SyncML(SyncHdr("5", "1", "http://lab/oma", dev), [Alert("1", data="1201")]), ok)
    results = s.enqueue([Get(cmd_id="", items=[Item(target=f"./{n}")]) for n in "AB"])
    pkg = s.compose_package()
    first, second = (c.cmd_id for c in pkg.body if isinstance(c, Get))
    s.absorb(SyncML(SyncHdr("5", "2", "http://lab/oma", dev), [
        Status("1", msg_ref="1", cmd_ref="0", cmd="SyncHdr", data="200"),
        Status("2", msg_ref="1", cmd_ref=first, cmd="Get", data="500"),
        Status("3", msg_ref="1", cmd_ref=second, cmd="Get", data="404"),
    ]), ok)
    assert [r.status for r in results] == ["500", "404"]
    assert results[0].status_cmd is not None and results[0].status_cmd.data == "500"
    assert s.ended is None and not s.problems  # a failed command does not end the session


@pytest.mark.parametrize(("faults", "after"), [((), "215"), (("ui-answer-ignored",), "200")])
def test_no_and_cancel_stop_what_follows(
    rig: Callable[..., Any], declaration: Declaration, faults: tuple[str, ...], after: str
) -> None:
    r = rig(None, *faults)
    r.lab.expect_session()
    r.device.trigger_session({})
    session = r.lab.wait_session(WAIT)
    man = Get(cmd_id="", items=[Item(target="./DevInfo/Man")])
    r.device.ui_answer({"answer": "cancel"})
    cancelled = session.send([alert("1101"), man])
    assert [c.status for c in cancelled] == ["214", after]
    r.device.ui_answer({"answer": "decline"})
    [seq] = session.send([Sequence(cmd_id="", commands=[alert("1101"), man])])
    assert [c.status for c in seq.children] == ["304", after]
    session.close()
    assert r.session_end().ok
