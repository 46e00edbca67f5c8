"""The host identity CSV checker (ATT-DMIG-1.5-CSV): each broken fixture gives its findings."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.declaration import HostDevice, luhn_valid
from conformance.hostcsv import check_file, check_text, imei_luhn_ok, main

FIXTURES = Path(__file__).parent / "fixtures"
CERTIFIED = HostDevice(
    manufacturer="ACME Inc", model="Arrow21", software_version="40", unique_id="99bAEfgXXf"
)


def findings(name: str, expected: HostDevice | None = CERTIFIED) -> list[tuple[int, str]]:
    return [(f.line, f.field) for f in check_file(FIXTURES / name, expected)]


def test_the_guides_own_sample_passes() -> None:
    assert findings("guide-sample.csv") == []


def test_comma_separated_is_accepted() -> None:
    assert findings("comma.csv") == []


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("no-header.csv", [(1, "header")]),
        ("wrong-field-count.csv", [(2, "line"), (3, "line")]),
        ("bad-imei.csv", [(2, "IMEI"), (3, "IMEI")]),
        ("duplicate-imei.csv", [(4, "IMEI")]),
        ("wrong-values.csv", [(2, "Host_SW_Ver"), (3, "Host_MFR"), (3, "Host_Model")]),
        ("bad-unique-id-and-empty.csv", [(2, "Host Device Unique ID"), (3, "Host_SW_Ver")]),
        ("other-unique-id.csv", [(2, "Host Device Unique ID"), (3, "Host Device Unique ID")]),
        # A quoted field spanning lines 2-3: the next row starts on physical line 4.
        ("multiline-quoted.csv", [(2, "Host_MFR"), (4, "Host_SW_Ver")]),
        ("empty.csv", [(0, "file")]),
    ],
)
def test_each_broken_fixture_gives_exactly_its_findings(
    fixture: str, expected: list[tuple[int, str]]
) -> None:
    assert findings(fixture) == expected


def test_messages_name_the_value_and_the_rule() -> None:
    messages = [str(f) for f in check_file(FIXTURES / "bad-imei.csv", CERTIFIED)]
    assert messages == [
        "line 2: IMEI: 357099060399037 has a wrong check digit (Luhn)",
        "line 3: IMEI: '35709906039903' is not 15 digits",
    ]
    dup = [str(f) for f in check_file(FIXTURES / "duplicate-imei.csv", CERTIFIED)]
    assert dup == ["line 4: IMEI: 357099060399038 repeats line 2"]


def test_values_are_not_compared_without_a_declaration() -> None:
    assert findings("wrong-values.csv", expected=None) == []


def test_not_utf8_is_one_finding(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(b"Host_MFR,Host_SW_Ver,Host_Model,IMEI,Host Device Unique ID\n\xe9,1,2,3,4\n")
    result = check_file(bad)
    assert [(f.line, f.field) for f in result] == [(0, "file")]
    assert "not UTF-8" in result[0].message


def test_cli_exit_status_and_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(FIXTURES / "guide-sample.csv")]) == 0
    assert main([str(FIXTURES / "bad-imei.csv")]) == 1
    out = capsys.readouterr().out
    assert "bad-imei.csv:line 2: IMEI:" in out
    assert out.rstrip().endswith("FAIL (2 findings)")


@given(st.text(alphabet="0123456789", min_size=15, max_size=15))
def test_fast_luhn_agrees_with_the_reference(imei: str) -> None:
    assert imei_luhn_ok(imei) == luhn_valid(imei)


@given(st.text(max_size=400))
def test_any_text_gives_findings_not_exceptions(text: str) -> None:
    for finding in check_text(text):
        assert finding.line >= 0 and finding.message
