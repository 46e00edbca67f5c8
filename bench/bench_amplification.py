"""WBXML string-table amplification against the running OMA-DM lab: answer time, lab memory,
and what it costs another device meanwhile.

Each case runs in a fresh child process (so its peak RSS is its own): an ``OmaDmLab`` with
the built-in declaration on a ``LabLoop``, then one POST of a valid package 1 whose Data is
COPIES references (STR_T) to one SIZE-byte string of the string table (tests/fuzz/
campaign.py ``amplified_wbxml``: COPIES x SIZE bytes of text from about SIZE + 2 x COPIES
bytes). While it is being answered, a second device posts a small malformed message every
50 ms; its slowest answer shows how long the lab's loop was held.

Figures: HTTP status, seconds to the answer, lab VmRSS before and VmHWM (peak) after, the
other device's slowest answer. Run it before/after with bench/ab.py:
    .venv/bin/python bench/ab.py --ref REF bench_amplification.py [--cases 1000x100000]
"""

from __future__ import annotations

import importlib.util
import multiprocessing as mp
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import _common

CAMPAIGN_PATH = _common.REPO / "tests" / "fuzz" / "campaign.py"


def _vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def case_main(copies: int, size: int, out: Any) -> None:
    import requests

    from conformance.declaration import builtin_declaration
    from conformance.evidence.transcript import Transcript
    from conformance.omadm.lab import OmaDmLab
    from conformance.runtime import LabLoop

    spec = importlib.util.spec_from_file_location("conformance_fuzz_campaign", CAMPAIGN_PATH)
    assert spec is not None and spec.loader is not None
    campaign = importlib.util.module_from_spec(spec)
    sys.modules["conformance_fuzz_campaign"] = campaign
    spec.loader.exec_module(campaign)
    body = campaign.amplified_wbxml(copies, size)
    decl = builtin_declaration("omadm")
    decl = decl.model_copy(update={"timeouts": decl.timeouts.model_copy(update={"request": 1})})
    with tempfile.TemporaryDirectory() as tmp:
        loop = LabLoop("bench-amplification")
        transcript = Transcript(path=Path(tmp) / "transcript.jsonl")
        lab = OmaDmLab(loop, decl, transcript, Path(tmp))
        lab.start()
        rss_before = _vm("VmRSS")
        other: list[float] = []
        done = threading.Event()

        def other_device() -> None:
            with requests.Session() as http:
                while not done.is_set():
                    began = time.perf_counter()
                    http.post(lab.http_url, data=b"<SyncML>", timeout=120,
                              headers={"Content-Type": "application/vnd.syncml.dm+xml"})
                    other.append(time.perf_counter() - began)
                    done.wait(0.05)  # the other device's pace

        thread = threading.Thread(target=other_device)
        thread.start()
        began = time.perf_counter()
        resp = requests.post(lab.http_url, data=body, timeout=600,
                             headers={"Content-Type": "application/vnd.syncml.dm+wbxml"})
        took = time.perf_counter() - began
        done.set()
        thread.join()
        lab.stop()
        loop.stop()
        transcript.close()
    out.send((len(body), resp.status_code, took, rss_before, _vm("VmHWM"), max(other)))


def main() -> int:
    p = _common.parser(__doc__ or "")
    p.add_argument("--cases", default="100x100000,1000x100000",
                   help="COPIESxSIZE, comma-separated")
    args = p.parse_args()
    cases = [(10, 1000)] if args.smoke else [
        tuple(int(x) for x in c.split("x")) for c in args.cases.split(",")]
    _common.header("bench_amplification: WBXML string-table expansion through the OMA-DM lab")
    rows = []
    ctx = mp.get_context("spawn")
    for copies, size in cases:
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=case_main, args=(copies, size, send))
        proc.start()
        send.close()
        size_b, status, took, before, peak, other = recv.recv()
        proc.join(60)
        rows.append([f"{copies} x {size}", size_b, f"{copies * size / 1e6:.1f}", status,
                     f"{took:.3f}", f"{before:.0f}", f"{peak:.0f}", f"{other * 1000:.0f}"])
    _common.table(rows, ["refs x string", "body bytes", "text MB", "status", "answer s",
                         "RSS before MiB", "peak MiB", "other device max ms"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
