"""Benchmark 5: peak RSS and wall time of ``conformance check-csv`` on a 1,000,000-line file.

The file is generated here (tab separated, the guide's columns, distinct valid IMEIs with their
Luhn check digit, one device a line), then checked by the real command in a child process;
its peak RSS comes from the kernel (``wait4`` rusage of that child). A 2-line file gives the
floor (interpreter + imports), so the growth per line is visible. Variants: every line a
duplicate of an earlier IMEI's (the worst case for the duplicate check), and bad check digits.
Run: .venv/bin/python bench/bench_csv_memory.py [--lines 1000000]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common
from _common import table

HEADER = "Host_MFR\tHost_SW_Ver\tHost_Model\tIMEI\tHost Device Unique ID\n"
CONFORMANCE = Path(sys.executable).with_name("conformance")


def luhn_digit(body: str) -> str:
    """The check digit making ``body`` + digit pass Luhn (doubling every second from the right)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def imei(n: int, *, wrong: bool = False) -> str:
    body = f"35709906{n:06d}"
    digit = luhn_digit(body)
    if wrong:
        digit = str((int(digit) + 1) % 10)
    return body + digit


def write_file(path: Path, lines: int, kind: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        chunk: list[str] = []
        for i in range(lines):
            n = i % 1_000_000 if kind != "duplicates" else i % max(1, lines // 2)
            chunk.append(f"ACME Inc\t40\tArrow21\t{imei(n, wrong=kind == 'bad-luhn')}\t"
                         f"99bAEf{i % 10000:04d}\n")
            if len(chunk) >= 10000:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))


def run_check(path: Path) -> tuple[int, float, float]:
    """(exit status, wall seconds, peak RSS MiB) of `conformance check-csv path`."""
    start = time.perf_counter()
    proc = subprocess.Popen([str(CONFORMANCE), "check-csv", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, wall, usage.ru_maxrss / 1024


def main() -> int:
    p = _common.parser(__doc__ or "")
    p.add_argument("--lines", type=int, default=1_000_000)
    args = p.parse_args()
    lines = 2000 if args.smoke else args.lines
    _common.header(f"bench_csv_memory: conformance check-csv on {lines} lines")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, n in (("floor", 2), ("valid", lines), ("duplicates", lines),
                        ("bad-luhn", lines)):
            path = Path(tmp) / f"{kind}.csv"
            write_file(path, n, "valid" if kind == "floor" else kind)
            code, wall, rss = run_check(path)
            rows.append([kind, n, f"{path.stat().st_size / 1e6:.1f}", code, wall, rss])
            path.unlink()
    table(rows, ["file", "lines", "MB", "exit", "wall s", "peak RSS MiB"])
    valid = rows[1]
    print(f"   growth over the floor for the valid file: {valid[5] - rows[0][5]:.1f} MiB "
          f"({(valid[5] - rows[0][5]) * 1024 * 1024 / max(lines, 1):.0f} B/line)")
    return 0 if valid[3] == 0 and rows[0][3] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
