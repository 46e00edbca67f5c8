"""Run every benchmark, one after the other, with their default sizes (or ``--smoke``).

Run: .venv/bin/python bench/run_all.py [--smoke] [--only NAME ...]
Exit status: non-zero if any benchmark failed (lost messages, a failed run, a crash).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS: list[tuple[str, list[str]]] = [
    # Issue 19's goals first (the figures of bench/README.md "Round 2"); --only picks them.
    ("bench_lwm2m_flood.py", ["--rates", "1000,2000,4000", "--burst", "2000"]),
    ("bench_omadm_lab.py", ["--n", "1,10,100,400,800", "--floor"]),
    ("bench_nonce_store.py", []),
    ("bench_time_to_verdict.py", []),  # ./run suite: both built-in devices, and each alone
    ("bench_codecs.py", []),
    ("bench_evidence_size.py", []),  # evidence: the run folder, copies of each message
    ("bench_omadm_lab.py", ["--n", "1,10,50,100,200", "--nonces", "memory"]),
    ("bench_omadm_lab.py", ["--n", "100", "--encoding", "wbxml"]),
    ("bench_lwm2m_lab.py", []),
    ("bench_csv_memory.py", []),
    ("bench_parallel_runs.py", []),
    ("bench_warm_start.py", []),
    ("bench_amplification.py", []),
    ("bench_reference_under_load.py", ["--runs", "5"]),  # verdicts of ./run suite under load
]
GOALS = 6  # the entries --goals runs (bench_codecs: the WBXML row)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--smoke", action="store_true", help="tiny N: prove each one runs")
    p.add_argument("--only", nargs="*", default=[], help="script names (e.g. bench_codecs)")
    p.add_argument("--goals", action="store_true",
                   help=f"only issue 19's goal figures: the first {GOALS} entries")
    args = p.parse_args()
    failed = []
    seen: set[str] = set()
    for script, extra in BENCHMARKS[:GOALS] if args.goals else BENCHMARKS:
        if args.only and Path(script).stem not in args.only:
            continue
        if args.smoke:  # one smoke run per script, with its own tiny sizes
            if script in seen:
                continue
            seen.add(script)
            extra = ["--smoke"]
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / script), *extra])
        took = time.perf_counter() - start
        print(f"-- {script} {' '.join(extra)}: exit {code} in {took:.1f} s\n", flush=True)
        if code:
            failed.append(script)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
