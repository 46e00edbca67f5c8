"""The work the parts of one catalog run share (``--part-queue FILE``): a share each, and what
a part that has finished its own takes from the others.

A split fixed at the start balances the parts only as well as the earlier run's durations
predict this run's. A device fault that makes cases wait for their timeouts breaks that: with
``--fault no-registration-update`` the last of the ten LwM2M parts ended 1.9-24.3 s after
their mean, and the run took 27.2-49.6 s, against 24.7-28.2 s with the parts taking from each
other (three runs each, bench/README.md §4). So each part starts with
its share of the work units, balanced as before and in the catalog's order (its protocol waits
interleaved with its CPU work, as the fixed split had them), and a part that has finished its
share takes the last unit of the share with the most seconds left. The file holds one JSON
object: a fingerprint of the units and shares (every part must have collected the same), the
number of units and of cases, and what is left of each share. Each take reads and rewrites it
under an exclusive ``flock``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any

MAX_BYTES = 1 << 20  # a catalog of thousands of units is tens of kB; more is not ours


class QueueError(Exception):
    """The queue file is not this run's (other cases or shares) or not a queue at all."""


def fingerprint(units: list[list[str]], shares: list[list[int]]) -> str:
    """A digest of the units (each a list of node ids) and of the shares, in their order."""
    digest = hashlib.sha256()
    for unit in units:
        digest.update(("\x1f".join(unit) + "\x1e").encode("utf-8", "surrogatepass"))
    digest.update(json.dumps(shares).encode())
    return digest.hexdigest()


class SharedQueue:
    """Part ``part``'s (0-based) handle on the file: :meth:`claim` gives the index of the unit
    it runs next, or None once no share has any left."""

    def __init__(self, path: Path, units: list[list[str]], shares: list[list[int]],
                 seconds: list[float], part: int) -> None:
        self.path, self.part, self.seconds = path, part, seconds
        self.units = len(units)
        self.cases = sum(len(u) for u in units)
        self.shares = shares
        self.fingerprint = fingerprint(units, shares)
        self.taken_from_others = 0
        self._update(lambda state: None)  # joins the queue, or says why it cannot

    def claim(self) -> int | None:
        def take(state: dict[str, Any]) -> int | None:
            left: list[list[int]] = state["left"]
            if left[self.part]:
                return left[self.part].pop(0)
            rest = [(sum(self.seconds[u] for u in share), k) for k, share in enumerate(left)
                    if share]
            if not rest:
                return None
            self.taken_from_others += 1
            return left[max(rest)[1]].pop()  # the last of the share with most left

        return self._update(take)

    def _update(self, change: Any) -> Any:
        """``change(state)`` under the lock; the file is written when it was empty (this part
        is the first) or ``change`` took a unit (it returned one: the state changed)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd closes
            data = os.pread(fd, MAX_BYTES + 1, 0)
            if data:
                state = parse(data, self.path)
                if state["fingerprint"] != self.fingerprint or len(state["left"]) != len(
                        self.shares):
                    raise QueueError(f"{self.path}: the other parts collected other cases "
                                     f"({state['cases']} in {state['units']} units, this part "
                                     f"{self.cases} in {self.units}): the catalog's collection "
                                     "is not the same in every part")
            else:  # the first part here
                state = {"fingerprint": self.fingerprint, "units": self.units,
                         "cases": self.cases, "left": [list(s) for s in self.shares]}
            result = change(state)
            if result is not None or not data:
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(state).encode(), 0)
            return result
        finally:
            os.close(fd)


def parse(data: bytes, path: Path) -> dict[str, Any]:
    """The queue's object from the file's bytes; QueueError naming what is wrong."""
    if len(data) > MAX_BYTES:
        raise QueueError(f"{path}: over {MAX_BYTES} bytes: not a queue of parts")
    try:
        state = json.loads(data)
    except ValueError as exc:
        raise QueueError(f"{path}: not a queue of parts ({exc})") from None
    if not (isinstance(state, dict) and isinstance(state.get("fingerprint"), str)
            and all(type(state.get(k)) is int and state[k] >= 0 for k in ("units", "cases"))
            and isinstance(state.get("left"), list)
            and all(isinstance(share, list) and all(type(u) is int and 0 <= u < state["units"]
                                                    for u in share)
                    for share in state["left"])):
        raise QueueError(f"{path}: not a queue of parts (fields fingerprint, units, cases, left)")
    return state


def read(path: Path) -> dict[str, Any] | None:
    """The queue's state once the parts have ended (None: no queue file); QueueError when
    it is not one."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    return parse(data, path)
