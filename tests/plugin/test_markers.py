"""requirement/applies markers, §1.5 exceptions and protocol selection."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest


def test_unknown_requirement_is_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("CDR-DVM-9999")
        def test_one(): pass
        def test_two(): pass
        """
    )
    result = pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        ["*ERROR collecting*", "*unknown requirement 'CDR-DVM-9999'*", "*1 error*"]
    )


def test_known_requirement_collects(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("CDR-DVM-4532")
        def test_one(): pass
        """
    )
    result = pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports")
    assert result.ret == 0


def test_bad_applies_arguments_are_collection_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("CDR-DVM-012")
        @pytest.mark.applies(feature="fotaa")
        def test_one(): pass
        """
    )
    result = pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*applies(feature='fotaa')*"])


def test_undeclared_feature_is_not_applicable_with_reason(
    pytester: pytest.Pytester,
    write_dut: Callable[..., Path],
    fake_lab: Callable[[], list[str]],
    verdicts_of: Callable[[pytest.RunResult], dict[str, str]],
) -> None:
    dut = write_dut(features={"fota": False, "fota_package": None})
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("CDR-DVM-012")
        @pytest.mark.applies(feature="fota")
        def test_fota(lab): raise AssertionError("must not run")
        """
    )
    result = pytester.runpytest("--dut", str(dut), "--reports", "reports", "-rs")
    assert result.ret == 0
    assert verdicts_of(result) == {"test_fota": "NOT APPLICABLE"}
    result.stdout.fnmatch_lines(["*does not declare fota (features.fota is false)*"])
    assert fake_lab() == []  # an N/A case never starts the lab


def test_declared_feature_runs(
    pytester: pytest.Pytester, verdicts_of: Callable[[pytest.RunResult], dict[str, str]]
) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("CDR-DVM-012")
        @pytest.mark.applies(feature="wbxml")
        def test_wbxml(): pass
        """
    )
    result = pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports")
    assert verdicts_of(result) == {"test_wbxml": "PASS"}


def test_fota_requirement_without_fota_is_not_applicable(
    pytester: pytest.Pytester,
    write_dut: Callable[..., Path],
    verdicts_of: Callable[[pytest.RunResult], dict[str, str]],
) -> None:
    dut = write_dut(features={"fota": False, "fota_package": None})
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("ATT-DMIG-4.2")
        def test_fumo(): raise AssertionError("must not run")
        """
    )
    result = pytester.runpytest("--dut", str(dut), "--reports", "reports")
    assert verdicts_of(result) == {"test_fumo": "NOT APPLICABLE"}
    assert result.ret == 0


def test_claimed_exception_is_not_applicable_with_the_claimed_reason(
    pytester: pytest.Pytester,
    write_dut: Callable[..., Path],
    verdicts_of: Callable[[pytest.RunResult], dict[str, str]],
) -> None:
    dut = write_dut(
        exceptions=[
            {
                "requirement": "CDR-DVM-4532",
                "exception": "unique-tac-per-model",
                "reason": "TAC 35709906 is used by this model only",
            }
        ]
    )
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("CDR-DVM-4532")
        def test_host_nodes(): raise AssertionError("must not run")
        @pytest.mark.requirement("CDR-DVM-012")
        def test_other(): pass
        """
    )
    result = pytester.runpytest("--dut", str(dut), "--reports", "reports", "-rs")
    assert verdicts_of(result) == {"test_host_nodes": "NOT APPLICABLE", "test_other": "PASS"}
    result.stdout.fnmatch_lines(
        ["*exception 'unique-tac-per-model' claimed: TAC 35709906 is used by this model only*"]
    )


def test_other_protocol_is_deselected_not_applicable(
    pytester: pytest.Pytester, verdicts_of: Callable[[pytest.RunResult], dict[str, str]]
) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("ATT-DMIG-3.2.2")
        def test_lwm2m_by_requirement(): pass
        @pytest.mark.requirement("ATT-DMIG-1.5-CSV")
        @pytest.mark.applies(protocol="lwm2m")
        def test_lwm2m_by_marker(): pass
        @pytest.mark.requirement("ATT-DMIG-1.5-CSV")
        def test_csv_runs_for_both(): pass
        @pytest.mark.requirement("CDR-DVM-012")
        def test_omadm(): pass
        """
    )
    result = pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports")
    assert verdicts_of(result) == {"test_csv_runs_for_both": "PASS", "test_omadm": "PASS"}
    result.stdout.fnmatch_lines(["*2 passed, 2 deselected*"])


def test_catalog_folder_decides_protocol_and_default_declaration(
    pytester: pytest.Pytester, verdicts_of: Callable[[pytest.RunResult], dict[str, str]]
) -> None:
    # No --dut: testcases/lwm2m on the command line selects the built-in LwM2M declaration.
    folder = pytester.mkpydir("testcases")
    lwm2m = folder / "lwm2m"
    lwm2m.mkdir()
    (lwm2m / "test_reg.py").write_text(
        "def test_reg(dut):\n    assert dut.protocol == 'lwm2m'\n"
    )
    omadm = folder / "omadm"
    omadm.mkdir()
    (omadm / "test_dm.py").write_text("def test_dm(): pass\n")
    result = pytester.runpytest("testcases/lwm2m", "--reports", "reports")
    assert verdicts_of(result) == {"test_reg": "PASS"}
    # With the whole catalog and an OMA-DM device, the lwm2m folder is deselected.
    result = pytester.runpytest("testcases", "--dut", "builtin:omadm", "--reports", "reports")
    assert verdicts_of(result) == {"test_dm": "PASS"}
    result.stdout.fnmatch_lines(["*1 lwm2m case(s) deselected*"])


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["*requirement(id)*", "*applies(protocol=None, feature=None)*"])


def test_bad_declaration_is_a_usage_error_without_traceback(pytester: pytest.Pytester) -> None:
    bad = pytester.makefile(".yaml", dut="device: {name: x}\n")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--dut", str(bad))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*invalid device declaration*", "*protocol: required field*"])
    assert "Traceback" not in result.stderr.str()


def test_plain_runs_deselect_nothing(pytester: pytest.Pytester) -> None:
    # Without a conformance option or a testcases/ path, no declaration is in force: a unit
    # test that names an LwM2M requirement still runs.
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("ATT-DMIG-3.2.2")
        def test_lwm2m_unit(): pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_ets_marker_takes_exactly_one_known_id(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("ATT-DMIG-3.2")
        @pytest.mark.ets("LightweightM2M-1.0-int-772…780 (firmware update errors)")
        def test_range(): pass
        """
    )
    result = pytester.runpytest("--dut", "builtin:lwm2m", "--reports", "reports")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ets() takes exactly one ETS test id*"])


def test_ets_option_keeps_only_the_cases_traced_to_it(
    pytester: pytest.Pytester, verdicts_of: Callable[[pytest.RunResult], dict[str, str]]
) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("ATT-DMIG-3.2")
        @pytest.mark.ets("LightweightM2M-1.0-int-301")
        def test_observe(): pass
        @pytest.mark.requirement("ATT-DMIG-3.2")
        @pytest.mark.ets("LightweightM2M-1.1-int-3010")
        def test_other_id_with_the_same_start(): pass
        @pytest.mark.requirement("ATT-DMIG-3.2")
        @pytest.mark.parametrize("x", [
            pytest.param(1, marks=pytest.mark.ets("LightweightM2M-1.1-int-301")),
            pytest.param(2, marks=pytest.mark.ets("LightweightM2M-1.1-int-302")),
        ])
        def test_params(x): pass
        @pytest.mark.requirement("ATT-DMIG-3.2")
        def test_untraced(): pass
        """
    )
    result = pytester.runpytest("--dut", "builtin:lwm2m", "--reports", "reports",
                                "--run-name", "r", "--ets", "int-301")
    assert verdicts_of(result) == {"test_observe": "PASS", "test_params[1]": "PASS"}
    data = json.loads((pytester.path / "reports" / "r" / "verdicts.json").read_text())
    assert {c["nodeid"].split("::")[-1]: c["ets"] for c in data["cases"]} == {
        "test_observe": ["LightweightM2M-1.0-int-301"],
        "test_params[1]": ["LightweightM2M-1.1-int-301"],
    }
    # The full id selects its version only.
    result = pytester.runpytest("--dut", "builtin:lwm2m", "--reports", "reports",
                                "--ets", "LightweightM2M-1.1-int-302")
    assert verdicts_of(result) == {"test_params[2]": "PASS"}


def test_each_case_gets_a_timeout_past_the_declared_bounds(pytester: pytest.Pytester) -> None:
    """pytest-timeout's guard comes from the declaration, not the project's fixed 120 s: a
    FOTA bound of minutes or a queue-mode device asleep until its next Update is a wait of the
    case, not a harness hang (the 1.0 queue-mode reference device had two cases ERROR at
    120 s). A case's own timeout marker stays."""
    pytester.makepyfile(
        """
        import pytest

        def guard(request):
            return request.node.get_closest_marker("timeout").args[0]

        @pytest.mark.requirement("ATT-DMIG-3.2")
        def test_guarded(request):
            # built-in LwM2M: 3 x (request 10 + session 20 + post-update 20 + fota 30) s,
            # and queue mode: 2 x its 300 s lifetime
            assert guard(request) == 3 * (10 + 20 + 20 + 30) + 2 * 300

        @pytest.mark.requirement("ATT-DMIG-3.2")
        @pytest.mark.timeout(7)
        def test_own_timeout(request):
            assert guard(request) == 7
        """
    )
    result = pytester.runpytest("--dut", "builtin:lwm2m", "--reports", "reports", "-p",
                                "no:randomly")
    result.assert_outcomes(passed=2)


def test_the_guard_is_never_below_pytest_timeouts_own(pytester: pytest.Pytester) -> None:
    """pytest-timeout's setting (pyproject.toml's 120 s; here -o timeout=5000) is the floor of
    the guard: read from it, not from a copy of its value in the plugin."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.requirement("ATT-DMIG-3.2")
        def test_guarded(request):
            assert request.node.get_closest_marker("timeout").args[0] == 5000
        """
    )
    result = pytester.runpytest("--dut", "builtin:lwm2m", "--reports", "reports", "-p",
                                "no:randomly", "-o", "timeout=5000")
    result.assert_outcomes(passed=1)
