"""A hostile device at the SyncML level, through the running OMA-DM lab: a flood of mutated
messages, unknown session IDs, MsgID jumps, replayed and wrong digests, credentials over plain
HTTP when TLS is declared, and two devices at once with the same identity.

What each proves is listed in docs/robustness.md.
"""

from __future__ import annotations

import copy
import random
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
import requests

from conformance.evidence.transcript import Transcript
from conformance.omadm import codec
from conformance.omadm.lab import DmSession, OmaDmLab
from conformance.omadm.labauth import AuthOutcome
from conformance.omadm.model import Status, SyncML
from conformance.verdicts import Inconclusive

DM_XML = "application/vnd.syncml.dm+xml"
DM_WBXML = "application/vnd.syncml.dm+wbxml"


def _campaign() -> ModuleType:
    return sys.modules["conformance_fuzz_campaign"]  # loaded by conftest.py


def assert_only_verified_accepted(outcome: AuthOutcome) -> None:
    """The lab's promise: a 200/212 on the device's header only for credentials it verified."""
    for attempt in outcome.attempts:
        if attempt.answer in ("200", "212"):
            assert attempt.verified, f"accepted unverified credentials: {attempt}"


def _header_status(reply: SyncML) -> str:
    return next(s.data for s in reply.statuses() if s.cmd == "SyncHdr")


# --------------------------------------------------------------------------- malformed flood


@pytest.mark.parametrize("encoding", ["xml", "wbxml"])
def test_flood_of_mutated_messages_is_answered_recorded_and_survived(
    encoding: str, make_lab: Callable[..., OmaDmLab], tools: Any, transcript: Transcript
) -> None:
    """Mutations of the valid corpus (the fuzz campaign's engine) posted one after the other:
    each gets an HTTP answer that is not a lab failure, each is in the transcript with the
    exact bytes sent, and a good device is served afterwards."""
    lab = make_lab(request=0.3)  # a mutant that is a valid package 1 is held this long
    campaign = _campaign()
    target = campaign.targets()["syncml-xml" if encoding == "xml" else "wbxml"]
    rng = random.Random(f"hostile-flood-{encoding}")
    ctype = DM_XML if encoding == "xml" else DM_WBXML
    with requests.Session() as http:
        for _ in range(40):
            body = campaign.random_input(rng, target)
            mark = transcript.mark()
            resp = http.post(lab.http_url, data=body, headers={"Content-Type": ctype}, timeout=10)
            assert resp.status_code in (200, 400, 413), (resp.status_code, body[:200])
            assert b"Traceback" not in resp.content
            received = [e for e in transcript.since(mark) if e.direction == "device->lab"]
            assert [e.raw for e in received] == [body], body[:200]
    assert not [e for e in transcript if "internal error" in e.summary]
    tools.good_session(lab)


def test_nested_xml_with_trailing_text_reaches_the_session(
    omadm_lab: OmaDmLab, tools: Any, transcript: Transcript
) -> None:
    """The input the campaign found: the server answered 500 and lost the message."""
    omadm_lab.expect_session()
    dev = tools.scripted(omadm_lab, session_id="31")

    def device() -> Any:  # the DevId item's Data gets nested XML with text after it
        data = codec.encode(dev.package1(), "xml")
        data = data.replace(b"</Data></Item>", b"<x>1</x>tail</Data></Item>", 1)
        return dev.post_raw(data, DM_XML)

    worker = tools.in_thread(device)
    session = omadm_lab.wait_session(timeout=10)
    replace = session.device_commands()[0]
    assert any("<x>1</x>tail" in str(i.data) for i in getattr(replace, "items", []))
    session.close()
    assert worker.result().status_code == 200
    assert not [e for e in transcript if "internal error" in e.summary]


# --------------------------------------------------------------------------- session ids


def test_message_of_no_session_is_rejected_and_recorded(
    omadm_lab: OmaDmLab, tools: Any, transcript: Transcript
) -> None:
    dev = tools.scripted(omadm_lab, session_id="404")
    msg = dev.package1()
    msg.header.msg_id = "2"  # not a package 1: it claims a session the lab never saw
    msg.body.insert(0, Status(cmd_id="9", msg_ref="1", cmd_ref="0", cmd="SyncHdr", data="200"))
    reply = dev.post(msg)
    assert _header_status(reply) == "400" and reply.final
    entry = tools.wait_entry(lambda e: "belongs to no session" in (e.error or ""))
    assert entry.raw == codec.encode(msg, "xml")
    tools.good_session(omadm_lab)


@pytest.mark.parametrize(
    ("second", "problem"),
    [("7", "MsgID 7 after 1"), ("\u00b2", "MsgID '\u00b2' is not a number"),
     ("9" * 5000, "is not a number")],
    # "²".isdigit() is true and int("²") raised; so did int() of 5000 digits: both a 500
    ids=["jump", "superscript-two", "5000-digits"],
)
def test_msgid_jump_is_recorded_and_the_session_goes_on(
    second: str, problem: str, omadm_lab: OmaDmLab, tools: Any, transcript: Transcript
) -> None:
    dev = tools.scripted(omadm_lab, session_id="61")
    original = dev.header

    def jumping_header(**kw: Any) -> Any:
        hdr = original(**kw)
        if hdr.msg_id == "2":
            hdr.msg_id = second  # MsgID 1, then 7 (five missing), or no number at all
        return hdr

    dev.header = jumping_header
    worker = tools.in_thread(dev.run)
    session = omadm_lab.wait_session(timeout=10)
    assert session.get("./DevInfo/Man").status == "200"
    session.close()
    worker.result()
    assert any(problem in err for err in session.errors)
    assert any(problem in (e.error or "") for e in transcript)
    assert not [e for e in transcript if "internal error" in e.summary]


# --------------------------------------------------------------------------- authentication


@pytest.mark.parametrize("replay", ["same-bytes", "new-session-id"])
def test_replayed_digest_is_refused_in_a_new_session(
    replay: str, make_lab: Callable[..., OmaDmLab], tools: Any, transcript: Transcript
) -> None:
    """A digest that verified once is worthless afterwards: the lab moved the device to a new
    nonce (212 + NextNonce), so the replayed package 1 is challenged, never accepted."""
    lab = make_lab(request=1.0)
    dev = tools.scripted(lab, session_id="71")
    first = dev.package1()
    sent = codec.encode(first, "xml")  # what the device will post, byte for byte
    worker = tools.in_thread(lambda: dev.run_from(first))
    session = lab.wait_session(timeout=10)
    assert session.auth.verified and session.auth.attempts[-1].answer == "212"
    session.close()
    worker.result()

    lab.expect_session()
    replayed = sent if replay == "same-bytes" else sent.replace(
        b"<SessionID>71</SessionID>", b"<SessionID>72</SessionID>"
    )
    answers = []
    with requests.Session() as http:  # an eavesdropper replaying the captured message
        for _ in range(3):
            resp = http.post(lab.http_url, data=replayed, headers={"Content-Type": DM_XML},
                             timeout=10)
            answers.append(_header_status(codec.decode(resp.content, "xml")))
    assert answers == ["401", "401", "401"]
    again = lab.wait_session(timeout=5)
    assert not again.auth.verified
    assert again.auth.attempts and all(not a.verified for a in again.auth.attempts)
    assert again.ended == "authentication failed"
    assert_only_verified_accepted(again.auth)
    assert_only_verified_accepted(session.auth)


@pytest.mark.parametrize("auth_type", ["md5", "hmac", "basic"])
def test_wrong_credentials_are_never_accepted(
    auth_type: str, make_lab: Callable[..., OmaDmLab], tools: Any, transcript: Transcript
) -> None:
    lab = make_lab(request=1.0, auth=auth_type)
    dev = tools.scripted(lab, session_id="81", client_secret="not-the-secret")
    first = dev.package1()
    answers = []
    answers.append(_header_status(dev.post(first)))
    for _ in range(2):  # the device retries as a 401 asks, with the same wrong secret
        again = copy.deepcopy(first)
        again.header = dev.header()
        answers.append(_header_status(dev.post(again)))
    assert answers == ["401", "401", "401"]
    session = lab.wait_session(timeout=5)
    assert not session.auth.verified and session.ended == "authentication failed"
    assert_only_verified_accepted(session.auth)
    assert all(e.error is None or "not-the-secret" not in e.error for e in transcript)
    tools.good_session(lab, auth_type=auth_type)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_credentials_over_plain_http_when_tls_is_declared_are_caught(
    scheme: str, make_lab: Callable[..., OmaDmLab], tools: Any, transcript: Transcript
) -> None:
    lab = make_lab(transport="https")
    dev = tools.scripted(lab, session_id="91", https=scheme == "https")
    worker = tools.in_thread(dev.run)
    session = lab.wait_session(timeout=10)
    session.close()
    worker.result()
    flagged = "credentials sent over plain HTTP; the declaration says https"
    if scheme == "http":
        assert session.auth.plain_http
        assert flagged in session.errors
        first = next(e for e in transcript if e.direction == "device->lab")
        assert flagged in (first.error or "")
    else:
        assert not session.auth.plain_http and flagged not in session.errors
    assert_only_verified_accepted(session.auth)


# --------------------------------------------------------------------------- isolation


def _drive(session: DmSession) -> tuple[str | None, str | None]:
    """(what the device announced as ./DevInfo/Man in its package 1, what a Get returns)."""
    announced = next(
        (str(i.data) for c in session.device_commands() for i in getattr(c, "items", [])
         if i.source == "./DevInfo/Man"),
        None,
    )
    try:
        got = session.get("./DevInfo/Man").data
        session.close()
    except Inconclusive:  # ended (superseded) or silent: no result at all, never a wrong one
        got = None
    return announced, got


@pytest.mark.parametrize("same_dev_id", [False, True])
def test_two_devices_at_once_never_see_each_others_messages(
    same_dev_id: bool, make_lab: Callable[..., OmaDmLab], tools: Any, transcript: Transcript
) -> None:
    """Two devices, same SessionID (and, in the second case, the same DevId too), running at
    the same time: every result the lab hands a test comes from the device whose session it
    is, and each device only ever gets messages of its own session."""
    lab = make_lab(request=1.0)
    devices = []
    for name in ("Alpha Corp", "Beta Corp"):
        dev_id = "IMEI:357099060399038" if same_dev_id else f"IMEI:{name[0]}"
        dev = tools.scripted(lab, session_id="5", dev_id=dev_id)
        dev.tree["./DevInfo/Man"] = name
        devices.append(dev)
    workers = [tools.in_thread(dev.run) for dev in devices]
    seen = []
    for _ in range(2):
        try:
            session = lab.wait_session(timeout=5)
        except Inconclusive:
            break  # the second package 1 superseded the first before it was announced
        seen.append(_drive(session))
    for worker in workers:
        worker.result()
    assert seen
    for announced, got in seen:
        assert got is None or got == announced, f"a session got another device's result: {seen}"
    if not same_dev_id:
        assert sorted(str(got) for _, got in seen) == ["Alpha Corp", "Beta Corp"]
    for dev in devices:  # each device stayed in its own session: one RespURI throughout
        uris = {m.header.resp_uri for m in dev.received if m.header.resp_uri}
        assert len(uris) <= 1, uris
        for reply in dev.received:
            for cmd in reply.body:
                for item in getattr(cmd, "items", []):
                    other = {"Alpha Corp", "Beta Corp"} - {dev.tree["./DevInfo/Man"]}
                    assert str(item.data) not in other
