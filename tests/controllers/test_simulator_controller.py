"""The simulator controller against a fake device speaking the control channel, and real ones."""

from __future__ import annotations

import importlib.util
import json
import os
import select
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.controllers import make_controller
from conformance.controllers.simulator import SimulatorController
from conformance.declaration import Timeouts, builtin_declaration, load_declaration
from conformance.errors import ConfigurationError
from conformance.verdicts import Inconclusive

# A device in a few lines: the control channel of docs/architecture.md, behaviour by FAKE_MODE.
FAKE_DEVICE = r"""
import argparse, json, os, subprocess, sys
parser = argparse.ArgumentParser()
for name in ("--dut", "--server", "--bootstrap", "--ca", "--state-dir"):
    parser.add_argument(name)
parser.add_argument("--fault", action="append", default=[])
args = parser.parse_args()
out = open(os.environ["FAKE_OUT"], "a")
out.write(json.dumps({"argv": sys.argv[1:]}) + "\n"); out.flush()
mode = os.environ.get("FAKE_MODE", "normal")
print("fake device starting", file=sys.stderr, flush=True)
if mode == "crash":
    print("fatal: cannot bind the notification port", file=sys.stderr, flush=True)
    sys.exit(7)
if mode == "grandchild":
    fd = os.open(os.environ["FAKE_FIFO"], os.O_WRONLY)
    subprocess.Popen(["sleep", "600"], stdout=fd)
    os.close(fd)
if mode != "silent":
    print("not json, just chatter", flush=True)
    ready = {"event": "ready", "notify": "127.0.0.1:40000", "pid": os.getpid()}
    print(json.dumps(ready), flush=True)
for line in sys.stdin:
    command = json.loads(line)
    out.write(json.dumps(command) + "\n"); out.flush()
    action = command["action"]
    if action == "quit":
        if mode == "ignore-quit":
            continue
        break
    if action == "reboot":
        continue  # never answers
    if action == "factory_reset":
        answer = {"id": command["id"], "ok": False, "error": "factory reset refused in state 3"}
    else:
        answer = {"id": command["id"], "ok": True, "detail": f"{action} {command['params']}"}
    print(json.dumps(answer), flush=True)
"""

LAB = {
    "LAB_HOST": "127.0.0.1",
    "LAB_OMADM_URL": "http://127.0.0.1:4711/dm",
    "LAB_OMADM_HTTPS_URL": "https://127.0.0.1:4712/dm",
    "LAB_CA_FILE": "/tmp/lab-ca.pem",
    "LAB_LWM2M_URI": "coap://127.0.0.1:5683",
    "LAB_LWM2M_DTLS_URI": "coaps://127.0.0.1:5684",
    "LAB_BOOTSTRAP_URI": "coap://127.0.0.1:5693",
    "LAB_BOOTSTRAP_DTLS_URI": "coaps://127.0.0.1:5694",
}


def gone(pid: int) -> bool:
    """Dead, or a zombie nobody reaped yet (in a container PID 1 may not reap)."""
    path = Path(f"/proc/{pid}/stat")
    try:
        return path.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    script = tmp_path / "fake_device.py"
    script.write_text(FAKE_DEVICE)
    out = tmp_path / "fake-out.jsonl"
    monkeypatch.setenv("FAKE_OUT", str(out))
    controllers: list[SimulatorController] = []

    def make(
        mode: str = "normal", faults: list[str] | None = None, **timeouts: float
    ) -> SimulatorController:
        monkeypatch.setenv("FAKE_MODE", mode)
        dut = builtin_declaration("omadm")
        if timeouts:
            dut = dut.model_copy(
                update={"timeouts": Timeouts(**{**dut.timeouts.model_dump(), **timeouts})}
            )
        controller = SimulatorController(
            dut, tmp_path / "run", faults=faults, program=[sys.executable, str(script)]
        )
        controllers.append(controller)
        return controller

    def received() -> list[dict[str, Any]]:
        return [json.loads(line) for line in out.read_text().splitlines()]

    make.received = received  # type: ignore[attr-defined]
    yield make
    for controller in controllers:
        controller.stop()


def test_start_ready_actions_stop(fake: Any, tmp_path: Path) -> None:
    controller = fake(faults=["bad-digest"])
    controller.start(LAB)
    assert controller.ready_info["notify"] == "127.0.0.1:40000"
    pid = controller.ready_info["pid"]
    assert controller.pid == pid

    result = controller.sideload_update("FW-2.0.0", "41", host_model="Arrow22")
    assert result.ok and result.action == "sideload_update"
    assert "FW-2.0.0" in result.detail

    with pytest.raises(Inconclusive, match="could not factory_reset: factory reset refused"):
        controller.factory_reset()

    controller.stop()
    assert gone(pid)
    argv, *commands = fake.received()
    dut_file = str(builtin_declaration("omadm").source)
    assert argv["argv"] == [
        "--dut", dut_file,
        "--server", LAB["LAB_OMADM_URL"],
        "--ca", LAB["LAB_CA_FILE"],
        "--state-dir", str(tmp_path / "run" / "device-omadm-state"),
        "--fault", "bad-digest",
    ]  # fmt: skip
    assert commands[0] == {
        "id": 1,
        "action": "sideload_update",
        "params": {
            "firmware_version": "FW-2.0.0",
            "host_software_version": "41",
            "host_model": "Arrow22",
        },
    }
    assert commands[1]["action"] == "factory_reset"
    assert commands[-1]["action"] == "quit"
    log = (tmp_path / "run" / "device-omadm.log").read_text()
    assert "fake device starting" in log and "not json, just chatter" in log


def test_unanswered_action_is_inconclusive_after_the_action_timeout(fake: Any) -> None:
    controller = fake()
    controller.action_timeout = 0.5
    controller.start(LAB)
    began = time.monotonic()
    with pytest.raises(Inconclusive, match=r"did not answer reboot within 0\.5 s"):
        controller.reboot()
    assert time.monotonic() - began < 5
    controller.trigger_session()  # the channel still works after a lost answer


def test_crash_before_ready_is_inconclusive_with_the_log(fake: Any) -> None:
    controller = fake("crash")
    with pytest.raises(Inconclusive) as info:
        controller.start(LAB)
    assert "exited (status 7) before it was ready" in str(info.value)
    assert "cannot bind the notification port" in str(info.value)


def test_never_ready_is_inconclusive_and_killed(fake: Any) -> None:
    controller = fake("silent", session=1)
    with pytest.raises(Inconclusive, match="not ready within 1 s"):
        controller.start(LAB)
    assert controller.pid is None  # stopped


def test_stop_kills_a_device_that_ignores_quit_and_its_children(
    fake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = tmp_path / "alive"
    os.mkfifo(fifo)
    monkeypatch.setenv("FAKE_FIFO", str(fifo))
    # Our end of the FIFO reads EOF only once every writer (device and grandchild) is dead.
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        controller = fake("grandchild")
        controller.quit_grace = 0.2
        controller.start(LAB)
        pid = controller.pid
        assert pid is not None
        controller.stop()
        assert gone(pid)
        ready, _, _ = select.select([reader], [], [], 10)
        assert ready and os.read(reader, 1) == b"", "a child of the device survived stop()"
    finally:
        os.close(reader)


def test_declaration_without_file_is_written_private(tmp_path: Path) -> None:
    dut = builtin_declaration("omadm").model_copy(update={"source": None})
    controller = SimulatorController(dut, tmp_path)
    argv = controller.command_line(LAB)
    written = Path(argv[argv.index("--dut") + 1])
    assert written.parent == tmp_path
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    again = load_declaration(written)
    assert again.omadm is not None and dut.omadm is not None
    assert (
        again.omadm.client_secret.get_secret_value() == dut.omadm.client_secret.get_secret_value()
    )
    assert again.model_dump(exclude={"source"}) == dut.model_dump(exclude={"source"})


def test_https_omadm_gets_the_https_url_and_the_ca(tmp_path: Path) -> None:
    dut = builtin_declaration("omadm")
    assert dut.omadm is not None
    dut = dut.model_copy(update={"omadm": dut.omadm.model_copy(update={"transport": "https"})})
    argv = SimulatorController(dut, tmp_path).command_line(LAB)
    assert argv[argv.index("--server") + 1] == LAB["LAB_OMADM_HTTPS_URL"]
    assert argv[argv.index("--ca") + 1] == LAB["LAB_CA_FILE"]


def test_lwm2m_psk_with_bootstrap_uses_the_dtls_addresses(tmp_path: Path) -> None:
    dut = builtin_declaration("lwm2m")
    assert dut.lwm2m is not None and dut.lwm2m.security == "psk" and dut.features.bootstrap
    argv = make_controller(dut, tmp_path).command_line(LAB)  # type: ignore[attr-defined]
    assert argv[argv.index("--server") + 1] == LAB["LAB_LWM2M_DTLS_URI"]
    assert argv[argv.index("--bootstrap") + 1] == LAB["LAB_BOOTSTRAP_DTLS_URI"]
    # firmware may come from the lab's HTTPS package server: the device trusts the lab CA
    assert argv[argv.index("--ca") + 1] == LAB["LAB_CA_FILE"]
    assert argv[:3] == [sys.executable, "-m", "conformance.simulators.lwm2m_device"]


def test_nosec_lwm2m_without_bootstrap(tmp_path: Path) -> None:
    dut = builtin_declaration("lwm2m")
    assert dut.lwm2m is not None
    dut = dut.model_copy(
        update={
            "lwm2m": dut.lwm2m.model_copy(update={"security": "nosec"}),
            "features": dut.features.model_copy(update={"bootstrap": False}),
        }
    )
    argv = SimulatorController(dut, tmp_path).command_line(LAB)
    assert argv[argv.index("--server") + 1] == LAB["LAB_LWM2M_URI"]
    assert "--bootstrap" not in argv


def test_missing_lab_address_is_a_configuration_error(tmp_path: Path) -> None:
    controller = SimulatorController(builtin_declaration("lwm2m"), tmp_path)
    with pytest.raises(ConfigurationError, match="LAB_LWM2M_DTLS_URI"):
        controller.command_line({"LAB_LWM2M_URI": "coap://127.0.0.1:5683"})


def test_declared_and_matrix_faults_are_merged(tmp_path: Path) -> None:
    dut = builtin_declaration("omadm")
    dut = dut.model_copy(update={"control": dut.control.model_copy(update={"faults": ["a", "b"]})})
    controller = make_controller(dut, tmp_path, faults=["b", "c"])
    assert isinstance(controller, SimulatorController)
    assert controller.faults == ["a", "b", "c"]


@pytest.mark.parametrize("protocol", ["omadm", "lwm2m"])
def test_real_reference_device_starts_and_stops(protocol: str, tmp_path: Path) -> None:
    if importlib.util.find_spec(f"conformance.simulators.{protocol}_device") is None:
        pytest.skip(f"conformance.simulators.{protocol}_device is not written yet")
    controller = make_controller(builtin_declaration(protocol), tmp_path)  # type: ignore[arg-type]
    assert isinstance(controller, SimulatorController)
    try:
        controller.start(LAB)  # nothing listens there: the device must still come up
        pid = controller.pid
        assert pid is not None
        if protocol == "omadm":
            assert ":" in controller.ready_info["notify"]
        # A local action needs no server: the device answers on its control channel.
        assert controller.set_host_values("Maker", "M-2", "77", "ABC123").ok
    finally:
        controller.stop()
    assert gone(pid)
