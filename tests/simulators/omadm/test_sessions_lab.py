"""Whole sessions between the lab (OmaDmLab) and the reference device over real HTTP(S).

The device runs in-process here (its sessions are still real HTTP requests to the lab's
aiohttp server on 127.0.0.1, port 0); the control-channel tests start it as a process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conformance.declaration import Declaration
from conformance.omadm.model import AlertCode, Get, Item, Meta, Replace
from conformance.simulators import omadm_mo as mo

WAIT = 15.0


@pytest.mark.parametrize(
    ("transport", "encoding", "auth"),
    [
        ("http", "xml", "md5"),
        ("http", "wbxml", "hmac"),
        ("https", "xml", "hmac"),
        ("https", "wbxml", "md5"),
    ],
)
def test_client_initiated_session(
    rig: Callable[..., Any],
    variant: Callable[..., Declaration],
    declaration: Declaration,
    transport: str,
    encoding: str,
    auth: str,
) -> None:
    decl = variant(transport=transport, encoding=encoding, auth=auth)
    r = rig(decl)
    assert r.lab.url.startswith(f"{transport}://")
    r.lab.expect_session()
    r.device.trigger_session({})
    session = r.lab.wait_session(WAIT)
    pkg1 = session.package1
    assert pkg1.header.ver_dtd == "1.2" and pkg1.header.ver_proto == "DM/1.2"
    assert pkg1.header.msg_id == "1"
    assert pkg1.header.source == f"IMEI:{declaration.device.imei}"
    assert pkg1.header.meta is not None and pkg1.header.meta.max_msg_size == 16384
    assert pkg1.alerts(AlertCode.CLIENT_INITIATED)
    assert session.encoding == encoding
    assert session.auth.type_seen == auth and session.auth.verified
    man = session.get("./DevInfo/Man")
    assert (man.status, man.data) == ("200", declaration.device.manufacturer)
    assert session.get("./DevInfo/Nope").status == "404"
    assert session.replace("./DevInfo/Man", "x").status == "405"
    assert session.add("./DevInfo/Man", "x", "chr").status == "418"
    assert session.get(f"{mo.PROD_ACCOUNT}/{mo.CLIENT_AUTH}/AAuthSecret").status == "405"
    session.close()
    result = r.session_end()
    assert result.ok, result.outcome
    assert session.auth.server_statuses[:1] == ["212"]  # the device accepted the lab
    assert not session.errors


def test_next_nonce_is_used_in_the_next_session(
    rig: Callable[..., Any], declaration: Declaration
) -> None:
    r = rig()
    for _ in range(2):
        r.lab.expect_session()
        r.device.trigger_session({})
        session = r.lab.wait_session(WAIT)
        assert session.auth.verified
        session.close()
        assert r.session_end().ok
    assert session.auth.nonce not in (None, b"null")  # the second digest used a NextNonce


def test_challenge_makes_the_device_retry_with_the_new_nonce(rig: Callable[..., Any]) -> None:
    r = rig()
    r.lab.expect_session(challenge=True)
    r.device.trigger_session({})
    session = r.lab.wait_session(WAIT)
    assert session.auth.retries >= 1
    assert session.auth.attempts[0].answer in ("401", "407")
    assert session.auth.verified
    session.close()
    assert r.session_end().ok


@pytest.mark.parametrize("auth", ["md5", "hmac"])
def test_wrong_server_credential_is_refused(
    rig: Callable[..., Any], variant: Callable[..., Declaration], auth: str
) -> None:
    r = rig(variant(auth=auth))
    r.lab.expect_session(wrong_server_credential=True)
    r.device.trigger_session({})
    session = r.lab.wait_session(WAIT)
    name = f"{mo.FUMO_NODE}/PkgName"
    refused = session.replace(name, "from-a-wrong-server")
    assert refused.status == "215"  # not executed
    session.close()  # the lab answers the refusal; the device does not go on regardless
    result = r.session_end()
    assert not result.ok and "server authentication" in result.outcome
    assert session.auth.server_statuses[:1] == ["401"]
    assert r.device.tree.value(name) == ""


def test_ignores_bad_server_cred_fault_accepts_it(rig: Callable[..., Any]) -> None:
    r = rig(None, "ignores-bad-server-cred")
    r.lab.expect_session(wrong_server_credential=True)
    r.device.trigger_session({})
    session = r.lab.wait_session(WAIT)
    assert session.get("./DevInfo/Mod").status == "200"
    session.close()
    assert r.session_end().ok
    assert session.auth.server_statuses[:1] == ["212"]


def test_small_max_msg_size_splits_results_and_large_objects(
    rig: Callable[..., Any],
) -> None:
    r = rig()
    r.lab.expect_session(max_msg_size=1200)
    r.device.trigger_session({})
    session = r.lab.wait_session(WAIT)
    big = "".join(f"{i:04d}" for i in range(500))  # 2000 bytes: needs MoreData chunks
    assert session.replace(f"{mo.FUMO_NODE}/PkgName", big).status == "200"
    got = session.get(f"{mo.FUMO_NODE}/PkgName")
    assert (got.status, got.data) == ("200", big)
    results = session.send(
        [
            Get(cmd_id="", items=[Item(target=uri)])
            for uri in (
                "./DevInfo/DevId",
                "./DevInfo/Man",
                "./DevDetail/Ext/HostMan",
                "./DevDetail/Ext/HostMod",
                "./DevDetail/Ext/HostSwV",
                "./DevDetail/Ext/HostUniqueID",
            )
        ]
    )
    assert [x.status for x in results] == ["200"] * 6
    session.close()
    assert r.session_end().ok
    sizes = [len(m.raw) for m in session.messages if m.direction == "device->lab"]
    # Package 1 goes before the lab's MaxMsgSize is known; every later message respects it.
    assert len(sizes) > 4 and max(sizes[1:]) <= 1200


def test_ignores_max_msg_size_fault_sends_one_big_message(rig: Callable[..., Any]) -> None:
    r = rig(None, "ignores-max-msg-size")
    r.lab.expect_session(max_msg_size=1200)
    r.device.trigger_session({})
    session = r.lab.wait_session(WAIT)
    big = "x" * 2000
    session.replace(f"{mo.FUMO_NODE}/PkgName", big)
    got = session.get(f"{mo.FUMO_NODE}/PkgName")
    assert got.data == big
    session.close()
    r.session_end()
    sizes = [len(m.raw) for m in session.messages if m.direction == "device->lab"]
    assert max(sizes) > 2000


def test_atomic_through_the_lab(rig: Callable[..., Any]) -> None:
    r = rig()
    r.lab.expect_session()
    r.device.trigger_session({})
    session = r.lab.wait_session(WAIT)
    name = f"{mo.FUMO_NODE}/PkgName"
    result = session.atomic(
        [
            Replace(cmd_id="", items=[Item(target=name, meta=Meta(format="chr"), data="a")]),
            Replace(
                cmd_id="", items=[Item(target="./DevInfo/Man", meta=Meta(format="chr"), data="b")]
            ),
        ]
    )
    assert result.status == "507"
    assert [c.status for c in result.children] == ["216", "405"]
    assert session.get(name).data == ""
    session.close()
    assert r.session_end().ok


def test_sideload_update_opens_a_session_with_new_devdetail(
    rig: Callable[..., Any], declaration: Declaration
) -> None:
    r = rig()
    r.lab.expect_session()
    r.device.sideload_update(
        {"firmware_version": "FW-9", "host_software_version": "41", "host_model": "Arrow22"}
    )
    session = r.lab.wait_session(WAIT)
    sent = {
        item.source: item.text()
        for cmd in session.device_commands()
        if isinstance(cmd, Replace)
        for item in cmd.items
    }
    assert sent["./DevDetail/FwV"] == "FW-9"
    assert sent["./DevDetail/Ext/HostSwV"] == "41"
    assert sent["./DevDetail/Ext/HostMod"] == "Arrow22"
    assert sent["./DevDetail/Ext/HostMan"] == declaration.host.manufacturer
    assert session.get("./DevDetail/Ext/HostSwV").data == "41"
    session.close()
    assert r.session_end().ok


def test_session_abort(rig: Callable[..., Any]) -> None:
    r = rig()
    r.lab.expect_session()
    r.device.trigger_session({})
    session = r.lab.wait_session(WAIT)
    session.abort()
    result = r.session_end()
    assert result.ok and "1223" in result.outcome


def test_large_object_from_the_lab_is_reassembled(
    rig: Callable[..., Any], variant: Callable[..., Declaration]
) -> None:
    r = rig(variant(max_msg_size=2048))  # the lab must chunk what it sends (MoreData)
    r.lab.expect_session()
    r.device.trigger_session({})
    session = r.lab.wait_session(WAIT)
    assert session.device_max_msg_size == 2048
    big = "".join(f"{i:05d}" for i in range(600))  # 3000 bytes
    assert session.replace(f"{mo.FUMO_NODE}/PkgName", big).status == "200"
    assert r.device.tree.value(f"{mo.FUMO_NODE}/PkgName") == big
    got = session.get(f"{mo.FUMO_NODE}/PkgName")  # and back, in chunks of the lab's size
    assert got.data == big
    session.close()
    assert r.session_end().ok
    lab_sizes = [len(m.raw) for m in session.messages if m.direction == "lab->device"]
    assert len(lab_sizes) > 2 and max(lab_sizes) <= 2048


def test_a_factory_reset_cuts_the_session_the_lab_just_ended(rig: Callable[..., Any]) -> None:
    """The lab ends a session and has the device factory reset at once (``reset_to_factory``):
    the reset reaches the device while its session still takes the lab's last answer. Found by
    the OMA-DM catalog in random orders: the session then stored the server nonce it had issued
    over the reset's "null", and the next session refused the lab's digest over "null" (401).
    Here the reset comes exactly then, every time: when the answer to the device's second
    message (the one whose Status carries its Chal) has arrived, before the session goes on."""
    r = rig()
    post, answers, resets = r.device.post, [], []

    def post_then_reset(*args: Any, **kwargs: Any) -> Any:
        answer = post(*args, **kwargs)
        answers.append(answer)
        if len(answers) == 2:
            resets.append(r.device.factory_reset({}))
        return answer

    r.device.post = post_then_reset
    session = session_reading_devid(r)
    assert resets == [{}]
    r.device.post = post
    r.lab.nonces.reset(session.dev_id)  # the lab forgets the device's nonces too
    after = session_reading_devid(r)
    assert after.auth.server_statuses[:1] == ["212"]  # it took the lab's digest over "null"


def session_reading_devid(r: Any) -> Any:
    """A session the device opens, in which the lab Gets ./DevInfo/DevId (200), then ends."""
    r.lab.expect_session()
    r.device.trigger_session({})
    session = r.lab.wait_session(WAIT)
    assert session.get("./DevInfo/DevId").status == "200"
    session.close()
    assert r.session_end().ok
    return session
