"""The manual controller: INCONCLUSIVE without an operator, prompt and countdown with one."""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from conformance.controllers import make_controller
from conformance.controllers.manual import PROMPTS, ManualController, open_terminal
from conformance.declaration import ACTIONS
from conformance.verdicts import Inconclusive


def test_non_interactive_run_is_inconclusive_at_once(
    make_declaration: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    dut = make_declaration({"type": "manual", "countdown": 120})
    controller = make_controller(dut, tmp_path)
    controller.start({})
    began = time.monotonic()
    with pytest.raises(Inconclusive, match="sideload_update needs an operator: CI is set"):
        controller.sideload_update("FW-2.0")
    assert time.monotonic() - began < 2  # not the 120 s countdown


class Operator:
    """The other side of a pty: reads the prompt, answers once the countdown shows."""

    def __init__(self, answer: bytes | None) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.terminal: IO[str] = open_terminal(os.ttyname(slave))
        os.close(slave)
        self.seen = b""
        self._answer = answer
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        answered = False
        while not self._done.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                continue
            try:
                self.seen += os.read(self.master, 4096)
            except OSError:
                return
            if not answered and self._answer is not None and b"s left > " in self.seen:
                os.write(self.master, self._answer)
                answered = True

    def close(self) -> None:
        if self._done.is_set():
            return
        self._done.set()
        self._thread.join(timeout=5)
        self.terminal.close()
        os.close(self.master)


@pytest.fixture
def operator_factory() -> Iterator[Any]:
    made: list[Operator] = []

    def make(answer: bytes | None) -> Operator:
        made.append(Operator(answer))
        return made[-1]

    yield make
    for operator in made:
        operator.close()


def manual(
    make_declaration: Any, tmp_path: Path, terminal: IO[str], countdown: float
) -> ManualController:
    dut = make_declaration({"type": "manual", "countdown": countdown})
    controller = ManualController(dut, tmp_path, terminal=terminal)
    controller.start({})
    return controller


def test_operator_confirms_with_enter(
    make_declaration: Any, tmp_path: Path, operator_factory: Any
) -> None:
    operator = operator_factory(b"\n")
    controller = manual(make_declaration, tmp_path, operator.terminal, countdown=30)
    result = controller.sideload_update("FW-7.0", "88")
    assert result.ok and result.detail == "confirmed by the operator"
    assert result.duration < 10


def test_operator_says_no(make_declaration: Any, tmp_path: Path, operator_factory: Any) -> None:
    operator = operator_factory(b"n\n")
    controller = manual(make_declaration, tmp_path, operator.terminal, countdown=30)
    with pytest.raises(Inconclusive, match="the operator could not do reboot"):
        controller.reboot()


def test_countdown_runs_out(make_declaration: Any, tmp_path: Path, operator_factory: Any) -> None:
    operator = operator_factory(None)
    controller = manual(make_declaration, tmp_path, operator.terminal, countdown=0.3)
    with pytest.raises(Inconclusive, match=r"did not confirm factory_reset within 0\.3 s"):
        controller.factory_reset()


def test_prompt_names_the_action_and_its_values(
    make_declaration: Any, tmp_path: Path, operator_factory: Any
) -> None:
    operator = operator_factory(b"\n")
    controller = manual(make_declaration, tmp_path, operator.terminal, countdown=30)
    controller.sideload_update("FW-7.0", "88")
    operator.close()
    shown = operator.seen.decode()
    assert "sideload/USB to firmware FW-7.0" in shown
    assert "host software 88" in shown
    assert "s left > " in shown


def test_every_action_has_a_prompt() -> None:
    """A new action must say what the operator is asked to do (else the case ERRORs)."""
    assert set(PROMPTS) == set(ACTIONS) - {"start", "stop"}
