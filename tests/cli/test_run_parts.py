"""``conformance run --parts K``: a built-in device's catalog as K parts side by side (each its own
pytest process, lab and simulated device), merged into the device's one run folder."""

from __future__ import annotations

import argparse
import ast
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance import cli
from conformance.cli import CASE_SECONDS
from conformance.declaration import BUILTIN_DIR
from conformance.evidence.parts import Part, merge, part_folder, part_queue
from conformance.plugin.partqueue import SharedQueue
from conformance.plugin.parts import COLLECTED, assign, parse_part, read_weights

from .test_cli import FAKE_LAB
from .test_run_several import MEET, meeting_catalog, run_cli

REPO = Path(__file__).resolve().parents[2]
# The parts take the cases from their shared queue in node id order: test_a_* first, … (in fixed
# shares, under another --order: every other case). The two meeting cases wait for each other,
# so they pass only if the parts run side by side.
CASES = MEET + '''
@pytest.mark.requirement("ATT-DMIG-3.2")
def test_a_meets(lab, dut):
    meet(os.O_WRONLY)

@pytest.mark.requirement("ATT-DMIG-3.2")
def test_b_meets(lab, dut):
    meet(os.O_RDONLY)

@pytest.mark.requirement("ATT-DMIG-3.2.2")
def test_c_fails(lab, dut):
    assert dut.device.name == "another device", "this case fails on purpose"

@pytest.mark.requirement("ATT-DMIG-3.2.2")
def test_d_passes(lab, dut):
    assert dut.protocol == "lwm2m"
'''


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    return meeting_catalog(tmp_path, CASES)


def test_parts_run_side_by_side_into_one_run_folder(catalog: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    proc = run_cli("run", "--catalog", str(catalog), "--reports", str(reports),
                   "--dut", "builtin:lwm2m", "--parts", "2", "--run-name", "dev")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out  # test_c_fails decides, whatever part it ran in
    assert any(line.startswith("[lwm2m 1/2] ") for line in out.splitlines()), out
    assert any(line.startswith("[lwm2m 2/2] ") for line in out.splitlines()), out
    # Each part says once it has its cases (conformance run holds devices back on it).
    assert ("[lwm2m 1/2] part 1/2: 2 of 4 cases, then what the others have left"
            in out.splitlines()), out
    assert ("[lwm2m 2/2] part 2/2: 2 of 4 cases, then what the others have left"
            in out.splitlines()), out
    device = reports / "dev"
    assert (reports / "latest").resolve() == device.resolve()

    verdicts = json.loads((device / "verdicts.json").read_text())
    by_case = {c["nodeid"].split("::")[-1]: c["verdict"] for c in verdicts["cases"]}
    assert by_case == {"test_a_meets": "PASS", "test_b_meets": "PASS",
                       "test_c_fails": "FAIL", "test_d_passes": "PASS"}  # each once
    part_of = {c["nodeid"].split("::")[-1]: c["part"] for c in verdicts["cases"]}
    assert part_of["test_a_meets"] != part_of["test_b_meets"]  # they met: side by side
    assert verdicts["run"]["split"] == ("every K-th case of the sorted node ids; a part that "
                                        "had finished its share took what the others had left")
    assert not (device / "parts" / "queue.json").exists()  # merged away
    assert verdicts["requirements"] == {"ATT-DMIG-3.2": "PASS", "ATT-DMIG-3.2.2": "FAIL"}
    assert verdicts["run"]["exit_status"] == 1 and verdicts["harness_problems"] == []

    suites = ET.parse(device / "junit.xml").getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == ["pytest (parts/part-1)", "pytest (parts/part-2)"]
    assert sum(int(s.get("tests", 0)) for s in suites) == 4
    assert sum(int(s.get("failures", 0)) for s in suites) == 1

    report = json.loads((device / "acceptance.json").read_text())
    assert report["verdict"] == "FAIL" and report["complete"] is True
    rows = {r["id"]: r for r in report["requirements"]}
    assert rows["ATT-DMIG-3.2.2"]["verdict"] == "FAIL"
    assert len(rows["ATT-DMIG-3.2"]["cases"]) == 2
    paths = [e["path"] for r in rows.values() for c in r["cases"] for e in c["evidence"]]
    assert paths and all((device / p).is_file() for p in paths), paths
    assert "parts/part-1/report.html" in (device / "report.html").read_text()
    with tarfile.open(device / "allure-results.tar.gz") as tar:
        results = [m.name for m in tar if m.name.endswith("-result.json")]
    assert len(results) == 4
    # Each part keeps its own messages; what was merged is not kept twice.
    for index in (1, 2):
        folder = device / "parts" / f"part-{index}"
        assert (folder / "transcript.jsonl").is_file() and (folder / "report.html").is_file()
        assert not (folder / "verdicts.json").exists()
        assert not (folder / "allure-results.tar.gz").exists()


# Shares (every other case of the sorted node ids): part 1 a, c; part 2 b, d. test_a waits for
# test_c, so part 1 cannot run c itself: part 2, done with its share, must take it while part 1
# is still in a. A part that took its next case before finishing the last would hold c: no meeting.
TAKEN_LATE = MEET + """
@pytest.mark.requirement("ATT-DMIG-3.2")
def test_a_waits_for_c(lab, dut):
    meet(os.O_WRONLY)

@pytest.mark.requirement("ATT-DMIG-3.2")
def test_b_passes(lab, dut):
    pass

@pytest.mark.requirement("ATT-DMIG-3.2")
def test_c_meets_a(lab, dut):
    meet(os.O_RDONLY)

@pytest.mark.requirement("ATT-DMIG-3.2")
def test_d_passes(lab, dut):
    pass
"""


def test_a_part_done_with_its_share_takes_what_another_has_not_started(tmp_path: Path) -> None:
    catalog = meeting_catalog(tmp_path, TAKEN_LATE)
    reports = tmp_path / "reports"
    proc = run_cli("run", "--catalog", str(catalog), "--reports", str(reports),
                   "--dut", "builtin:lwm2m", "--parts", "2", "--run-name", "dev")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verdicts = json.loads((reports / "dev" / "verdicts.json").read_text())
    part = {c["nodeid"].split("::")[-1]: c["part"] for c in verdicts["cases"]}
    assert part == {"test_a_waits_for_c": "parts/part-1", "test_b_passes": "parts/part-2",
                    "test_c_meets_a": "parts/part-2", "test_d_passes": "parts/part-2"}
    assert verdicts["counts"]["PASS"] == 4 and verdicts["harness_problems"] == []


def test_a_case_no_part_ran_is_an_error_not_a_pass(tmp_path: Path) -> None:
    """The parts' queue had three cases; the parts, none of them cut short, ran two."""
    device = tmp_path / "dev"
    _part(device, 1, [("t::a", "PASS")])
    _part(device, 2, [("t::b", "PASS")])
    units = [["t::a"], ["t::b"], ["t::c"]]
    SharedQueue(part_queue(device), units, [[0, 2], [1]], [1.0] * 3, 0).claim()  # a
    SharedQueue(part_queue(device), units, [[0, 2], [1]], [1.0] * 3, 1).claim()  # b; c left
    code = merge(device, [Part(part_folder(device, 1), 0), Part(part_folder(device, 2), 0)])
    assert code == 11
    verdicts = json.loads((device / "verdicts.json").read_text())
    assert verdicts["harness_problems"] == [
        "the parts' queue: 2 of its 3 cases ran (1 of its 3 units never taken)"]
    # Cut short (Ctrl-C: pytest's status 2), the parts' own reports say so: no second problem.
    other = tmp_path / "other"
    _part(other, 1, [("t::a", "PASS")])
    data = json.loads((part_folder(other, 1) / "verdicts.json").read_text())
    data["run"]["exit_status"] = 2
    (part_folder(other, 1) / "verdicts.json").write_text(json.dumps(data))
    SharedQueue(part_queue(other), [["t::a"], ["t::b"]], [[0], [1]], [1.0] * 2, 0).claim()
    merge(other, [Part(part_folder(other, 1), 2)])
    verdicts = json.loads((other / "verdicts.json").read_text())
    assert verdicts["harness_problems"] == []


def test_another_order_keeps_fixed_shares(catalog: Path, tmp_path: Path) -> None:
    """--order reverse proves the verdicts do not depend on the order: each part keeps that
    order over a fixed share (every other case of the sorted node ids), no shared queue."""
    reports = tmp_path / "reports"
    proc = run_cli("run", "--catalog", str(catalog), "--reports", str(reports), "--order",
                   "reverse", "--dut", "builtin:lwm2m", "--parts", "2", "--run-name", "dev")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "[lwm2m 1/2] part 1/2: 2 of 4 cases" in out.splitlines(), out
    assert "[lwm2m 2/2] part 2/2: 2 of 4 cases" in out.splitlines(), out
    verdicts = json.loads((reports / "dev" / "verdicts.json").read_text())
    by_case = {c["nodeid"].split("::")[-1]: (c["verdict"], c["part"]) for c in verdicts["cases"]}
    assert by_case == {"test_a_meets": ("PASS", "parts/part-1"),
                       "test_b_meets": ("PASS", "parts/part-2"),
                       "test_c_fails": ("FAIL", "parts/part-1"),
                       "test_d_passes": ("PASS", "parts/part-2")}
    assert verdicts["run"]["split"] == "every K-th case of the sorted node ids"


def test_parts_need_a_builtin_device(tmp_path: Path) -> None:
    declaration = tmp_path / "device.yaml"  # a device of its own, even if it is our simulator
    declaration.write_text((BUILTIN_DIR / "lwm2m-simulator.yaml").read_text())
    proc = run_cli("run", "--dut", str(declaration), "--parts", "3", "--reports",
                   str(tmp_path / "reports"))
    assert proc.returncode == 2
    assert "is one device" in proc.stderr + proc.stdout
    proc = run_cli("run", "--dut", "builtin:lwm2m", "--parts", "0")
    assert proc.returncode == 2 and "--parts '0'" in proc.stderr + proc.stdout


@pytest.mark.parametrize("text", ["3", "0/2", "3/2", "1/17", "a/b", "1/"])
def test_bad_part_option_is_named(text: str) -> None:
    with pytest.raises(ValueError, match="--part"):
        parse_part(text)


def _part(device: Path, index: int, cases: list[tuple[str, str]]) -> Path:
    folder = part_folder(device, index)
    folder.mkdir(parents=True)
    (folder / "verdicts.json").write_text(json.dumps({
        "run": {"device": "d", "protocol": "lwm2m", "started": "2026-12-06T10:00:00",
                "finished": "2026-12-06T10:00:09", "failed": False},
        "harness_problems": [],
        "cases": [{"nodeid": n, "requirement": "ATT-DMIG-3.2", "verdict": v, "ets": []}
                  for n, v in cases]}))
    return folder


def test_a_part_without_verdicts_is_an_error_not_a_pass(tmp_path: Path) -> None:
    device = tmp_path / "device"
    _part(device, 1, [("t::a", "PASS")])
    part_folder(device, 2).mkdir(parents=True)  # it broke before writing anything
    code = merge(device, [Part(part_folder(device, 1), 0), Part(part_folder(device, 2), 0)])
    assert code == 11
    verdicts = json.loads((device / "verdicts.json").read_text())
    assert verdicts["harness_problems"] == ["parts/part-2: left no verdicts (exit status 0)"]
    assert verdicts["run"]["failed"] is True


def test_an_empty_part_does_not_count(tmp_path: Path) -> None:
    """A part the selection left without a case exits 10 ("no case ran"): the device does not."""
    device = tmp_path / "device"
    _part(device, 1, [("t::a", "PASS"), ("t::b", "NOT APPLICABLE")])
    _part(device, 2, [])
    part_folder(device, 3).mkdir(parents=True)  # pytest collected nothing at all
    code = merge(device, [Part(part_folder(device, 1), 0), Part(part_folder(device, 2), 10),
                          Part(part_folder(device, 3), 5)])
    assert code == 0
    assert json.loads((device / "verdicts.json").read_text())["harness_problems"] == []


def test_every_part_empty_is_not_a_pass(tmp_path: Path) -> None:
    device = tmp_path / "device"
    _part(device, 1, [])
    _part(device, 2, [])
    assert merge(device, [Part(part_folder(device, 1), 10), Part(part_folder(device, 2), 10)]) == 10


def _allure(folder: Path, names: list[str]) -> None:
    results = folder / "allure-results"
    results.mkdir()
    for name in names:
        (results / name).write_text("{}")
    with tarfile.open(folder / "allure-results.tar.gz", "w:gz") as tar:
        tar.add(results, arcname="allure-results")


def test_an_unreadable_allure_archive_of_a_part_is_left_out_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The parts' Allure archives are merged beside the acceptance report (while Chromium
    prints its PDF); a part whose archive is broken loses only its Allure results."""
    device = tmp_path / "device"
    first, second = _part(device, 1, [("t::a", "PASS")]), _part(device, 2, [("t::b", "PASS")])
    _allure(first, ["1-result.json"])
    (second / "allure-results.tar.gz").write_bytes(b"\x1f\x8b\x08 not gzip")
    assert merge(device, [Part(first, 0), Part(second, 0)]) == 0
    with tarfile.open(device / "allure-results.tar.gz") as tar:
        assert tar.getnames() == ["allure-results/1-result.json"]
    assert "part-2/allure-results.tar.gz: its Allure results are left out" in caplog.text
    assert json.loads((device / "verdicts.json").read_text())["harness_problems"] == []


def test_the_index_page_escapes_what_a_device_named(tmp_path: Path) -> None:
    device = tmp_path / "device"
    folder = _part(device, 1, [("t::a", "PASS")])
    data = json.loads((folder / "verdicts.json").read_text())
    data["run"]["device"] = "<script>alert(1)</script>"
    (folder / "verdicts.json").write_text(json.dumps(data))
    merge(device, [Part(folder, 0)])
    page = (device / "report.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page


BLOCKING = '''
import threading
import pytest

@pytest.mark.requirement("ATT-DMIG-3.2")
def test_a_runs(lab, dut):
    pass

@pytest.mark.requirement("ATT-DMIG-3.2")
def test_b_runs(lab, dut):
    pass

@pytest.mark.requirement("ATT-DMIG-3.2")
@pytest.mark.parametrize("part", [1, 2])
def test_c_waits(lab, dut, part):
    print("CASE WAITING", flush=True)
    threading.Event().wait(120)  # until Ctrl-C
'''


@pytest.mark.slow
def test_ctrl_c_still_merges_what_the_parts_ran(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "conftest.py").write_text(FAKE_LAB)
    (catalog / "test_cases.py").write_text(BLOCKING)
    reports = tmp_path / "reports"
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance.cli", "run", "--catalog", str(catalog),
         "--reports", str(reports), "--dut", "builtin:lwm2m", "--parts", "2", "--run-name",
         "dev", "-s"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        waiting = set()
        for line in proc.stdout:  # the relayed lines of both parts: no sleeping
            if "CASE WAITING" in line:
                waiting.add(line.split("]")[0])
                if len(waiting) == 2:
                    break
        assert waiting == {"[lwm2m 1/2", "[lwm2m 2/2"}
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0, out
    report = json.loads((reports / "dev" / "acceptance.json").read_text())
    assert report["complete"] is False and report["verdict"] == "INCONCLUSIVE"
    verdicts = json.loads((reports / "dev" / "verdicts.json").read_text())
    ran = {c["nodeid"].split("::")[-1]: c["verdict"] for c in verdicts["cases"]}
    assert ran["test_a_runs"] == "PASS" and ran["test_b_runs"] == "PASS"


def test_known_durations_balance_the_parts() -> None:
    weights = {"t::slow1": 4.0, "t::slow2": 4.0, "t::slow3": 2.0, "t::slow4": 2.0}
    fast = [f"t::fast{i:02d}" for i in range(12)]
    nodeids = [*weights, *fast]
    parts = assign(nodeids, 2, {**weights, **{n: 0.01 for n in fast}})
    assert sorted(parts) == sorted(nodeids)  # every case in exactly one part
    load = [sum(weights.get(n, 0.01) for n, p in parts.items() if p == k) for k in (0, 1)]
    assert abs(load[0] - load[1]) < 0.1, load
    assert parts["t::slow1"] != parts["t::slow2"]  # the two longest go to different parts
    assert assign(list(reversed(nodeids)), 2, weights) == assign(nodeids, 2, weights)


def test_no_durations_interleave_the_sorted_node_ids() -> None:
    assert assign(["b", "a", "d", "c"], 2, {}) == {"a": 0, "b": 1, "c": 0, "d": 1}


def test_unreadable_or_hostile_durations_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.json"
    path.write_text(json.dumps({"cases": [
        {"nodeid": "t::a", "duration": 1.5}, {"nodeid": "t::b", "duration": -1},
        {"nodeid": "t::c", "duration": 1e9}, {"nodeid": 3, "duration": 1}, "junk",
        {"nodeid": "t::d", "duration": "2"}]}))
    assert read_weights(path) == {"t::a": 1.5}
    path.write_text("{not json")
    assert read_weights(path) == {}
    assert read_weights(tmp_path / "missing.json") == {}


def test_a_second_run_is_split_by_the_first_runs_durations(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "conftest.py").write_text(FAKE_LAB)
    (catalog / "test_cases.py").write_text(BLOCKING.replace("threading.Event().wait(120)", ""))
    reports = tmp_path / "reports"
    for name in ("first", "second"):
        proc = run_cli("run", "--catalog", str(catalog), "--reports", str(reports), "--dut",
                       "builtin:lwm2m", "--parts", "2", "--run-name", name)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    first = json.loads((reports / "first" / "verdicts.json").read_text())["run"]["split"]
    second = json.loads((reports / "second" / "verdicts.json").read_text())["run"]["split"]
    took = "; a part that had finished its share took what the others had left"
    assert first == "every K-th case of the sorted node ids" + took
    assert second == (f"balanced by the case durations of {reports / 'first' / 'verdicts.json'}"
                      + took)
    assert "balanced by the case durations" in (reports / "second" / "report.html").read_text()


FOUR = '''
import pytest

@pytest.mark.requirement("ATT-DMIG-3.2")
@pytest.mark.parametrize("name", ["a", "b", "c", "d"])
def test_runs(lab, dut, name):
    pass
'''


def four_case_catalog(tmp_path: Path, seconds: dict[str, float]) -> Path:
    """A catalog of FOUR on the fake lab whose case-seconds.json gives ``seconds`` by name."""
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "conftest.py").write_text(FAKE_LAB)
    (catalog / "test_cases.py").write_text(FOUR)
    (catalog / CASE_SECONDS).write_text(json.dumps({"cases": [
        {"nodeid": f"test_cases.py::test_runs[{name}]", "duration": s}
        for name, s in seconds.items()]}))
    return catalog


def test_a_first_run_is_split_by_the_catalogs_case_seconds(tmp_path: Path) -> None:
    """With no earlier run of the device, the catalog's case-seconds.json (keys: paths from its
    own folder) balances the parts: a and c, the slow ones, go to different parts, each with a
    fast one (interleaving the sorted node ids would have put a and c together). Fixed shares
    (--order reverse) show it; with the shared queue the same durations order the queue."""
    catalog = four_case_catalog(tmp_path, {"a": 5.0, "b": 1.0, "c": 5.0, "d": 1.0})
    reports = tmp_path / "reports"
    proc = run_cli("run", "--catalog", str(catalog), "--reports", str(reports), "--dut",
                   "builtin:lwm2m", "--parts", "2", "--run-name", "first", "--order", "reverse")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verdicts = json.loads((reports / "first" / "verdicts.json").read_text())
    assert verdicts["run"]["split"] == f"balanced by the case durations of {catalog / CASE_SECONDS}"
    part = {c["nodeid"].split("::")[-1]: c["part"] for c in verdicts["cases"]}
    assert part == {"test_runs[a]": "parts/part-1", "test_runs[b]": "parts/part-1",
                    "test_runs[c]": "parts/part-2", "test_runs[d]": "parts/part-2"}


def test_cases_an_earlier_run_did_not_have_take_the_catalogs_seconds(tmp_path: Path) -> None:
    """The earlier run ran one case (-k): the others' times come from case-seconds.json, not
    from that one case's (which would make them all alike and put a and c together)."""
    catalog = four_case_catalog(tmp_path, {"a": 5.0, "c": 5.0, "d": 1.0})
    reports = tmp_path / "reports"
    for name, selection in (("subset", ["-k", "test_runs and b"]), ("whole", [])):
        proc = run_cli("run", "--catalog", str(catalog), "--reports", str(reports), "--dut",
                       "builtin:lwm2m", "--parts", "2", "--run-name", name, *selection,
                       "--order", "reverse")  # fixed shares: the split shows the durations
        assert proc.returncode == 0, proc.stdout + proc.stderr
    verdicts = json.loads((reports / "whole" / "verdicts.json").read_text())
    assert verdicts["run"]["split"] == (
        f"balanced by the case durations of {reports / 'subset' / 'verdicts.json'}, else "
        f"{catalog / CASE_SECONDS}")
    part = {c["nodeid"].split("::")[-1]: c["part"] for c in verdicts["cases"]}
    assert part["test_runs[a]"] != part["test_runs[c]"], part
    assert part["test_runs[a]"] == part["test_runs[d]"], part  # 5 + 1 against 5 + b's ~0


def test_the_catalogs_case_seconds_name_its_cases() -> None:
    """The shipped case-seconds.json names cases that exist (a renamed case would silently
    count as the median one), and holds the cases that wait longest."""
    catalog = REPO / "testcases"
    weights = read_weights(catalog / CASE_SECONDS)
    assert len(weights) > 100
    for key in weights:
        module, _, name = key.partition("::")
        tree = ast.parse((catalog / module).read_text(encoding="utf-8"))
        functions = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}
        assert name.partition("[")[0] in functions, key
    assert max(weights.values()) >= 2.0  # the timer cases: what the split is for
    # Both built-in devices that ./run suite runs in parts (cli.AUTO_PARTS) are in it.
    assert {key.partition("/")[0] for key in weights} >= set(cli.AUTO_PARTS)


def test_the_case_seconds_script_keys_by_path_from_the_catalog(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "verdicts.json").write_text(json.dumps({"cases": [
        {"nodeid": "testcases/lwm2m/test_x.py::test_y[1]", "duration": 1.234},
        {"nodeid": "elsewhere/test_z.py::test_z", "duration": 2.0}]}))
    other = tmp_path / "other"  # the other device's run: the file names both
    other.mkdir()
    (other / "verdicts.json").write_text(json.dumps({"cases": [
        {"nodeid": "testcases/omadm/test_o.py::test_o", "duration": 0.5}]}))
    catalog = tmp_path / "testcases"
    catalog.mkdir()
    script = [sys.executable, str(REPO / "scripts" / "case_seconds.py"), str(run), str(catalog)]
    proc = subprocess.run([*script[:3], str(other), *script[3:], "--root", str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert read_weights(catalog / CASE_SECONDS) == {"lwm2m/test_x.py::test_y[1]": 1.23,
                                                   "omadm/test_o.py::test_o": 0.5}
    # Node ids from another root name no case of the catalog: nothing is written.
    (catalog / CASE_SECONDS).unlink()
    proc = subprocess.run([*script, "--root", str(run)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 1 and "no case of" in proc.stderr
    assert not (catalog / CASE_SECONDS).exists()


@pytest.mark.slow
def test_the_reference_lwm2m_device_in_parts(tmp_path: Path) -> None:
    """The real thing: two labs and two reference devices over real sockets, one folder."""
    reports = tmp_path / "reports"
    proc = run_cli("run", "--dut", "builtin:lwm2m", "--parts", "2", "--reports", str(reports),
                   "--run-name", "dev", "-k", "test_device_value and text")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    device = reports / "dev"
    verdicts = json.loads((device / "verdicts.json").read_text())
    assert {c["verdict"] for c in verdicts["cases"]} == {"PASS"}
    # Split by the catalog's case-seconds.json (a first run): each part has some of the four.
    assert len(verdicts["cases"]) == 4
    assert {c["part"] for c in verdicts["cases"]} == {"parts/part-1", "parts/part-2"}
    for part in ("part-1", "part-2"):  # each part's own lab recorded its own device
        lines = (device / "parts" / part / "transcript.jsonl").read_text().splitlines()
        assert any('"CON POST /rd?' in line for line in lines)
        assert (device / "parts" / part / "capture.pcapng").stat().st_size > 0
    report = json.loads((device / "acceptance.json").read_text())
    assert report["complete"] is True  # -k: the other requirements are NOT COVERED
    ran = [r for r in report["requirements"] if r["cases"]]
    assert [(r["verdict"], len(r["cases"])) for r in ran] == [("PASS", 4)]
    paths = [e["path"] for r in ran for c in r["cases"] for e in c["evidence"]]
    assert {p.split("/")[1] for p in paths} == {"part-1", "part-2"}
    assert all((device / p).is_file() for p in paths)



class Proc:
    """A child run that ends when the test says so."""

    def __init__(self, code: int) -> None:
        self.code = code
        self.ended = threading.Event()

    def wait(self, timeout: float | None = None) -> int:
        assert self.ended.wait(10), "this run never ended"
        return self.code


def planned(dut: str, parts: int) -> cli.PlannedRun:
    return cli.PlannedRun(dut=dut, label=dut, folder=Path("unused"), parts=parts)


def test_a_device_is_merged_once_its_own_parts_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not once every device has ended: the other device's run (or its PDF) often ends last,
    and the merge runs beside it. Here the other device ends only after the merge."""
    lwm2m, omadm = planned("builtin:lwm2m", 2), planned("builtin:omadm", 1)
    parts, other = [Proc(0), Proc(1)], Proc(0)
    merged: list[list[int]] = []

    def merge_parts(run: cli.PlannedRun, codes: list[int]) -> int:
        merged.append(codes)
        other.ended.set()
        return 1

    monkeypatch.setattr(cli, "merge_parts", merge_parts)
    for proc in parts:
        proc.ended.set()
    cli.wait_and_finish([lwm2m, omadm], [(lwm2m, 1, parts[0]), (lwm2m, 2, parts[1]),
                                        (omadm, 1, other)])  # type: ignore[list-item]
    assert merged == [[0, 1]] and (lwm2m.code, omadm.code) == (1, 0)


def test_a_merge_that_breaks_is_raised_to_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(run: object, codes: list[int]) -> int:
        raise RuntimeError("merge broke")

    monkeypatch.setattr(cli, "merge_parts", broken)
    lwm2m, done = planned("builtin:lwm2m", 2), Proc(0)
    done.ended.set()
    with pytest.raises(RuntimeError, match="merge broke"):
        cli.wait_and_finish([lwm2m], [(lwm2m, 1, done), (lwm2m, 2, done)])  # type: ignore[list-item]


def test_a_part_says_it_has_collected_even_when_quiet(tmp_path: Path) -> None:
    """-q drops pytest's own "collected" line, not the part's."""
    (tmp_path / "test_x.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.requirement('ATT-DMIG-3.2')\ndef test_a():\n    pass\n\n"
        "@pytest.mark.requirement('ATT-DMIG-3.2')\ndef test_b():\n    pass\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         "-p", "conformance.plugin.parts", "--part=2/2", "--rootdir", str(tmp_path),
         "-W", "ignore::pytest.PytestUnknownMarkWarning", str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "part 2/2: 1 of 2 cases" in lines, proc.stdout
    assert [line for line in lines if COLLECTED.match(line)] == ["part 2/2: 1 of 2 cases"]


def test_devices_in_fewer_parts_are_held_back() -> None:
    lwm2m, omadm = planned("builtin:lwm2m", 10), planned("builtin:omadm", 2)
    csv, declared = planned("builtin:csv-host-device", 1), planned("my-device.yaml", 1)
    assert cli.runs_held_back([omadm, lwm2m, csv, declared]) == [omadm, csv]
    # A declared device never waits: a real device may be waiting for its lab.
    assert cli.runs_held_back([declared, planned("builtin:omadm", 2)]) == []
    assert cli.runs_held_back([planned("builtin:lwm2m", 2), planned("builtin:omadm", 2)]) == []
    assert cli.runs_held_back([declared]) == []


class PipedProc(Proc):
    """A child run whose output lines the test writes; it ends when the test ends it."""

    def __init__(self) -> None:
        super().__init__(0)
        read, write = os.pipe()
        self.stdout = os.fdopen(read, "rb")
        self._write = os.fdopen(write, "wb", buffering=0)

    def say(self, line: str) -> None:
        self._write.write(line.encode() + b"\n")

    def end(self) -> None:
        self._write.close()
        self.ended.set()


def side_by_side(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                 start_child: Callable[..., PipedProc],
                 wait_until_collected: Callable[[list[threading.Event]], None],
                 *duts: str) -> argparse.Namespace:
    """``conformance run --parts auto``'s arguments for builtin:lwm2m in two parts and
    builtin:omadm in one (or ``duts``), their children from ``start_child``; every run that
    ends passes."""
    def wait_and_finish(runs: list[cli.PlannedRun], children: list[cli.Child],
                        printing: object) -> None:
        for run in runs:
            run.code = 0

    monkeypatch.setattr(cli, "start_child", start_child)
    monkeypatch.setattr(cli, "wait_and_finish", wait_and_finish)
    monkeypatch.setattr(cli, "wait_until_collected", wait_until_collected)
    monkeypatch.setattr(cli, "BUILTIN_RUNS", {"omadm": "", "lwm2m": ""})
    monkeypatch.setattr(cli, "AUTO_PARTS", {"lwm2m": 2, "omadm": 1})
    # This process's zygote (another test's, in this worker) is not cmd_run's to stop: its
    # forks' statuses would be lost.
    monkeypatch.setattr(cli.warmstart, "prestart", lambda: None)
    monkeypatch.setattr(cli.warmstart, "stop_zygote", lambda: None)
    monkeypatch.setattr(cli, "release_pdf_browser", lambda: None)
    (tmp_path / "catalog").mkdir()
    args = cli.build_parser().parse_args(
        ["run", "--catalog", str(tmp_path / "catalog"), "--reports", str(tmp_path / "r"),
         "--parts", "auto", *(arg for dut in duts for arg in ("--dut", dut))])
    args.pytest_args = []
    return args


def test_devices_held_back_start_once_every_part_has_collected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """builtin:omadm (1 part) waits until both builtin:lwm2m parts have said they collected
    their cases, or ended: the first says it, the second ends without saying it."""
    started: dict[str, PipedProc] = {}
    lwm2m_started = threading.Event()
    seen_at_omadm_start: list[tuple[bool, bool]] = []
    said, ended, omadm_started = threading.Event(), threading.Event(), threading.Event()
    waiting = threading.Event()  # cmd_run waits for the parts' lines
    moved = threading.Event()  # it waits, or it started omadm

    def start_child(run: cli.PlannedRun, part: int, *_: object, **__: object) -> PipedProc:
        label = cli.child_label(run, part)
        if run.dut == "builtin:omadm":
            seen_at_omadm_start.append((said.is_set(), ended.is_set()))
        started[label] = PipedProc()
        if label == "lwm2m 2/2":
            lwm2m_started.set()
        if run.dut == "builtin:omadm":
            omadm_started.set()
            moved.set()
        return started[label]

    real_wait = cli.wait_until_collected

    def wait_until_collected(collected: list[threading.Event]) -> None:
        waiting.set()
        moved.set()
        real_wait(collected)

    args = side_by_side(monkeypatch, tmp_path, start_child, wait_until_collected)
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(cli.cmd_run(args)))
    runner.start()
    try:
        assert lwm2m_started.wait(30)
        assert moved.wait(30)
        assert waiting.is_set() and "omadm" not in started
        started["lwm2m 1/2"].say("part 1/2: 1 of 2 cases")
        said.set()
        started["lwm2m 2/2"].end()  # ended before saying it: counts as collected
        ended.set()
        assert omadm_started.wait(30)
    finally:
        for proc in started.values():
            if not proc.ended.is_set():
                proc.end()
        runner.join(30)
    assert codes == [0] and seen_at_omadm_start == [(True, True)]
    assert "[lwm2m 1/2] part 1/2: 1 of 2 cases" in capsys.readouterr().out


def test_the_relay_sees_a_part_collected_before_it_ends(capsys: pytest.CaptureFixture[str]) -> None:
    child = PipedProc()
    collected = threading.Event()
    relay = threading.Thread(target=cli._relay, args=(child, "[lwm2m 2/3] ", False, collected))
    relay.start()
    try:
        child.say("collected 9 items / 6 deselected / 3 selected")
        child.say("part 2/3: 3 of 9 cases")
        assert collected.wait(30) and relay.is_alive()  # set while the part still runs
    finally:
        child.end()
        relay.join(30)
    assert "[lwm2m 2/3] part 2/3: 3 of 9 cases" in capsys.readouterr().out.splitlines()


def test_ctrl_c_while_devices_are_held_back_judges_none_of_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """They never start, and the run's status is not a pass even if the parts' runs pass
    (Ctrl-C may have reached only conformance run: ``kill -INT``)."""
    started: list[str] = []

    def start_child(run: cli.PlannedRun, part: int, *_: object, **__: object) -> PipedProc:
        started.append(cli.child_label(run, part))
        proc = PipedProc()
        proc.end()
        return proc

    def interrupted(collected: list[threading.Event]) -> None:
        raise KeyboardInterrupt

    args = side_by_side(monkeypatch, tmp_path, start_child, interrupted)
    assert cli.cmd_run(args) == 10  # INCONCLUSIVE: builtin:omadm was not judged
    assert started == ["lwm2m 1/2", "lwm2m 2/2"]
    out = capsys.readouterr().out
    assert "conformance run: builtin:omadm: not started (interrupted): not judged" in out
    assert [line.split()[-1] for line in out.splitlines() if line.startswith("  omadm ")] == ["10"]


def test_a_declared_device_beside_is_not_waited_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """builtin:omadm waits for builtin:lwm2m's parts only, not for a declared device beside
    (whose run prints no part line): here that device runs until the end of the test."""
    declared = tmp_path / "module.yaml"
    declared.write_text((BUILTIN_DIR / "lwm2m-simulator.yaml").read_text())
    started: dict[str, PipedProc] = {}
    omadm_started = threading.Event()

    def start_child(run: cli.PlannedRun, part: int, *_: object, **__: object) -> PipedProc:
        started[run.dut] = proc = PipedProc()
        if run.dut == "builtin:lwm2m":
            proc.end()  # its parts end at once, without a part line
        if run.dut == "builtin:omadm":
            omadm_started.set()
        return proc

    args = side_by_side(monkeypatch, tmp_path, start_child, cli.wait_until_collected,
                        "builtin:lwm2m", "builtin:omadm", str(declared))
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(cli.cmd_run(args)))
    runner.start()
    try:
        assert omadm_started.wait(30)
        assert not started[str(declared)].ended.is_set()
    finally:
        for proc in list(started.values()):
            if not proc.ended.is_set():
                proc.end()
        runner.join(30)
    assert codes == [0]
