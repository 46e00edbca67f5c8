"""Fixtures of the OMA-DM lab tests: one lab loop, a transcript and a run folder per test."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from conformance.declaration import Declaration, builtin_declaration
from conformance.evidence.transcript import Transcript
from conformance.omadm import auth, codec
from conformance.omadm.account import DmAccounts
from conformance.omadm.lab import OmaDmLab
from conformance.omadm.model import (
    AUTH_BASIC,
    AUTH_MD5,
    Add,
    Alert,
    Atomic,
    Chal,
    Command,
    Cred,
    Delete,
    Exec,
    Get,
    Item,
    Meta,
    Replace,
    Results,
    Sequence,
    Status,
    SyncHdr,
    SyncML,
)
from conformance.omadm.nonces import NULL_NONCE
from conformance.runtime import LabLoop


@pytest.fixture(scope="module")
def loop() -> Iterator[LabLoop]:
    lab_loop = LabLoop("test-lab-loop")
    yield lab_loop
    lab_loop.stop()


@pytest.fixture
def declaration() -> Declaration:
    return builtin_declaration("omadm")


@pytest.fixture
def transcript(tmp_path: Path) -> Iterator[Transcript]:
    t = Transcript(path=tmp_path / "transcript.jsonl")
    yield t
    t.close()


# --------------------------------------------------------------------------- scripted device


class ScriptedDevice:
    """A small, fully scripted OMA-DM client on the real codecs and HTTP (requests).

    It does what a test tells it, message by message, so that every branch of the lab's
    engine can be driven, including the broken ones; ``run()`` plays a well-behaved session
    answering the lab's commands from ``tree``.
    """

    def __init__(
        self,
        url: str,
        decl: Declaration,
        *,
        encoding: str = "xml",
        session_id: str = "1",
        dev_id: str | None = None,
        auth_type: str | None = None,
        max_msg_size: int = 16384,
        verify: str | bool = True,
        tree: dict[str, str] | None = None,
        client_secret: str | None = None,
    ) -> None:
        assert decl.omadm is not None
        self.url = url
        self.dm = decl.omadm
        self.decl = decl
        self.encoding = encoding
        self.session_id = session_id
        self.dev_id = dev_id or f"IMEI:{decl.device.imei}"
        self.account = DmAccounts.of(decl.omadm).primary  # the credentials it talks with
        self.auth_type = auth_type or self.account.client_auth
        self.client_secret = client_secret or self.account.client_secret
        self.max_msg_size = max_msg_size
        self.verify = verify
        self.nonce = NULL_NONCE  # what this device digests with (the lab's NextNonce)
        self.server_nonce = NULL_NONCE  # what the lab must digest with
        self.msg_id = 0
        self.tree = dict(
            tree
            or {
                "./DevInfo/DevId": self.dev_id,
                "./DevInfo/Man": decl.device.manufacturer,
                "./DevInfo/Mod": decl.device.model,
                "./DevDetail/FwV": decl.device.firmware_version,
                "./DevDetail/Ext/HostMan": decl.host.manufacturer,
            }
        )
        self.http = requests.Session()
        self.received: list[SyncML] = []
        self.responses: list[requests.Response] = []
        self.server_cred_ok: list[bool] = []
        self.nonce_used: list[bytes] = []  # the client nonce of each message posted

    # -- building messages

    def header(self, *, cred: bool = True) -> SyncHdr:
        self.msg_id += 1
        hdr = SyncHdr(
            session_id=self.session_id,
            msg_id=str(self.msg_id),
            target=self.url,
            source=self.dev_id,
            meta=Meta(max_msg_size=self.max_msg_size),
        )
        if cred and self.auth_type == "md5":
            name = self.account.client_name
            hdr.cred = Cred(auth.md5_digest(name, self.client_secret, self.nonce))
        elif cred and self.auth_type == "basic":
            data = auth.basic_credential(self.account.client_name, self.client_secret)
            hdr.cred = Cred(data, Meta(type=AUTH_BASIC, format="b64"))
        return hdr

    def package1(self, alert: str = "1201", *, cred: bool = True) -> SyncML:
        items = [
            Item(source=uri, meta=Meta(format="chr"), data=self.tree[uri])
            for uri in ("./DevInfo/DevId", "./DevInfo/Man", "./DevInfo/Mod")
        ]
        return SyncML(
            self.header(cred=cred),
            [Alert(cmd_id="1", data=alert), Replace(cmd_id="2", items=items)],
            final=True,
        )

    def status_for_lab_header(self, lab: SyncML) -> Status:
        hdr = lab.header
        ok = True
        if self.account.server_auth == "md5":
            expected = auth.md5_digest(
                self.account.server_id, self.account.server_secret, self.server_nonce
            )
            ok = hdr.cred is None or hdr.cred.data == expected
            if hdr.cred is None and not self.server_cred_ok:
                ok = False
        self.server_cred_ok.append(ok)
        nxt = auth.new_nonce()
        status = Status(
            cmd_id="1",
            msg_ref=hdr.msg_id,
            cmd_ref="0",
            cmd="SyncHdr",
            data="212" if ok else "401",
            chal=Chal(Meta(type=AUTH_MD5, format="b64", next_nonce=auth.nonce_to_b64(nxt))),
        )
        self._issued = nxt
        return status

    def answer(self, lab: SyncML) -> SyncML:
        """A well-behaved reply to the lab's package, from ``tree``."""
        body: list[Command] = [self.status_for_lab_header(lab)]
        refused = body[0].data != "212" and body[0].data != "200"  # type: ignore[attr-defined]
        for cmd in lab.body:
            self._answer_cmd(cmd, lab.header.msg_id, body, refused)
        for i, cmd in enumerate(body, 1):
            cmd.cmd_id = str(i)
        return SyncML(self.header(cred=False), body, final=True)

    def _answer_cmd(self, cmd: Command, msg_id: str, body: list[Command], refused: bool) -> None:
        if isinstance(cmd, Status):
            return
        uri = ""
        items = getattr(cmd, "items", [])
        if items:
            uri = items[0].target or ""
        code = "200"
        if refused:
            code = "401"
        elif isinstance(cmd, Get):
            if uri in self.tree:
                body.append(
                    Results(
                        cmd_id="",
                        msg_ref=msg_id,
                        cmd_ref=cmd.cmd_id,
                        items=[Item(source=uri, meta=Meta(format="chr"), data=self.tree[uri])],
                    )
                )
            else:
                code = "404"
        elif isinstance(cmd, Replace):
            if uri.startswith("./DevInfo"):
                code = "405"
            else:
                self.tree[uri] = str(items[0].data)
        elif isinstance(cmd, Add):
            code = "418" if uri in self.tree else "200"
            self.tree.setdefault(uri, str(items[0].data or ""))
        elif isinstance(cmd, Delete):
            code = "200" if self.tree.pop(uri, None) is not None else "404"
        elif isinstance(cmd, Exec):
            code = "202"
        elif isinstance(cmd, Atomic | Sequence):
            for child in cmd.commands:
                self._answer_cmd(child, msg_id, body, refused)
        body.insert(
            len(body) - (1 if isinstance(cmd, Get) and code == "200" else 0),
            Status(cmd_id="", msg_ref=msg_id, cmd_ref=cmd.cmd_id, cmd=cmd.name, data=code),
        )

    # -- the wire

    def post_raw(
        self, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> requests.Response:
        resp = self.http.post(
            self.url,
            data=data,
            headers={"Content-Type": content_type, **(headers or {})},
            timeout=15,
            verify=self.verify,
        )
        self.responses.append(resp)
        return resp

    def post(self, msg: SyncML, *, content_type: str | None = None) -> SyncML:
        self.nonce_used.append(self.nonce)
        data = codec.encode(msg, self.encoding)
        headers = {}
        if self.auth_type == "hmac" and not (msg.header.msg_id != "1" and self._accepted()):
            headers[auth.HMAC_HEADER] = auth.hmac_header(
                self.account.client_name, self.client_secret, self.nonce, data
            )
        resp = self.post_raw(data, content_type or codec.content_type_of(self.encoding), headers)
        resp.raise_for_status()
        reply = codec.decode(resp.content, self.encoding)
        self.received.append(reply)
        if hasattr(self, "_issued"):  # the lab got our Chal (its answer came): use it now
            self.server_nonce = self._issued
            del self._issued
        if reply.header.resp_uri:
            self.url = reply.header.resp_uri
        for status in reply.statuses():
            if status.cmd == "SyncHdr" and status.chal and status.chal.meta.next_nonce:
                self.nonce = auth.nonce_from_b64(status.chal.meta.next_nonce)
        return reply

    def _accepted(self) -> bool:
        return any(
            s.cmd == "SyncHdr" and s.data in ("200", "212")
            for r in self.received
            for s in r.statuses()
        )

    def lab_header_status(self, reply: SyncML) -> str:
        return next(s.data for s in reply.statuses() if s.cmd == "SyncHdr")

    def run(self, alert: str = "1201", max_messages: int = 40) -> list[SyncML]:
        """A whole well-behaved session; returns the lab's messages."""
        return self.run_from(self.package1(alert), max_messages)

    def run_from(self, first: SyncML, max_messages: int = 40) -> list[SyncML]:
        reply = self.post(first)
        for _ in range(max_messages):
            if self.lab_header_status(reply) in ("401", "407"):
                again = copy.deepcopy(first)
                again.header = self.header()
                reply = self.post(again)
                continue
            commands = [c for c in reply.body if not isinstance(c, Status)]
            if reply.final and not commands:
                return self.received
            if any(isinstance(c, Alert) and c.data == "1223" for c in commands):
                return self.received
            reply = self.post(self.answer(reply))
        raise RuntimeError("session did not end")


class DeviceThread:
    """Runs a callable (a scripted device) in a thread; ``result()`` re-raises its error."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self._fn = fn
        self._value: object = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # handed to the test thread
            self._error = exc

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def result(self, timeout: float = 20) -> object:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("scripted device did not finish")
        if self._error is not None:
            raise self._error
        return self._value


@pytest.fixture
def omadm_lab(
    loop: LabLoop, declaration: Declaration, transcript: Transcript, tmp_path: Path
) -> Iterator[OmaDmLab]:
    lab = OmaDmLab(loop, fast(declaration), transcript, tmp_path)
    lab.start()
    yield lab
    lab.stop()


def fast(decl: Declaration, **omadm: object) -> Declaration:
    """The declaration with short timeouts (tests wait on events, these are only bounds)."""
    timeouts = decl.timeouts.model_copy(update={"request": 5, "session": 5})
    update: dict[str, object] = {"timeouts": timeouts}
    if omadm:
        assert decl.omadm is not None
        update["omadm"] = decl.omadm.model_copy(update=omadm)
    return decl.model_copy(update=update)


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedDevice]]:
    """``scripted(lab, encoding="wbxml", …)``: a scripted device pointed at ``lab``."""
    made: list[ScriptedDevice] = []

    def make(lab: OmaDmLab, https: bool = False, **kw: Any) -> ScriptedDevice:
        if https:
            assert lab.pki is not None
            kw.setdefault("verify", str(lab.pki.ca_path))
        url = lab.https_url if https else lab.http_url
        device = ScriptedDevice(url, lab.declaration, **kw)
        made.append(device)
        return device

    yield make
    for device in made:
        device.http.close()


@pytest.fixture
def in_thread() -> Iterator[Callable[[Callable[[], object]], DeviceThread]]:
    """Start a scripted device in a thread; every thread is joined at teardown."""
    started: list[DeviceThread] = []

    def start(fn: Callable[[], object]) -> DeviceThread:
        worker = DeviceThread(fn)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.join(10)


@pytest.fixture
def make_lab(
    loop: LabLoop, declaration: Declaration, transcript: Transcript, tmp_path: Path
) -> Iterator[Callable[..., OmaDmLab]]:
    """An OMA-DM lab over a changed declaration: ``make_lab(auth="hmac", request=1.0)``."""
    labs: list[OmaDmLab] = []

    def make(*, request: float = 5, session: float = 5, **omadm: object) -> OmaDmLab:
        decl = fast(declaration, **omadm)
        timeouts = decl.timeouts.model_copy(update={"request": request, "session": session})
        lab = OmaDmLab(loop, decl.model_copy(update={"timeouts": timeouts}), transcript, tmp_path)
        lab.start()
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        lab.stop()
