"""The queue the parts of a catalog run share (conformance/plugin/partqueue.py): a share each,
then what the others have left, each unit taken once, across processes."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from conformance.plugin.partqueue import MAX_BYTES, QueueError, SharedQueue, read

UNITS = [[f"t.py::test_{i}"] for i in range(40)]
SHARES = [list(range(k, 40, 4)) for k in range(4)]  # every 4th unit
SECONDS = [1.0] * 40


def _take_all(path: str, part: int) -> list[int]:
    queue = SharedQueue(Path(path), UNITS, SHARES, SECONDS, part)
    taken = []
    while (index := queue.claim()) is not None:
        taken.append(index)
    return taken


def test_parts_side_by_side_take_every_unit_once(tmp_path: Path) -> None:
    path = tmp_path / "queue.json"
    with multiprocessing.get_context("fork").Pool(4) as pool:
        taken = pool.starmap(_take_all, [(str(path), part) for part in range(4)])
    every = [index for part in taken for index in part]
    assert sorted(every) == list(range(40)), taken  # none twice, none left out
    state = read(path)
    assert state is not None and state["left"] == [[], [], [], []]
    assert (state["units"], state["cases"]) == (40, 40)


def test_own_share_first_then_the_last_of_the_share_with_most_seconds_left(
        tmp_path: Path) -> None:
    units = [[f"t.py::test_{i}"] for i in range(6)]
    shares = [[0, 1], [2, 3], [4, 5]]
    seconds = [1.0, 1.0, 1.0, 2.0, 1.0, 9.0]
    path = tmp_path / "queue.json"
    first = SharedQueue(path, units, shares, seconds, 0)
    second = SharedQueue(path, units, shares, seconds, 1)
    assert [first.claim(), first.claim()] == [0, 1]  # its own, in order
    assert first.claim() == 5  # share 3 has 10 s left, share 2 has 3 s: its last
    assert second.claim() == 2  # its own again
    assert first.claim() == 3  # share 2 (2 s left) against share 3 (1 s)
    assert first.taken_from_others == 2 and second.taken_from_others == 0
    assert [first.claim(), second.claim()] == [4, None]


def test_a_queue_of_other_cases_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "queue.json"
    SharedQueue(path, UNITS, SHARES, SECONDS, 0)
    others = [*UNITS[:-1], ["t.py::test_renamed"]]
    with pytest.raises(QueueError, match=r"collected other cases.*40 in 40 units"):
        SharedQueue(path, others, SHARES, SECONDS, 1)
    with pytest.raises(QueueError, match="collected other cases"):  # the same cases, other shares
        SharedQueue(path, UNITS, [list(range(k, 40, 2)) for k in range(2)], SECONDS, 1)


@pytest.mark.parametrize("content", [
    b"{not json",
    b"[]",
    json.dumps({"fingerprint": "x", "units": 2, "cases": 2, "left": [[0, 5]]}).encode(),
    json.dumps({"fingerprint": "x", "units": -1, "cases": 2, "left": []}).encode(),
    json.dumps({"fingerprint": 3, "units": 1, "cases": 1, "left": []}).encode(),
    b" " * (MAX_BYTES + 1),
])
def test_a_file_that_is_not_a_queue_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "queue.json"
    path.write_bytes(content)
    with pytest.raises(QueueError, match="queue of parts"):
        SharedQueue(path, UNITS, SHARES, SECONDS, 0)
    with pytest.raises(QueueError, match="queue of parts"):
        read(path)
    assert path.read_bytes() == content  # left as it was


def test_no_queue_file_reads_as_none(tmp_path: Path) -> None:
    assert read(tmp_path / "queue.json") is None
