"""Lwm2mDevice.restart_renewal: an Update the lab asks for before a report window, so that a
lifetime renewal cannot pass for the report (ATT-DMIG-4.4, the FOTA install).

It never decides a verdict: a client that ignores, refuses or leaves the trigger unanswered
gets a transcript note and the window goes on unguarded (int-104 judges the trigger); a
queue-mode client that sleeps is not woken for it. The whole flow runs on the reference device
in the fault matrix (renewal-at-update, renewal-at-fota, elsewhere-trigger-ignored).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.verdicts import DeviceFault

REPORT = SimpleNamespace(location="rd/1")


def device(execute: Callable[[str], Any], *, reported: object = REPORT, queue: bool = False,
           quiet: float = 0.0) -> SimpleNamespace:
    """A device facade: its registration (``queue`` mode, last heard ``quiet`` s ago), its
    answer to Execute, and the Register/Update the lab has after it (``reported``, or None)."""
    notes: list[str] = []
    executed: list[str] = []
    registration = SimpleNamespace(queue=queue, last_contact=time.time() - quiet, lwm2m="1.1")

    def run(path: str) -> Any:
        executed.append(path)
        return execute(path)

    facade = SimpleNamespace(
        ep="urn:dev", timeouts=SimpleNamespace(request=0.1), notes=notes, executed=executed,
        lw=SimpleNamespace(registration=lambda ep: registration),
        lab=SimpleNamespace(transcript=SimpleNamespace(
            note=lambda protocol, text, device: notes.append(text))),
        server_path=lambda resource_id: f"/1/0/{resource_id}",
        execute=run,
        wait_report_since=lambda since, timeout: reported,
    )
    facade._unguarded = functools.partial(Lwm2mDevice._unguarded, facade)
    return facade


def restart(facade: SimpleNamespace) -> object:
    return Lwm2mDevice.restart_renewal(facade, "the window")  # type: ignore[arg-type]


def changed(path: str) -> SimpleNamespace:
    return SimpleNamespace(code="2.04")


def refused(path: str) -> SimpleNamespace:
    return SimpleNamespace(code="4.05")


def silent(path: str) -> SimpleNamespace:
    raise DeviceFault(f"Execute {path} went unanswered twice")


def test_the_triggered_report_is_returned_without_a_note() -> None:
    facade = device(changed)
    assert restart(facade) is REPORT
    assert facade.executed == ["/1/0/8"]
    assert facade.notes == []


@pytest.mark.parametrize(("execute", "reported", "why"), [
    (changed, None, "neither an Update nor a Register within 0.1 s"),
    (refused, REPORT, "answered 4.05"),
    (silent, REPORT, "went unanswered twice"),
], ids=["no-update", "refused", "silent"])
def test_a_trigger_without_its_update_is_noted_not_judged(
        execute: Callable[[str], Any], reported: object, why: str) -> None:
    facade = device(execute, reported=reported)
    assert restart(facade) is None
    assert len(facade.notes) == 1
    assert why in facade.notes[0]
    assert "before the window" in facade.notes[0]


def test_a_sleeping_queue_mode_client_is_not_woken_for_it() -> None:
    facade = device(changed, queue=True, quiet=600.0)
    assert restart(facade) is None
    assert facade.executed == []
    assert "sleeps in queue mode (quiet 600 s)" in facade.notes[0]


def test_a_queue_mode_client_still_listening_is_asked() -> None:
    facade = device(changed, queue=True, quiet=1.0)
    assert restart(facade) is REPORT
    assert facade.executed == ["/1/0/8"]
