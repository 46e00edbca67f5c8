"""The `conformance` command: each subcommand, exit statuses, one-line errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conformance import cli
from conformance.declaration import BUILTIN_DIR

REPO = Path(__file__).resolve().parents[2]

FAKE_LAB = '''
from pathlib import Path
from conformance.evidence.transcript import Transcript

class FakeLab:
    def __init__(self, declaration, run_dir):
        self.transcript = Transcript(path=Path(run_dir) / "transcript.jsonl")
        self.run_dir = Path(run_dir)
    def start(self):
        self.transcript.record("omadm", "device->lab", "POST pkg1 Alert 1201")
    def stop(self):
        (self.run_dir / "stopped").write_text("yes")
        self.transcript.close()
    def addresses(self):
        return {"LAB_HOST": "127.0.0.1", "LAB_OMADM_URL": "http://127.0.0.1:9/dm"}

def make(declaration, run_dir):
    return FakeLab(declaration, run_dir)

def pytest_conformance_make_lab(config, declaration, run_dir):
    return FakeLab(declaration, run_dir)
'''

CATALOG_CASES = '''
import pytest

@pytest.mark.requirement("CDR-DVM-012")
def test_omadm_session(lab, dut):
    assert dut.protocol == "omadm"

@pytest.mark.requirement("ATT-DMIG-3.2")
def test_lwm2m_registration(lab, dut):
    assert dut.protocol == "lwm2m"
'''


def run_cli(*args: str) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", *args],
        capture_output=True, text=True, timeout=60,
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "conftest.py").write_text(FAKE_LAB)
    (folder / "test_cases.py").write_text(CATALOG_CASES)
    return folder


def test_the_command_leaves_what_it_built_out_of_the_last_collection() -> None:
    """``conformance`` (console_main) ends its process: what it built is frozen, so that the
    interpreter's exit does not walk it (~0.1 s at the end of every run); main() alone, as
    the tests call it, leaves the collector as it was."""
    probe = ("import gc, sys, conformance.cli as cli; sys.argv = ['conformance', 'faults', "
             "'lwm2m']; before = gc.get_freeze_count(); code = cli.{}(); "
             "print(code, before, gc.get_freeze_count() > before, file=sys.stderr)")
    for entry, frozen in (("console_main", "True"), ("main", "False")):
        proc = subprocess.run([sys.executable, "-c", probe.format(entry)], capture_output=True,
                              text=True, timeout=60, check=False)
        assert proc.stderr.split()[-3:] == ["0", "0", frozen], proc.stderr
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["conformance"] == "conformance.cli:console_main"


def test_help_explains_each_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in cli.COMMANDS:
        assert command in out


def test_check_declaration_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check-declaration", str(BUILTIN_DIR / "lwm2m-simulator.yaml")]) == 0
    assert "valid (lwm2m, device reference-lwm2m-module)" in capsys.readouterr().out


def test_check_declaration_invalid_names_field_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "dut.yaml"
    bad.write_text(
        (BUILTIN_DIR / "omadm-simulator.yaml").read_text().replace(
            'imei: "357099060399038"', 'imei: "357099060399039"'
        )
    )
    code, _out, err = run_cli("check-declaration", str(bad))
    assert code == 1
    assert re.search(r"line \d+, device\.imei: .*Luhn", err), err
    assert "Traceback" not in err


def test_schema_is_json_schema_of_the_declaration(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"device", "host", "protocol"} <= set(schema["properties"])


def test_run_with_a_declaration_runs_its_protocol_only(catalog: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    code, out, err = run_cli(
        "run", "--catalog", str(catalog), "--dut", "builtin:omadm", "--reports", str(reports)
    )
    assert code == 0, out + err
    folder = (reports / "latest").resolve()
    assert f"reports in {folder}" in out
    data = json.loads((folder / "verdicts.json").read_text())
    assert [(c["nodeid"].split("::")[-1], c["verdict"]) for c in data["cases"]] == [
        ("test_omadm_session", "PASS")
    ]
    assert (folder / "junit.xml").is_file() and (folder / "report.html").is_file()


def _run_without_declaration(catalog: Path, reports: Path, **extra_env: str) -> None:
    env = {**os.environ, cli.CATALOG_ENV: str(catalog), **extra_env}
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--reports", str(reports), "-q"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_run_without_declaration_runs_both_builtins(
    catalog: Path, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    _run_without_declaration(catalog, reports)
    folders = sorted(p.name for p in reports.iterdir() if p.name != "latest")
    assert len(folders) == 2
    assert {f.split("-", 1)[1] for f in folders} == {
        "reference-omadm-module", "reference-lwm2m-module"
    }


def test_run_without_declaration_judges_the_csv_host_device_too(
    catalog: Path, tmp_path: Path
) -> None:
    """The third built-in: a host device without DHIR whose CSV file ships beside it."""
    (catalog / "csv").mkdir()
    (catalog / "csv" / "test_csv.py").write_text(
        "import pytest\n"
        "from conformance.hostcsv import check_file\n"
        "from conformance.verdicts import NotApplicable\n"
        "@pytest.mark.requirement('ATT-DMIG-1.5-CSV')\n"
        "def test_csv(dut):\n"
        "    if not dut.csv.files:\n"
        "        raise NotApplicable('no CSV file')\n"
        "    assert not check_file(dut.csv.files[0], dut.host)\n"
    )
    reports = tmp_path / "reports"
    _run_without_declaration(catalog, reports)
    csv_run = next(reports.glob("*-reference-csv-host-device"))
    data = json.loads((csv_run / "verdicts.json").read_text())
    assert [(c["nodeid"].split("::")[-1], c["verdict"]) for c in data["cases"]] == [
        ("test_csv", "PASS")
    ]


def test_devices_side_by_side_each_get_their_pdf(catalog: Path, tmp_path: Path) -> None:
    """Their runs print none: the command prints each with the one browser they share."""
    if shutil.which("chromium") is None or shutil.which("pdftotext") is None:
        pytest.fail("chromium or pdftotext is not installed: run "
                    "scripts/install-report-tools.sh and scripts/install-capture-tools.sh")
    reports = tmp_path / "reports"
    _run_without_declaration(catalog, reports, CONFORMANCE_PDF="1")
    for device, case in (("omadm", "test_omadm_session"), ("lwm2m", "test_lwm2m_registration")):
        pdf = next(reports.glob(f"*-reference-{device}-module")) / "acceptance.pdf"
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                              timeout=60, check=True).stdout
        assert case in text
    assert not list(reports.glob("*/acceptance.pdf.tmp"))


def test_run_exit_status_is_non_zero_on_fail(catalog: Path, tmp_path: Path) -> None:
    (catalog / "test_cases.py").write_text(
        CATALOG_CASES + "\n@pytest.mark.requirement('CDR-DVM-4532')\n"
        "def test_imeisv():\n    assert '1' == '07'\n"
    )
    code, out, _ = run_cli(
        "run", "--catalog", str(catalog), "--reports", str(tmp_path / "r"), "-k", "imeisv or lwm2m"
    )
    assert code == 1  # the OMA-DM run failed, the LwM2M run passed
    assert "builtin:omadm: exit status 1" in out and "builtin:lwm2m: exit status 0" in out


def test_missing_catalog_is_one_line(tmp_path: Path) -> None:
    code, _out, err = run_cli("run", "--catalog", str(tmp_path / "nope"))
    assert code == 2
    assert err.strip().count("\n") == 0 and "no catalog folder" in err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_lab_prints_addresses_streams_and_stops_on_signal(tmp_path: Path, signum: int) -> None:
    (tmp_path / "fake_cli_lab.py").write_text(FAKE_LAB)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance.cli", "lab", "--reports", str(tmp_path / "r"),
         "--lab-factory", "fake_cli_lab:make"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # blocks on the child's output: no sleeping
            seen.append(line)
            if "Ctrl-C stops the lab" in line:
                break
        text = "".join(seen)
        assert "LAB_OMADM_URL=http://127.0.0.1:9/dm" in text
        assert "POST pkg1 Alert 1201" in text  # transcript entries are streamed
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopping the lab" in out
    stopped = list((tmp_path / "r").glob("*/stopped"))
    assert len(stopped) == 1


def test_faults_lists_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["faults", "omadm"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(len(line.split()) >= 3 for line in lines)
    assert any("CDR-DVM-4532" in line for line in lines)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["faults", "lwm2m"], "no fault registry for the lwm2m reference device"),
        (["check-csv", "hosts.csv"], "the CSV checker (conformance.hostcsv) is not available"),
        (["simulate", "omadm", "--server", "http://x"], "omadm reference device is not available"),
        (["compare", "old", "new"], "run comparison (conformance.evidence.compare) is not"),
    ],
)
def test_missing_parts_give_a_clear_message(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.setattr(cli, "_optional_module", lambda name: None)
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_simulate_passes_its_arguments_to_the_device(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[list[str]] = []
    device = type("Device", (), {"main": staticmethod(lambda argv: seen.append(argv) or 3)})
    monkeypatch.setattr(cli, "_optional_module", lambda name: device)
    assert cli.main(["simulate", "lwm2m", "--server", "coap://127.0.0.1:5683", "--fault", "x"]) == 3
    assert seen == [["--server", "coap://127.0.0.1:5683", "--fault", "x"]]


def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "_optional_module", broken)
    assert cli.main(["faults", "omadm"]) == 1
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(["--debug", "faults", "omadm"])


def test_compare_hands_both_folders_to_the_evidence_comparison(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[tuple[Path, Path]] = []
    def main_compare(old: Path, new: Path, *, accept_inconclusive: bool) -> int:
        seen.append((old, new))
        return 1

    module = type("Compare", (), {"main_compare": staticmethod(main_compare)})
    monkeypatch.setattr(cli, "_optional_module", lambda name: module)
    assert cli.main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    assert seen == [(tmp_path / "a", tmp_path / "b")]


@pytest.mark.parametrize(
    ("codes", "expected"),
    [([0, 0], 0), ([1, 0], 1), ([0, 1], 1), ([0, 5], 5), ([5, 5], 5), ([2, 1], 1), ([4], 4),
     ([10, 11], 11), ([11, 1, 10], 1), ([0, 10], 10), ([0, 77], 11), ([], 10)],
)
def test_overall_status(codes: list[int], expected: int) -> None:
    # The most severe run decides: FAIL, ERROR, pytest's own troubles, INCONCLUSIVE, nothing
    # to run, PASS; an unknown status counts as ERROR, no run at all as not judged.
    assert cli.overall_status(codes) == expected
