"""The reference devices' control channel: JSON-line commands in, one JSON-line answer each.

``{"id": 1, "action": "reboot", "params": {}}`` → ``{"id": 1, "ok": true}`` or
``{"id": 1, "ok": false, "error": "…"}``. Both reference devices parse and answer through here,
so that the simulator controller meets one grammar whatever the protocol.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Command:
    ident: Any
    action: str
    params: dict[str, Any] = field(default_factory=dict)


def answer(ident: Any, ok: bool = True, error: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": ident, "ok": ok}
    if error is not None:
        out["error"] = error
    out.update(extra)
    return out


def parse(line: str) -> Command | dict[str, Any] | None:
    """One command line: the Command, the error answer to send instead, or None (blank)."""
    text = line.strip()
    if not text:
        return None
    try:
        command = json.loads(text)
    except ValueError as exc:
        return answer(None, False, f"not JSON: {exc}")
    if not isinstance(command, dict):
        return answer(None, False, "a command is a JSON object")
    ident = command.get("id")
    action = command.get("action")
    params = command.get("params") or {}
    if not isinstance(action, str) or not isinstance(params, dict):
        return answer(ident, False, "expected an action name and params as a JSON object")
    return Command(ident, action, params)
