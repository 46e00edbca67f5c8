"""The shell controller: declared commands with the lab's addresses and the action's variables."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conformance.controllers import make_controller
from conformance.controllers.shell import ShellController
from conformance.evidence.transcript import Entry, Transcript
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
    assert "started" in str(info.value)  # the output survived the kill
    assert gone(int(pidfile.read_text()))  # the backgrounded sleep too: the whole group


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


# --------------------------------------------------------------------------- device life cycle


def fifo_line(path: Path, timeout: float = 10) -> str:
    """The first line a command writes into the FIFO at ``path`` (waits for the writer)."""
    got: list[str] = []

    def read() -> None:
        with path.open(encoding="utf-8") as f:
            got.append(f.readline().strip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if not got:
        # Unblock the reader (it waits for a writer that never came) before failing.
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"nothing written to {path} within {timeout} s")
    return got[0]


def alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(")")[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def gone(pid: int, timeout: float = 10) -> bool:
    """Whether process ``pid`` ends within ``timeout`` s (a kill is delivered asynchronously)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)  # readable once it has exited
        return bool(readable)
    finally:
        os.close(fd)


def test_background_child_does_not_block_an_action(make_declaration: Any, tmp_path: Path) -> None:
    # The child inherits stdout/stderr and outlives the command: the action must not wait for
    # it, and stop() ends it (it is in the group the action started).
    pidfile = tmp_path / "child.pid"
    command = f"sleep 60 & echo $! > {pidfile}; echo kicked"
    controller = shell(make_declaration, tmp_path, {"trigger_session": command}, timeout=20)
    began = time.monotonic()
    result = controller.trigger_session()
    assert time.monotonic() - began < 10
    assert "kicked" in result.detail
    child = int(pidfile.read_text())
    assert alive(child)
    controller.stop()
    assert gone(child)


def test_start_runs_the_device_with_this_runs_addresses(
    make_declaration: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "dut"
    folder.mkdir()
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)
    (folder / "client.sh").write_text(
        f'#!/bin/bash\necho "client up at $LAB_OMADM_URL"\necho "$$ $PWD $DM_ACTION" > {fifo}\n'
        "exec sleep 60\n"
    )
    (folder / "client.sh").chmod(0o755)
    stopped = tmp_path / "stopped"
    commands = {"start": "./client.sh", "stop": f'echo "$DM_ACTION $LAB_HOST" > {stopped}'}
    dut = make_declaration({"type": "shell", "commands": commands})
    dut = dut.model_copy(update={"source": folder / "dut.yaml"})
    transcript = Transcript()
    controller = make_controller(dut, tmp_path / "run", transcript=transcript)
    assert isinstance(controller, ShellController)
    # An unrelated process in its own group: stop() must not touch it.
    bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        controller.start(LAB)
        pid, cwd, action = fifo_line(fifo).split()
        assert (cwd, action) == (str(folder), "start")
        assert alive(int(pid))
        controller.stop()
        assert gone(int(pid))
        assert stopped.read_text().split() == ["stop", "127.0.0.1"]
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
    log = (tmp_path / "run" / "device.log").read_text()
    assert f"client up at {LAB['LAB_OMADM_URL']}" in log and "stopped" in log
    notes = [e.summary for e in transcript]
    assert any(s.startswith("device started") for s in notes)


def test_cold_start_is_the_reboot_of_a_process_device(
    make_declaration: Any, tmp_path: Path
) -> None:
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)
    controller = shell(
        make_declaration, tmp_path, {"start": f"echo $$ > {fifo}; exec sleep 60"}
    )
    try:
        assert "reboot" in controller.capabilities()
        first = int(fifo_line(fifo))
        controller.reboot()
        second = int(fifo_line(fifo))
        assert second != first and gone(first) and alive(second)
        controller.cold_start()
        third = int(fifo_line(fifo))
        assert gone(second) and alive(third)
    finally:
        controller.stop()
    assert gone(third)


def test_cold_start_without_start_is_inconclusive(make_declaration: Any, tmp_path: Path) -> None:
    controller = shell(make_declaration, tmp_path, {"reboot": "true"})
    with pytest.raises(Inconclusive, match="no start command"):
        controller.cold_start()


def test_device_that_dies_at_once_is_in_the_transcript(
    make_declaration: Any, tmp_path: Path
) -> None:
    transcript = Transcript()
    ended = threading.Event()
    def heard(entry: Entry) -> None:
        if "ended with exit status" in entry.summary:
            ended.set()

    transcript.subscribe(heard)
    dut = make_declaration({"type": "shell", "commands": {"start": "./no-such-client"}})
    controller = make_controller(dut, tmp_path / "run", transcript=transcript)
    controller.start(LAB)
    try:
        assert ended.wait(10)
    finally:
        controller.stop()
    assert any("exit status 127" in e.summary for e in transcript)
    assert "No such file" in (tmp_path / "run" / "device.log").read_text()
