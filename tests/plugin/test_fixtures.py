"""dut, lab, controller, run_dir and evidence, against the fake lab."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest


def _latest_verdicts(pytester: pytest.Pytester) -> dict:
    return json.loads((pytester.path / "reports" / "latest" / "verdicts.json").read_text())


def test_lab_and_controller_start_once_and_stop_at_the_end(
    pytester: pytest.Pytester, fake_lab: Callable[[], list[str]]
) -> None:
    pytester.makepyfile(
        """
        import pytest
        pytestmark = pytest.mark.requirement("CDR-DVM-012")

        def test_one(lab, controller, dut, run_dir):
            assert controller.lab_addresses == lab.addresses()
            assert controller.faults == ["missing-host-nodes", "wrong-imeisv-format"]
            assert dut.protocol == "omadm"
            assert lab.run_dir == run_dir and run_dir.parent.name == "reports"

        def test_two(lab, controller):
            pass
        """
    )
    result = pytester.runpytest(
        "--dut", "builtin:omadm", "--reports", "reports",
        "--fault", "missing-host-nodes", "--fault", "wrong-imeisv-format",
    )
    assert result.ret == 0, result.stdout.str()
    assert fake_lab() == [
        "lab-made", "lab-start", "controller-start", "controller-stop", "lab-stop"
    ]


def test_evidence_slices_and_seq_ranges(
    pytester: pytest.Pytester, fake_lab: Callable[[], list[str]]
) -> None:
    pytester.makepyfile(
        """
        import pytest
        pytestmark = pytest.mark.requirement("CDR-DVM-012")

        def test_first(evidence):
            evidence.note("first case, one")
            evidence.note("first case, two")
            assert [e.summary for e in evidence.entries()][-2:] == [
                "first case, one", "first case, two"]

        def test_no_lab():
            pass

        def test_second(evidence):
            evidence.note("second case")
            assert [e.summary for e in evidence.entries()] == ["second case"]
        """
    )
    result = pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports", "-p",
                                "no:randomly")
    assert result.ret == 0, result.stdout.str()
    cases = {c["nodeid"].split("::")[-1]: c for c in _latest_verdicts(pytester)["cases"]}
    # seq 1 is the lab's start-up note, owned by the case that started the lab.
    assert cases["test_first"]["transcript"] == {"first": 1, "last": 3}
    assert cases["test_no_lab"]["transcript"] is None
    assert cases["test_second"]["transcript"] == {"first": 4, "last": 4}
    lines = (pytester.path / "reports" / "latest" / "transcript.jsonl").read_text().splitlines()
    assert [json.loads(x)["summary"] for x in lines][-1] == "second case"


def test_lab_that_fails_to_start_is_an_error_for_its_cases(
    pytester: pytest.Pytester, verdicts_of: Callable[[pytest.RunResult], dict[str, str]]
) -> None:
    pytester.makeconftest(
        """
        class Broken:
            transcript = None
            def start(self): raise OSError("address already in use")
            def stop(self): pass
            def addresses(self): return {}
        def pytest_conformance_make_lab(config, declaration, run_dir):
            return Broken()
        """
    )
    pytester.makepyfile(
        """
        import pytest
        pytestmark = pytest.mark.requirement("CDR-DVM-012")
        def test_a(lab): pass
        def test_b(lab): pass
        """
    )
    result = pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports")
    assert verdicts_of(result) == {"test_a": "ERROR", "test_b": "ERROR"}
    assert result.ret == 11  # ERROR: the suite broke, the device was not judged


def test_controller_that_cannot_act_is_inconclusive(
    pytester: pytest.Pytester,
    fake_lab: Callable[[], list[str]],
    verdicts_of: Callable[[pytest.RunResult], dict[str, str]],
) -> None:
    pytester.makepyfile(
        """
        import pytest
        from conformance.verdicts import Inconclusive
        pytestmark = pytest.mark.requirement("CDR-DVM-1533")
        def test_update(controller):
            raise Inconclusive("the manual controller needs an operator")
        """
    )
    result = pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports")
    assert verdicts_of(result) == {"test_update": "INCONCLUSIVE"}
    assert result.ret == 10  # the device was not judged: a CI gate does not pass it


def test_lab_shutdown_problem_makes_the_run_fail_without_blaming_a_case(
    pytester: pytest.Pytester, verdicts_of: Callable[[pytest.RunResult], dict[str, str]]
) -> None:
    pytester.makeconftest(
        """
        from conformance.evidence.transcript import Transcript
        class StuckLab:
            transcript = Transcript()
            def start(self): pass
            def stop(self): raise TimeoutError("package server did not stop")
            def addresses(self): return {}
        def pytest_conformance_make_lab(config, declaration, run_dir):
            return StuckLab()
        """
    )
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("CDR-DVM-012")
        def test_a(lab): pass
        """
    )
    result = pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports")
    assert verdicts_of(result) == {"test_a": "PASS"}
    assert result.ret == 11  # a harness problem: ERROR, without blaming the device
    result.stdout.fnmatch_lines(["*HARNESS PROBLEM: lab stop: TimeoutError*"])
    assert _latest_verdicts(pytester)["harness_problems"] == [
        "lab stop: TimeoutError: package server did not stop"
    ]


def test_declaration_is_available_at_collection(
    pytester: pytest.Pytester, write_dut: Callable[..., Path]
) -> None:
    dut = write_dut(device={"name": "collect-time-device"})
    pytester.makepyfile(
        """
        import pytest
        from conformance.plugin.plugin import declaration_of

        def pytest_generate_tests(metafunc):
            name = declaration_of(metafunc.config).device.name
            metafunc.parametrize("name", [name])

        @pytest.mark.requirement("CDR-DVM-012")
        def test_name(name):
            assert name == "collect-time-device"
        """
    )
    result = pytester.runpytest("--dut", str(dut), "--reports", "reports")
    assert result.ret == 0
