"""Benchmark 4: time to verdict, the whole catalog against the reference devices.

Runs the real command, ``conformance run --parts auto --reports TMP [--dut builtin:P]``, for
OMA-DM, for LwM2M and for both (no --dut: every built-in device side by side in its own
process, the LwM2M catalog in parts, as ``./run suite`` does, with bytecode written as it does;
``--parts 1``: each device's catalog whole), and times its wall clock and the CPU
time of all its processes (the children's rusage: pytest, lab, reference devices, Chromium
for the PDF). From each run folder it then reads:

- ``verdicts.json``: the case count, verdicts, the sum of case durations and the slowest cases
  (what the time is spent on);
- ``transcript.jsonl``: every message with its timestamp. Per device, consecutive messages
  give three kinds of interval:
  * lab handling: a device's request -> the lab's response (OMA-DM: a POST -> its answer,
    which includes the test case deciding the next command while the lab holds the request;
    LwM2M: Register/Update/Notify -> the ACK). All of it is the suite's own time.
  * device time: a lab request -> the device's response (LwM2M GET/PUT/… -> ACK).
  * turnaround: a device's response -> the lab's next request to it (LwM2M): the test case
    code, the facade and the lab encoding the next request, plus any deliberate wait of the
    case (a pmin/pmax window); shown as percentiles, p50 being the typical suite turnaround.

Run: .venv/bin/python bench/bench_time_to_verdict.py [--only omadm|lwm2m|both] [--parts K|auto]
(``--smoke``: the OMA-DM run only, ``-k`` picking two cases.)
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common
from _common import percentiles, table

CONFORMANCE = Path(sys.executable).with_name("conformance")
METHODS = {"GET", "PUT", "POST", "DELETE", "FETCH", "IPATCH", "PATCH", "iPATCH"}
SMOKE_K = {"omadm": "test_session_after_update or test_declared_type", "lwm2m": "test_register"}


def is_request(entry: dict[str, Any]) -> bool:
    """OMA-DM: every POST; CoAP: a CON/NON whose second word is a method (not a code)."""
    words = entry["summary"].split()
    if entry["protocol"] == "omadm":
        return words[:1] == ["POST"]
    return len(words) > 1 and words[0] in ("CON", "NON") and words[1] in METHODS


def intervals(entries: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Lab handling / device time / turnaround intervals, per device, in seconds."""
    out: dict[str, list[float]] = {"lab": [], "device": [], "turnaround": []}
    last: dict[str, dict[str, Any]] = {}
    for e in entries:
        if e["direction"] == "note" or e["protocol"] not in ("omadm", "lwm2m"):
            continue
        prev = last.get(e["device"])
        last[e["device"]] = e
        if prev is None:
            continue
        gap = e["time"] - prev["time"]
        if prev["direction"] == "device->lab" and e["direction"] == "lab->device":
            if is_request(prev) and not is_request(e):
                out["lab"].append(gap)
            elif not is_request(prev) and is_request(e):
                out["turnaround"].append(gap)
        elif (prev["direction"] == "lab->device" and e["direction"] == "device->lab"
              and is_request(prev) and not is_request(e)):
            out["device"].append(gap)
    return out


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(reports: Path, dut: str | None, name: str, extra: list[str],
        parts: str = "auto") -> tuple[float, float, int]:
    """Wall seconds, CPU seconds of every process of the run, exit status."""
    # The working tree's catalog named: under bench/ab.py the code (BENCH_CODE, PYTHONPATH)
    # is an archive of conformance/ alone, without testcases/ next to it.
    cmd = [str(CONFORMANCE), "run", "--reports", str(reports), "--run-name", name,
           "--catalog", str(_common.REPO / "testcases")]
    if parts != "1":  # the option is newer than some of the code bench/ab.py compares
        cmd += ["--parts", parts]
    if dut:
        cmd += ["--dut", dut]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": ""}  # as ./run suite
    cpu, start = children_cpu(), time.perf_counter()
    # Started outside the repository: `python -m pytest` puts its working directory first on
    # sys.path, which would import the working tree's conformance/ over BENCH_CODE's.
    code = subprocess.call([*cmd, "-q", "-p", "no:cacheprovider", *extra], env=env,
                           cwd=reports, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, children_cpu() - cpu, code


def folders(reports: Path, name: str) -> list[Path]:
    return sorted(p for p in reports.iterdir() if p.is_dir() and not p.is_symlink()
                  and p.name.split("-")[0] == name)


def summarise(folder: Path) -> dict[str, Any]:
    verdicts = json.loads((folder / "verdicts.json").read_text())
    cases = verdicts.get("cases", [])
    # One transcript per lab: the run's, or each part's (none for the CSV host device)
    found: dict[str, list[float]] = {"lab": [], "device": [], "turnaround": []}
    messages = 0
    transcripts = [folder / "transcript.jsonl", *sorted(folder.glob("parts/*/transcript.jsonl"))]
    for transcript in transcripts:
        if not transcript.is_file():
            continue
        entries = [json.loads(line) for line in transcript.open()]
        messages += sum(1 for e in entries if e["direction"] != "note")
        for kind, values in intervals(entries).items():
            found[kind].extend(values)
    return {
        "protocol": verdicts.get("run", {}).get("protocol", "?"),
        "cases": len(cases),
        "counts": verdicts.get("counts", {}),
        "case_time": sum(c.get("duration", 0.0) for c in cases),
        "slowest": sorted(cases, key=lambda c: -c.get("duration", 0.0))[:10],
        "waiting": [c.get("duration", 0.0) for c in cases if c.get("duration", 0.0) >= 1.0],
        "messages": messages,
        "intervals": found,
    }


def main() -> int:
    p = _common.parser(__doc__ or "")
    p.add_argument("--only", choices=("omadm", "lwm2m", "both"))
    p.add_argument("--repeat", type=int, default=1, help="run each plan N times in the same "
                   "reports folder (from the second on, parts are balanced by the run before)")
    p.add_argument("--parts", default="auto", help="conformance run --parts (default: auto, as "
                   "./run suite; 1: every catalog whole)")
    args = p.parse_args()
    _common.header("bench_time_to_verdict: conformance run, whole catalog")
    plans = [("omadm", "builtin:omadm"), ("lwm2m", "builtin:lwm2m"), ("both", None)]
    if args.only:
        plans = [x for x in plans if x[0] == args.only]
    if args.smoke:
        plans = plans[:1]
    rows, details = [], []
    with tempfile.TemporaryDirectory() as tmp:
        reports = Path(tmp)
        for (label, dut), repeat in [(plan, i) for plan in plans for i in range(args.repeat)]:
            # A repeat runs in the same reports folder: its parts are balanced by the case
            # durations of the run before (as a second `./run suite` is)
            name = f"{label}.{repeat + 1}" if args.repeat > 1 else label
            extra = ["-k", SMOKE_K[label]] if args.smoke else []
            wall, cpu, code = run(reports, dut, name, extra, args.parts)
            found = [summarise(f) for f in folders(reports, name)]
            cases = sum(s["cases"] for s in found)
            case_time = sum(s["case_time"] for s in found)
            counts: dict[str, int] = {}
            for s in found:
                for k, v in s["counts"].items():
                    counts[k] = counts.get(k, 0) + v
            verdicts = " ".join(f"{k}={v}" for k, v in counts.items() if v)
            rows.append([name, code, cases, wall, cpu, case_time, verdicts])
            if label != "both" and repeat == 0:
                details.extend(found)
    table(rows, ["run", "exit", "cases", "wall s", "CPU s", "sum of case durations s",
                 "verdicts"])
    print("   CPU = user + system of every process of the run; the case durations of 'both' "
          "add up runs that went side by side")
    irows = []
    for s in details:
        for kind in ("lab", "device", "turnaround"):
            values = s["intervals"][kind]
            if not values:
                continue
            p50, p90, p99 = percentiles(values)
            irows.append([s["protocol"], kind, len(values), p50 * 1e3, p90 * 1e3, p99 * 1e3,
                          sum(values)])
    print("\n   intervals between consecutive messages of a device (from transcript times):")
    table(irows, ["protocol", "interval", "count", "p50 ms", "p90 ms", "p99 ms", "total s"])
    for s in details:
        print(f"\n   slowest {s['protocol']} cases ({s['messages']} messages in the transcript; "
              f"{len(s['waiting'])} cases of >= 1 s take {sum(s['waiting']):.1f} s together):")
        for c in s["slowest"]:
            print(f"     {c.get('duration', 0):6.2f} s  {c.get('verdict', '?'):14s} "
                  f"{c.get('nodeid', '?')}")
    return 0 if all(r[1] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
