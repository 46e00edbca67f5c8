"""Runs a DM server's commands on the device's tree and builds the Status and Results owed.

One :class:`CommandExecutor` lives for one session, because a large object sent by the server
(``MoreData``) spans messages. CmdIDs of the replies are left empty: the session numbers them
when it packs them into a message. No I/O here.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field

from conformance.omadm import tnds
from conformance.omadm.model import (
    Add,
    Alert,
    AlertCode,
    Atomic,
    Command,
    Copy,
    Delete,
    Exec,
    Get,
    Item,
    ItemCommand,
    Meta,
    Replace,
    Results,
    Sequence,
    Status,
)
from conformance.simulators.dmtree import DMTree, Value
from conformance.simulators.omadm_ui import UI_ALERTS, ScriptedUi

log = logging.getLogger("omadm-device")

# Alerts a DM client answers 200 to without more ado (display, confirm, next message).
_ACCEPTED_ALERTS = {AlertCode.DISPLAY, AlertCode.CONFIRM, AlertCode.NEXT_MESSAGE, "1102", "1103"}


def _ok(code: str) -> bool:
    return code.startswith("2")


@dataclass
class _Chunks:
    """A large object being received: the declared size and the data so far."""

    command: str
    declared_size: int | None
    fmt: str | None
    data: bytearray = field(default_factory=bytearray)


@dataclass
class Execution:
    replies: list[Command] = field(default_factory=list)
    abort: bool = False  # the server sent Alert 1223
    commands: int = 0  # how many server commands (not Status/Results) the message held


class CommandExecutor:
    def __init__(
        self,
        tree: DMTree,
        own_max_obj_size: int | None = None,
        *,
        tnds_wbxml: bool = False,
        check_size: bool = True,
        check_max_obj_size: bool = True,
        refuse_root: bool = False,
        ui: ScriptedUi | None = None,
    ) -> None:
        self.tree = tree
        self.tnds_wbxml = tnds_wbxml  # a WBXML session: ?list=TNDS answers in TNDS WBXML
        self.ui = ui  # the device's (scripted) user interface for alerts 1100-1104
        self.max_obj_size: int | None = None  # the server's MaxObjSize, from its SyncHdr
        self.own_max_obj_size = own_max_obj_size  # what this device declares it takes
        self.check_size = check_size  # False: fault accepts-wrong-object-size
        self.check_max_obj_size = check_max_obj_size  # False: fault ignores-max-obj-size
        self.refuse_root = refuse_root  # True: fault root-get-refused
        self._incoming: dict[str, _Chunks] = {}

    def execute(self, msg_id: str, commands: list[Command]) -> Execution:
        out = Execution()
        stopped = False
        for cmd in commands:
            if isinstance(cmd, Status | Results):
                continue  # the session reads those
            out.commands += 1
            if isinstance(cmd, Alert) and cmd.data == AlertCode.SESSION_ABORT:
                out.abort = True
                return out
            if stopped:
                out.replies.append(self._status(msg_id, cmd, "215"))
                continue
            replies = self._run(msg_id, cmd)
            out.replies.extend(replies)
            # The user cancelled an interaction: the rest of the message is not processed
            # (DM 1.2 "User interaction alert codes"), unless the fault says otherwise.
            stopped = self.ui is not None and not self.ui.goes_on and _cancelled(cmd, replies)
        return out

    # ------------------------------------------------------------------ one command

    def _run(self, msg_id: str, cmd: Command) -> list[Command]:
        if isinstance(cmd, Atomic):
            return self._atomic(msg_id, cmd)
        if isinstance(cmd, Sequence):
            return self._sequence(msg_id, cmd)
        if isinstance(cmd, Alert) and self.ui is not None and cmd.data in UI_ALERTS:
            code, items = self.ui.respond(cmd)
            status = self._status(msg_id, cmd, code)
            status.items = items
            return [status]
        if isinstance(cmd, Alert):
            code = "200" if cmd.data in _ACCEPTED_ALERTS else "406"
            return [self._status(msg_id, cmd, code)]
        if isinstance(cmd, Get):
            return self._get(msg_id, cmd)
        if isinstance(cmd, Copy):
            if not cmd.items:
                return [self._status(msg_id, cmd, "412")]
            return [self._status(msg_id, cmd, self._copy(i), i.target) for i in cmd.items]
        if isinstance(cmd, Replace | Add | Delete | Exec):
            if not cmd.items:
                return [self._status(msg_id, cmd, "412")]  # incomplete command
            return [self._status(msg_id, cmd, self._write(cmd, i), i.target) for i in cmd.items]
        return [self._status(msg_id, cmd, "406")]

    def _write(self, cmd: ItemCommand, item: Item) -> str:
        target = item.target
        if not target:
            return "412"
        refused = self.tree.refusal(target)
        if refused:
            return refused
        fmt = (item.meta.format if item.meta else None) or (cmd.meta.format if cmd.meta else None)
        if isinstance(cmd, Delete):
            return self.tree.delete(target)
        if isinstance(cmd, Exec):
            return self.tree.exec(target, item.text() or "", cmd.correlator)
        data: str | bytes = item.data if item.data is not None else ""
        if item.more_data or target in self._incoming:
            assembled = self._chunk(cmd, item, fmt)
            if assembled is None:
                return "213"  # chunk accepted, more to come
            if isinstance(assembled, str):
                return assembled  # a status: size mismatch
            data = assembled
        if isinstance(cmd, Replace):
            return self.tree.replace(target, data, fmt)
        return self.tree.add(target, data, fmt)

    def _copy(self, item: Item) -> str:
        if not item.target or not item.source:
            return "412"
        return self.tree.refusal(item.target) or self.tree.copy(item.target, item.source)

    def _chunk(self, cmd: ItemCommand, item: Item, fmt: str | None) -> bytes | str | None:
        """Collect a large object; the whole value when complete, "424" on a size mismatch."""
        target = item.target or ""
        raw = item.data.encode() if isinstance(item.data, str) else (item.data or b"")
        state = self._incoming.get(target)
        if state is None:
            size = (item.meta.size if item.meta else None) or (cmd.meta.size if cmd.meta else None)
            limit = self.own_max_obj_size
            if self.check_max_obj_size and limit is not None and size is not None and size > limit:
                log.info("large object %s: Size %d exceeds MaxObjSize %d", target, size, limit)
                return "413"  # refused at once; the server sends no more of it
            state = self._incoming[target] = _Chunks(cmd.name, size, fmt)
        state.data += raw
        if self.check_max_obj_size and limit_exceeded(len(state.data), self.own_max_obj_size):
            del self._incoming[target]
            return "413"  # more than the device takes, whatever the Size said
        if item.more_data:
            return None
        del self._incoming[target]
        mismatch = state.declared_size is not None and state.declared_size != len(state.data)
        if mismatch and self.check_size:
            log.info(
                "large object %s: %d bytes, Size said %d",
                target,
                len(state.data),
                state.declared_size,
            )
            return "424"
        return bytes(state.data)

    def _get(self, msg_id: str, cmd: Get) -> list[Command]:
        replies: list[Command] = []
        for item in cmd.items or [Item()]:
            if not item.target:
                replies.append(self._status(msg_id, cmd, "412"))
                continue
            outcome = self.tree.get(item.target)
            code = self.tree.refusal(item.target) or outcome.status
            if self.refuse_root and not DMTree.split(item.target):
                code = "405"  # the root "./" kept from the server
            values = list(outcome.values) if code == outcome.status else []
            if self.tnds_wbxml:
                values = [_tnds_wbxml(v) for v in values]
            limit = self.max_obj_size
            if _ok(code) and limit is not None and any(_size(v) > limit for v in values):
                code, values = "413", []  # larger than the server accepts at all
            replies.append(self._status(msg_id, cmd, code, item.target))
            if values:
                replies.append(
                    Results(
                        cmd_id="",
                        msg_ref=msg_id,
                        cmd_ref=cmd.cmd_id,
                        items=[_result_item(v) for v in values],
                    )
                )
        return replies

    # ------------------------------------------------------------------ Atomic / Sequence

    def _atomic(self, msg_id: str, cmd: Atomic) -> list[Command]:
        # All or nothing: on the first failure everything done so far is rolled back (216),
        # the rest is not executed (215) and the Atomic itself gets 507.
        snapshot = self.tree.snapshot()
        jobs = len(self.tree.jobs)
        inner: list[Command] = []
        failed = False
        for sub in cmd.commands:
            if failed:
                inner.append(self._status(msg_id, sub, "215"))
                continue
            replies = self._run(msg_id, sub)
            if any(isinstance(r, Status) and not _ok(r.data) for r in replies):
                failed = True
                for earlier in inner:
                    if isinstance(earlier, Status) and _ok(earlier.data):
                        earlier.data = "216"
                inner = [r for r in inner if not isinstance(r, Results)]
                inner.extend(r for r in replies if isinstance(r, Status))
            else:
                inner.extend(replies)
        if failed:
            self.tree.restore(snapshot)
            del self.tree.jobs[jobs:]
        return [self._status(msg_id, cmd, "507" if failed else "200"), *inner]

    def _sequence(self, msg_id: str, cmd: Sequence) -> list[Command]:
        # In order; after a failed command the rest of the Sequence is not executed (215).
        inner: list[Command] = []
        failed = False
        for sub in cmd.commands:
            if failed:
                inner.append(self._status(msg_id, sub, "215"))
                continue
            replies = self._run(msg_id, sub)
            failed = any(isinstance(r, Status) and not _ok(r.data) for r in replies)
            if failed and self.ui is not None and self.ui.goes_on and isinstance(sub, Alert):
                failed = False  # fault ui-answer-ignored: the Sequence goes on after a "No"
            inner.extend(replies)
        return [self._status(msg_id, cmd, "200"), *inner]

    @staticmethod
    def _status(msg_id: str, cmd: Command, code: str, target: str | None = None) -> Status:
        return Status(
            cmd_id="",
            msg_ref=msg_id,
            cmd_ref=cmd.cmd_id,
            cmd=cmd.name,
            data=code,
            target_refs=[target] if target else [],
        )


def _tnds_wbxml(value: Value) -> Value:
    if value.type != tnds.MIME_XML or not isinstance(value.data, str):
        return value
    return Value(value.uri, "bin", tnds.MIME_WBXML, tnds.to_wbxml(value.data.encode()))


def limit_exceeded(size: int, limit: int | None) -> bool:
    return limit is not None and size > limit


def _cancelled(cmd: Command, replies: list[Command]) -> bool:
    return isinstance(cmd, Alert) and cmd.data in UI_ALERTS and any(
        isinstance(r, Status) and r.data == "214" for r in replies)


def _wire(value: Value) -> tuple[str | None, str]:
    """(data text, Meta Format) of a value: binary values travel as b64."""
    if isinstance(value.data, bytes):
        return base64.b64encode(value.data).decode(), "b64"
    return value.data, value.format


def _size(value: Value) -> int:
    return len((_wire(value)[0] or "").encode())


def _result_item(value: Value) -> Item:
    data, fmt = _wire(value)
    return Item(source=value.uri, meta=Meta(format=fmt, type=value.type or None), data=data)
