"""Compare two runs requirement by requirement (``conformance compare OLD NEW``).

For CI gating a firmware release: a requirement that PASSed and no longer does (FAIL, ERROR,
INCONCLUSIVE, or no longer covered) is a regression, and the exit status follows the same rule
as a run's (plugin/gate.py): 1 when a regression is a FAIL, else 11 for an ERROR, else 10 (0
for INCONCLUSIVE ones with ``--accept-inconclusive``). A requirement that became NOT APPLICABLE
is listed, not counted: the declaration says why. Other changes are listed so nothing moves
silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.errors import ConfigurationError


@dataclass(frozen=True)
class Change:
    requirement: str
    old: str
    new: str

    @property
    def regression(self) -> bool:
        return self.old == "PASS" and self.new not in ("PASS", "NOT APPLICABLE")

    def __str__(self) -> str:
        tag = "REGRESSION" if self.regression else "changed"
        return f"{tag:10} {self.requirement}: {self.old} -> {self.new}"


def load_acceptance(where: Path) -> dict[str, Any]:
    """acceptance.json from a run folder (or the file itself)."""
    path = where / "acceptance.json" if where.is_dir() else where
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{path}: not an acceptance report ({exc.msg})") from None
    if not isinstance(data, dict) or "requirements" not in data:
        raise ConfigurationError(f"{path}: not an acceptance report (no 'requirements')")
    return data


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    before = {r["id"]: r["verdict"] for r in old["requirements"]}
    after = {r["id"]: r["verdict"] for r in new["requirements"]}
    changes = []
    for req in sorted(before.keys() | after.keys()):
        a, b = before.get(req, "ABSENT"), after.get(req, "ABSENT")
        if a != b:
            changes.append(Change(req, a, b))
    return changes


def exit_status(changes: list[Change], *, accept_inconclusive: bool = False) -> int:
    """0 without regressions; else the most severe regression's status (gate.py codes)."""
    from conformance.plugin.gate import EXIT_ERROR, EXIT_FAIL, EXIT_INCONCLUSIVE, worst

    codes = {"FAIL": EXIT_FAIL, "ERROR": EXIT_ERROR}
    statuses = [codes.get(c.new, EXIT_INCONCLUSIVE) for c in changes if c.regression]
    if accept_inconclusive:
        statuses = [c for c in statuses if c != EXIT_INCONCLUSIVE]
    return worst(statuses) if statuses else 0


def main_compare(old_dir: Path, new_dir: Path, *, accept_inconclusive: bool = False) -> int:
    old, new = load_acceptance(old_dir), load_acceptance(new_dir)
    changes = compare(old, new)
    print(f"old: {old_dir} ({old.get('verdict')})\nnew: {new_dir} ({new.get('verdict')})")
    for change in changes:
        print(change)
    regressions = [c for c in changes if c.regression]
    print(f"{len(changes)} requirement verdicts changed, {len(regressions)} regressions")
    return exit_status(changes, accept_inconclusive=accept_inconclusive)
