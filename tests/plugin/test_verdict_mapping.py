"""Each verdict maps onto its own pytest outcome, status word and exit status."""

from __future__ import annotations

from collections.abc import Callable

import pytest

CASES = '''
import pytest
from conformance.verdicts import DeviceFault, DeviceTimeout, Inconclusive, NotApplicable

pytestmark = pytest.mark.requirement("CDR-DVM-012")

@pytest.fixture
def broken_fixture():
    raise RuntimeError("fixture broke")

@pytest.fixture
def faulty_device_fixture():
    raise DeviceFault("package 1 has no SessionID")

@pytest.fixture
def asserting_fixture():
    assert False, "the harness checked its own state"

@pytest.fixture
def failing_teardown():
    yield
    raise OSError("could not close the port")

def test_pass(): pass
def test_device_fault(): raise DeviceFault("IMEISV is '1', expected two digits")
def test_plain_assert(): assert "1" == "07"
def test_inconclusive(): raise Inconclusive("operator absent")
def test_device_timeout(): raise DeviceTimeout("no session within 20 s")
def test_not_applicable(): raise NotApplicable("no WBXML declared")
def test_key_error(): {}["missing"]
def test_fixture_error(broken_fixture): pass
def test_fixture_device_fault(faulty_device_fixture): pass
def test_fixture_assert(asserting_fixture): pass
def test_teardown_error(failing_teardown): pass
def test_pytest_fail(): pytest.fail("harness gave up")
@pytest.mark.xfail(reason="known device bug")
def test_xfail_is_still_fail(): raise DeviceFault("known bug")
'''

EXPECTED = {
    "test_pass": "PASS",
    "test_device_fault": "FAIL",
    "test_plain_assert": "FAIL",
    "test_inconclusive": "INCONCLUSIVE",
    "test_device_timeout": "INCONCLUSIVE",
    "test_not_applicable": "NOT APPLICABLE",
    "test_key_error": "ERROR",
    "test_fixture_error": "ERROR",
    "test_fixture_device_fault": "FAIL",
    "test_fixture_assert": "ERROR",
    "test_teardown_error": "ERROR",
    "test_pytest_fail": "ERROR",
    "test_xfail_is_still_fail": "FAIL",
}


@pytest.fixture
def all_verdicts(pytester: pytest.Pytester) -> pytest.RunResult:
    pytester.makepyfile(test_cases=CASES)
    return pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports", "-v")


def test_each_exception_gets_its_verdict(
    all_verdicts: pytest.RunResult, verdicts_of: Callable[[pytest.RunResult], dict[str, str]]
) -> None:
    assert verdicts_of(all_verdicts) == EXPECTED


def test_status_words_in_the_terminal(all_verdicts: pytest.RunResult) -> None:
    all_verdicts.stdout.fnmatch_lines_random(
        [
            "*::test_pass PASS*",
            "*::test_device_fault FAIL*",
            "*::test_key_error ERROR*",
            "*::test_fixture_error ERROR*",
            "*::test_inconclusive INCONCLUSIVE*",
            "*::test_not_applicable NOT APPLICABLE*",
        ]
    )


def test_summary_counts_errors_apart_from_failures(all_verdicts: pytest.RunResult) -> None:
    # pytest counts reports: test_teardown_error's call passed and its teardown is an error.
    all_verdicts.stdout.fnmatch_lines(
        ["*4 failed, 2 passed, 5 errors, 2 inconclusive, 1 not applicable*"]
    )
    all_verdicts.stdout.fnmatch_lines(
        ["*conformance verdicts*", "PASS 1 | FAIL 4 | INCONCLUSIVE 2 | NOT APPLICABLE 1 | ERROR 5"]
    )


def test_inconclusive_and_not_applicable_are_skips(all_verdicts: pytest.RunResult) -> None:
    reports = {
        r.nodeid.split("::")[-1]: r
        for r in all_verdicts.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
        if r.when == "call"
    }
    assert reports["test_inconclusive"].skipped
    assert reports["test_device_timeout"].longrepr[2] == "INCONCLUSIVE: no session within 20 s"
    assert reports["test_not_applicable"].longrepr[2] == "NOT APPLICABLE: no WBXML declared"
    assert reports["test_key_error"].failed  # an ERROR still fails the run


def test_skip_verdicts_do_not_format_a_traceback(pytester: pytest.Pytester) -> None:
    """pytest would format the traceback of an N/A or INCONCLUSIVE case with its source (the
    module parsed per entry), which no report shows: the report is made as a skip's."""
    pytester.makeconftest(
        "import types\n"
        "def refuse(self, excinfo):\n"
        "    raise RuntimeError('a traceback was formatted for ' + self.name)\n"
        "def pytest_collection_modifyitems(items):\n"
        "    for item in items:\n"
        "        item.repr_failure = types.MethodType(refuse, item)\n"
    )
    pytester.makepyfile(test_cases=(
        "import pytest\n"
        "from conformance.verdicts import DeviceTimeout, NotApplicable\n"
        "pytestmark = pytest.mark.requirement('CDR-DVM-012')\n"
        "def deep(): raise NotApplicable('no WBXML declared')\n"
        "def test_na(): print('asked the device'); deep()\n"
        "def test_timeout(): raise DeviceTimeout('no session within 20 s')\n"
    ))
    result = pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports", "-rs")
    reports = {r.nodeid.split("::")[-1]: r
               for r in result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
               if r.when == "call"}
    assert reports["test_na"].longrepr[2] == "NOT APPLICABLE: no WBXML declared"
    assert reports["test_timeout"].longrepr[2] == "INCONCLUSIVE: no session within 20 s"
    assert ("Captured stdout call", "asked the device\n") in reports["test_na"].sections
    assert "a traceback was formatted" not in result.stdout.str()


@pytest.mark.parametrize(
    ("body", "expected_exit"),
    [
        ("pass", 0),
        ("raise Inconclusive('no session')", 10),
        ("raise DeviceTimeout('silent')", 10),
        ("raise NotApplicable('not declared')", 0),  # nothing selected applies: no fault
        ("raise DeviceFault('bad value')", 1),
        ("assert 1 == 2", 1),
        ("{}['x']", 11),
    ],
)
def test_exit_status_is_the_acceptance_verdict(
    pytester: pytest.Pytester, body: str, expected_exit: int
) -> None:
    pytester.makepyfile(
        "import pytest\n"
        "from conformance.verdicts import *\n"
        "@pytest.mark.requirement('CDR-DVM-012')\n"
        f"def test_one():\n    {body}\n"
    )
    result = pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports")
    assert result.ret == expected_exit


def test_error_in_a_fixture_is_a_non_zero_exit(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.fixture
        def lab_part():
            raise ConnectionRefusedError("port 5683 in use")
        @pytest.mark.requirement("ATT-DMIG-3.2")
        def test_one(lab_part): pass
        """
    )
    result = pytester.runpytest("--dut", "builtin:lwm2m", "--reports", "reports")
    assert result.ret == 11
    result.stdout.fnmatch_lines(
        ["acceptance: the suite itself broke*(exit status 11)", "*1 error*"]
    )


MIXED = """
import pytest
from conformance.verdicts import DeviceFault, Inconclusive, NotApplicable
pytestmark = pytest.mark.requirement("CDR-DVM-012")
def test_a(): pass
def test_b(): raise Inconclusive("operator absent")
def test_c(): raise NotApplicable("no FOTA")
{extra}
"""


@pytest.mark.parametrize(
    ("extra", "options", "expected_exit"),
    [
        ("", (), 10),
        ("", ("--accept-inconclusive",), 0),
        ("def test_d(): {}['x']", (), 11),
        ("def test_d(): {}['x']", ("--accept-inconclusive",), 11),
        ("def test_d(): {}['x']\ndef test_e(): raise DeviceFault('bad')", (), 1),  # FAIL wins
        ("def test_e(): raise DeviceFault('bad')", ("--accept-inconclusive",), 1),
    ],
    ids=["inconclusive", "accepted", "error", "error-accepting", "fail-wins", "fail-accepting"],
)
def test_worst_verdict_decides_the_exit(
    pytester: pytest.Pytester, extra: str, options: tuple[str, ...], expected_exit: int
) -> None:
    pytester.makepyfile(MIXED.format(extra=extra))
    result = pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports", *options)
    assert result.ret == expected_exit, result.stdout.str()
    result.stdout.fnmatch_lines([f"acceptance: *(exit status {expected_exit})"])


def test_junit_counts_inconclusive_as_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(MIXED.format(extra=""))
    pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports", "--run-name", "r")
    junit = (pytester.path / "reports" / "r" / "junit.xml").read_text()
    assert 'type="INCONCLUSIVE"' in junit and 'errors="1"' in junit, junit
    pytester.runpytest("--dut", "builtin:omadm", "--reports", "reports", "--run-name", "a",
                       "--accept-inconclusive")
    accepted = (pytester.path / "reports" / "a" / "junit.xml").read_text()
    assert "INCONCLUSIVE" not in accepted.split("<testcase")[0] and 'errors="0"' in accepted


def test_plain_tests_keep_pytest_semantics(pytester: pytest.Pytester) -> None:
    # The plugin is loaded in every pytest run: the project's own tests are not cases, so an
    # Inconclusive escaping a unit test is an ordinary failure there, not a quiet skip.
    pytester.makepyfile(
        """
        from conformance.verdicts import Inconclusive
        def test_unit(): raise Inconclusive("leaked")
        """
    )
    result = pytester.runpytest()
    assert result.ret == 1
    result.assert_outcomes(failed=1)
    assert not (pytester.path / "reports").exists()
