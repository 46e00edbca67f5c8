"""Benchmark 8: the reference devices' verdicts on a loaded machine (issue 19).

``./run suite`` runs twelve processes side by side on two cores (ten LwM2M parts, OMA-DM,
CSV), each with its lab and reference device. The reference devices have no fault, so every
case must PASS or be NOT APPLICABLE however busy the machine is: a FAIL there is the harness
misjudging its own timing (a notification timed when the case's thread woke, not when it
arrived) or a race between the processes (a "dead" port another socket took meanwhile).
Both were found this way (bench/README.md section 4, "eighth pass").

This runs ``conformance run --parts auto`` (what ``./run suite`` runs) ``--runs`` times into
one reports folder, beside ``--hogs`` busy-loop processes that take CPU from it. A run whose
exit status is not 0 keeps its folder (named in the output, with the failing cases); the
script then exits 1.

Run: .venv/bin/python bench/bench_reference_under_load.py [--runs 10] [--hogs 3]
     [-- conformance run arguments, e.g. --dut builtin:lwm2m]
(``--smoke``: one run of two OMA-DM cases beside one hog.)
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common
from _common import table

CONFORMANCE = _common.REPO / ".venv" / "bin" / "conformance"


def hog() -> None:
    """A busy loop: one core's worth of competition for the run."""
    while True:
        pass


def not_passed(reports: Path) -> list[str]:
    """The cases of a run's reports folder (one per run) that did not pass."""
    found = []
    for verdicts in reports.glob("*/verdicts.json"):
        if verdicts.parent.is_symlink():  # latest: one of the others
            continue
        try:
            cases = json.loads(verdicts.read_text(encoding="utf-8")).get("cases", [])
        except (OSError, ValueError):
            found.append(f"{verdicts}: unreadable")
            continue
        found += [f"{c.get('nodeid')}: {c.get('verdict')}: {str(c.get('message'))[:300]}"
                  for c in cases if c.get("verdict") not in ("PASS", "NOT APPLICABLE")]
    return found


def main() -> int:
    p = _common.parser(__doc__ or "")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--hogs", type=int, default=3, help="busy-loop processes beside the runs")
    p.add_argument("run_args", nargs="*", help="after --: conformance run arguments")
    args = p.parse_args()
    run_args = args.run_args or ["--parts", "auto"]
    if args.smoke:
        args.runs, args.hogs = 1, 1
        run_args = ["--dut", "builtin:omadm", "-k", "test_cdr_dvm_4532"]
    _common.header("bench_reference_under_load: reference verdicts beside busy loops")
    # Bytecode written, as ./run suite does: else every fork compiles the project anew.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": ""}
    hogs = [mp.get_context("spawn").Process(target=hog, daemon=True) for _ in range(args.hogs)]
    for process in hogs:
        process.start()
    rows: list[list[object]] = []
    kept: list[Path] = []
    try:
        with tempfile.TemporaryDirectory(prefix="reference-under-load-") as tmp:
            for n in range(1, args.runs + 1):
                reports = Path(tmp) / f"run-{n}"
                start = time.perf_counter()
                done = subprocess.run(
                    [str(CONFORMANCE), "run", "--reports", str(reports), "-q", *run_args],
                    env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    check=False)
                wall = time.perf_counter() - start
                failures = not_passed(reports) if done.returncode else []
                rows.append([n, done.returncode, f"{wall:.1f}", len(failures)])
                if done.returncode:
                    keep = _common.keep_run(reports, done.stdout, f"reference-under-load-{n}")
                    kept.append(keep)
                    print(f"   ! run {n} exit {done.returncode}, kept in {keep}")
                    for failure in failures[:10]:
                        print(f"     {failure}")
                print(f"   run {n}: exit {done.returncode} in {wall:.1f} s", flush=True)
    finally:
        for process in hogs:
            process.kill()
    table(rows, ["run", "exit", "wall s", "cases not passed"])
    print(f"   {len(kept)} of {args.runs} runs did not pass, beside {args.hogs} busy loop(s)")
    return 1 if kept else 0


if __name__ == "__main__":
    sys.exit(main())
