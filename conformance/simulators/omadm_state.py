"""Persistent state of the reference OMA-DM device (``--state-dir``).

What survives a restart is what a real module keeps in flash: every tree value that differs
from the factory value (firmware and host versions after an update, nonces, credentials a
server replaced, FUMO State), the session counter and Generic Alerts not yet delivered. Only
differences are stored, so a fault that changes a factory value is never masked by a file
written by a run without it. Without a state directory the state lives in memory only.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.simulators.dmtree import DMTree

STATE_FILE = "omadm-device-state.json"


@dataclass
class PendingAlert:
    """A Generic Alert (1226) the device still owes the server."""

    alert_type: str
    source: str
    result: str
    correlator: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "alert_type": self.alert_type,
            "source": self.source,
            "result": self.result,
            "correlator": self.correlator,
        }


@dataclass
class StoredState:
    values: dict[str, str | bytes] = field(default_factory=dict)
    session_counter: int = 0
    pending_alerts: list[PendingAlert] = field(default_factory=list)


class StateStore:
    def __init__(self, state_dir: Path | None) -> None:
        self.path = state_dir / STATE_FILE if state_dir is not None else None

    def load(self) -> StoredState:
        if self.path is None or not self.path.exists():
            return StoredState()
        data = json.loads(self.path.read_text(encoding="utf-8"))
        values: dict[str, str | bytes] = {}
        for path, value in data.get("values", {}).items():
            values[path] = base64.b64decode(value["b64"]) if "b64" in value else value["chr"]
        alerts = [PendingAlert(**a) for a in data.get("pending_alerts", [])]
        return StoredState(values, int(data.get("session_counter", 0)), alerts)

    def save(
        self,
        tree: DMTree,
        factory: dict[str, str | bytes],
        counter: int,
        alerts: list[PendingAlert],
    ) -> None:
        if self.path is None:
            return
        changed: dict[str, dict[str, str]] = {}
        for path, node in tree.walk():
            if node.spec.interior or factory.get(path) == node.value:
                continue
            value = node.value
            if isinstance(value, bytes):
                changed[path] = {"b64": base64.b64encode(value).decode()}
            else:
                changed[path] = {"chr": value}
        data = {
            "version": 1,
            "values": changed,
            "session_counter": counter,
            "pending_alerts": [a.to_json() for a in alerts],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)  # atomic: a crash never leaves half a state file

    def clear(self) -> None:
        if self.path is not None and self.path.exists():
            self.path.unlink()
