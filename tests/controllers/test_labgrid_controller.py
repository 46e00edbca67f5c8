"""The labgrid controller on a real labgrid bench: power, ownership of the place, failures.

The AT scenarios themselves run through labgrid in test_serial_controller.py; here is what only
a bench has: the power switch (the exporter's NetworkPowerPort, or a driver of ``control.env``)
and the place, which the run holds alone and always gives back.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from conformance.controllers import labgrid as labgrid_controller
from conformance.controllers import make_controller
from conformance.controllers.labgrid import LabgridController
from conformance.declaration import DeclarationError, parse_declaration
from conformance.errors import ConfigurationError
from conformance.verdicts import Inconclusive

COMMANDS = {"trigger_session": "AT+XDMSESS", "factory_reset": "AT+XRESET"}


@pytest.fixture
def labgrid_for(labgrid_bench: Any, make_declaration: Any, tmp_path: Path) -> Any:
    """``labgrid_for(**control)``: a labgrid controller of the bench (stopped at the end)."""
    lab, _, _ = labgrid_bench
    made: list[LabgridController] = []

    def make(**control: Any) -> LabgridController:
        section = {
            "type": "labgrid",
            "coordinator": lab.coordinator,
            "place": lab.place,
            "commands": COMMANDS,
            "timeout": 2,
            "power_off": 0.1,
            **control,
        }
        controller = make_controller(make_declaration(section), tmp_path)
        assert isinstance(controller, LabgridController)
        made.append(controller)
        return controller

    yield make
    for controller in made:
        controller.stop()


def test_reboot_is_a_power_cycle_through_the_place_switch(
    labgrid_bench: Any, labgrid_modem: Any, labgrid_for: Any
) -> None:
    _, _, switch = labgrid_bench
    modem = labgrid_modem(responses={"AT+XRESET": ["OK"], "AT+XDMSESS": ["OK"], "AT": ["OK"]})
    controller = labgrid_for(power_cycle=["reboot", "factory_reset"])
    controller.start({})
    assert controller.capabilities() == {"trigger_session", "factory_reset", "reboot"}
    result = controller.reboot()
    assert switch.switched() == ["off", "on"]
    # Done once the module answers again.
    assert result.dialogue == ("power cycled by NetworkPowerDriver (0.1 s off)", "> AT", "< OK")
    result = controller.factory_reset()  # the AT command first, then the power cycle
    assert [modem.commands.get(timeout=5) for _ in range(3)] == ["AT", "AT+XRESET", "AT"]
    assert switch.switched() == ["off", "on"]
    assert result.dialogue[:2] == ("> AT+XRESET", "< OK")
    assert result.dialogue[2].startswith("power cycled") and result.dialogue[-1] == "< OK"
    # The AT port still answers after the power cycle.
    assert controller.trigger_session().dialogue[-1] == "< OK"
    assert switch.switched() == []


def test_env_file_names_the_power_driver(
    labgrid_bench: Any, labgrid_modem: Any, labgrid_for: Any, tmp_path: Path
) -> None:
    lab, _, switch = labgrid_bench
    labgrid_modem(responses={"AT+XDMSESS": ["OK"]})  # "AT" gets ERROR: alive all the same
    state = tmp_path / "power-state"
    env = tmp_path / "bench-env.yaml"
    env.write_text(
        "targets:\n"
        "  main:\n"
        "    resources:\n"
        "      RemotePlace:\n"
        f"        name: {lab.place}\n"
        "    drivers:\n"
        "      ExternalPowerDriver:\n"
        f"        cmd_on: sh -c 'echo on >> {state}'\n"
        f"        cmd_off: sh -c 'echo off >> {state}'\n"
        "      SerialDriver: {}\n"
    )
    controller = labgrid_for(env=env)
    controller.start({})
    result = controller.reboot()
    assert state.read_text().split() == ["off", "on"]
    assert result.dialogue == ("power cycled by ExternalPowerDriver (0.1 s off)", "> AT", "< ERROR")
    assert switch.switched() == []  # the env's driver, not the exported switch
    assert controller.trigger_session().dialogue[-1] == "< OK"


def test_a_module_silent_after_power_on_is_inconclusive(
    labgrid_bench: Any, labgrid_modem: Any, labgrid_for: Any
) -> None:
    labgrid_modem(responses={"AT": []})  # never answers: still off, or dead
    controller = labgrid_for(boot_timeout=0.5)
    controller.start({})
    with pytest.raises(
        Inconclusive, match=r"no answer to AT within 0.5 s of powering the module on"
    ):
        controller.reboot()


def test_the_place_is_held_for_the_run_and_released_at_stop(
    labgrid_bench: Any, labgrid_modem: Any, labgrid_for: Any
) -> None:
    lab, _, _ = labgrid_bench
    labgrid_modem()
    controller = labgrid_for()
    controller.start({})
    assert lab.holder().endswith("/" + _user())
    controller.stop()
    assert lab.holder() == ""
    controller.stop()  # idempotent


def test_a_place_in_use_is_inconclusive_and_left_to_its_holder(
    labgrid_bench: Any, labgrid_modem: Any, labgrid_for: Any
) -> None:
    lab, _, _ = labgrid_bench
    labgrid_modem()
    lab.client("acquire", user="other-lab-member")
    try:
        with pytest.raises(Inconclusive, match=r"place bench-1 is in use by \S+/other-lab-member"):
            labgrid_for().start({})
        assert lab.holder().endswith("/other-lab-member")
    finally:
        lab.client("release", user="other-lab-member")


def test_one_bench_per_process(labgrid_bench: Any, labgrid_modem: Any, labgrid_for: Any) -> None:
    labgrid_modem(responses={"AT+XDMSESS": ["OK"]})
    first, second = labgrid_for(), labgrid_for(place="bench-2")
    first.start({})
    with pytest.raises(
        ConfigurationError, match="this process already drives labgrid place bench-1"
    ):
        second.start({})
    assert first.trigger_session().dialogue[-1] == "< OK"  # the first one is untouched
    first.stop()
    third = labgrid_for()
    third.start({})  # the process is free again
    assert third.trigger_session().dialogue[-1] == "< OK"


def test_losing_the_race_for_a_place_leaves_it_to_the_winner(
    labgrid_bench: Any, labgrid_modem: Any, labgrid_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab, _, _ = labgrid_bench
    labgrid_modem()
    real_rpc = LabgridController._rpc

    def other_acquires_first(self: LabgridController, call: Any, what: str) -> None:
        if what == "acquire":  # the place looked free; someone takes it just before us
            lab.client("acquire", user="faster-lab-member")
        real_rpc(self, call, what)

    monkeypatch.setattr(LabgridController, "_rpc", other_acquires_first)
    try:
        with pytest.raises(Inconclusive, match="cannot acquire labgrid place bench-1"):
            labgrid_for().start({})
        assert lab.holder().endswith("/faster-lab-member")  # our clean-up did not free it
    finally:
        lab.client("release", user="faster-lab-member")


def test_unknown_place_names_the_known_ones(labgrid_bench: Any, labgrid_for: Any) -> None:
    with pytest.raises(
        Inconclusive, match=r"control.place: no place bench-9 .*\(places: bench-1\)"
    ):
        labgrid_for(place="bench-9").start({})


@pytest.mark.parametrize("interrupt", [False, True], ids=["error", "ctrl-c"])
def test_a_start_that_fails_after_acquiring_releases_the_place(
    labgrid_bench: Any,
    labgrid_modem: Any,
    labgrid_for: Any,
    monkeypatch: pytest.MonkeyPatch,
    interrupt: bool,
) -> None:
    lab, _, _ = labgrid_bench
    labgrid_modem()
    if interrupt:
        seen: list[str] = []

        def ctrl_c(self: LabgridController) -> None:
            seen.append(lab.holder())  # the place was ours when Ctrl-C came
            raise KeyboardInterrupt

        monkeypatch.setattr(LabgridController, "_serial_port", ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            labgrid_for().start({})
        assert seen[0].endswith("/" + _user())
    else:
        with pytest.raises(Inconclusive, match="cannot open its serial port at-port"):
            labgrid_for(serial="at-port").start({})
    assert lab.holder() == ""


@pytest.mark.parametrize("listening", [False, True], ids=["refused", "silent"])
def test_a_coordinator_out_of_reach_is_inconclusive(
    make_declaration: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listening: bool
) -> None:
    monkeypatch.setattr(labgrid_controller, "CONNECT_TIMEOUT", 0.5)
    monkeypatch.setattr(labgrid_controller, "RPC_TIMEOUT", 0.5)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        if listening:
            sock.listen()  # accepts the connection, never speaks HTTP/2
        address = f"127.0.0.1:{sock.getsockname()[1]}"
        dut = make_declaration({"type": "labgrid", "coordinator": address, "place": "bench-1"})
        controller = make_controller(dut, tmp_path)
        reason = "no answer" if listening else ""
        with pytest.raises(
            Inconclusive, match=f"cannot reach the labgrid coordinator {address}: {reason}"
        ):
            controller.start({})
        controller.stop()


def test_control_section_problems_are_one_line_each_with_field_and_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = Path(__file__).resolve().parents[2] / "examples" / "lab"
    monkeypatch.setenv("BENCH2_PSK_KEY", "0123456789abcdef")
    text = (
        (folder / "bench-2.yaml")
        .read_text()
        .replace("coordinator.lab.example.net:20408", "coordinator.lab.example.net:70000")
        .replace("place: bench-2", "place: bench 2")
        .replace("power_cycle: [reboot, factory_reset]", "power_cycle: [reboot, trigger_session]")
        .replace("  power_cycle:", "  power_off: 0\n  power_cycle:")
    )
    with pytest.raises(DeclarationError) as info:
        parse_declaration(text, "bench-2.yaml", folder)
    lines = text.splitlines()
    problems = {
        field: (lines[line - 1].strip() if line else "", message)
        for field, line, message in info.value.problems
    }
    assert problems == {
        "control.coordinator": (
            "coordinator: coordinator.lab.example.net:70000",
            "expected host:port, e.g. coordinator.lab.example.net:20408",
        ),
        "control.place": (
            "place: bench 2",
            "expected a labgrid place name (letters, digits, '.', '_', '+', '-')",
        ),
        "control.power_off": ("power_off: 0", "Input should be greater than 0"),
        "control.power_cycle.1": (
            "power_cycle: [reboot, trigger_session]",
            "Input should be 'reboot' or 'factory_reset'; got 'trigger_session'",
        ),
    }


def _user() -> str:
    import getpass
    import os

    return os.environ.get("LG_USERNAME") or getpass.getuser()


CATALOG_CONFTEST = """
from conformance.evidence.transcript import Transcript


class QuietLab:  # the bench is what is under test here, not the DM servers
    def __init__(self, run_dir):
        self.transcript = Transcript(path=run_dir / "transcript.jsonl")

    def start(self):
        pass

    def stop(self):
        self.transcript.close()

    def addresses(self):
        return {"LAB_HOST": "127.0.0.1"}


def pytest_conformance_make_lab(config, declaration, run_dir):
    return QuietLab(run_dir)
"""

CATALOG_CASES = """
import pytest


@pytest.mark.requirement("CDR-DVM-012")
def test_session_on_the_bench(controller):
    assert controller.trigger_session().dialogue[-1] == "< OK"


@pytest.mark.requirement("CDR-DVM-012")
def test_reboot_on_the_bench(controller):
    assert controller.reboot().dialogue[0].startswith("power cycled by NetworkPowerDriver")
"""


def test_conformance_run_drives_the_bench_and_gives_it_back(
    labgrid_bench: Any, labgrid_modem: Any, tmp_path: Path
) -> None:
    """``conformance run --dut bench.yaml``: nothing but the declaration names the bench."""
    import subprocess
    import sys

    import yaml

    from conformance.declaration import BUILTIN_DIR

    lab, _, switch = labgrid_bench
    labgrid_modem(responses={"AT+XDMSESS": ["OK"]})
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "conftest.py").write_text(CATALOG_CONFTEST)
    (catalog / "test_bench.py").write_text(CATALOG_CASES)
    declaration = yaml.safe_load((BUILTIN_DIR / "omadm-simulator.yaml").read_text())
    declaration["omadm"]["ddf"] = str((BUILTIN_DIR / declaration["omadm"]["ddf"]).resolve())
    declaration["control"] = {
        "type": "labgrid",
        "coordinator": lab.coordinator,
        "place": lab.place,
        "power_off": 0.1,
        "commands": {"trigger_session": "AT+XDMSESS"},
    }
    dut = tmp_path / "bench-1.yaml"
    dut.write_text(yaml.safe_dump(declaration))
    reports = tmp_path / "reports"
    argv = ["run", "--catalog", str(catalog), "--dut", str(dut), "--reports", str(reports)]
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    verdicts = json.loads(((reports / "latest").resolve() / "verdicts.json").read_text())
    assert sorted((c["nodeid"].split("::")[-1], c["verdict"]) for c in verdicts["cases"]) == [
        ("test_reboot_on_the_bench", "PASS"),
        ("test_session_on_the_bench", "PASS"),
    ]
    assert switch.switched() == ["off", "on"]
    assert lab.holder() == ""  # released when the run ended


def test_the_two_bench_example_lab_is_consistent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """examples/lab (docs/lab-setup.md): exporter configs labgrid reads, declarations that
    validate and name those benches' places."""
    from labgrid.remote.config import ResourceConfig
    from labgrid.remote.exporter import exports

    from conformance.declaration import LabgridControl, load_declaration

    folder = Path(__file__).resolve().parents[2] / "examples" / "lab"
    for name in ("ACME_DM_CLIENT_SECRET", "ACME_DM_SERVER_SECRET"):
        monkeypatch.setenv(name, "example-secret")
    monkeypatch.setenv("BENCH2_PSK_KEY", "0123456789abcdef")
    places = []
    for bench in ("bench-1", "bench-2"):
        groups = ResourceConfig(str(folder / f"exporter-{bench}.yaml")).data
        assert list(groups) == [bench]
        resources = groups[bench]
        assert "USBSerialPort" in exports and "USBSerialPort" in resources
        assert resources["NetworkPowerPort"]["model"] == "gude"
        control = load_declaration(folder / f"{bench}.yaml").control
        assert isinstance(control, LabgridControl)
        places.append(control.place)
    capsys.readouterr()  # labgrid's config loader prints what it read
    assert places == ["bench-1", "bench-2"]
