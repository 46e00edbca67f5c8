"""``--part I/K --part-queue FILE``: a part runs its share, then what the other parts have left,
taking a case only once it has finished its last (conformance/plugin/parts.py)."""

from __future__ import annotations

import json

import pytest

from conformance.plugin.partqueue import SharedQueue
from conformance.plugin.parts import shared_plan, units_of

CASES = {
    "test_plain": """
        import pytest

        @pytest.mark.requirement("ATT-DMIG-3.2")
        @pytest.mark.parametrize("n", [1, 2, 3, 4])
        def test_case(n):
            pass
    """,
    "test_shared_fixture": """
        import pytest

        @pytest.fixture(scope="module")
        def once():
            with open("setups.txt", "a") as f:
                f.write("module fixture set up;")
            yield

        @pytest.mark.requirement("ATT-DMIG-3.2")
        def test_first(once):
            pass

        @pytest.mark.requirement("ATT-DMIG-3.2")
        def test_second(once):
            pass
    """,
}


def run_part(pytester: pytest.Pytester, part: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "conformance.plugin.parts", f"--part={part}",
                              "--part-queue=queue.json", "--dut", "builtin:lwm2m",
                              "--reports", "reports", "--run-name", f"part{part[0]}")


def test_cases_sharing_a_module_fixture_are_one_unit(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**CASES)
    items, _ = pytester.inline_genitems()
    units = [[item.name for item in unit] for unit in units_of(items)]
    assert units == [["test_case[1]"], ["test_case[2]"], ["test_case[3]"], ["test_case[4]"],
                     ["test_first", "test_second"]]


def test_a_part_alone_runs_its_share_then_what_the_others_left(
        pytester: pytest.Pytester) -> None:
    """Part 1 runs first and alone: after its share it takes every other unit, the module's
    two cases together (its fixture set up once); part 2 then finds nothing left."""
    pytester.makepyfile(**CASES)
    first = run_part(pytester, "1/2")
    assert first.ret == 0, first.stdout.str()
    first.stdout.fnmatch_lines(["part 1/2: * of 6 cases, then what the others have left"])
    first.assert_outcomes(passed=6)
    assert (pytester.path / "setups.txt").read_text().count("set up") == 1
    second = run_part(pytester, "2/2")
    second.stdout.fnmatch_lines(["part 2/2: * of 6 cases, then what the others have left"])
    second.assert_outcomes(deselected=6)
    state = json.loads((pytester.path / "queue.json").read_text())
    assert state["left"] == [[], []] and state["cases"] == 6


def test_a_queue_of_other_cases_runs_none_and_is_a_harness_problem(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**CASES)
    SharedQueue(pytester.path / "queue.json", [["elsewhere.py::test_x"]], [[0], []], [1.0], 0)
    result = run_part(pytester, "2/2")
    out = result.stdout.str()
    assert "part 2/2: no case taken from the parts' queue" in out, out
    assert "collected other cases" in out
    result.assert_outcomes(deselected=6)
    verdicts = json.loads((pytester.path / "reports" / "part2" / "verdicts.json").read_text())
    assert verdicts["cases"] == []
    assert any("no case taken from the parts' queue" in p for p in verdicts["harness_problems"])
    assert result.ret == 11  # ERROR: the suite broke, the device is not judged


def test_a_parts_progress_is_of_what_it_ran(pytester: pytest.Pytester) -> None:
    """pytest's progress in a part counts its share and what it took, not the catalog: it ends
    at 100 %, as a part with a fixed share does, though another part ran some cases."""
    pytester.makepyfile(**CASES)
    items, _ = pytester.inline_genitems()
    units, shares, seconds = shared_plan(items, {}, 2)
    other = SharedQueue(pytester.path / "queue.json",
                        [[item.nodeid for item in unit] for unit in units], shares, seconds, 1)
    taken = other.claim()  # part 2 has taken its first unit
    assert taken is not None
    result = run_part(pytester, "1/2")
    result.assert_outcomes(passed=6 - len(units[taken]), deselected=len(units[taken]))
    progress = [line.rsplit("[", 1)[-1] for line in result.stdout.lines if line.endswith("%]")]
    assert progress and progress[-1] == "100%]", result.stdout.str()
