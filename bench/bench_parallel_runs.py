"""Benchmark 6: several devices tested at once, as P independent ``conformance run`` processes.

pytest-xdist is not installed in the project's environment, so instead of xdist workers this
starts P ``conformance run --dut builtin:<protocol>`` side by side, each with its own reports
folder; every lab port is 0 (ephemeral) in the built-in declarations, so the P labs and
reference devices never collide. Measured: wall time until all P have finished, device-runs
per minute, and the exit status of each (all must be 0: no run may disturb another).
Run: .venv/bin/python bench/bench_parallel_runs.py [--p 1,2,3,4] [--protocol omadm|lwm2m]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common
from _common import table

CONFORMANCE = Path(sys.executable).with_name("conformance")


def run_side_by_side(p: int, protocol: str, reports: Path, extra: list[str]) -> tuple[float,
                                                                                       list[int]]:
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [str(CONFORMANCE), "run", "--dut", f"builtin:{protocol}", "--reports",
             str(reports / f"p{p}-{i}"), "--run-name", "run", "-q", "-p", "no:cacheprovider",
             *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for i in range(p)
    ]
    codes = [proc.wait() for proc in procs]
    return time.perf_counter() - start, codes


def main() -> int:
    parser = _common.parser(__doc__ or "")
    parser.add_argument("--p", default="1,2,3,4", help="comma-separated process counts")
    parser.add_argument("--protocol", default="omadm", choices=("omadm", "lwm2m"))
    args = parser.parse_args()
    levels = [2] if args.smoke else [int(x) for x in args.p.split(",")]
    extra = ["-k", "test_declared_type or test_register"] if args.smoke else []
    _common.header(f"bench_parallel_runs: P side-by-side `conformance run` ({args.protocol}); "
                   "pytest-xdist is not installed")
    rows = []
    base = None
    with tempfile.TemporaryDirectory() as tmp:
        for p in levels:
            wall, codes = run_side_by_side(p, args.protocol, Path(tmp), extra)
            per_min = p / wall * 60
            base = base or per_min
            rows.append([p, wall, per_min, f"{per_min / base:.2f}x",
                         " ".join(map(str, codes))])
    table(rows, ["P", "wall s", "device runs/min", "speed-up", "exit codes"])
    return 0 if all(set(r[4].split()) == {"0"} for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
