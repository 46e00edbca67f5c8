"""The session state machine and the lab's authentication policy, without sockets."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from conformance.declaration import AuthType
from conformance.omadm import auth, codec
from conformance.omadm.account import DmAccount, DmAccounts
from conformance.omadm.labauth import AuthOutcome, ClientCheck, HeaderAnswer, LabCredentials
from conformance.omadm.model import (
    Alert,
    Atomic,
    Chal,
    Cred,
    Get,
    Item,
    Meta,
    Replace,
    Results,
    Status,
    SyncHdr,
    SyncML,
)
from conformance.omadm.nonces import NULL_NONCE, NonceStore
from conformance.omadm.session import SessionState

DEV = "IMEI:357099060399038"
OK = HeaderAnswer("212")


def state(**kw: int) -> SessionState:
    return SessionState(session_id="5", device=DEV, server_uri="http://lab/oma", **kw)


def device_msg(msg_id: str, *body: object, final: bool = True) -> SyncML:
    return SyncML(SyncHdr("5", msg_id, "http://lab/oma", DEV), list(body), final)  # type: ignore[arg-type]


def test_statuses_for_header_and_each_command_with_refs() -> None:
    s = state()
    s.absorb(
        device_msg(
            "1",
            Alert(cmd_id="1", data="1201"),
            Replace(cmd_id="2", items=[Item(source="./DevInfo/Man", data="M")]),
        ),
        OK,
    )
    reply = s.compose_package()
    assert reply.header.msg_id == "1" and reply.header.target == DEV and reply.final
    got = [(c.cmd_id, c.cmd, c.msg_ref, c.cmd_ref, c.data) for c in reply.statuses()]
    assert got == [
        ("1", "SyncHdr", "1", "0", "212"),
        ("2", "Alert", "1", "1", "200"),
        ("3", "Replace", "1", "2", "200"),
    ]
    assert reply.statuses()[2].source_refs == ["./DevInfo/Man"]


def test_results_are_matched_and_get_no_status() -> None:
    s = state()
    s.absorb(device_msg("1", Alert(cmd_id="1", data="1201")), OK)
    [result] = s.enqueue([Get(cmd_id="", items=[Item(target="./A")])])
    pkg = s.compose_package()
    get = pkg.body[-1]
    assert isinstance(get, Get) and get.cmd_id == "3"
    s.absorb(
        device_msg(
            "2",
            Status(cmd_id="1", msg_ref="1", cmd_ref="0", cmd="SyncHdr", data="212"),
            Status(cmd_id="2", msg_ref="1", cmd_ref="3", cmd="Get", data="200"),
            Results(cmd_id="3", msg_ref="1", cmd_ref="3", items=[Item(source="./A", data="v")]),
        ),
        HeaderAnswer("200"),
    )
    assert (result.status, result.data) == ("200", "v")
    assert [st.data for st in s.header_statuses] == ["212"]
    nxt = s.compose_package(close=True)
    assert [c.cmd for c in nxt.statuses()] == ["SyncHdr"]  # none for Results, none for Status
    assert nxt.header.msg_id == "2" and s.ended == "closed by the lab"
    assert s.device_package == 3 and s.lab_package == 4


def test_status_for_an_unknown_command_is_a_problem() -> None:
    s = state()
    s.absorb(device_msg("1", Status(cmd_id="1", msg_ref="7", cmd_ref="9", data="200")), OK)
    assert "no such command" in s.problems[0]


def test_msgid_and_sessionid_deviations_are_noted() -> None:
    s = state()
    s.absorb(device_msg("1"), OK)
    s.absorb(device_msg("3"), OK)
    bad = device_msg("x")
    bad.header.session_id = "6"
    s.absorb(bad, OK)
    text = " ".join(s.problems)
    assert "MsgID 3 after 1" in text and "'x' is not a number" in text and "SessionID '6'" in text


def test_auth_failure_answers_every_command_and_executes_none() -> None:
    s = state()
    s.absorb(
        device_msg(
            "1",
            Alert(cmd_id="1", data="1201"),
            Replace(cmd_id="2", items=[Item(source="./X", data="1")]),
        ),
        HeaderAnswer(
            "401", Chal(Meta(type="syncml:auth-md5", format="b64", next_nonce="bm9uY2U="))
        ),
    )
    reply = s.compose_package()
    assert [st.data for st in reply.statuses()] == ["401", "401", "401"]
    assert reply.statuses()[0].chal is not None
    assert not s.device_commands and not s.alerts


def test_split_by_size_keeps_each_message_under_max() -> None:
    s = state(device_max_msg_size=900)
    s.absorb(device_msg("1", Alert(cmd_id="1", data="1201")), OK)
    results = s.enqueue([Get(cmd_id="", items=[Item(target=f"./Node/{i}")]) for i in range(12)])

    def size_of(msg: SyncML) -> int:
        return len(codec.encode(msg, "xml"))

    packages = 0
    while s.has_queued:
        pkg = s.compose_package(size_of=size_of)
        packages += 1
        assert size_of(pkg) <= 900 and pkg.final
        gets = [c for c in pkg.body if isinstance(c, Get)]
        assert gets
        s.absorb(
            device_msg(
                str(packages + 1),
                *[
                    Status(
                        cmd_id="",
                        msg_ref=pkg.header.msg_id,
                        cmd_ref=g.cmd_id,
                        cmd="Get",
                        data="404",
                    )
                    for g in gets
                ],
            ),
            HeaderAnswer("200"),
        )
    assert packages > 1 and all(r.status == "404" for r in results)


def test_non_final_device_message_gets_alert_1222_without_final() -> None:
    s = state()
    s.absorb(device_msg("1", Alert(cmd_id="1", data="1201"), final=False), OK)
    reply = s.compose_next_message()
    assert not reply.final and reply.alerts("1222") and len(reply.statuses()) == 2


def test_large_object_results_are_reassembled_with_213() -> None:
    s = state()
    s.absorb(device_msg("1", Alert(cmd_id="1", data="1201")), OK)
    [result] = s.enqueue([Get(cmd_id="", items=[Item(target="./Big")])])
    pkg = s.compose_package()
    ref = {"msg_ref": pkg.header.msg_id, "cmd_ref": pkg.body[-1].cmd_id}
    s.absorb(
        device_msg(
            "2",
            Results(
                cmd_id="1",
                **ref,
                items=[Item(source="./Big", meta=Meta(size=7), data="abc", more_data=True)],
            ),
            final=False,
        ),
        HeaderAnswer("200"),
    )
    ack = s.compose_next_message()
    assert [(st.cmd, st.data) for st in ack.statuses()] == [("SyncHdr", "200"), ("Results", "213")]
    s.absorb(
        device_msg(
            "3",
            Results(cmd_id="1", **ref, items=[Item(source="./Big", data="defg")]),
            Status(cmd_id="2", **ref, cmd="Get", data="200"),
        ),
        HeaderAnswer("200"),
    )
    assert result.data == "abcdefg" and not result.notes and result.status == "200"


def test_large_object_size_mismatch_is_noted() -> None:
    s = state()
    s.absorb(device_msg("1"), OK)
    [result] = s.enqueue([Get(cmd_id="", items=[Item(target="./Big")])])
    pkg = s.compose_package()
    ref = {"msg_ref": pkg.header.msg_id, "cmd_ref": pkg.body[-1].cmd_id}
    s.absorb(
        device_msg(
            "2",
            Results(cmd_id="1", **ref, items=[Item(meta=Meta(size=99), data="ab", more_data=True)]),
        ),
        HeaderAnswer("200"),
    )
    s.absorb(
        device_msg("3", Results(cmd_id="1", **ref, items=[Item(data="c")])), HeaderAnswer("200")
    )
    assert result.data == "abc" and "Meta Size 99" in result.notes[0]


def test_atomic_members_get_their_own_ids_and_results() -> None:
    s = state()
    s.absorb(device_msg("1"), OK)
    [result] = s.enqueue(
        [
            Atomic(
                cmd_id="",
                commands=[
                    Replace(cmd_id="", items=[Item(target="./A", data="1")]),
                    Replace(cmd_id="", items=[Item(target="./B", data="2")]),
                ],
            )
        ]
    )
    pkg = s.compose_package()
    atomic = pkg.body[-1]
    assert isinstance(atomic, Atomic)
    ids = [atomic.cmd_id, *(c.cmd_id for c in atomic.commands)]
    assert ids == ["2", "3", "4"]
    s.absorb(
        device_msg(
            "2",
            *[
                Status(cmd_id="", msg_ref="1", cmd_ref=i, data=code)
                for i, code in zip(ids, ["507", "216", "500"], strict=True)
            ],
        ),
        HeaderAnswer("200"),
    )
    assert result.status == "507" and [c.status for c in result.children] == ["216", "500"]


def test_device_abort_ends_the_session() -> None:
    s = state()
    s.absorb(device_msg("1", Alert(cmd_id="1", data="1223")), OK)
    assert s.ended and "1223" in s.ended


def test_requeue_after_the_device_refused_the_labs_credentials() -> None:
    s = state()
    s.absorb(device_msg("1"), OK)
    [result] = s.enqueue([Get(cmd_id="", items=[Item(target="./A")])])
    pkg = s.compose_package()
    s.absorb(
        device_msg(
            "2",
            Status(
                cmd_id="1",
                msg_ref=pkg.header.msg_id,
                cmd_ref=pkg.body[-1].cmd_id,
                cmd="Get",
                data="401",
            ),
        ),
        HeaderAnswer("200"),
    )
    assert result.status == "401" and s.requeue_last_package() == 1
    assert s.has_queued and result.status == ""


@given(
    st.lists(st.sampled_from(["Status", "Results", "Alert", "Replace", "Get"]), max_size=8),
    st.booleans(),
)
def test_any_command_mix_is_absorbed_without_error(kinds: list[str], final: bool) -> None:
    s = state()
    body: list[object] = []
    for i, kind in enumerate(kinds, 1):
        cid = str(i)
        body.append(
            {
                "Status": Status(cmd_id=cid, msg_ref="1", cmd_ref=cid, data="200"),
                "Results": Results(cmd_id=cid, msg_ref="1", cmd_ref=cid, items=[Item(data="x")]),
                "Alert": Alert(cmd_id=cid, data="1226"),
                "Replace": Replace(
                    cmd_id=cid, items=[Item(target="./x", data="1", more_data=True)]
                ),
                "Get": Get(cmd_id=cid, items=[Item(target="./y")]),
            }[kind]
        )
    s.absorb(device_msg("1", *body, final=final), OK)
    reply = s.compose_package() if final else s.compose_next_message()
    owed = [k for k in kinds if k in ("Alert", "Replace", "Get")]
    assert len(reply.statuses()) == 1 + len(owed)
    assert len({c.cmd_id for c in reply.body}) == len(reply.body)  # CmdIDs unique


# --------------------------------------------------------------------------- authentication


def _account(role: str = "production", client: AuthType = "md5", server: AuthType = "md5",
             name: str = "dev", secret: str = "s3cret") -> DmAccount:
    return DmAccount(role=role, client_auth=client, client_name=name, server_auth=server,
                     server_id="ATTLabA", client_secret=secret, server_secret="srv")


def _check(store: NonceStore, outcome: AuthOutcome, declared: AuthType = "md5",
           force_challenge: bool = False, accounts: DmAccounts | None = None) -> ClientCheck:
    return ClientCheck(
        accounts=accounts or DmAccounts((_account(client=declared),)),
        store=store,
        device=DEV,
        outcome=outcome,
        force_challenge=force_challenge,
    )


def _hdr(nonce: bytes | None) -> SyncHdr:
    hdr = SyncHdr("1", "1", "http://lab", DEV)
    if nonce is not None:
        hdr.cred = Cred(auth.md5_digest("dev", "s3cret", nonce))
    return hdr


def test_client_check_md5_life_cycle(tmp_path: Path) -> None:
    store = NonceStore(tmp_path / "n.json")
    outcome = AuthOutcome("md5")
    check = _check(store, outcome)
    answer = check.check(_hdr(NULL_NONCE), b"", {})
    assert answer.code == "212" and answer.chal is not None
    nxt = auth.nonce_from_b64(answer.chal.meta.next_nonce or "")
    assert store.client(DEV).pending == nxt and store.client(DEV).current == NULL_NONCE
    check.delivered()
    assert (
        store.client(DEV).current == nxt
        and NonceStore(tmp_path / "n.json").client(DEV).current == nxt
    )
    assert outcome.attempts[0].verifies_with_null and outcome.attempts[0].matched == "current"


def test_after_a_challenge_only_the_new_nonce_is_accepted(tmp_path: Path) -> None:
    store = NonceStore(tmp_path / "n.json")
    outcome = AuthOutcome("md5")
    check = _check(store, outcome, force_challenge=True)
    first = check.check(_hdr(NULL_NONCE), b"", {})
    assert first.code == "401"
    again = check.check(_hdr(NULL_NONCE), b"", {})  # the old nonce once more: refused
    assert again.code == "401"
    assert again.chal is not None
    new = auth.nonce_from_b64(again.chal.meta.next_nonce or "")
    assert check.check(_hdr(new), b"", {}).code == "212"
    assert [a.answer for a in outcome.attempts] == ["401", "401", "212"] and outcome.retries == 2


def test_missing_wrong_type_and_hmac(tmp_path: Path) -> None:
    store = NonceStore(None)
    outcome = AuthOutcome("hmac")
    check = _check(store, outcome, declared="hmac")
    assert check.check(_hdr(None), b"body", {}).code == "407"
    assert check.check(_hdr(store.client(DEV).pending), b"body", {}).code == "401"  # md5, not hmac
    assert outcome.attempts[-1].detail == "declared hmac, device used md5"
    nonce = store.client(DEV).pending
    assert nonce is not None
    header = auth.hmac_header("dev", "s3cret", nonce, b"body")
    assert (
        check.check(SyncHdr("1", "3", "u", DEV), b"body", {"X-Syncml-HMAC": header}).code == "212"
    )
    assert outcome.type_seen == "hmac" and outcome.verified


def test_lab_credentials_follow_the_devices_chal() -> None:
    store = NonceStore(None)
    outcome = AuthOutcome("md5")
    creds = LabCredentials(account=_account(), store=store, device=DEV, outcome=outcome)
    cred = creds.cred()
    assert cred is not None and cred.data == auth.md5_digest("ATTLabA", "srv", NULL_NONCE)
    chal = Chal(Meta(type="syncml:auth-md5", format="b64", next_nonce=auth.nonce_to_b64(b"N1")))
    creds.on_status(Status(cmd_id="1", cmd="SyncHdr", cmd_ref="0", data="401", chal=chal))
    cred = creds.cred()
    assert cred is not None and cred.data == auth.md5_digest("ATTLabA", "srv", b"N1")
    chal2 = Chal(Meta(next_nonce=auth.nonce_to_b64(b"N2")))
    creds.on_status(Status(cmd_id="1", cmd="SyncHdr", cmd_ref="0", data="212", chal=chal2))
    assert creds.cred() is None  # accepted: no more credentials this session
    assert store.server(DEV) == b"N2" and creds.nonce == b"N1"  # N2 is for the next session
    assert outcome.server_statuses == ["401", "212"] and outcome.server_nonces == [b"N1", b"N2"]
    bad = Chal(Meta(next_nonce="***"))
    assert creds.on_status(Status(cmd_id="1", cmd="SyncHdr", data="200", chal=bad))


def test_wrong_server_credential_never_uses_the_secret() -> None:
    outcome = AuthOutcome("md5")
    creds = LabCredentials(
        account=_account(),
        store=NonceStore(None),
        device=DEV,
        outcome=outcome,
        wrong=True,
    )
    cred = creds.cred()
    assert cred is not None and cred.data != auth.md5_digest("ATTLabA", "srv", NULL_NONCE)
    assert outcome.server_credential_wrong


def test_each_account_is_tried_and_the_one_that_verifies_is_the_sessions() -> None:
    """Per-account declaration: HMAC on one account, MD5 on the other, both accepted."""
    store = NonceStore(None)
    accounts = DmAccounts((_account(), _account("development", "hmac", "md5", "dev2", "other")))
    outcome = AuthOutcome("md5")
    check = _check(store, outcome, accounts=accounts)
    header = auth.hmac_header("dev2", "other", NULL_NONCE, b"body")
    answer = check.check(SyncHdr("1", "1", "u", DEV), b"body", {"x-syncml-hmac": header})
    assert answer.code == "212" and check.account.role == "development"
    assert outcome.account == "development" and outcome.expected == "hmac"


def test_lab_answers_the_chal_with_the_type_the_device_asks_for() -> None:
    """Declared md5 towards the device; its Chal asks for HMAC: the lab switches, and says so."""
    outcome = AuthOutcome("md5")
    creds = LabCredentials(account=_account(), store=NonceStore(None), device=DEV,
                           outcome=outcome)
    assert creds.cred() is not None and creds.hmac_header(b"x") is None
    chal = Chal(Meta(type="syncml:auth-MAC", format="b64", next_nonce=auth.nonce_to_b64(b"N1")))
    creds.on_status(Status(cmd_id="1", cmd="SyncHdr", cmd_ref="0", data="401", chal=chal))
    assert creds.cred() is None
    assert creds.hmac_header(b"x") == auth.hmac_header("ATTLabA", "srv", b"N1", b"x")
    assert outcome.notes and "answers with hmac" in outcome.notes[0]
    creds.on_status(Status(cmd_id="2", cmd="SyncHdr", cmd_ref="0", data="212"))
    assert outcome.statuses_for_asked_type() == ["212"] and outcome.lab_accepted


def test_a_chal_the_lab_cannot_answer_judges_nothing() -> None:
    outcome = AuthOutcome("md5")
    creds = LabCredentials(account=_account(), store=NonceStore(None), device=DEV,
                           outcome=outcome)
    chal = Chal(Meta(type="x-vendor-auth", format="b64"))
    creds.on_status(Status(cmd_id="1", cmd="SyncHdr", cmd_ref="0", data="401", chal=chal))
    assert outcome.statuses_for_asked_type() == [] and "cannot make" in outcome.notes[0]


def test_damaged_nonce_file_starts_from_null(tmp_path: Path) -> None:
    path = tmp_path / "n.json"
    path.write_text("{not json")
    assert NonceStore(path).client(DEV).current == NULL_NONCE
    path.write_text('{"IMEI:1": {"client": "***", "server": 5}}')
    assert NonceStore(path).server("IMEI:1") == NULL_NONCE


def test_basic() -> None:
    outcome = AuthOutcome("basic")
    check = _check(NonceStore(None), outcome, declared="basic")
    hdr = SyncHdr(
        "1",
        "1",
        "u",
        DEV,
        cred=Cred(auth.basic_credential("dev", "nope"), Meta(type="syncml:auth-basic")),
    )
    assert check.check(hdr, b"", {}).code == "401"
    assert outcome.attempts[0].detail == "basic credential has the wrong password"
    hdr.cred = Cred(auth.basic_credential("dev", "s3cret"), Meta(type="syncml:auth-basic"))
    assert check.check(hdr, b"", {}).code == "212"


def test_secret_values_by_node_meaning() -> None:
    """AAuthSecret/AAuthData values are secrets in any account; their properties are not."""
    from conformance.omadm.account import secret_values

    results = [
        Results(cmd_id="1", items=[Item(source="./DMAcc/OEM9/AppAuth/X/AAuthSecret", data="s1")]),
        Results(cmd_id="2", items=[Item(source="./DMAcc/A/AppAuth/Y/AAuthData", data=b"\x01n1")]),
        Results(cmd_id="3", items=[Item(source="./DMAcc/A/AppAuth/Y/AAuthSecret?prop=Format",
                                        data="chr")]),
        Results(cmd_id="4", items=[Item(source="./DMAcc/A/AppAuth/Y/AAuthData", data="bnVsbA==")]),
        Atomic(cmd_id="5", commands=[Replace(cmd_id="6", items=[
            Item(target="./DMAcc/B/AppAuth/Z/AAuthSecret", data="s2")])]),
        Results(cmd_id="7", items=[Item(source="./DevInfo/Man", data="ACME")]),
    ]
    msg = SyncML(SyncHdr("1", "1", "u", DEV), results, final=True)
    assert list(secret_values(msg)) == ["s1", b"\x01n1", "s2"]
