"""The device as its own process: command line, ready line, JSON actions on stdin, quit."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from conformance.simulators import omadm_mo as mo
from conformance.simulators.omadm_faults import FAULTS

WAIT = 20.0
COMMAND = [sys.executable, "-m", "conformance.simulators.omadm_device"]


class DeviceProcess:
    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [*COMMAND, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.log: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put)),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.log.append)),
        ]
        for t in self._readers:
            t.daemon = True
            t.start()
        self._next = 0

    @staticmethod
    def _pump(stream: IO[str], sink: Callable[[Any], None]) -> None:
        for line in stream:
            sink(line)
        sink(None)

    def read(self) -> dict[str, Any]:
        line = self.lines.get(timeout=WAIT)
        assert line is not None, "the device closed stdout; log:\n" + "".join(
            filter(None, self.log)
        )
        message: dict[str, Any] = json.loads(line)
        return message

    def send_raw(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def call(self, action: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        self.send_raw(json.dumps({"id": self._next, "action": action, "params": params}))
        answer = self.read()
        assert answer["id"] == self._next
        return answer

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=WAIT)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., DeviceProcess]]:
    made: list[DeviceProcess] = []

    def run(*args: str) -> DeviceProcess:
        proc = DeviceProcess(["--state-dir", str(tmp_path / "state"), *args])
        made.append(proc)
        return proc

    yield run
    for proc in made:
        proc.close()


def test_list_faults_prints_the_registry() -> None:
    out = subprocess.run(
        [*COMMAND, "--list-faults"], capture_output=True, text=True, timeout=WAIT, check=True
    )
    for fault in FAULTS.values():
        assert fault.name in out.stdout and fault.requirement in out.stdout


def test_unknown_fault_stops_before_ready() -> None:
    out = subprocess.run(
        [*COMMAND, "--fault", "made-up"], capture_output=True, text=True, timeout=WAIT
    )
    assert out.returncode == 2
    assert out.stdout == "" and "made-up" in out.stderr


def test_ready_actions_and_quit(start: Callable[..., DeviceProcess], tmp_path: Path) -> None:
    dev = start("--fault", "stale-host-values")
    ready = dev.read()
    assert ready["event"] == "ready" and ready["pid"] == dev.proc.pid
    host, port = ready["notify"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0

    ok = dev.call(
        "set_host_values", manufacturer="H", model="M", software_version="9", unique_id="U1"
    )
    assert ok["ok"] is True
    update = dev.call("sideload_update", firmware_version="FW-7", host_software_version="10")
    assert update["ok"] is True and update["result"]["session_id"]
    assert dev.call("sideload_update")["ok"] is False  # firmware_version is required
    bad = dev.call("jump")
    assert bad["ok"] is False and "unknown action" in bad["error"]
    dev.send_raw("this is not json")
    assert dev.read()["ok"] is False
    assert dev.call("trigger_session")["ok"] is True  # no --server: logged, still answers
    assert dev.call("reboot")["ok"] is True
    assert dev.call("quit") == {"id": dev._next, "ok": True}
    assert dev.proc.wait(timeout=WAIT) == 0
    state = json.loads((tmp_path / "state" / "omadm-device-state.json").read_text())
    assert state["values"]["./DevDetail/FwV"] == {"chr": "FW-7"}
    assert state["values"][mo.HOST_NODES["software_version"]] == {"chr": "9"}  # stale fault


def test_end_of_stdin_stops_the_device(start: Callable[..., DeviceProcess]) -> None:
    dev = start()
    assert dev.read()["event"] == "ready"
    assert dev.proc.stdin is not None
    dev.proc.stdin.close()
    assert dev.proc.wait(timeout=WAIT) == 0


def test_process_session_against_the_lab(
    start: Callable[..., DeviceProcess], rig: Callable[..., Any], declaration: Any
) -> None:
    # The rig's own in-process device stays idle; the process is the one that talks.
    r = rig()
    dev = start("--server", r.lab.url)
    assert dev.read()["event"] == "ready"
    r.lab.expect_session()
    assert dev.call("trigger_session")["ok"] is True
    session = r.lab.wait_session(WAIT)
    assert session.get("./DevInfo/DevId").data == f"IMEI:{declaration.device.imei}"
    session.close()
    assert dev.call("quit")["ok"] is True
    assert dev.proc.wait(timeout=WAIT) == 0
    assert any("ended: completed" in line for line in dev.log)
