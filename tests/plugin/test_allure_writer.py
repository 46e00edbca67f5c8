"""The one-call encoding of allure-pytest's result files (conformance/plugin/allure_writer.py)
writes what allure-commons' own logger writes, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from allure_commons import (
    model2,  # its Test* classes imported by name would be collected
    plugin_manager,
)
from allure_commons.logger import AllureFileLogger
from allure_commons.model2 import Label, Parameter, Status, StatusDetails

from conformance.plugin import allure_writer


def sample_result() -> model2.TestResult:
    return model2.TestResult(
        uuid="8f3c", name="test_account_row[ServerID «ATTLabB» é]", status=Status.FAILED,
        fullName="testcases/omadm/test_x.py::test_account_row", start=1, stop=2,
        labels=[Label(name="suite", value="CDR-DVM-3955"), Label(name="tag", value="ü ✓")],
        parameters=[Parameter(name="row", value="'<Server\\nID>'")],
        statusDetails=StatusDetails(message="expected \"ATTLabA\"\ngot 'ATTLabB'",
                                    trace="Traceback …\n  line 1"),
        steps=[model2.TestStepResult(name="Get ./DMAcc", status=Status.PASSED, start=1, stop=2)],
    )


@pytest.mark.parametrize("item", [sample_result(),
                                  model2.TestResultContainer(uuid="c1", name="lab",
                                                             children=["8f3c"])])
@pytest.mark.parametrize("indent", ["", "1"])
def test_the_files_are_those_allure_commons_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, item: object, indent: str) -> None:
    monkeypatch.setenv("ALLURE_INDENT_OUTPUT", indent)
    theirs, ours = AllureFileLogger(tmp_path / "theirs"), AllureFileLogger(tmp_path / "ours")
    theirs._report_item(item)
    allure_writer._report_item(ours, item)
    [their_file], [our_file] = (list(p.iterdir()) for p in (tmp_path / "theirs",
                                                            tmp_path / "ours"))
    assert our_file.read_bytes() == their_file.read_bytes()
    assert our_file.name.endswith(their_file.name[36:])  # <uuid>-result.json / -container
    assert not list((tmp_path / "ours").glob("*.tmp"))


def test_the_registered_loggers_get_the_one_call_encoding(tmp_path: Path) -> None:
    logger = AllureFileLogger(tmp_path)
    plugin_manager.register(logger, name="test-allure-writer")
    try:
        assert allure_writer.encode_results_at_once() >= 1
        plugin_manager.hook.report_result(result=sample_result())
    finally:
        plugin_manager.unregister(name="test-allure-writer")
    assert logger._report_item.__func__ is allure_writer._report_item  # type: ignore[attr-defined]
    [written] = tmp_path.glob("*-result.json")
    assert "ATTLabB" in written.read_text(encoding="utf-8")
