"""Helpers for testing the plugin from the outside with pytester, against a fake lab.

The fake lab and controller come in through the plugin's own hooks
(``pytest_conformance_make_lab`` / ``pytest_conformance_make_controller``), so these tests
need none of the real servers or reference devices.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from conformance.declaration import BUILTIN_DIR, builtin_declaration
from conformance.evidence.allure_report import unpack_results

FAKE_LAB_CONFTEST = '''
import json
import json
from collections.abc import Callable
from pathlib import Path

from conformance.evidence.redact import Redactor
from conformance.evidence.capture import RunCapture
from conformance.evidence.transcript import Transcript

EVENTS = Path(__file__).parent / "events.jsonl"


def event(name, **data):
    with EVENTS.open("a") as f:
        f.write(json.dumps({"event": name, **data}) + "\\n")


class FakeLab:
    def __init__(self, declaration, run_dir):
        redactor = Redactor()
        for secret in declaration.secrets():
            redactor.add(secret)
        self.transcript = Transcript(redactor, Path(run_dir) / "transcript.jsonl")
        self.capture = RunCapture(Path(run_dir))  # the real capture writer, fed the same way
        self.capture.set_lab_addresses(self.addresses())
        self.transcript.subscribe(self.capture.on_entry)
        self.run_dir = run_dir
        event("lab-made", run_dir=str(run_dir))

    def start(self):
        self.transcript.note("control", "fake lab up")
        event("lab-start")

    def stop(self):
        event("lab-stop")
        self.transcript.close()
        self.capture.close()

    def addresses(self):
        return {"LAB_HOST": "127.0.0.1", "LAB_OMADM_URL": "http://127.0.0.1:9/dm"}


class FakeController:
    def __init__(self, faults):
        self.faults = faults
        self.lab_addresses = None

    def start(self, lab_addresses):
        self.lab_addresses = lab_addresses
        event("controller-start", faults=self.faults)

    def stop(self):
        event("controller-stop")


def pytest_conformance_make_lab(config, declaration, run_dir):
    return FakeLab(declaration, run_dir)


def pytest_conformance_make_controller(config, declaration, run_dir, faults, transcript):
    return FakeController(faults)
'''


def _declaration_text(protocol: str = "omadm", **changes: object) -> str:
    """A built-in declaration as YAML, with top-level sections replaced/merged by ``changes``."""
    data = yaml.safe_load((BUILTIN_DIR / f"{protocol}-simulator.yaml").read_text())
    if protocol == "omadm":
        data["omadm"].pop("ddf", None)  # relative to the built-in folder; not needed here
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return yaml.safe_dump(data)


@pytest.fixture
def write_dut(pytester: pytest.Pytester) -> Callable[..., Path]:
    """write_dut(name, protocol, **section_changes) → path of a declaration in the test dir."""

    def write(name: str = "dut.yaml", protocol: str = "omadm", **changes: object) -> Path:
        path = pytester.path / name
        path.write_text(_declaration_text(protocol, **changes))
        return path

    return write


@pytest.fixture
def fake_lab(pytester: pytest.Pytester) -> Callable[[], list[str]]:
    """Install the fake lab/controller conftest; returns a reader of the events it logged."""
    pytester.makeconftest(FAKE_LAB_CONFTEST)
    path = pytester.path / "events.jsonl"

    def read() -> list[str]:
        if not path.exists():
            return []
        return [json.loads(line)["event"] for line in path.read_text().splitlines()]

    return read


@pytest.fixture
def verdicts_of() -> Callable[[pytest.RunResult], dict[str, str]]:
    """nodeid name → final verdict, from the inner run's teardown reports."""

    def read(result: pytest.RunResult) -> dict[str, str]:
        out = {}
        for rep in result.reprec.getreports("pytest_runtest_logreport"):  # type: ignore[attr-defined]
            if rep.when == "teardown" and getattr(rep, "verdict", None) is not None:
                out[rep.nodeid.split("::")[-1]] = rep.verdict.value
        return out

    return read


# ------------------------------------------------------ runs for the evidence tests
SECRETS = builtin_declaration("omadm").secrets()
SECRET = SECRETS[0]

FAILING_CASES = f'''
import pytest
from conformance.verdicts import DeviceFault, Inconclusive, NotApplicable

SECRET = {SECRET!r}

@pytest.mark.requirement("CDR-DVM-4532")
def test_host_nodes(lab, evidence, dut):
    t = lab.transcript
    t.record("omadm", "device->lab", "POST pkg1 Alert 1201 Replace",
             raw=b"<SyncML>" + SECRET.encode() + b"</SyncML>",
             decoded="<SyncML>" + SECRET + "</SyncML>")
    t.record("omadm", "lab->device", "200 pkg2 Get ./DevDetail/Ext/HostSwV", raw=b"<SyncML/>")
    t.record("omadm", "device->lab", "POST pkg3 Results 40")
    assert evidence.expect("./DevDetail/Ext/HostSwV", dut.host.software_version, "40")

@pytest.mark.requirement("CDR-DVM-4532")
def test_imeisv(lab, evidence):
    lab.transcript.record("omadm", "lab->device", "200 pkg2 Get ./DevDetail/Ext/IMEISV")
    lab.transcript.record("omadm", "device->lab", "POST pkg3 Results '1'")
    lab.transcript.note("omadm", "comparing with the declaration")
    print("the device said", SECRET)
    evidence.expect("./DevDetail/Ext/IMEISV", "two digits", "1", ok=False)
    evidence.expect("credential", SECRET, SECRET)
    assert "1" == SECRET, "./DevDetail/Ext/IMEISV is '1', expected two digits"

@pytest.mark.requirement("CDR-DVM-012")
def test_session(lab):
    lab.transcript.record("lwm2m", "device->lab", "CON POST /rd?ep=x")
    lab.transcript.record("lwm2m", "device->lab", "CON POST /rd bad", error="unknown option 11")
    lab.transcript.record("lwm2m", "lab->device", "4.02 Bad Option")
    raise Inconclusive("no session within 20 s")

@pytest.mark.requirement("CDR-DVM-012")
def test_harness(lab): {{}}["nonce"]

@pytest.mark.requirement("CDR-DVM-3954")
def test_account(): raise NotApplicable("no factory account on this module")
'''

PASSING_CASES = '''
import pytest

@pytest.mark.requirement("CDR-DVM-4532")
def test_host_nodes(lab, evidence, dut):
    lab.transcript.record("omadm", "device->lab", "POST pkg1 Alert 1201")
    lab.transcript.record("omadm", "lab->device", "200 pkg2 Get ./DevDetail/Ext/HostSwV")
    lab.transcript.record("omadm", "device->lab", "POST pkg3 Results 40")
    assert evidence.expect("host.software_version", dut.host.software_version, "40")

@pytest.mark.requirement("CDR-DVM-012")
def test_session(lab):
    lab.transcript.record("omadm", "device->lab", "POST pkg1 Alert 1201")
'''


def _run_catalog(pytester: pytest.Pytester, cases: str, expect_ret: int) -> tuple[Path, str]:
    pytester.makepyfile(test_catalog=cases)
    result = pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports", "--run-name", "r")
    assert result.ret == expect_ret, result.stdout.str()
    run = pytester.path / "reports" / "r"
    assert not (run / "allure-results").exists()  # packed: only the allure CLI reads it
    unpack_results(run)
    return run, result.stdout.str()


@pytest.fixture
def failing_run(pytester: pytest.Pytester, fake_lab: Callable[[], list[str]]) -> tuple[Path, str]:
    """A run with PASS, FAIL, INCONCLUSIVE, ERROR and N/A cases: (run folder, terminal text).

    Its cases leak the declaration's secrets everywhere they can (raw bytes, decoded text,
    captured stdout, an assertion message, an expectation) so the secret scan has work to do.
    """
    return _run_catalog(pytester, FAILING_CASES, 1)


@pytest.fixture
def passing_run(pytester: pytest.Pytester, fake_lab: Callable[[], list[str]]) -> tuple[Path, str]:
    return _run_catalog(pytester, PASSING_CASES, 0)


@pytest.fixture
def declared_secrets() -> list[str]:
    return list(SECRETS)
