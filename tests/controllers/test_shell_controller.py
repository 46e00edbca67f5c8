"""The shell controller: declared commands with the lab's addresses and the action's variables."""

from __future__ import annotations

import os
import select
import time
from pathlib import Path
from typing import Any

import pytest

from conformance.controllers import make_controller
from conformance.controllers.shell import ShellController
from conformance.evidence.transcript import Transcript
from conformance.verdicts import Inconclusive

LAB = {"LAB_HOST": "127.0.0.1", "LAB_OMADM_URL": "http://127.0.0.1:4711/dm"}


def env_of(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs}


def shell(
    make_declaration: Any, tmp_path: Path, commands: dict[str, str], **kw: Any
) -> ShellController:
    dut = make_declaration({"type": "shell", "commands": commands, **kw})
    controller = make_controller(dut, tmp_path / "run")
    assert isinstance(controller, ShellController)
    controller.start(LAB)
    return controller


def test_update_passes_lab_addresses_and_new_versions(
    make_declaration: Any, tmp_path: Path
) -> None:
    out = tmp_path / "env.txt"
    controller = shell(make_declaration, tmp_path, {"sideload_update": f"env > {out}"})
    result = controller.sideload_update("FW-9.9", "41", host_model="Arrow22")
    assert result.ok and result.action == "sideload_update" and result.finished >= result.started
    env = env_of(out)
    assert env["LAB_OMADM_URL"] == LAB["LAB_OMADM_URL"]
    assert env["LAB_HOST"] == "127.0.0.1"
    assert env["DM_ACTION"] == "sideload_update"
    assert env["NEW_FW_VERSION"] == "FW-9.9"
    assert env["NEW_HOST_SW_VERSION"] == "41"
    assert env["HOST_SW_VERSION"] == "41"  # the host values after the update
    assert env["NEW_HOST_MODEL"] == "Arrow22" and env["HOST_MODEL"] == "Arrow22"
    assert env["HOST_MANUFACTURER"] == controller.declaration.host.manufacturer
    assert env["DEVICE_IMEI"] == controller.declaration.device.imei
    assert env["DEVICE_IMEISV"] == controller.declaration.device.imeisv
    assert "PATH" in env  # the caller's environment is kept


def test_set_host_values_are_the_host_variables(make_declaration: Any, tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    controller = shell(make_declaration, tmp_path, {"set_host_values": f"env > {out}"})
    controller.set_host_values("Maker", "M-2", "77", "ABC123")
    env = env_of(out)
    assert (env["HOST_MANUFACTURER"], env["HOST_MODEL"]) == ("Maker", "M-2")
    assert (env["HOST_SW_VERSION"], env["HOST_UNIQUE_ID"]) == ("77", "ABC123")
    assert "NEW_FW_VERSION" not in env


def test_non_zero_exit_is_inconclusive_with_status_and_stderr(
    make_declaration: Any, tmp_path: Path
) -> None:
    controller = shell(
        make_declaration, tmp_path, {"reboot": "echo out; echo modem busy >&2; exit 3"}
    )
    with pytest.raises(Inconclusive) as info:
        controller.reboot()
    text = str(info.value)
    assert "exited with status 3" in text and "modem busy" in text
    log = (tmp_path / "run" / "control-shell.log").read_text()
    assert "modem busy" in log and "exit status 3" in log


def test_timeout_is_inconclusive_and_kills_the_command_tree(
    make_declaration: Any, tmp_path: Path
) -> None:
    pidfile = tmp_path / "child.pid"
    command = f"echo started >&2; sleep 60 & echo $! > {pidfile}; wait"
    controller = shell(make_declaration, tmp_path, {"trigger_session": command}, timeout=0.5)
    began = time.monotonic()
    with pytest.raises(Inconclusive) as info:
        controller.trigger_session()
    assert time.monotonic() - began < 10
    assert "did not finish within 0.5 s" in str(info.value)
    # The output survived, so every holder of the pipes (the backgrounded sleep too) is gone.
    assert "started" in str(info.value)
    pid = int(pidfile.read_text())
    # SIGKILL is delivered asynchronously: wait (bounded) for the child's exit itself, which
    # a pidfd reports as readable, then check that it is gone or a zombie.
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return  # already reaped
    try:
        assert select.select([pidfd], [], [], 10)[0], f"child {pid} still alive 10 s after kill"
    finally:
        os.close(pidfd)
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().split(")")[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return  # reaped meanwhile
    assert state in ("Z", "X"), f"child {pid} in state {state} after its exit"


def test_action_without_command_is_inconclusive_with_the_reason(
    make_declaration: Any, tmp_path: Path
) -> None:
    controller = shell(make_declaration, tmp_path, {"reboot": "true"})
    assert controller.capabilities() == {"reboot"}
    with pytest.raises(Inconclusive) as info:
        controller.sideload_update("FW-2")
    assert str(info.value) == (
        "shell controller has no command for sideload_update in the declaration"
    )


def test_actions_are_in_the_transcript(make_declaration: Any, tmp_path: Path) -> None:
    transcript = Transcript()
    dut = make_declaration({"type": "shell", "commands": {"reboot": "true"}})
    controller = make_controller(dut, tmp_path, transcript=transcript)
    controller.start(LAB)
    controller.reboot()
    summaries = [(e.protocol, e.direction, e.summary) for e in transcript]
    assert ("control", "lab->device", "reboot") in summaries
    assert any(s.startswith("reboot done") for _, d, s in summaries if d == "note")


def test_unknown_host_value_is_a_harness_error(make_declaration: Any, tmp_path: Path) -> None:
    controller = shell(make_declaration, tmp_path, {"sideload_update": "true"})
    with pytest.raises(TypeError):
        controller.sideload_update("FW-2", host_colour="red")


def test_commands_run_in_the_declaration_folder(make_declaration: Any, tmp_path: Path) -> None:
    folder = tmp_path / "dut"
    folder.mkdir()
    script = folder / "act.sh"
    script.write_text('#!/bin/sh\necho "$DM_ACTION $DECLARATION_DIR" > "$DECLARATION_DIR/done"\n')
    script.chmod(0o755)
    dut = make_declaration({"type": "shell", "commands": {"reboot": "./act.sh"}})
    dut = dut.model_copy(update={"source": folder / "dut.yaml"})
    controller = make_controller(dut, tmp_path / "run")
    controller.start(LAB)
    controller.reboot()
    assert (folder / "done").read_text().split() == ["reboot", str(folder)]


def test_faults_need_the_simulator(make_declaration: Any, tmp_path: Path) -> None:
    dut = make_declaration({"type": "shell", "commands": {}})
    with pytest.raises(ValueError, match="need the simulator controller"):
        make_controller(dut, tmp_path, faults=["bad-digest"])
