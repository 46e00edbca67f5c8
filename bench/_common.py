"""Shared helpers of the benchmarks: machine facts, timing loops, percentiles, peak RSS.

Benchmarks are plain scripts (run with the project's .venv); each prints a header naming the
machine and the date, then its figures. Nothing here is timed itself.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Scripts run as `python bench/x.py`: make `conformance` importable. BENCH_CODE names another
# tree holding a `conformance/` package (bench/ab.py: the committed code, for before/after).
CODE = Path(os.environ.get("BENCH_CODE", REPO))
if str(CODE) not in sys.path:
    sys.path.insert(0, str(CODE))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    return (
        f"nproc={os.cpu_count()}, CPU {cpu_model()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def header(title: str, argv: Sequence[str] | None = None) -> None:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join(argv if argv is not None else sys.argv)
    print(f"== {title}")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"   date: {now}; machine: {machine()}")
    print(f"   load average at start: {load} (the machine is shared: other jobs add noise)")
    print(f"   command: {command}")
    if CODE != REPO:
        print(f"   code under test: {CODE} (BENCH_CODE)")


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--smoke", action="store_true", help="tiny N: prove the benchmark runs")
    return p


def per_call(fn: Callable[[], object], *, min_time: float = 0.2, repeat: int = 5) -> float:
    """Best seconds per call of ``fn`` over ``repeat`` batches of at least ``min_time`` s.

    The minimum, as timeit recommends: on a shared machine the slower batches measure the
    other jobs, not the code.
    """
    fn()  # warm caches (imports, lxml parser objects)
    n = 1
    while True:  # calibrate a batch size that runs at least min_time
        start = time.perf_counter()
        for _ in range(n):
            fn()
        took = time.perf_counter() - start
        if took >= min_time or n >= 1 << 20:
            break
        n = max(n * 2, int(n * min_time / max(took, 1e-9)))
    samples = [took / n]
    for _ in range(repeat - 1):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - start) / n)
    return min(samples)


def percentiles(values: Sequence[float], points: Sequence[int] = (50, 90, 99)) -> list[float]:
    """Nearest-rank percentiles (values in any unit); empty input gives NaNs."""
    if not values:
        return [float("nan")] * len(points)
    ordered = sorted(values)
    out = []
    for p in points:
        rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
        out.append(ordered[rank])
    return out


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mib() -> float:
    """Largest peak RSS of the waited-for child processes so far."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def table(rows: Sequence[Sequence[object]], head: Sequence[str]) -> None:
    cells = [[str(c) for c in head]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    for i, row in enumerate(cells):
        print("   " + "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        if i == 0:
            print("   " + "  ".join("-" * w for w in widths))


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def keep_run(reports: Path, output: bytes, label: str) -> Path:
    """A reference run that did not pass is evidence (the reference devices have no fault):
    its reports folder and output are moved out of the benchmark's temporary folder, which
    goes at the end, into a folder of their own; returns it."""
    kept = Path(tempfile.mkdtemp(prefix=f"kept-{label}-"))
    shutil.move(str(reports), kept / reports.name)
    (kept / "output.txt").write_bytes(output)
    return kept
