"""The background runs of tests/conftest.py (what the fault matrices and the interop tests use
for their runs that mostly wait): made once however many tests read them, on however many
pytest-xdist workers; read after the other tests; a run that breaks fails its readers."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = (Path(__file__).parent / "conftest.py").read_text(encoding="utf-8")

# Each run counts how often it was made in a file of its own folder (shared by the workers).
READERS = """
import os
import pytest

def background_run(name):
    def run(folder):
        count = folder / "made"
        count.write_text(str(int(count.read_text()) + 1 if count.exists() else 1))
        (folder / "out.txt").write_text(name * 2)
    return {"a": 2.0, "b": 1.0}[name], run

def test_plain():
    pass

@pytest.mark.background("a")
def test_reads_a(background):
    assert (background("a") / "out.txt").read_text() == "aa"

@pytest.mark.background("a", "b")
def test_reads_both(background):
    assert (background("b") / "out.txt").read_text() == "bb"
    assert (background("a") / "made").read_text() == "1"
    assert (background("b") / "made").read_text() == "1"

def test_last_plain():
    pass
"""


def test_runs_are_read_after_the_other_tests(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner=READERS)
    result = pytester.runpytest("-v", "-p", "no:randomly")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*::test_plain PASSED*", "*::test_last_plain PASSED*",
                                 "*::test_reads_a PASSED*", "*::test_reads_both PASSED*"])


@pytest.mark.slow
def test_a_run_is_made_once_for_all_workers(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner=READERS)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:randomly")
    result.assert_outcomes(passed=4)


@pytest.mark.slow
def test_runs_outlive_the_worker_that_makes_them(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three workers: the worker that claimed the runs (one at a time here) and finished its
    own quick tests still makes every run before its session ends."""
    monkeypatch.setenv("BACKGROUND_RUNS", "1")
    monkeypatch.setenv("BACKGROUND_LIMIT", "60")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner="""
        import time
        import pytest

        def background_run(name):
            def run(folder):
                time.sleep(0.5)  # stands for a run that waits on a device
                (folder / "out.txt").write_text(name)
            return 1.0, run

        @pytest.mark.parametrize("n", range(5))
        def test_quick(n):
            assert n >= 0

        @pytest.mark.background("a", "b", "c")
        def test_reads_all(background):
            assert [(background(n) / "out.txt").read_text() for n in "abc"] == list("abc")
    """)
    result = pytester.runpytest_subprocess("-n", "3", "-p", "no:randomly")
    result.assert_outcomes(passed=6)


def test_a_broken_run_fails_its_readers(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner="""
        import pytest

        def background_run(name):
            def run(folder):
                raise ValueError("the device never answered")
            return 1.0, run

        @pytest.mark.background("x")
        def test_reads(background):
            background("x")

        @pytest.mark.background("x")
        def test_reads_unmarked(background):
            background("y")
    """)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*background run test_inner.x broke*",
                                 "*ValueError: the device never answered*",
                                 "*reads 'y' without marking it*"])
