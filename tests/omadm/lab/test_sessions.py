"""Whole sessions between the lab and the scripted device over real HTTP(S).

The scripted device (conftest.ScriptedDevice) runs in a thread and plays the client; the test
thread drives the lab through its synchronous facade, exactly as a certification case does.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.evidence.transcript import Transcript
from conformance.omadm import auth
from conformance.omadm.lab import OmaDmLab, SessionEnded
from conformance.omadm.model import (
    Add,
    Alert,
    Delete,
    Get,
    Item,
    Meta,
    Replace,
    Results,
    Status,
    SyncML,
)
from conformance.omadm.nonces import FILE_NAME as NONCE_FILE
from conformance.verdicts import DeviceTimeout

Scripted = Callable[..., Any]
InThread = Callable[[Callable[[], object]], Any]


def test_interactive_session_xml(
    omadm_lab: OmaDmLab, scripted: Scripted, in_thread: InThread, transcript: Transcript
) -> None:
    dev = scripted(omadm_lab)
    worker = in_thread(dev.run)
    session = omadm_lab.wait_session()
    assert session.dev_id == dev.dev_id and session.session_id == "1"
    assert session.encoding == "xml" and session.auth.verified
    assert session.auth.attempts[0].matched == "current"  # first session: nonce "null"
    assert session.package1.alerts("1201")
    man = session.get("./DevInfo/Man")
    assert (man.status, man.data) == ("200", omadm_lab.declaration.device.manufacturer)
    # The device's answer decides the next command: that is the point of holding the request.
    if man.data:
        assert session.get("./Nope").status == "404"
    assert session.replace("./DevInfo/Man", "x").status == "405"
    assert session.add("./DevDetail/FwV", "y").status == "418"
    assert session.delete("./DevDetail/Ext/HostMan").status == "200"
    assert session.exec("./FUMO/1/Update", correlator="c1").status == "202"
    session.close()
    worker.result()
    assert session.ended == "closed by the lab"
    # The device got a Status for each of its commands and its SyncHdr, with MsgRef/CmdRef.
    pkg2 = dev.received[0]
    refs = {(s.cmd, s.msg_ref, s.cmd_ref) for s in pkg2.statuses()}
    assert refs == {("SyncHdr", "1", "0"), ("Alert", "1", "1"), ("Replace", "1", "2")}
    # The last lab message has no command: the device ended the session.
    assert dev.received[-1].final and not [c for c in dev.received[-1].body if c.name != "Status"]
    entries = [e for e in transcript if e.protocol == "omadm" and e.direction != "note"]
    assert entries[0].summary.startswith("POST pkg1: Alert 1201")
    assert entries[1].summary.startswith("200 pkg2: Status 212")
    assert all(e.raw and e.decoded and e.session == "1" for e in entries)
    assert all(e.device == dev.dev_id for e in entries)


def test_secrets_never_reach_the_transcript(
    omadm_lab: OmaDmLab,
    scripted: Scripted,
    in_thread: InThread,
    transcript: Transcript,
    tmp_path: Path,
) -> None:
    dev = scripted(omadm_lab)
    worker = in_thread(dev.run)
    omadm_lab.wait_session().close()
    worker.result()
    text = (tmp_path / "transcript.jsonl").read_text()
    dm = omadm_lab.declaration.omadm
    assert dm is not None
    for secret in (dm.client_secret.get_secret_value(), dm.server_secret.get_secret_value()):
        assert secret not in text and secret.encode().hex() not in text


def test_wbxml_session_over_https(
    omadm_lab: OmaDmLab, scripted: Scripted, in_thread: InThread
) -> None:
    dev = scripted(omadm_lab, https=True, encoding="wbxml")
    worker = in_thread(dev.run)
    session = omadm_lab.wait_session()
    assert session.encoding == "wbxml"
    assert session.content_type == "application/vnd.syncml.dm+wbxml"
    assert session.get("./DevDetail/FwV").data == omadm_lab.declaration.device.firmware_version
    session.close()
    worker.result()
    assert all(
        r.headers["Content-Type"] == "application/vnd.syncml.dm+wbxml" for r in dev.responses
    )
    assert dev.url.startswith("https://")  # the RespURI keeps the scheme


@pytest.mark.parametrize("kind", ["hmac", "basic"])
def test_other_declared_auth_types(
    make_lab: Callable[..., OmaDmLab],
    scripted: Scripted,
    in_thread: InThread,
    kind: str,
    tmp_path: Path,
) -> None:
    lab = make_lab(auth=kind)
    dev = scripted(lab)
    worker = in_thread(dev.run)
    session = lab.wait_session()
    assert session.auth.type_seen == kind and session.auth.verified
    assert session.get("./DevInfo/Mod").status == "200"
    session.close()
    worker.result()
    dm = lab.declaration.omadm
    assert dm is not None
    text = (tmp_path / "transcript.jsonl").read_text()
    for name, secret in ((dm.client_name, dm.client_secret), (dm.server_id, dm.server_secret)):
        basic = auth.basic_credential(name, secret.get_secret_value())
        assert secret.get_secret_value() not in text and basic not in text
    if kind == "basic":
        assert "redacted" in text  # the credentials were there, and masked
    if kind == "hmac":
        # The lab authenticates itself in the transport header too.
        header = auth.parse_hmac_header(dev.responses[0].headers[auth.HMAC_HEADER])
        dm = lab.declaration.omadm
        assert dm is not None
        assert auth.verify_hmac(
            dm.server_id,
            dm.server_secret.get_secret_value(),
            b"null",
            dev.responses[0].content,
            header.mac,
        )


def test_forced_challenge_then_retry_with_the_new_nonce(
    omadm_lab: OmaDmLab, scripted: Scripted, in_thread: InThread
) -> None:
    omadm_lab.expect_session(challenge=True)
    dev = scripted(omadm_lab)
    worker = in_thread(dev.run)
    session = omadm_lab.wait_session()
    first, second = session.auth.attempts
    assert (first.answer, second.answer) == ("401", "212")
    assert second.verified and second.matched == "pending" and second.nonce == dev.nonce_used[1]
    chal = next(s for s in dev.received[0].statuses() if s.cmd == "SyncHdr").chal
    assert chal is not None and chal.meta.next_nonce
    assert auth.nonce_from_b64(chal.meta.next_nonce) == second.nonce
    session.close()
    worker.result()


def test_missing_and_wrong_credentials(
    omadm_lab: OmaDmLab, scripted: Scripted, in_thread: InThread
) -> None:
    dev = scripted(omadm_lab, client_secret="not-the-secret")
    worker = in_thread(lambda: dev.post(dev.package1(cred=False)))
    reply = worker.result()
    hdr = next(s for s in reply.statuses() if s.cmd == "SyncHdr")
    assert hdr.data == "407" and hdr.chal is not None and hdr.chal.meta.type == "syncml:auth-md5"
    # Only Status in an authentication failure, one for each command.
    assert [s.cmd for s in reply.body] == ["SyncHdr", "Alert", "Replace"]
    worker = in_thread(lambda: [dev.post(dev.package1()) for _ in range(2)])
    replies = worker.result()
    session = omadm_lab.wait_session()
    assert [a.answer for a in session.auth.attempts] == ["407", "401", "401"]
    assert not session.auth.verified and session.ended == "authentication failed"
    with pytest.raises(SessionEnded):
        session.get("./DevInfo/Man")
    assert all(r.final for r in replies)


def test_a_command_without_any_result_is_session_ended(
    omadm_lab: OmaDmLab, scripted: Scripted, in_thread: InThread,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A session that ends while a command still waits in its queue (another package 1 with
    its SessionID came at that moment) hands over no result at all: the one-command calls say
    SessionEnded (INCONCLUSIVE) instead of indexing an empty list (an IndexError, an ERROR:
    seen under load in the two-devices isolation test)."""
    dev = scripted(omadm_lab)
    worker = in_thread(dev.run)
    session = omadm_lab.wait_session()
    monkeypatch.setattr(session, "send", lambda cmds: [])  # the race, made certain
    for call in (lambda: session.get("./DevInfo/Man"), lambda: session.delete("./X"),
                 lambda: session.replace("./X", "1"), lambda: session.exec("./X")):
        with pytest.raises(SessionEnded, match="ended before the device answered"):
            call()
    monkeypatch.undo()
    session.close()
    worker.result()


def saved_nonces(path: Path, device: str) -> dict[str, bytes | None]:
    """The device's row in the lab's nonce database, read over a connection of our own."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM nonces WHERE device = ?", (device,)).fetchone()
    assert row is not None, f"no nonce row for {device} in {path}"
    return dict(row)


def test_next_nonce_applies_to_the_next_session_and_persists(
    make_lab: Callable[..., OmaDmLab], scripted: Scripted, in_thread: InThread, tmp_path: Path
) -> None:
    lab = make_lab()
    dev = scripted(lab)
    worker = in_thread(dev.run)
    session = lab.wait_session()
    session.close()  # in the answer to package 1: the lab never learns it arrived
    worker.result()
    issued = dev.nonce  # the NextNonce of the 212
    assert issued != b"null"
    saved = saved_nonces(tmp_path / NONCE_FILE, dev.dev_id)  # on disk while the lab still runs
    assert saved["client_pending"] == issued
    assert saved["client"] == b"null"  # either one verifies next time
    lab.stop()
    lab2 = make_lab()  # a restarted lab reads the nonce state back
    dev2 = scripted(lab2, session_id="2")
    dev2.nonce, dev2.server_nonce = dev.nonce, dev.server_nonce
    worker = in_thread(dev2.run)
    session = lab2.wait_session()
    first = session.auth.attempts[0]
    assert (first.nonce, first.matched, first.answer) == (issued, "pending", "212")
    assert not first.verifies_with_null
    assert session.get("./DevInfo/Man").status == "200"  # the device answered package 2
    session.close()
    worker.result()
    saved = saved_nonces(tmp_path / NONCE_FILE, dev.dev_id)
    assert saved["client"] == dev2.nonce  # now known to be delivered
    assert saved["client_pending"] is None


def test_device_rejects_a_wrong_server_credential(
    omadm_lab: OmaDmLab, scripted: Scripted, in_thread: InThread
) -> None:
    omadm_lab.expect_session(wrong_server_credential=True)
    dev = scripted(omadm_lab)
    worker = in_thread(dev.run)
    session = omadm_lab.wait_session()
    result = session.get("./DevInfo/Man")
    assert result.status == "401" and not result.items
    assert session.auth.server_statuses == ["401"] and session.auth.server_credential_wrong
    session.close()
    worker.result()
    assert dev.server_cred_ok[0] is False


def test_lab_answers_the_devices_challenge_with_the_new_nonce(
    omadm_lab: OmaDmLab, scripted: Scripted, in_thread: InThread
) -> None:
    dev = scripted(omadm_lab)
    dev.server_nonce = b"device-expects-this"  # the lab's stored nonce (null) is stale
    worker = in_thread(dev.run)
    session = omadm_lab.wait_session()
    result = session.get("./DevInfo/Man")
    assert result.status == "200" and "sent again" in " ".join(result.notes)
    assert session.auth.server_statuses == ["401", "212"]
    session.close()
    worker.result()
    assert dev.server_cred_ok == [False, True]


def test_max_msg_size_splits_the_labs_commands(
    omadm_lab: OmaDmLab, scripted: Scripted, in_thread: InThread
) -> None:
    dev = scripted(omadm_lab, max_msg_size=1500)
    worker = in_thread(dev.run)
    session = omadm_lab.wait_session()
    uris = ["./DevInfo/Man", "./DevInfo/Mod", "./Nope"] * 4
    results = session.send([Get(cmd_id="", items=[Item(target=u)]) for u in uris])
    assert [r.status for r in results] == ["200", "200", "404"] * 4
    assert not any(r.notes for r in results)
    session.close()
    worker.result()
    lab_msgs = [m for m in session.messages if m.direction == "lab->device"]
    assert len(lab_msgs) > 3  # split over several packages
    assert all(len(m.raw) <= 1500 for m in lab_msgs), [len(m.raw) for m in lab_msgs]


def test_atomic_and_sequence_report_their_members(
    omadm_lab: OmaDmLab, scripted: Scripted, in_thread: InThread
) -> None:
    dev = scripted(omadm_lab)
    worker = in_thread(dev.run)
    session = omadm_lab.wait_session()
    atomic = session.atomic(
        [
            Replace(cmd_id="", items=[Item(target="./A", data="1", meta=Meta(format="chr"))]),
            Add(cmd_id="", items=[Item(target="./B", data="2")]),
        ]
    )
    assert atomic.status == "200" and [c.status for c in atomic.children] == ["200", "200"]
    seq = session.sequence(
        [
            Get(cmd_id="", items=[Item(target="./A")]),
            Delete(cmd_id="", items=[Item(target="./Zzz")]),
        ]
    )
    assert [c.status for c in seq.children] == ["200", "404"]
    assert seq.children[0].data == "1"
    session.close()
    worker.result()


def _manual(dev: Any, lab_msg: SyncML, body: list[Any], *, final: bool) -> SyncML:
    hdr_status = dev.status_for_lab_header(lab_msg)
    msg = SyncML(dev.header(cred=False), [hdr_status, *body], final=final)
    for i, cmd in enumerate(msg.body, 1):
        cmd.cmd_id = str(i)
    return dev.post(msg)


def test_device_answer_over_several_messages_and_large_object(
    omadm_lab: OmaDmLab, scripted: Scripted, in_thread: InThread
) -> None:
    dev = scripted(omadm_lab)
    big = "x" * 3000 + "y" * 3000
    seen: list[SyncML] = []

    def device() -> None:
        lab_msg = dev.post(dev.package1())
        get = next(c for c in lab_msg.body if isinstance(c, Get))
        ref = dict(msg_ref=lab_msg.header.msg_id, cmd_ref=get.cmd_id)
        part1 = Results(
            cmd_id="",
            **ref,
            items=[
                Item(
                    source="./Big",
                    meta=Meta(format="chr", size=len(big)),
                    data=big[:3000],
                    more_data=True,
                )
            ],
        )
        status = Status(cmd_id="", **ref, cmd="Get", data="200")
        seen.append(_manual(dev, lab_msg, [status, part1], final=False))
        part2 = Results(cmd_id="", **ref, items=[Item(source="./Big", data=big[3000:])])
        more = SyncML(dev.header(cred=False), [part2], final=True)
        more.body[0].cmd_id = "1"
        seen.append(dev.post(more))

    worker = in_thread(device)
    session = omadm_lab.wait_session()
    result = session.get("./Big")
    assert result.status == "200" and result.data == big and not result.notes
    session.close()
    worker.result()
    # The answer to the non-final message: Status 213 for the chunk and Alert 1222, no Final.
    nxt = seen[0]
    assert not nxt.final and nxt.alerts("1222")
    assert [s.data for s in nxt.statuses()] == ["200", "213"]


def test_device_abort(omadm_lab: OmaDmLab, scripted: Scripted, in_thread: InThread) -> None:
    dev = scripted(omadm_lab)

    def device() -> SyncML:
        lab_msg = dev.post(dev.package1())
        return _manual(dev, lab_msg, [Alert(cmd_id="", data="1223")], final=True)

    worker = in_thread(device)
    session = omadm_lab.wait_session()
    result = session.get("./DevInfo/Man")
    assert result.status == "" and session.ended == "aborted by the device (Alert 1223)"
    last = worker.result()
    assert last.final and [s.data for s in last.statuses()] == ["200", "200"]


def test_lab_abort(omadm_lab: OmaDmLab, scripted: Scripted, in_thread: InThread) -> None:
    dev = scripted(omadm_lab)
    worker = in_thread(dev.run)
    session = omadm_lab.wait_session()
    session.abort()
    received = worker.result()
    assert received[-1].alerts("1223") and session.ended == "aborted by the lab (Alert 1223)"


def test_idle_lab_closes_the_session(
    make_lab: Callable[..., OmaDmLab],
    scripted: Scripted,
    in_thread: InThread,
    transcript: Transcript,
) -> None:
    lab = make_lab(request=0.5)
    dev = scripted(lab)
    worker = in_thread(dev.run)  # the test sends nothing: the lab must not hold forever
    received = worker.result()
    assert received[-1].final and len(received) == 1
    assert any("no command from the test" in e.summary for e in transcript)


def test_silent_device_is_a_timeout(
    make_lab: Callable[..., OmaDmLab], scripted: Scripted, in_thread: InThread
) -> None:
    lab = make_lab(request=0.5)
    dev = scripted(lab)
    worker = in_thread(lambda: dev.post(dev.package1()))  # then never answers
    session = lab.wait_session()
    with pytest.raises(DeviceTimeout):
        session.get("./DevInfo/Man")
    worker.result()
    with pytest.raises(DeviceTimeout):
        lab.wait_session(timeout=0.2)


def test_generic_alert_in_a_later_session(
    omadm_lab: OmaDmLab, scripted: Scripted, in_thread: InThread
) -> None:
    dev = scripted(omadm_lab)
    worker = in_thread(dev.run)
    session = omadm_lab.wait_session()
    assert session.exec("./FUMO/1/DownloadAndUpdate", correlator="77").status == "202"

    later = scripted(omadm_lab, session_id="2")

    def report() -> object:
        worker.result()  # the first session is closed by wait_alert below
        msg = later.package1("1201")
        msg.body.insert(
            1,
            Alert(
                cmd_id="3",
                data="1226",
                correlator="77",
                items=[
                    Item(
                        source="./FUMO/1/DownloadAndUpdate",
                        data="200",
                        meta=Meta(
                            type="org.openmobilealliance.dm.firmwareupdate.downloadandupdate",
                            format="int",
                        ),
                    )
                ],
            ),
        )
        return later.run_from(msg)

    second = in_thread(report)
    alert = session.wait_alert("1226")
    assert alert.correlator == "77" and alert.items[0].data == "200"
    assert session.alert_session is not None and session.alert_session.session_id == "2"
    assert omadm_lab.wait_session(alert="1226").session_id == "2"
    session.alert_session.close()
    second.result()


def test_lab_sends_a_large_object_in_chunks(
    omadm_lab: OmaDmLab, scripted: Scripted, in_thread: InThread
) -> None:
    dev = scripted(omadm_lab, max_msg_size=1500)
    value = "".join(f"{i:05d}" for i in range(1000))  # 5000 bytes, well over 1500
    chunks: list[SyncML] = []

    def device() -> None:
        lab_msg = dev.post(dev.package1())
        while True:
            replace = next((c for c in lab_msg.body if isinstance(c, Replace)), None)
            if replace is None:  # only Status, no Final: the lab's package goes on
                assert not lab_msg.final
                lab_msg = _manual(dev, lab_msg, [Alert(cmd_id="", data="1222")], final=False)
                continue
            chunks.append(lab_msg)
            code = "213" if replace.items[0].more_data else "200"
            status = Status(
                cmd_id="",
                msg_ref=lab_msg.header.msg_id,
                cmd_ref=replace.cmd_id,
                cmd="Replace",
                data=code,
            )
            if code == "200":
                lab_msg = _manual(dev, lab_msg, [status], final=True)
                break
            lab_msg = _manual(dev, lab_msg, [status, Alert(cmd_id="", data="1222")], final=False)
        assert lab_msg.final

    worker = in_thread(device)
    session = omadm_lab.wait_session()
    result = session.replace("./FUMO/1/PkgName", value)
    assert result.status == "200"
    session.close()
    worker.result()
    items = [next(c for c in m.body if isinstance(c, Replace)).items[0] for m in chunks]
    assert len(items) > 3 and "".join(str(i.data) for i in items) == value
    assert [i.more_data for i in items] == [True] * (len(items) - 1) + [False]
    assert [m.final for m in chunks] == [False] * (len(items) - 1) + [True]
    assert items[0].meta is not None and items[0].meta.size == len(value)
    assert all(i.meta is None or i.meta.size is None for i in items[1:])
    sizes = [len(m.raw) for m in session.messages if m.direction == "lab->device"]
    assert max(sizes) <= 1500, sizes
