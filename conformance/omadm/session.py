"""The lab side of one OMA-DM session as a state machine: pure, no sockets, no clocks.

The HTTP server feeds each decoded device message to :meth:`SessionState.absorb` and asks
for the lab's answer with one of the ``compose_*`` methods. The state keeps the bookkeeping
the protocol demands (OMA-TS-DM_Protocol 1.2, "Multiple Messages in Package" and "Large
Object Handling"):

- MsgID of the lab's messages, CmdIDs (restarting at 1 in each message: unique per message),
  a Status for the device's SyncHdr and for each device command (never for Status, nor for a
  complete Results), each with MsgRef/CmdRef;
- the device's Status/Results matched back to the lab's commands, Results chunks (MoreData)
  reassembled, with Status 213 for each chunk;
- MaxMsgSize of the device respected: the lab puts only as many commands in a message as fit
  and sends the rest as the next package once the device has answered (a server may not send
  new commands before the device returned status to the previous ones), or, with
  ``split_packages``, as the next message of the same package: no Final until the last, the
  device asking for each next message with Alert 1222;
- a device's large object bounded as it comes (``lab_max_obj_size``, the declaration's decoded
  bound): one that declares or reaches more is refused with 413 and not kept;
- Final: a device message without Final gets the "Next Message" answer (Status for the
  SyncHdr, Alert 1222, no Final); Alert 1223 from either side ends the session.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from conformance.omadm.labauth import HeaderAnswer
from conformance.omadm.model import (
    Add,
    Alert,
    AlertCode,
    Atomic,
    Command,
    Cred,
    Get,
    Item,
    ItemCommand,
    Meta,
    Replace,
    Results,
    Sequence,
    Status,
    StatusCode,
    SyncHdr,
    SyncML,
)

DEFAULT_LAB_MAX_MSG_SIZE = 65536
DEFAULT_LAB_MAX_OBJ_SIZE = 1 << 20  # what the lab takes of one large object from a device
MIN_DEVICE_MSG_SIZE = 256  # a device MaxMsgSize below this is taken as this (and noted)
_MIN_CHUNK = 64  # a large-object chunk smaller than this is not worth a message


@dataclass
class SessionOptions:
    """What a test may set before the session comes (:meth:`OmaDmLab.expect_session`)."""

    wrong_server_credential: bool = False  # the lab sends a Cred over a wrong server secret
    max_msg_size: int | None = None  # the MaxMsgSize the lab advertises (forces 1222/MoreData)
    challenge: bool = False  # answer the device's first message 401 with a fresh nonce
    # A package that does not fit the device's MaxMsgSize goes as several messages, Final only
    # in the last (DM 1.2 "Multiple Messages in Package"); else the rest is the next package.
    split_packages: bool = False


@dataclass
class CommandResult:
    """What the device answered to one lab command."""

    status: str  # the device's status code; "" when no Status came for the command
    items: list[Item]  # Results items (MoreData chunks reassembled)
    cmd: Command  # the command as sent (with the CmdID the lab gave it)
    status_cmd: Status | None = None
    results: list[Results] = field(default_factory=list)
    children: list[CommandResult] = field(default_factory=list)  # Atomic/Sequence members
    notes: list[str] = field(default_factory=list)  # deviations noticed on this command

    @property
    def data(self) -> str | None:
        """The first Results item's data as text (convenience for single-node Gets)."""
        return self.items[0].text() if self.items else None


@dataclass
class _Outstanding:
    result: CommandResult
    msg_id: str = ""
    chunks: list[str | bytes] = field(default_factory=list)
    chunk_item: Item | None = None
    chunk_bytes: int = 0
    refused: bool = False  # its large object went over the lab's MaxObjSize: dropped

    @property
    def answered(self) -> bool:
        return bool(self.result.status)


@dataclass
class _Chunking:
    """A large object the lab is sending, one chunk per message."""

    out: _Outstanding
    offset: int = 0


def _chunkable(cmd: Command) -> bool:
    return (
        isinstance(cmd, Replace | Add)
        and len(cmd.items) == 1
        and isinstance(cmd.items[0].data, str | bytes)
        and len(cmd.items[0].data) > 64
    )


def _join(parts: list[str | bytes]) -> str | bytes:
    if all(isinstance(p, str) for p in parts):
        return "".join(p for p in parts if isinstance(p, str))
    return b"".join(p.encode() if isinstance(p, str) else p for p in parts)


def _length(data: str | bytes | None) -> int:
    if data is None:
        return 0
    return len(data.encode() if isinstance(data, str) else data)


def _number(text: str) -> bool:
    """ASCII digits only: str.isdigit() is also true for "²", which int() refuses, and
    a bounded length (int() refuses more than 4300 digits; no MsgID needs 19)."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def _walk(cmd: Command) -> list[Command]:
    if isinstance(cmd, Atomic | Sequence):
        out: list[Command] = [cmd]
        for child in cmd.commands:
            out.extend(_walk(child))
        return out
    return [cmd]


class SessionState:
    def __init__(
        self,
        *,
        session_id: str,
        device: str,
        server_uri: str,
        lab_max_msg_size: int = DEFAULT_LAB_MAX_MSG_SIZE,
        device_max_msg_size: int = 16384,
        resp_uri: str | None = None,
        lab_max_obj_size: int = DEFAULT_LAB_MAX_OBJ_SIZE,
        split_packages: bool = False,
    ) -> None:
        self.session_id = session_id
        self.device = device
        self.server_uri = server_uri
        self.lab_max_msg_size = lab_max_msg_size
        self.device_max_msg_size = device_max_msg_size
        self.device_max_obj_size: int | None = None
        self.lab_max_obj_size = lab_max_obj_size
        self.split_packages = split_packages
        self.resp_uri = resp_uri
        self.ver_dtd = "1.2"
        self.ver_proto = "DM/1.2"
        self.lab_msg_id = 0
        self.device_msg_id = ""
        self.device_package = 1
        self._package_done = False  # the lab closed its package: the device starts a new one
        self._lab_open = False  # the lab's last message had no Final: its package goes on
        self.device_final = False
        self.ended: str | None = None  # why the session ended
        # Set once the session has ended and its results were handed over: a device message
        # after that (e.g. after its own abort) is recorded, but changes no result.
        self.results_closed = False
        self.alerts: list[Alert] = []
        self.device_commands: list[Command] = []  # Replace ./DevInfo … that the device sent
        self.header_statuses: list[Status] = []  # the device's Status on the lab's SyncHdr
        self.problems: list[str] = []  # protocol deviations the lab noticed
        self._hdr_status: Status | None = None
        self._owed: list[Status] = []
        self._queue: list[_Outstanding] = []
        self._sent: dict[tuple[str, str], _Outstanding] = {}
        self._last_package: list[_Outstanding] = []
        self._device_chunks: dict[str, list[str | bytes]] = {}
        self._chunk_bytes: dict[str, int] = {}  # bytes collected so far per device object
        self._refused: set[str] = set()  # device objects over the lab's MaxObjSize: dropped
        self._chunking: _Chunking | None = None
        # A cheap upper bound of a message's encoded size (None: unknown), set by the server:
        # a message under the bound needs no encoding to be known to fit.
        self.size_bound: Callable[[SyncML], int | None] | None = None
        self._own: dict[tuple[str, str], Command] = {}  # the lab's own Alerts, by (MsgID, CmdID)
        self.own_statuses: list[Status] = []

    # ------------------------------------------------------------------ device -> lab

    def absorb(self, msg: SyncML, answer: HeaderAnswer) -> None:
        """Take one device message; ``answer`` is the lab's verdict on its credentials."""
        hdr = msg.header
        if self._package_done:
            self.device_package += 2
            self._package_done = False
        self._check_header(hdr)
        if self._lab_open and msg.final and not msg.alerts(AlertCode.NEXT_MESSAGE):
            self.problems.append(
                f"message {hdr.msg_id} has Final and no Alert 1222 although the lab's package "
                "was not finished (its last message had no Final)"
            )
        self.device_msg_id = hdr.msg_id
        self._hdr_status = Status(
            cmd_id="",
            msg_ref=hdr.msg_id,
            cmd_ref="0",
            cmd="SyncHdr",
            data=answer.code,
            target_refs=[hdr.target],
            source_refs=[hdr.source],
            chal=answer.chal,
        )
        self.device_final = msg.final
        if answer.code not in (StatusCode.OK, StatusCode.AUTH_ACCEPTED):
            # Authentication failed: every command gets a Status, none is executed.
            for cmd in msg.body:
                if not isinstance(cmd, Status | Results) and not getattr(cmd, "no_resp", False):
                    self._owe(cmd, hdr.msg_id, answer.code)
            return
        for cmd in msg.body:
            self._absorb_command(cmd, hdr.msg_id)

    def _check_header(self, hdr: SyncHdr) -> None:
        if hdr.session_id != self.session_id:
            self.problems.append(f"SessionID {hdr.session_id!r}, expected {self.session_id!r}")
        if self.device_msg_id and _number(hdr.msg_id) and _number(self.device_msg_id):
            if int(hdr.msg_id) != int(self.device_msg_id) + 1:
                self.problems.append(
                    f"MsgID {hdr.msg_id} after {self.device_msg_id} (expected one more)"
                )
        elif not _number(hdr.msg_id):
            self.problems.append(f"MsgID {hdr.msg_id!r} is not a number")
        self.ver_dtd = hdr.ver_dtd or self.ver_dtd
        self.ver_proto = hdr.ver_proto or self.ver_proto
        if hdr.meta is not None:
            size = hdr.meta.max_msg_size
            if size is not None and size < MIN_DEVICE_MSG_SIZE:
                # No message fits (the lab's statuses alone are bigger): chunks would never
                # go out. Noted, and the lab goes by the floor.
                self.problems.append(f"MaxMsgSize {size} is below {MIN_DEVICE_MSG_SIZE} bytes; "
                                     f"the lab sends messages of up to {MIN_DEVICE_MSG_SIZE}")
                size = MIN_DEVICE_MSG_SIZE
            if size:
                self.device_max_msg_size = size
            if hdr.meta.max_obj_size:
                self.device_max_obj_size = hdr.meta.max_obj_size

    def _owe(self, cmd: Command, msg_id: str, code: str) -> None:
        targets: list[str] = []
        sources: list[str] = []
        for item in getattr(cmd, "items", []) or []:
            if item.target:
                targets.append(item.target)
            if item.source:
                sources.append(item.source)
        self._owed.append(
            Status(
                cmd_id="",
                msg_ref=msg_id,
                cmd_ref=cmd.cmd_id,
                cmd=cmd.name,
                data=code,
                target_refs=targets,
                source_refs=sources,
            )
        )

    def _absorb_command(self, cmd: Command, msg_id: str) -> None:
        if isinstance(cmd, Status):
            self._absorb_status(cmd)
        elif isinstance(cmd, Results):
            self._absorb_results(cmd, msg_id)
        elif isinstance(cmd, Alert):
            self.alerts.append(cmd)
            if not cmd.no_resp:
                self._owe(cmd, msg_id, StatusCode.OK)
            if cmd.data == AlertCode.SESSION_ABORT:
                self.ended = "aborted by the device (Alert 1223)"
        elif isinstance(cmd, Get):
            # The lab has no tree of its own to serve.
            self.device_commands.append(cmd)
            self._owe(cmd, msg_id, StatusCode.OPTIONAL_FEATURE_NOT_SUPPORTED)
        elif isinstance(cmd, ItemCommand):
            self.device_commands.append(cmd)
            code = StatusCode.OK
            for item in cmd.items:
                key = f"{cmd.name} {item.target or item.source or ''}"
                if key in self._refused or self._too_large(key, item):
                    code = StatusCode.REQUEST_ENTITY_TOO_LARGE
                    item.data = None  # not kept: the lab refused the object
                    if not item.more_data:
                        self._refused.discard(key)
                elif item.more_data:
                    self._device_chunks.setdefault(key, []).append(item.data or "")
                    code = StatusCode.CHUNK_ACCEPTED
                elif key in self._device_chunks:
                    item.data = _join([*self._device_chunks.pop(key), item.data or ""])
                    self._chunk_bytes.pop(key, None)
            if not cmd.no_resp:
                self._owe(cmd, msg_id, code)
        else:  # Atomic/Sequence from a device: accepted as such
            self.device_commands.append(cmd)
            if not getattr(cmd, "no_resp", False):
                self._owe(cmd, msg_id, StatusCode.OK)

    def _over_limit(self, declared: int | None, have: int) -> str | None:
        """Why a device object goes over the lab's MaxObjSize (None: it does not)."""
        limit = self.lab_max_obj_size
        if declared is not None and declared > limit:
            return f"its Meta Size {declared} exceeds the lab's MaxObjSize {limit}"
        if have > limit:
            return f"{have} bytes so far exceed the lab's MaxObjSize {limit}"
        return None

    def _too_large(self, key: str, item: Item) -> bool:
        """Count a device command's chunk; True (and noted) once the object is over the bound."""
        if not item.more_data and key not in self._device_chunks:
            return False  # a whole value in one message: the message bound holds it
        have = self._chunk_bytes.get(key, 0) + _length(item.data)
        self._chunk_bytes[key] = have
        first = key not in self._device_chunks
        why = self._over_limit(item.meta.size if item.meta and first else None, have)
        if why is None:
            return False
        self.problems.append(f"large object {key}: {why}: refused (413), not kept")
        self._device_chunks.pop(key, None)
        self._chunk_bytes.pop(key, None)
        if item.more_data:
            self._refused.add(key)
        return True

    def _find(self, msg_ref: str, cmd_ref: str, what: str) -> _Outstanding | None:
        ref = msg_ref or str(self.lab_msg_id)  # MsgRef may be left out: the last lab message
        found = self._sent.get((ref, cmd_ref))
        if found is None:
            self.problems.append(f"{what} refers to MsgRef {ref} CmdRef {cmd_ref}: no such command")
        return found

    def _absorb_status(self, status: Status) -> None:
        if status.cmd == "SyncHdr" or status.cmd_ref == "0":
            self.header_statuses.append(status)
            return
        if self.results_closed:
            self.problems.append(f"Status {status.data} for CmdRef {status.cmd_ref} after the "
                                 "session ended: not taken as the command's answer")
            return
        ref = (status.msg_ref or str(self.lab_msg_id), status.cmd_ref)
        if ref in self._own:
            self.own_statuses.append(status)  # for the lab's own Alert 1222/1223
            return
        out = self._find(status.msg_ref, status.cmd_ref, f"Status {status.data}")
        if out is None:
            return
        if out.result.cmd.name and status.cmd and status.cmd != out.result.cmd.name:
            out.result.notes.append(
                f"Status names Cmd {status.cmd}, the command was {out.result.cmd.name}"
            )
        out.result.status = status.data.strip()
        out.result.status_cmd = status
        job = self._chunking
        if job is not None and job.out is out and out.result.status != StatusCode.CHUNK_ACCEPTED:
            # The device refused a chunk (413 over its MaxObjSize, 424 …): the object stops.
            out.result.notes.append(
                f"the device answered {out.result.status} to a chunk after {job.offset} of "
                f"{_length(self._chunk_data(job))} bytes: the lab sent no more of it"
            )
            self._chunking = None
            self._package_done, self._lab_open = True, False

    def _absorb_results(self, results: Results, msg_id: str) -> None:
        if self.results_closed:
            self.problems.append(f"Results for CmdRef {results.cmd_ref} after the session "
                                 "ended: not taken as the command's answer")
            return
        out = self._find(results.msg_ref, results.cmd_ref, "Results")
        if out is None:
            return
        out.result.results.append(results)
        chunked = False
        for item in results.items:
            if out.refused:  # the rest of an object the lab refused: dropped unread
                item.data = None
                out.refused = item.more_data
                if item.more_data:
                    self._owe(results, msg_id, StatusCode.REQUEST_ENTITY_TOO_LARGE)
                return
            if item.more_data or out.chunk_item is not None:
                declared = item.meta.size if item.meta and out.chunk_item is None else None
                out.chunk_bytes += _length(item.data)
                why = self._over_limit(declared, out.chunk_bytes)
                if why is not None:
                    out.result.notes.append(f"large object: {why}: refused (413), not kept")
                    self.problems.append(f"Results for CmdRef {results.cmd_ref}: large "
                                         f"object {why}")
                    out.chunk_item, out.chunks, out.chunk_bytes = None, [], 0
                    out.refused = item.more_data
                    item.data = None
                    self._owe(results, msg_id, StatusCode.REQUEST_ENTITY_TOO_LARGE)
                    return
            if item.more_data:
                if out.chunk_item is None:
                    out.chunk_item = item
                out.chunks.append(item.data or "")
                chunked = True
            elif out.chunk_item is not None:
                whole = copy.copy(out.chunk_item)
                whole.data = _join([*out.chunks, item.data or ""])
                whole.more_data = False
                declared = out.chunk_item.meta.size if out.chunk_item.meta else None
                size = len(whole.data.encode() if isinstance(whole.data, str) else whole.data)
                if declared is not None and declared != size:
                    out.result.notes.append(f"large object of {size} bytes, Meta Size {declared}")
                out.result.items.append(whole)
                out.chunk_item, out.chunks, out.chunk_bytes = None, [], 0
            else:
                out.result.items.append(item)
        if chunked:
            # Each chunk is acknowledged; a complete Results gets no Status (DM 1.2 §2.1).
            self._owe(results, msg_id, StatusCode.CHUNK_ACCEPTED)

    # ------------------------------------------------------------------ the lab's commands

    def enqueue(self, commands: list[Command]) -> list[CommandResult]:
        """Queue commands for the lab's next package(s); results fill in as the device answers."""
        results = []
        for cmd in commands:
            mine = copy.deepcopy(cmd)
            result = CommandResult(status="", items=[], cmd=mine)
            if isinstance(mine, Atomic | Sequence):
                result.children = [
                    CommandResult(status="", items=[], cmd=child) for child in _walk(mine)[1:]
                ]
            self._queue.append(_Outstanding(result))
            results.append(result)
        return results

    @property
    def has_queued(self) -> bool:
        return bool(self._queue)

    def unanswered(self) -> list[CommandResult]:
        return [o.result for o in self._last_package if not o.answered]

    def requeue_last_package(self) -> int:
        """Send the last package's commands again (after the device rejected the lab's Cred)."""
        again = [o for o in self._last_package if o.result.status in ("", "401", "407")]
        for out in again:
            out.result.status = ""
            out.result.status_cmd = None
            out.result.notes.append("sent again after the device challenged the lab")
        self._queue[:0] = [_Outstanding(o.result) for o in again]
        return len(again)

    # ------------------------------------------------------------------ lab -> device

    def _header(self, cred: Cred | None) -> SyncHdr:
        self.lab_msg_id += 1
        return SyncHdr(
            session_id=self.session_id,
            msg_id=str(self.lab_msg_id),
            target=self.device,
            source=self.server_uri,
            ver_dtd=self.ver_dtd,
            ver_proto=self.ver_proto,
            cred=cred,
            meta=Meta(max_msg_size=self.lab_max_msg_size),
            resp_uri=self.resp_uri,
        )

    def _statuses(self) -> list[Command]:
        body: list[Command] = []
        if self._hdr_status is not None:
            body.append(self._hdr_status)
        body.extend(self._owed)
        self._hdr_status, self._owed = None, []
        return body

    def compose_next_message(self, cred: Cred | None = None) -> SyncML:
        """The answer to a device message without Final: Status + Alert 1222, no Final."""
        body = self._statuses()
        alert = Alert(cmd_id="", data=AlertCode.NEXT_MESSAGE)
        body.append(alert)
        msg = self._finish(SyncML(self._header(cred), body, final=False))
        self._own[(msg.header.msg_id, alert.cmd_id)] = alert  # its Status is no test's
        return msg

    def compose_package(
        self,
        cred: Cred | None = None,
        *,
        size_of: Callable[[SyncML], int] | None = None,
        abort: bool = False,
        close: bool = False,
    ) -> SyncML:
        """The lab's next package: statuses, then as many queued commands as fit, Final."""
        msg = SyncML(self._header(cred), self._statuses(), final=True)
        continuing = self._lab_open
        if abort:
            alert = Alert(cmd_id="", data=AlertCode.SESSION_ABORT)
            msg.body.append(alert)
            self._number(msg)
            self._own[(msg.header.msg_id, alert.cmd_id)] = alert
            self.ended = self.ended or "aborted by the lab (Alert 1223)"
        elif close:
            self.ended = self.ended or "closed by the lab"
        else:
            self._fill(msg, size_of, continuing)
        self._package_done = msg.final
        self._lab_open = not msg.final
        return self._finish(msg)

    @property
    def package_open(self) -> bool:
        """The lab's last message had no Final: its package goes on in the next message."""
        return self._lab_open

    def _fill(
        self, msg: SyncML, size_of: Callable[[SyncML], int] | None, continuing: bool = False
    ) -> None:
        sent: list[_Outstanding] = []
        while self._queue:
            out = self._queue[0]
            msg.body.append(out.result.cmd)
            self._number(msg)
            too_big = self._too_big(msg, size_of)
            if too_big and sent:
                msg.body.pop()  # the rest goes in the next package, once this one is answered
                # … or in the next message of this package (the device asks with Alert 1222)
                msg.final = not self.split_packages
                break
            if too_big and size_of is not None and _chunkable(out.result.cmd):
                msg.body.pop()
                self._queue.pop(0)
                self._last_package = [out]
                self._chunking = _Chunking(out)
                self._add_chunk(msg, size_of)
                return
            if too_big:
                out.result.notes.append(
                    f"alone it exceeds the device's MaxMsgSize {self.device_max_msg_size}"
                )
            sent.append(self._queue.pop(0))
        self._number(msg)
        for out in sent:
            self._register(out, msg.header.msg_id)
        self._last_package = [*self._last_package, *sent] if continuing else sent

    def _too_big(self, msg: SyncML, size_of: Callable[[SyncML], int] | None) -> bool:
        """``msg`` exceeds the device's MaxMsgSize (measured only when a bound does not say)."""
        if size_of is None:
            return False
        bound = self.size_bound(msg) if self.size_bound is not None else None
        if bound is not None and bound <= self.device_max_msg_size:
            return False
        return size_of(msg) > self.device_max_msg_size

    def _register(self, out: _Outstanding, msg_id: str) -> None:
        out.msg_id = msg_id
        self._sent[(msg_id, out.result.cmd.cmd_id)] = out
        for child in out.result.children:
            self._sent[(msg_id, child.cmd.cmd_id)] = _Outstanding(child, msg_id)

    # ------------------------------------------------------------------ large objects out

    @property
    def chunking(self) -> bool:
        """The lab is sending a large object: the device's non-final answers get the next chunk."""
        return self._chunking is not None

    def compose_chunk(
        self, cred: Cred | None = None, *, size_of: Callable[[SyncML], int]
    ) -> SyncML:
        """The next message of a large object (the device asked with Alert 1222)."""
        msg = SyncML(self._header(cred), self._statuses(), final=True)
        self._add_chunk(msg, size_of)
        return self._finish(msg)

    def _add_chunk(self, msg: SyncML, size_of: Callable[[SyncML], int]) -> None:
        """Put the next chunk of the large object in ``msg`` (Final only with the last one)."""
        job = self._chunking
        assert job is not None
        template = job.out.result.cmd
        assert isinstance(template, ItemCommand)
        whole = template.items[0]
        data = whole.data or ""
        cmd = copy.copy(template)
        item = copy.copy(whole)
        cmd.items = [item]
        msg.body.append(cmd)
        if job.offset == 0:
            size = _length(data)
            item.meta = copy.copy(whole.meta) if whole.meta else Meta()
            # Only in the first chunk (DM 1.2 §2.2); a Size the test set is sent as it is (a
            # probe of the device's 424 / 413), else the object's own.
            item.meta.size = size if item.meta.size is None else item.meta.size
            size = item.meta.size
            if self.device_max_obj_size is not None and size > self.device_max_obj_size:
                job.out.result.notes.append(
                    f"object of {size} bytes exceeds the device's MaxObjSize "
                    f"{self.device_max_obj_size}"
                )
        else:
            item.meta = copy.copy(whole.meta) if whole.meta else None
            if item.meta is not None:
                item.meta.size = None
        item.data, item.more_data = data[:0], True
        self._number(msg)
        room = self.device_max_msg_size - size_of(msg) - 16  # 16: MoreData and slack
        if room < _MIN_CHUNK:
            # The statuses fill this message: send them alone, without Final, so that the
            # device asks for the next message (DM 1.2 §2.1 allows such a message).
            msg.body.pop()
            msg.final = False
            self._package_done = False
            self._lab_open = True
            return
        n = room
        while True:
            item.data = data[job.offset : job.offset + n]
            item.more_data = job.offset + n < len(data)
            if size_of(msg) <= self.device_max_msg_size or n <= _MIN_CHUNK:
                break
            n = max(_MIN_CHUNK, n * 3 // 4)  # escaping made it bigger than counted: shrink
        job.offset += n
        msg.final = not item.more_data
        self._number(msg)
        self._sent[(msg.header.msg_id, cmd.cmd_id)] = job.out
        job.out.msg_id = msg.header.msg_id
        if msg.final:
            self._chunking = None
        self._package_done = msg.final
        self._lab_open = not msg.final

    @staticmethod
    def _chunk_data(job: _Chunking) -> str | bytes:
        cmd = job.out.result.cmd
        return cmd.items[0].data or "" if isinstance(cmd, ItemCommand) else ""

    def _number(self, msg: SyncML) -> None:
        counter = 0
        for cmd in msg.body:
            for each in _walk(cmd):
                counter += 1
                each.cmd_id = str(counter)

    def _finish(self, msg: SyncML) -> SyncML:
        self._number(msg)
        return msg

    @property
    def lab_package(self) -> int:
        return self.device_package + 1
