"""Write a catalog folder's ``case-seconds.json``: how long each case took in a run.

``conformance run --parts K`` splits a device's first run (no earlier run of it in the reports
folder) by this file, heaviest case first to the part with the least time so far, so that the
parts end together; later runs split by the device's latest run, and by this file for the cases
that run did not have. Keys are paths from the catalog folder, so the file holds wherever
pytest's root is. Write it again when cases that wait on timers are added or changed (a case it
does not name counts as the median one):

    .venv/bin/conformance run --dut builtin:lwm2m --parts 1 --reports /tmp/r --run-name lwm2m
    .venv/bin/conformance run --dut builtin:omadm --parts 1 --reports /tmp/r --run-name omadm
    .venv/bin/python scripts/case_seconds.py /tmp/r/lwm2m /tmp/r/omadm testcases

(each device run in parts: the built-in LwM2M and OMA-DM devices; the file names both).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # pytest's root for this repository's catalog
sys.path.insert(0, str(ROOT))

from conformance.cli import CASE_SECONDS  # noqa: E402
from conformance.plugin.parts import read_weights  # noqa: E402

ABOUT = ("Seconds each case of this folder took against the built-in reference device "
         "(keys: paths from this folder). conformance run --parts splits a first run by it, "
         "and times the cases an earlier run did not have; written by scripts/case_seconds.py.")


def catalog_keys(weights: dict[str, float], catalog: Path, root: Path) -> dict[str, float]:
    """Node ids (from pytest's ``root``) as paths from ``catalog``; cases outside it left out."""
    out: dict[str, float] = {}
    for nodeid, seconds in weights.items():
        module, _, rest = nodeid.partition("::")
        try:
            key = (root / module).resolve().relative_to(catalog.resolve()).as_posix()
        except ValueError:
            continue
        out[f"{key}::{rest}"] = round(seconds, 2)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_folders", type=Path, nargs="+", metavar="run_folder",
                   help="run folders (their verdicts.json), one per device")
    p.add_argument("catalog", type=Path, help="the catalog folder the file goes into")
    p.add_argument("--root", type=Path, default=ROOT,
                   help="pytest's root folder of that run (default: this repository)")
    args = p.parse_args()
    cases: dict[str, float] = {}
    for folder in args.run_folders:
        found = catalog_keys(read_weights(folder / "verdicts.json"), args.catalog, args.root)
        if not found:
            print(f"no case of {args.catalog} in {folder}/verdicts.json", file=sys.stderr)
            return 1
        cases.update(found)
    lines = [json.dumps({"nodeid": key, "duration": cases[key]}) for key in sorted(cases)]
    text = ('{"about": ' + json.dumps(ABOUT) + ',\n "cases": [\n  '
            + ",\n  ".join(lines) + "\n]}\n")
    (args.catalog / CASE_SECONDS).write_text(text, encoding="utf-8")
    print(f"{len(cases)} cases written to {args.catalog / CASE_SECONDS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
