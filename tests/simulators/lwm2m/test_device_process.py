"""``python -m conformance.simulators.lwm2m_device``: command line and control channel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path as FsPath
from typing import Any

from aiocoap import Code

from conformance.simulators.lwm2m_faults import FAULTS

from .conftest import WAIT, StubServer

MODULE = [sys.executable, "-m", "conformance.simulators.lwm2m_device"]


def test_list_faults() -> None:
    done = subprocess.run([*MODULE, "--list-faults"], capture_output=True, text=True,
                          timeout=WAIT, check=True)
    lines = done.stdout.splitlines()
    assert len(lines) == len(FAULTS)
    for line in lines:
        name, requirement, description = line.split("\t")
        assert FAULTS[name].requirement == requirement and description


def test_unknown_fault_is_refused_before_starting() -> None:
    done = subprocess.run([*MODULE, "--server", "coap://127.0.0.1:9", "--fault", "nope"],
                          capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 2
    assert done.stdout == ""  # stdout is the control channel: nothing but JSON lines there
    assert "nope" in done.stderr


def test_control_channel_session(spawn: Any, stub: StubServer, tmp_path: FsPath) -> None:
    device = spawn("--server", stub.uri, "--state-dir", str(tmp_path / "state"))
    ready = device.line()
    assert ready is not None and ready["event"] == "ready" and ready["protocol"] == "lwm2m"
    assert ready["endpoint"].startswith("urn:imei:") and ready["faults"] == []
    register = stub.next_event("register")
    assert ready["address"].endswith(":" + register.remote.hostinfo.rsplit(":", 1)[1])

    assert device.call("trigger_session") == {"id": 1, "ok": True}
    stub.next_event("update")
    answer = device.call("sideload_update", {"firmware_version": "FW-7",
                                             "host_software_version": "77"})
    assert answer["ok"] is True
    update = stub.next_event("update")
    assert stub.request(update.remote, Code.GET, "/3/0/3", accept=0).payload == b"FW-7"

    unknown = device.call("fly")
    assert unknown["ok"] is False and "fly" in unknown["error"]
    bad_params = device.call("sideload_update", {"firmware_version": 7})
    assert bad_params["ok"] is False
    device.write_raw("this is not json")
    garbage = device.line()
    assert garbage is not None and garbage["ok"] is False

    assert device.call("reboot")["ok"] is True
    stub.next_event("register")
    assert device.call("quit")["ok"] is True
    stub.next_event("deregister")
    assert device.line() is None  # stdout closed: the process is leaving
    assert device.proc.wait(WAIT) == 0
    assert (tmp_path / "state" / "state.json").is_file()


def test_state_dir_keeps_firmware_across_restarts(spawn: Any, stub: StubServer,
                                                  tmp_path: FsPath) -> None:
    state = str(tmp_path / "state")
    first = spawn("--server", stub.uri, "--state-dir", state)
    first.line()
    stub.next_event("register")
    assert first.call("sideload_update", {"firmware_version": "FW-8"})["ok"] is True
    stub.next_event("update")
    assert first.call("quit")["ok"] is True
    stub.next_event("deregister")
    second = spawn("--server", stub.uri, "--state-dir", state)
    second.line()
    event = stub.next_event("register")
    assert stub.request(event.remote, Code.GET, "/3/0/3", accept=0).payload == b"FW-8"


def test_stdin_eof_deregisters_and_exits(spawn: Any, stub: StubServer) -> None:
    device = spawn("--server", stub.uri, "--fault", "tlv-length-bug")
    ready = device.line()
    assert ready is not None and ready["faults"] == ["tlv-length-bug"]
    stub.next_event("register")
    assert device.proc.stdin is not None
    device.proc.stdin.close()
    stub.next_event("deregister")
    assert device.proc.wait(WAIT) == 0
