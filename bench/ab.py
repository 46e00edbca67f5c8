"""Before/after: run one benchmark against a git revision's code and the working tree.

``git archive REF conformance`` (read-only on the repository) is unpacked in a temporary
folder and the benchmark runs twice, first with ``BENCH_CODE`` pointing there (the *before*),
then on the working tree (the *after*), one after the other in the same invocation.
Run: .venv/bin/python bench/ab.py [--ref HEAD] bench_codecs.py [benchmark args…]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import _common


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--ref", default="HEAD", help="git revision of the *before* code")
    p.add_argument("script", help="benchmark script in bench/")
    p.add_argument("args", nargs=argparse.REMAINDER)
    args = p.parse_args()
    script = Path(__file__).resolve().parent / args.script
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "code.tar"
        subprocess.run(["git", "-C", str(_common.REPO), "archive", "-o", str(archive),
                        args.ref, "conformance"], check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        status = 0
        # PYTHONPATH too: benchmarks that start `conformance` in a child (check-csv) must run
        # the same code. A child must not start in the repository: `python -m pytest` puts its
        # working directory first on sys.path, over PYTHONPATH (bench_time_to_verdict starts its
        # runs in their reports folder and names the working tree's catalog).
        for label, env in ((f"before ({args.ref})", {"BENCH_CODE": tmp, "PYTHONPATH": tmp}),
                           ("after (working tree)", {})):
            print(f"#### {label}", flush=True)
            full = {k: v for k, v in os.environ.items()
                    if k not in ("BENCH_CODE", "PYTHONPATH")} | env
            status |= subprocess.call([sys.executable, str(script), *args.args], env=full)
    return status


if __name__ == "__main__":
    sys.exit(main())
