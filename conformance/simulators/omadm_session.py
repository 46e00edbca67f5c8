"""One OMA-DM 1.2 session of the reference device, over real HTTP(S) with ``requests``.

The client side of OMA-TS-DM_Protocol 1.2 as a real module runs it:

- Package 1: SyncHdr (VerDTD 1.2, VerProto DM/1.2 or the declared DM/1.3, SessionID, MsgID,
  Target = server URL, Source = DevId, Meta MaxMsgSize/MaxObjSize, Cred), Alert 1201/1200,
  Replace ./DevInfo, whatever the session carries besides (Generic Alerts, changed DevDetail),
  Final.
- Client authentication (md5 Cred, HMAC in x-syncml-hmac, basic); on 401/407 with a Chal the
  message is sent again with the new nonce. A NextNonce received with 212 is stored for the
  next session (REQUIREMENTS.md "Nonce timing"): a nonce is stored only from a Status received.
- Server authentication: the lab's Cred (or HMAC header) is checked with the server account
  and the nonce this device issued; 212 with a Chal NextNonce for the next session, or
  401/407 with a Chal and the session ends without executing anything. A nonce this device
  issues becomes the server nonce once the HTTP answer to the message carrying it arrived.
- The lab's MaxMsgSize is honoured: replies are split over messages (no Final until the last)
  and a value too large for one message goes as a large object (MoreData chunks).
- A malformed lab message ends the session with a log line; nothing escapes :meth:`run`.
"""

from __future__ import annotations

import base64
import copy
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import requests

from conformance.errors import ProtocolError
from conformance.omadm import auth, codec
from conformance.omadm.model import (
    AUTH_BASIC,
    AUTH_HMAC,
    AUTH_MD5,
    Alert,
    AlertCode,
    Chal,
    Command,
    Cred,
    Item,
    Meta,
    Replace,
    Results,
    Sequence,
    Status,
    SyncHdr,
    SyncML,
)
from conformance.simulators.dmtree import DMTree
from conformance.simulators.omadm_executor import CommandExecutor
from conformance.simulators.omadm_faults import Faults
from conformance.simulators.omadm_state import PendingAlert

log = logging.getLogger("omadm-device")

MAX_MESSAGES = 200  # a session that goes on longer than this is a lab bug: stop it
MAX_AUTH_RETRIES = 2
MAX_IDLE_ROUNDS = 10  # lab messages without command or Final before the device gives up
AUTH_META = {"md5": AUTH_MD5, "hmac": AUTH_HMAC, "basic": AUTH_BASIC}
WRONG_CONTENT_TYPES = {"xml": "application/vnd.syncml+xml", "wbxml": "application/vnd.syncml+wbxml"}


@dataclass(frozen=True)
class Account:
    """The DM account the device uses with the lab, read from the tree at session start."""

    client_auth: str  # md5 | hmac | basic | none
    client_name: str
    client_secret: str
    client_nonce: bytes
    server_auth: str
    server_name: str
    server_secret: str
    server_nonce: bytes


class SessionHost(Protocol):
    """What a session needs from the device (implemented by ``ReferenceDevice``)."""

    tree: DMTree
    lock: threading.RLock
    faults: Faults
    encoding: str
    max_msg_size: int
    ver_proto: str  # DM/1.2 or DM/1.3, as declared
    max_obj_size: int | None
    large_objects: bool
    request_timeout: float
    resets: int  # factory resets so far (a session begun before the last keeps no nonce)

    def devid(self) -> str: ...
    def account(self) -> Account: ...
    def store_client_nonce(self, nonce: bytes, born: int | None = None) -> None: ...
    def store_server_nonce(self, nonce: bytes, born: int | None = None) -> None: ...
    def alert_delivered(self, alert: PendingAlert) -> None: ...
    def post(self, url: str, body: bytes, headers: dict[str, str]) -> requests.Response: ...


@dataclass
class SessionRequest:
    alert: str  # AlertCode.CLIENT_INITIATED or SERVER_INITIATED
    session_id: str
    reason: str = "trigger"
    extra: list[Command] = field(default_factory=list)  # Replace DevDetail after an update
    alerts: list[PendingAlert] = field(default_factory=list)  # Generic Alerts to deliver


@dataclass
class SessionResult:
    session_id: str
    ok: bool
    outcome: str  # one line for the log / the control channel
    messages: int = 0
    commands_executed: int = 0


class SessionEnded(Exception):
    """Stops the session loop; ``ok`` says whether it ended as the protocol intends."""

    def __init__(self, ok: bool, outcome: str) -> None:
        super().__init__(outcome)
        self.ok = ok
        self.outcome = outcome


def generic_alert(alert: PendingAlert, faults: Faults | None = None) -> Alert:
    ok = alert.result.startswith("2")
    untyped = (faults is not None and "generic-alert-untyped" in faults
               and not alert.alert_type.startswith("org.openmobilealliance"))
    return Alert(
        cmd_id="",
        data=AlertCode.GENERIC,
        correlator=alert.correlator,
        items=[
            Item(
                source=alert.source,
                meta=Meta(
                    type=None if untyped else alert.alert_type,
                    format="chr",
                    mark="informational" if ok else "critical",
                ),
                data=alert.result,
            )
        ],
    )


class DmSession:
    def __init__(self, host: SessionHost, url: str, request: SessionRequest) -> None:
        self.host = host
        self.born = host.resets  # a factory reset after this cuts the session (its nonces)
        self.url = url
        self.request = request
        self.faults = host.faults
        self.executor = CommandExecutor(
            host.tree,
            host.max_obj_size,
            tnds_wbxml=host.encoding == "wbxml",
            check_size="accepts-wrong-object-size" not in self.faults,
            check_max_obj_size="ignores-max-obj-size" not in self.faults,
            refuse_root="root-get-refused" in self.faults,
            ui=getattr(host, "ui", None),
        )
        self.msg_id = 0
        self.messages = 0
        self.commands = 0
        self.server_max_msg: int | None = None
        # Alerts carried in the message last sent, by the CmdID they got: cleared on Status 200.
        self._sent_alerts: dict[str, PendingAlert] = {}
        self._continuations: set[int] = set()  # ids of Results that continue a large object

    # ------------------------------------------------------------------ the loop

    def run(self) -> SessionResult:
        sid = self.request.session_id
        try:
            self._loop()
        except SessionEnded as end:
            result = SessionResult(sid, end.ok, end.outcome, self.messages, self.commands)
        except Exception as exc:  # never let a session take the device down
            log.exception("session %s: internal error", sid)
            result = SessionResult(sid, False, f"internal error: {exc}", self.messages)
        level = logging.INFO if result.ok else logging.WARNING
        log.log(level, "session %s ended: %s", sid, result.outcome)
        return result

    def _loop(self) -> None:
        account = self.host.account()
        client_nonce = account.client_nonce  # this session's digest nonce (changes on 401)
        server_nonce = account.server_nonce  # what the lab must use in this session
        client_ok = account.client_auth == "none"
        server_ok = account.server_auth == "none"
        auth_retries = 0
        pending: list[Command] = self._package1()
        server_final = True
        idle = 0  # lab messages in a row with neither a command nor Final
        while True:
            if self.messages >= MAX_MESSAGES:
                raise SessionEnded(False, f"gave up after {MAX_MESSAGES} messages")
            limit = None if "ignores-max-msg-size" in self.faults else self.server_max_msg
            header = self._header(account, client_nonce, with_cred=not client_ok)
            chosen, rest = self._fit(header, pending, limit)
            msg = SyncML(header, self._numbered(chosen), final=not rest and server_final)
            issued = self._issued_nonce(chosen)
            reply, response = self._exchange(msg, account, client_nonce)
            if issued is not None:
                # The lab answered the message carrying our Chal: it has the nonce now.
                self.host.store_server_nonce(issued, self.born)

            status = self._header_status(reply)
            code = status.data if status is not None else ""
            if code in ("401", "407"):
                client_nonce = self._on_challenge(status, client_nonce, immediate=True)
                if "no-nonce-retry" in self.faults or auth_retries >= MAX_AUTH_RETRIES:
                    raise SessionEnded(False, f"client authentication rejected ({code})")
                auth_retries += 1
                log.info(
                    "session %s: %s, sending again with the new nonce",
                    self.request.session_id,
                    code,
                )
                pending = chosen + rest  # the same commands once more
                continue
            if code in ("200", "212"):
                if not client_ok and status is not None:
                    self._on_challenge(status, client_nonce, immediate=False)
                client_ok = True
            elif not client_ok:
                raise SessionEnded(False, f"no usable Status for the SyncHdr ({code or 'none'})")
            self._read_statuses(reply)
            self._adopt_header(reply.header)

            if not server_ok:
                verdict = self._check_server(reply, response, account, server_nonce)
                if verdict != "212" and "ignores-bad-server-cred" not in self.faults:
                    self._refuse_server(reply, account, client_nonce, verdict)
                server_ok = True
                hdr_code, chal = "212", self._next_nonce_chal(account)
            else:
                hdr_code, chal = "200", None

            if "crash-on-sequence" in self.faults and any(
                isinstance(cmd, Sequence) for cmd in reply.body
            ):
                raise SessionEnded(False, "crashed on a Sequence (fault): the session is dropped")
            with self.host.lock:
                execution = self.executor.execute(reply.header.msg_id, reply.body)
            self.commands += execution.commands
            if execution.abort:
                raise SessionEnded(True, "the lab aborted the session (Alert 1223)")
            if _abort_asked(self.host):
                self._abort(account, client_nonce, reply, hdr_code, chal, execution.replies)
            # A lab message without Final is part of a longer package: ask for the rest
            # (Alert 1222) and keep our own package open. Its own 1222 asks for *our* rest.
            asks_next = bool(reply.alerts(AlertCode.NEXT_MESSAGE))
            lab_package_open = not reply.final and not asks_next
            if "no-next-message-alert" in self.faults:
                lab_package_open = False  # answers as if the lab's package were complete
            server_final = not lab_package_open
            if execution.commands == 0 and reply.final and not rest:
                raise SessionEnded(True, "completed")
            idle = idle + 1 if execution.commands == 0 and not rest else 0
            if idle >= MAX_IDLE_ROUNDS:
                raise SessionEnded(
                    False, f"the lab kept its package open for {idle} messages without a command"
                )
            # Answers to this message first (a Status is owed even to the lab's Alert 1222),
            # then what did not fit in our previous message.
            replies: list[Command] = [self._hdr_status(reply.header, hdr_code, chal)]
            replies += execution.replies
            replies += rest
            if lab_package_open:
                replies.append(Alert(cmd_id="", data=AlertCode.NEXT_MESSAGE))
            pending = replies

    def _abort(self, account: Account, nonce: bytes, reply: SyncML, hdr_code: str,
               chal: Chal | None, replies: list[Command]) -> None:
        """The client aborts (Alert 1223, e.g. its user cancelled): the session's last message."""
        header = self._header(account, nonce, with_cred=False)
        body = [self._hdr_status(reply.header, hdr_code, chal),
                Alert(cmd_id="", data=AlertCode.SESSION_ABORT)]
        self._exchange(SyncML(header, self._numbered(body), final=True), account, nonce)
        if "abort-continues" in self.faults:
            # Fault: the device goes on in the session it has just aborted.
            header = self._header(account, nonce, with_cred=False)
            more = SyncML(header, self._numbered(list(replies)), final=True)
            self._exchange(more, account, nonce)
        raise SessionEnded(True, "aborted by the device (Alert 1223)")

    # ------------------------------------------------------------------ messages

    def _package1(self) -> list[Command]:
        with self.host.lock:
            tree = self.host.tree
            devinfo = [
                Item(source=uri, meta=Meta(format="chr"), data=str(tree.value(uri) or ""))
                for uri in (
                    "./DevInfo/DevId",
                    "./DevInfo/Man",
                    "./DevInfo/Mod",
                    "./DevInfo/DmV",
                    "./DevInfo/Lang",
                )
            ]
        commands: list[Command] = [
            Alert(cmd_id="", data=self.request.alert),
            Replace(cmd_id="", items=devinfo),
        ]
        commands += self.request.extra
        for alert in self.request.alerts:
            commands.append(generic_alert(alert, self.faults))
        return commands

    def _header(self, account: Account, nonce: bytes, *, with_cred: bool) -> SyncHdr:
        meta = Meta(
            max_msg_size=None if "no-max-msg-size" in self.faults else self.host.max_msg_size,
            max_obj_size=None if "no-max-obj-size" in self.faults else self.host.max_obj_size,
        )
        cred = None
        if with_cred and account.client_auth == "md5":
            digest = auth.md5_digest(account.client_name, account.client_secret, nonce)
            cred = Cred(data=digest, meta=Meta(format="b64", type=AUTH_MD5))
        elif with_cred and account.client_auth == "basic":
            basic = auth.basic_credential(account.client_name, account.client_secret)
            cred = Cred(data=basic, meta=Meta(format="b64", type=AUTH_BASIC))
        return SyncHdr(
            session_id=self.request.session_id,
            msg_id=str(self.msg_id + 1),
            target=self.url,
            source=self.host.devid(),
            cred=cred,
            meta=meta,
            ver_proto=self._ver_proto(),
        )

    def _ver_proto(self) -> str:
        declared = self.host.ver_proto
        if declared == "DM/1.2":
            return declared
        if "dm13-version-drift" in self.faults and self.msg_id > 0:
            return "DM/1.2"  # Package 1 says DM/1.3, the messages after it DM/1.2
        alerted = self.request.alert == AlertCode.SERVER_INITIATED
        if "dm13-alerted-session-1-2" in self.faults and alerted:
            return "DM/1.2"
        return declared

    def _numbered(self, commands: list[Command]) -> list[Command]:
        self._sent_alerts = {}
        out: list[Command] = []
        for n, cmd in enumerate(commands, start=1):
            cmd.cmd_id = str(n)
            out.append(cmd)
        for cmd in out:
            if isinstance(cmd, Alert) and cmd.data == AlertCode.GENERIC:
                match = next((a for a in self.request.alerts if _same_alert(a, cmd)), None)
                if match is not None:
                    self._sent_alerts[cmd.cmd_id] = match
        return out

    def _size(self, header: SyncHdr, commands: list[Command]) -> int:
        msg = SyncML(header, [copy.copy(c) for c in commands], final=True)
        for n, cmd in enumerate(msg.body, start=1):
            cmd.cmd_id = str(n)
        return len(codec.encode(msg, self.host.encoding))

    def _fit(
        self, header: SyncHdr, pending: list[Command], limit: int | None
    ) -> tuple[list[Command], list[Command]]:
        """The commands that fit in one message of at most ``limit`` bytes, and the rest."""
        if limit is None:
            return list(pending), []
        chosen: list[Command] = []
        for i, cmd in enumerate(pending):
            if self._size(header, [*chosen, cmd]) <= limit:
                chosen.append(cmd)
                continue
            if isinstance(cmd, Results) and self.host.large_objects:
                split = self._split_results(header, chosen, cmd, limit)
                if split is not None:
                    return [*chosen, split[0]], [split[1], *pending[i + 1 :]]
            if all(_is_header_status(c) for c in chosen):
                # Nothing but the SyncHdr Status fits: send one more command oversized
                # rather than never making progress (the lab's limit is below any message).
                return [*chosen, cmd], list(pending[i + 1 :])
            return chosen, list(pending[i:])
        return chosen, []

    def _split_results(
        self, header: SyncHdr, chosen: list[Command], results: Results, limit: int
    ) -> tuple[Results, Results] | None:
        """Large object: the first chunk that fits (MoreData, Size on the first) and the rest."""
        if len(results.items) != 1 or not isinstance(results.items[0].data, str):
            return None
        item = results.items[0]
        data = item.data if isinstance(item.data, str) else ""
        first = id(results) not in self._continuations

        size = len(data.encode())
        if "wrong-results-object-size" in self.faults:
            size -= 1  # the Meta Size one byte short of the data sent

        def chunk(n: int) -> Results:
            meta = copy.copy(item.meta) if item.meta else Meta()
            meta.size = size if first else None
            part = Item(source=item.source, meta=meta, data=data[:n], more_data=True)
            return Results(
                cmd_id="", msg_ref=results.msg_ref, cmd_ref=results.cmd_ref, items=[part]
            )

        low, high, best = 1, len(data) - 1, 0
        while low <= high:
            mid = (low + high) // 2
            if self._size(header, [*chosen, chunk(mid)]) <= limit:
                best, low = mid, mid + 1
            else:
                high = mid - 1
        if best == 0:
            return None
        tail_meta = copy.copy(item.meta) if item.meta else None
        if tail_meta is not None:
            tail_meta.size = None
        tail = Results(
            cmd_id="",
            msg_ref=results.msg_ref,
            cmd_ref=results.cmd_ref,
            items=[Item(source=item.source, meta=tail_meta, data=data[best:])],
        )
        self._continuations.add(id(tail))
        return chunk(best), tail

    def _exchange(
        self, msg: SyncML, account: Account, client_nonce: bytes
    ) -> tuple[SyncML, requests.Response]:
        encoding = self.host.encoding
        body = codec.encode(msg, encoding)
        if "wrong-content-type" in self.faults:
            content_type = WRONG_CONTENT_TYPES[encoding]
        else:
            content_type = codec.content_type_of(encoding)
        headers = {"Content-Type": content_type, "Accept": content_type}
        if account.client_auth == "hmac":
            headers[auth.HMAC_HEADER] = auth.hmac_header(
                account.client_name, account.client_secret, client_nonce, body
            )
        self.msg_id += 1
        self.messages += 1
        sid = self.request.session_id
        log.info(
            "session %s: POST msg %s (%d bytes, %d commands%s)",
            sid,
            msg.header.msg_id,
            len(body),
            len(msg.body),
            ", Final" if msg.final else "",
        )
        try:
            response = self.host.post(self.url, body, headers)
        except requests.RequestException as exc:
            raise SessionEnded(False, f"no answer from {self.url}: {exc}") from None
        if response.status_code != 200:
            raise SessionEnded(False, f"the lab answered HTTP {response.status_code}")
        try:
            reply = codec.decode(response.content, encoding)
        except ProtocolError as exc:
            raise SessionEnded(False, f"malformed message from the lab: {exc}") from None
        log.info(
            "session %s: got msg %s (%d commands%s)",
            sid,
            reply.header.msg_id,
            len(reply.body),
            ", Final" if reply.final else "",
        )
        return reply, response

    # ------------------------------------------------------------------ statuses received

    def _header_status(self, reply: SyncML) -> Status | None:
        mine = str(self.msg_id)
        for status in reply.statuses():
            if status.cmd_ref == "0" and (status.msg_ref in (mine, "")):
                return status
        return None

    def _on_challenge(self, status: Status | None, nonce: bytes, *, immediate: bool) -> bytes:
        """Take a NextNonce from a Status received; returns this session's nonce from now."""
        chal = status.chal if status is not None else None
        next_nonce = chal.meta.next_nonce if chal is not None else None
        if not next_nonce or "ignores-next-nonce" in self.faults:
            return nonce
        try:
            new = auth.nonce_from_b64(next_nonce)
        except ProtocolError as exc:
            log.warning("session %s: unusable NextNonce: %s", self.request.session_id, exc)
            return nonce
        self.host.store_client_nonce(new, self.born)
        # 401/407: applies to the very next message; 212: from the next session on.
        return new if immediate else nonce

    def _read_statuses(self, reply: SyncML) -> None:
        for status in reply.statuses():
            alert = self._sent_alerts.get(status.cmd_ref)
            if alert is not None and status.msg_ref == str(self.msg_id):
                if status.data.startswith("2"):
                    self.host.alert_delivered(alert)
                else:
                    log.warning("Generic Alert answered %s; kept for the next session", status.data)

    def _adopt_header(self, header: SyncHdr) -> None:
        sid = self.request.session_id
        if header.session_id != sid:
            log.warning("session %s: the lab answered with SessionID %r", sid, header.session_id)
        if header.resp_uri:
            self.url = header.resp_uri
        if header.meta is not None:
            if header.meta.max_msg_size:
                self.server_max_msg = header.meta.max_msg_size
            if header.meta.max_obj_size:
                self.executor.max_obj_size = header.meta.max_obj_size

    # ------------------------------------------------------------------ server authentication

    def _check_server(
        self, reply: SyncML, response: requests.Response, account: Account, nonce: bytes
    ) -> str:
        """212 when the lab proved itself, else 401 (wrong) or 407 (missing)."""
        if account.server_auth == "hmac":
            value = response.headers.get(auth.HMAC_HEADER)
            if value is None:
                return "407"
            try:
                parsed = auth.parse_hmac_header(value)
            except ProtocolError:
                return "401"
            good = parsed.username == account.server_name and auth.verify_hmac(
                account.server_name, account.server_secret, nonce, response.content, parsed.mac
            )
            return "212" if good else "401"
        cred = reply.header.cred
        if cred is None:
            return "407"
        kind = (cred.meta.type or "").lower()
        if account.server_auth == "md5" and kind == AUTH_MD5.lower():
            good = auth.verify_md5(account.server_name, account.server_secret, nonce, cred.data)
            return "212" if good else "401"
        if account.server_auth == "basic" and kind == AUTH_BASIC.lower():
            expected = auth.basic_credential(account.server_name, account.server_secret)
            return "212" if cred.data == expected else "401"
        return "401"  # a credential of another type than the account's

    def _next_nonce_chal(self, account: Account) -> Chal | None:
        if account.server_auth not in ("md5", "hmac"):
            return None
        nonce = auth.new_nonce()
        return Chal(
            Meta(
                type=AUTH_META[account.server_auth],
                format="b64",
                next_nonce=auth.nonce_to_b64(nonce),
            )
        )

    def _refuse_server(
        self, reply: SyncML, account: Account, client_nonce: bytes, code: str
    ) -> None:
        """Status 401/407 with a Chal for the lab's SyncHdr, 215 for its commands, end."""
        chal = self._next_nonce_chal(account) or Chal(
            Meta(type=AUTH_META.get(account.server_auth, AUTH_BASIC), format="b64")
        )
        replies: list[Command] = [self._hdr_status(reply.header, code, chal)]
        for cmd in reply.body:
            if not isinstance(cmd, Status | Results):
                replies.append(
                    Status(
                        cmd_id="",
                        msg_ref=reply.header.msg_id,
                        cmd_ref=cmd.cmd_id,
                        cmd=cmd.name,
                        data="215",
                    )
                )
        header = self._header(account, client_nonce, with_cred=False)
        msg = SyncML(header, self._numbered(replies), final=True)
        try:
            self._exchange(msg, account, client_nonce)
        except SessionEnded:
            pass  # the lab may well hang up on a refusal
        else:
            if chal.meta.next_nonce:
                self.host.store_server_nonce(auth.nonce_from_b64(chal.meta.next_nonce),
                                            self.born)
        raise SessionEnded(False, f"server authentication failed ({code}); commands not executed")

    def _issued_nonce(self, commands: list[Command]) -> bytes | None:
        for cmd in commands:
            chal = cmd.chal if isinstance(cmd, Status) and cmd.cmd_ref == "0" else None
            if chal is not None and chal.meta.next_nonce:
                return base64.b64decode(chal.meta.next_nonce)
        return None

    def _hdr_status(self, hdr: SyncHdr, code: str, chal: Chal | None) -> Status:
        return Status(
            cmd_id="",
            msg_ref=hdr.msg_id,
            cmd_ref="0",
            cmd="SyncHdr",
            data=code,
            target_refs=[hdr.target],
            source_refs=[hdr.source],
            chal=chal,
        )


def _abort_asked(host: SessionHost) -> bool:
    """The device was told to abort the session it is in (control action abort_session)."""
    asked: threading.Event | None = getattr(host, "abort_requested", None)
    if asked is None or not asked.is_set():
        return False
    asked.clear()
    return True


def _is_header_status(cmd: Command) -> bool:
    return isinstance(cmd, Status) and cmd.cmd_ref == "0"


def _same_alert(alert: PendingAlert, cmd: Alert) -> bool:
    item = cmd.items[0] if cmd.items else None
    return (
        item is not None
        and item.source == alert.source
        and cmd.correlator == alert.correlator
        and item.text() == alert.result
    )


OnResult = Callable[[SessionResult], None]
