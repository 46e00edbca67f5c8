"""Check (not a timing): a built-in device's catalog run whole and in parts gives every case the
same verdict, with a fault injected (each fault's cases must still catch it when the cases that
share its device change).

For each fault: ``conformance run --dut builtin:P --parts 1 --fault F`` and the same with
``--parts K``, then every case's verdict and the exit statuses compared.
Run: .venv/bin/python bench/parts_vs_whole.py [--protocol lwm2m|omadm] [--parts 4] FAULT …
(``conformance faults lwm2m|omadm`` lists them; minutes per fault: two whole-catalog runs.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import _common

CONFORMANCE = Path(sys.executable).with_name("conformance")


def verdicts(reports: Path, dut: str, fault: str, parts: int) -> tuple[int, dict[str, str]]:
    # Started outside the repository, the working tree's catalog named (as bench_time_to_verdict)
    code = subprocess.call(
        [str(CONFORMANCE), "run", "--dut", dut, "--parts", str(parts), "--fault",
         fault, "--reports", str(reports), "--run-name", "run", "--catalog",
         str(_common.REPO / "testcases"), "-q", "-p", "no:cacheprovider"],
        cwd=reports.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = reports / "run" / "verdicts.json"
    cases = json.loads(path.read_text())["cases"] if path.is_file() else []
    return code, {c["nodeid"]: c["verdict"] for c in cases}


def main() -> int:
    p = _common.parser(__doc__ or "")
    p.add_argument("--protocol", choices=("lwm2m", "omadm"), default="lwm2m")
    p.add_argument("--parts", type=int, default=4)
    p.add_argument("faults", nargs="+")
    args = p.parse_args()
    dut = f"builtin:{args.protocol}"
    _common.header(f"parts_vs_whole: the {dut} catalog whole and in {args.parts} parts")
    different = 0
    with tempfile.TemporaryDirectory() as tmp:
        for fault in args.faults:
            code1, whole = verdicts(Path(tmp) / f"{fault}-whole", dut, fault, 1)
            code2, parted = verdicts(Path(tmp) / f"{fault}-parts", dut, fault, args.parts)
            diff = {k: (whole.get(k), parted.get(k)) for k in sorted(set(whole) | set(parted))
                    if whole.get(k) != parted.get(k)}
            fails = sorted(k.split("::")[-1] for k, v in parted.items() if v == "FAIL")
            same = code1 == code2 and whole and not diff
            different += not same
            print(f"{fault}: exit {code1} whole / {code2} in parts; {len(parted)} cases; "
                  f"FAIL {fails}; {'the same' if same else f'DIFFERENT: {diff}'}", flush=True)
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
