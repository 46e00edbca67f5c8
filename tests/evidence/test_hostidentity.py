"""The host-identity view of the acceptance report (issue 20): readings, CSV row, escaping."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.declaration import builtin_declaration
from conformance.evidence import acceptance
from conformance.evidence.hostidentity import MAX_VALUE, HostIdentityLog, render_html, section

DUT = builtin_declaration("lwm2m")
HOST = DUT.host
EXPECTED = {"manufacturer": HOST.manufacturer, "model": HOST.model,
            "software_version": HOST.software_version, "unique_id": HOST.unique_id}
SOURCES = {name: f"/10241/0/{rid}" for name, rid in
           zip(EXPECTED, (5905, 5906, 5908, 5907), strict=True)}


def test_readings_side_by_side_with_mismatches() -> None:
    log = HostIdentityLog()
    log.record("after reboot", "test_reboot", {**EXPECTED, "model": ""}, EXPECTED, SOURCES)
    log.record("start", "test_reboot", EXPECTED, EXPECTED, SOURCES)
    log.record("start", "test_other", {**EXPECTED, "model": "X"}, EXPECTED, SOURCES)  # ignored
    data = section(log, DUT)
    assert [m["moment"] for m in data["moments"]] == ["start", "after reboot"]
    assert data["moments"][0]["ok"] and data["moments"][0]["case"] == "test_reboot"
    wrong = [f for f in data["moments"][1]["fields"] if not f["ok"]]
    assert [(f["field"], f["read"], f["expected"]) for f in wrong] == [("model", "", "Arrow21")]
    page = render_html(data)
    assert page.count("class='mismatch'") == 1 and "after reboot" in page


def test_unknown_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown moment"):
        HostIdentityLog().record("whenever", "c", {}, {}, {})


def test_device_values_are_bounded_and_escaped() -> None:
    log = HostIdentityLog()
    hostile = "<script>alert(1)</script>" + "x" * (2 * MAX_VALUE)
    log.record("start", "c", {**EXPECTED, "manufacturer": hostile}, EXPECTED, SOURCES)
    data = section(log, DUT)
    read = data["moments"][0]["fields"][0]["read"]
    assert len(read) == MAX_VALUE + 1
    page = render_html(data)
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_csv_row_for_this_imei(tmp_path: Path) -> None:
    csv_file = tmp_path / "hosts.csv"
    csv_file.write_text(
        "Host_MFR\tHost_SW_Ver\tHost_Model\tIMEI\tHost Device Unique ID\n"
        "Other\t1\tM\t490154203237518\tABC\n"
        f"{HOST.manufacturer}\t39\t{HOST.model}\t{DUT.device.imei}\t{HOST.unique_id}\n",
        encoding="utf-8")
    dut = DUT.model_copy(update={"csv": DUT.csv.model_copy(update={"files": [csv_file]})})
    log = HostIdentityLog()
    log.record("start", "c", EXPECTED, EXPECTED, SOURCES)
    data = section(log, dut)
    assert data["csv"] == {"file": "hosts.csv", "line": 3, "values": {
        "manufacturer": HOST.manufacturer, "model": HOST.model, "software_version": "39",
        "unique_id": HOST.unique_id}}
    assert data["csv_matches_declaration"]["software_version"] is False
    assert "CSV hosts.csv line 3" in render_html(data)


def test_in_the_acceptance_report(tmp_path: Path) -> None:
    log = HostIdentityLog()
    log.record("start", "c", EXPECTED, EXPECTED, SOURCES)
    report = acceptance.build_report([], declaration=DUT, run_dir=tmp_path, started=0,
                                     finished=1)
    report["host_identity"] = section(log, DUT)
    acceptance.write_report(report, tmp_path)
    assert "Host identity through the device" in (tmp_path / "acceptance.html").read_text()


def test_no_reading_no_view() -> None:
    assert render_html(section(HostIdentityLog(), DUT)) == ""
