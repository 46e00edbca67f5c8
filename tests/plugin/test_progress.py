"""Progress lines on long waits reach the terminal, past output capturing."""

from __future__ import annotations

import threading

import pytest

from conformance.plugin import progress


def test_progress_line_is_shown_during_a_captured_case(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from conformance.plugin.progress import progress

        @pytest.mark.requirement("CDR-DVM-1533")
        def test_wait():
            print("captured, not shown")
            progress("waiting for the post-update session", seconds_left=42.4)
        """
    )
    result = pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*… waiting for the post-update session (42 s left)*"])
    assert "captured, not shown" not in result.stdout.str()


def test_waiting_repeats_the_countdown_until_the_block_ends() -> None:
    lines: list[str] = []
    ticked = threading.Event()

    def writer(line: str) -> None:
        lines.append(line)
        if len(lines) >= 3:
            ticked.set()

    previous = progress.install(writer)
    try:
        with progress.waiting("FOTA download", seconds=120, every=0.01):
            assert ticked.wait(5), "the ticker never repeated the line"
    finally:
        progress.install(previous)
    assert lines[0] == "… FOTA download (120 s left)"
    assert all(line.startswith("… FOTA download (") for line in lines)
    count = len(lines)
    assert not any(t.name == "progress" and t.is_alive() for t in threading.enumerate())
    assert len(lines) == count  # nothing after the block ended


def test_without_a_pytest_run_progress_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    previous = progress.install(None)
    try:
        progress.progress("manual step: press the reset button", None)
    finally:
        progress.install(previous)
    assert capsys.readouterr().err == "… manual step: press the reset button\n"
