"""Before/after of one `conformance run`, in alternated rounds: for time-to-verdict changes of
about a second, which the machine's drift between two blocks of runs (``ab.py``) hides.

``git archive REF conformance`` is unpacked in a temporary folder (the *before*); the working
tree's ``conformance/`` is copied beside it (the *after*, so both run from a copy, with
``PYTHONPATH``). Each round runs both, in turns (before first in odd rounds), each into a
reports folder of its own that it keeps across rounds (so `--parts auto` balances from the
second round on). Per run: the wall time, and the end: from the last part's final pytest line
to the command's exit (the merge and its PDF). Then the medians and each round's difference.
Run: .venv/bin/python bench/ab_rounds.py --ref REV [--rounds 8] [-- conformance run args…]
(default run args: ``--parts auto``, what ``./run suite`` runs)
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import _common

PART_END = re.compile(r"^\[\S+ \d+/\d+\] =+ .* in [0-9.]+s")


def one_run(code: Path, reports: Path, run_args: list[str]
            ) -> tuple[float, float, int, float, bytes]:
    """(wall s, end s, exit status, CPU s, output) of `conformance run` with ``code`` first on
    the path (end: NaN for a run without parts; CPU: its process tree's, user + system)."""
    # Bytecode written, as ./run suite does: else every fork compiles the copies anew.
    env = {**os.environ, "PYTHONPATH": str(code), "PYTHONDONTWRITEBYTECODE": ""}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance.cli", "run", "--catalog",
         str(_common.REPO / "testcases"), "--reports", str(reports), *run_args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=reports.parent)
    assert proc.stdout is not None
    last_part = float("nan")  # a run without parts has no end of its own here
    output = []
    for line in proc.stdout:
        output.append(line)
        if PART_END.match(line.decode("utf-8", "replace")):
            last_part = time.perf_counter()
    code_ = proc.wait()
    end = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return end - start, end - last_part, code_, cpu, b"".join(output)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--ref", required=True, help="git revision of the *before* code")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--smoke", action="store_true", help="one round of a two-case run")
    p.add_argument("run_args", nargs="*", help="after --: conformance run arguments")
    args = p.parse_args()
    run_args = args.run_args or ["--parts", "auto"]
    if args.smoke:
        args.rounds, run_args = 1, ["--dut", "builtin:omadm", "-k", "test_cdr_dvm_4532"]
    _common.header("ab_rounds")
    results: dict[str, list[tuple[float, float, int, float]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="ab-rounds-") as tmp:
        folder = Path(tmp)
        archive = folder / "code.tar"
        subprocess.run(["git", "-C", str(_common.REPO), "archive", "-o", str(archive),
                        args.ref, "conformance"], check=True)
        codes = {"before": folder / "before", "after": folder / "after"}
        with tarfile.open(archive) as tar:
            tar.extractall(codes["before"], filter="data")
        shutil.copytree(_common.CODE / "conformance", codes["after"] / "conformance",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for n in range(args.rounds):
            for name in ("before", "after") if n % 2 == 0 else ("after", "before"):
                reports = folder / f"reports-{name}"
                reports.mkdir(exist_ok=True)
                wall, end, status, cpu, output = one_run(codes[name], reports, run_args)
                results[name].append((wall, end, status, cpu))
                print(f"   round {n + 1} {name:6}  wall {wall:6.2f} s  end {end:5.2f} s  "
                      f"CPU {cpu:6.2f} s  exit {status}".replace("nan", "-"), flush=True)
                if status != 0:
                    kept = _common.keep_run(reports, output, f"ab-rounds-{n + 1}-{name}")
                    print(f"   ! kept in {kept}", flush=True)
    rows = []
    for name, runs in results.items():
        walls = [w for w, _, _, _ in runs]
        rows.append((f"{name} ({args.ref})" if name == "before" else "after (working tree)",
                     len(runs), f"{statistics.median(walls):.2f}",
                     f"{min(walls):.2f}-{max(walls):.2f}",
                     f"{statistics.median(e for _, e, _, _ in runs):.2f}".replace("nan", "-"),
                     f"{statistics.median(c for _, _, _, c in runs):.2f}",
                     ",".join(str(s) for _, _, s, _ in runs)))
    _common.table(rows, ["code", "runs", "median wall s", "range s", "median end s",
                         "median CPU s", "exits"])
    diffs = [a[0] - b[0] for a, b in zip(results["after"], results["before"], strict=True)]
    print("   after - before per round, s: " + " ".join(f"{d:+.2f}" for d in diffs))
    bad = [s for runs in results.values() for _, _, s, _ in runs if s not in (0, 10)]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
