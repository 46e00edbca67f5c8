"""Warm starts (conformance/warmstart.py): CPU and wall per catalog run, forked or new.

Runs N short catalog runs one after the other, as the fault matrices do (each a one-case run of
a built-in device with a fault, its own reports folder), first or second in alternating rounds:
as new interpreters (``CONFORMANCE_WARM=0``) and as forks of one zygote. The CPU of a way is
everything it started, reaped: the runs, their devices and (warm) the zygote, stopped and
waited for at the end of the round; ``RUSAGE_CHILDREN`` before and after.

Run: .venv/bin/python bench/bench_warm_start.py [--n 8] [--rounds 2] [--protocol lwm2m|omadm]
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

import _common
from _common import table

from conformance import warmstart
from conformance.cli import catalog_args

CASES = {  # one quick case each, with a fault the case catches (a FAIL, as most fault rows)
    "lwm2m": ("wrong-host-values", "test_read_declared_value"),
    "omadm": ("wrong-account-values", "test_account_row"),
}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_round(warm: bool, n: int, protocol: str, base: Path) -> tuple[float, float, list[int]]:
    fault, case = CASES[protocol]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(CONFORMANCE_PDF="0", PYTHONDONTWRITEBYTECODE="")
    os.environ[warmstart.WARM_ENV] = "1" if warm else "0"
    cpu, start = children_cpu(), time.perf_counter()
    codes = []
    for i in range(n):
        args = catalog_args(_common.REPO / "testcases" / protocol, f"builtin:{protocol}",
                            str(base / f"{warm}-{i}"), [fault], "run",
                            ["-q", "-p", "no:cacheprovider", "-k", case])
        code, _ = warmstart.run_pytest(args, env=env, cwd=str(_common.REPO), timeout=300)
        codes.append(code)
    warmstart.stop_zygote()  # reaped, so that its CPU and its forks' are counted
    return time.perf_counter() - start, children_cpu() - cpu, codes


def main() -> int:
    parser = _common.parser(__doc__ or "")
    parser.add_argument("--n", type=int, default=8, help="catalog runs per way and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--protocol", default="lwm2m", choices=sorted(CASES))
    args = parser.parse_args()
    n, rounds = (2, 1) if args.smoke else (args.n, args.rounds)
    _common.header("bench_warm_start: one-case catalog runs, new interpreters against forks "
                   "of a zygote")
    rows = []
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            # Alternate which way goes first, so that a drift of the machine is not one way's.
            for warm in ((True, False) if r % 2 else (False, True)):
                wall, cpu, codes = one_round(warm, n, args.protocol, Path(tmp) / f"r{r}")
                ok = ok and set(codes) == {1}  # each case FAILs its fault, nothing else
                rows.append([r + 1, "fork" if warm else "new", n, wall / n, cpu / n,
                             " ".join(map(str, sorted(set(codes))))])
    table(rows, ["round", "start", "runs", "wall s/run", "CPU s/run", "exit codes"])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
