"""``conformance run`` with several devices: side by side, own folders, one summary, one status;
and a fixed lab port that is taken stops the run before it starts, in one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.declaration import BUILTIN_DIR, builtin_declaration
from conformance.lab import Lab
from conformance.labports import PortInUse

from .test_cli import FAKE_LAB

# A catalog's preamble (format it with fifo=PATH): meet(os.O_WRONLY) in one run and
# meet(os.O_RDONLY) in another return only when the two runs go side by side.
MEET = '''
import os
import threading
import pytest

FIFO = {fifo!r}

def meet(mode):
    # Opening a FIFO blocks until the other end is opened too: by the other run.
    opened = []
    opener = threading.Thread(target=lambda: opened.append(os.open(FIFO, mode)), daemon=True)
    opener.start()
    opener.join(60)
    assert opened, "the other run never ran beside this one"
    os.close(opened[0])
'''

# Each case waits for the other device's case: run one after the other, they would time out.
SIDE_BY_SIDE = MEET + '''
@pytest.mark.requirement("CDR-DVM-012")
def test_omadm_session(lab, dut):
    meet(os.O_WRONLY)

@pytest.mark.requirement("ATT-DMIG-3.2")
def test_lwm2m_registration(lab, dut):
    meet(os.O_RDONLY)
    assert dut.device.name != "reference-lwm2m-module", "this device fails on purpose"
'''


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance.cli", *args],
        capture_output=True, text=True, timeout=180,
    )


def meeting_catalog(tmp_path: Path, cases: str) -> Path:
    """A catalog on the fake lab whose ``cases`` (MEET + cases) can meet through a FIFO."""
    folder = tmp_path / "catalog"
    folder.mkdir()
    os.mkfifo(tmp_path / "meet")
    (folder / "conftest.py").write_text(FAKE_LAB)
    (folder / "test_cases.py").write_text(cases.format(fifo=str(tmp_path / "meet")))
    return folder


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    return meeting_catalog(tmp_path, SIDE_BY_SIDE)


def test_two_devices_run_side_by_side_with_one_summary(catalog: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    proc = run_cli("run", "--catalog", str(catalog), "--reports", str(reports),
                   "--dut", "builtin:omadm", "--dut", "builtin:lwm2m", "-p", "no:randomly")
    out = proc.stdout
    # The LwM2M device FAILs, the OMA-DM one PASSes: the combined status is the FAIL's.
    assert proc.returncode == 1, out + proc.stderr
    folders = sorted(p for p in reports.iterdir() if p.name != "latest")
    assert [f.name.split("-", 1)[1] for f in folders] == [
        "reference-lwm2m-module", "reference-omadm-module"
    ]
    assert all((f / "verdicts.json").is_file() for f in folders)
    # Each child's lines come whole, under its label.
    assert any(line.startswith("[omadm] ") for line in out.splitlines())
    assert any(line.startswith("[lwm2m] ") for line in out.splitlines())
    summary = out[out.index("conformance run: summary"):].splitlines()
    assert summary[1].split() == [
        "device", "PASS", "|", "FAIL", "|", "INCONCLUSIVE", "|", "NOT", "APPLICABLE", "|",
        "ERROR", "|", "exit",
    ]
    rows = {line.split()[0]: line.split() for line in summary[2:4]}
    assert rows["omadm"][1:] == ["1", "|", "0", "|", "0", "|", "0", "|", "0", "|", "0"]
    assert rows["lwm2m"][1:] == ["0", "|", "1", "|", "0", "|", "0", "|", "0", "|", "1"]


def test_run_name_gets_the_device_label(catalog: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    run_cli("run", "--catalog", str(catalog), "--reports", str(reports), "--run-name", "nightly",
            "--dut", "builtin:omadm", "--dut", "builtin:lwm2m")
    assert sorted(p.name for p in reports.iterdir() if p.name != "latest") == [
        "nightly-lwm2m", "nightly-omadm"
    ]


@pytest.fixture
def held_udp_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


def declaration_with_port(tmp_path: Path, name: str, port: int) -> Path:
    text = (BUILTIN_DIR / "lwm2m-simulator.yaml").read_text()
    text = text.replace("name: reference-lwm2m-module", f"name: {name}")
    path = tmp_path / f"{name}.yaml"
    path.write_text(text + f"lab:\n  lwm2m_port: {port}\n")
    return path


def test_taken_port_refuses_to_start_in_one_line(
    catalog: Path, tmp_path: Path, held_udp_port: int
) -> None:
    dut = declaration_with_port(tmp_path, "fixed-port", held_udp_port)
    reports = tmp_path / "reports"
    proc = run_cli("run", "--catalog", str(catalog), "--reports", str(reports), "--dut", str(dut))
    assert proc.returncode == 11  # ERROR: the suite could not judge the device
    assert proc.stderr == (
        f"conformance run: the lab cannot start: lab.lwm2m_port {held_udp_port} "
        "(udp on 127.0.0.1) is already in use\n"
    )
    assert not reports.exists()  # nothing started


def test_two_devices_on_one_fixed_port_are_refused(catalog: Path, tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    first = declaration_with_port(tmp_path, "bench-a", free)
    second = declaration_with_port(tmp_path, "bench-b", free)
    proc = run_cli("run", "--catalog", str(catalog), "--reports", str(tmp_path / "r"),
                   "--dut", str(first), "--dut", str(second))
    assert proc.returncode == 11  # ERROR: the suite could not judge the device
    assert f"lab.lwm2m_port {free} (udp) of bench-b is also a fixed port of bench-a" in (
        proc.stderr
    )


def test_lab_start_names_the_taken_port(tmp_path: Path, held_udp_port: int) -> None:
    # The same problem met by a run that did not go through `conformance run` (plain pytest).
    base = builtin_declaration("lwm2m")
    dut = base.model_copy(update={"lab": base.lab.model_copy(update={"lwm2m_port": held_udp_port})})
    lab = Lab(dut, tmp_path / "run")
    with pytest.raises(PortInUse) as info:
        lab.start()
    assert str(info.value) == (
        f"lab.lwm2m_port {held_udp_port} (udp on 127.0.0.1) is already in use"
    )
