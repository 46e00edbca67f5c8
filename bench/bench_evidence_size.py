"""Evidence cost: a full run folder on disk, per artefact; and the transcript's memory.

1. ``conformance run --dut builtin:omadm`` (every artefact kept: report.html, acceptance
   .html/.json/.pdf, Allure results, per-case evidence, captures, the transcript) into a
   temporary reports folder; then the folder's size on disk (allocated blocks, what ``du``
   says) and its apparent size, per top-level entry, with file counts.
   Then how often each message is stored: for every wire message of ``transcript.jsonl`` (the
   store) of at least 64 bytes, the artefacts that hold its bytes in full again (raw, or its
   text JSON- or HTML-escaped), by kind: captures (run and per case), case files, reports,
   Allure results (unpacked in memory).
2. The transcript's retained memory (tracemalloc) after N messages of ~1 KB, for two N: the
   in-memory list of before grows with N, the store on disk of after stays flat.

Run: .venv/bin/python bench/bench_evidence_size.py [--smoke] [--protocol omadm|lwm2m]
Before/after: .venv/bin/python bench/ab.py --ref main bench_evidence_size.py
"""

from __future__ import annotations

import html
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import tracemalloc
from pathlib import Path

import _common


def disk_usage(path: Path) -> tuple[int, int, int]:
    """(bytes on disk, apparent bytes, files) of a file or a folder, like du."""
    entries = [path] if path.is_file() else [path, *path.rglob("*")]
    blocks = apparent = files = 0
    for entry in entries:
        st = entry.lstat()
        blocks += st.st_blocks * 512
        if entry.is_file():
            apparent += st.st_size
            files += 1
    return blocks, apparent, files


def run_folder_sizes(protocol: str, smoke: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-evidence-") as tmp:
        reports = Path(tmp) / "reports"
        cmd = [sys.executable, "-m", "conformance.cli", "run", "--dut", f"builtin:{protocol}",
               "--reports", str(reports), "--run-name", "run", "--catalog",
               str(_common.REPO / "testcases"), "-q", "-p", "no:cacheprovider"]
        if smoke:
            cmd += ["-k", "test_cdr_dvm_4532"]
        env = {**os.environ, "PYTHONPATH": str(_common.CODE)}
        # cwd: not the repository, or `-m` would import its conformance/ instead of BENCH_CODE
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp,
                              check=False)
        run = reports / "run"
        if not run.is_dir():
            print(done.stdout[-2000:], done.stderr[-2000:])
            raise SystemExit("the run left no run folder")
        rows = []
        for entry in sorted(run.iterdir()):
            rows.append((entry.name + ("/" if entry.is_dir() else ""), *_mb(disk_usage(entry))))
        total = disk_usage(run)
        rows.sort(key=lambda r: -float(r[1]))
        rows.append(("TOTAL", *_mb(total)))
        lines = (run / "transcript.jsonl").read_text(encoding="utf-8").count("\n")
        print(f"   run exit status {done.returncode}; {lines} messages in transcript.jsonl")
        _common.table(rows, ["artefact", "MB on disk", "MB apparent", "files"])
        message_copies(run)


MIN_MESSAGE = 64  # bytes; a shorter message's bytes could occur anywhere by chance


def wire_messages(transcript: Path) -> list[list[bytes]]:
    """Each wire message of the store in the forms another artefact could hold it in."""
    messages = []
    for line in transcript.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("direction") not in ("device->lab", "lab->device"):
            continue
        text = entry.get("raw_text")
        raw = text.encode() if text is not None else bytes.fromhex(entry.get("raw") or "")
        if len(raw) < MIN_MESSAGE:
            continue
        forms = [raw]
        if text is not None:
            forms += [json.dumps(text)[1:-1].encode(), html.escape(text).encode()]
        messages.append(forms)
    return messages


def artefact_kind(name: str) -> str:
    if name.endswith(".pcapng"):
        return "case capture" if "/evidence/" in name else "run capture"
    if "/evidence/" in name:
        return "case file"
    if name.startswith("allure-results"):
        return "Allure results"
    return "report" if name.endswith((".html", ".json", ".pdf", ".xml", ".md")) else "other"


def artefacts(run: Path) -> list[tuple[str, bytes]]:
    """(path relative to the run, bytes) of every file but the store; the Allure archive's
    members one by one."""
    found = []
    for path in sorted(run.rglob("*")):
        if not path.is_file() or path.name == "transcript.jsonl" or path.suffix == ".sqlite":
            continue
        name = path.relative_to(run).as_posix()
        if name.endswith("allure-results.tar.gz"):
            with tarfile.open(fileobj=io.BytesIO(path.read_bytes())) as tar:
                for member in tar.getmembers():
                    handle = tar.extractfile(member)
                    if handle is not None:
                        found.append((f"allure-results/{member.name}", handle.read()))
            continue
        found.append(("/" + name if "/" in name else name, path.read_bytes()))
    return found


def message_copies(run: Path) -> None:
    """How many more times each message of the store is written in full, and where."""
    messages = []
    for transcript in sorted(run.rglob("transcript.jsonl")):  # a run in parts has one per part
        messages += wire_messages(transcript)
    files = artefacts(run)
    per_kind: dict[str, int] = {}
    copies = copied_bytes = 0
    for forms in messages:
        for name, data in files:
            if any(form in data for form in forms):
                kind = artefact_kind(name)
                per_kind[kind] = per_kind.get(kind, 0) + 1
                copies += 1
                copied_bytes += len(forms[0])
    distinct = sum(len(forms[0]) for forms in messages)
    n = max(len(messages), 1)
    print(f"   {len(messages)} wire messages of >= {MIN_MESSAGE} B in the store "
          f"({distinct / 1e6:.2f} MB); written in full again {copies} times "
          f"({copies / n:.2f} per message, {copied_bytes / 1e6:.2f} MB):")
    _common.table(sorted(((kind, count, f"{count / n:.2f}") for kind, count in
                          per_kind.items()), key=lambda row: -int(row[1])),
                  ["artefact", "copies", "per message"])


def _mb(usage: tuple[int, int, int]) -> tuple[str, str, int]:
    return f"{usage[0] / 1e6:.2f}", f"{usage[1] / 1e6:.2f}", usage[2]


def transcript_memory(smoke: bool) -> None:
    from conformance.evidence.transcript import Transcript

    body = b"<SyncML><SyncBody>" + b"<Status>200</Status>" * 48 + b"</SyncBody></SyncML>"
    rows = []
    for n in ((200, 800) if smoke else (2_000, 20_000)):
        with tempfile.TemporaryDirectory() as tmp:
            t = Transcript(path=Path(tmp) / "t.jsonl")
            tracemalloc.start()
            for _ in range(n):
                t.record("omadm", "device->lab", "POST pkg3: Status", raw=body,
                         decoded=body.decode(), headers={"Content-Type": "x"})
            current, _peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            t.close()
        rows.append((n, len(body), f"{current / 1e6:.2f}", f"{current / n:.0f}"))
    _common.table(rows, ["messages", "body bytes", "retained MB", "bytes/message"])


def main() -> int:
    p = _common.parser(__doc__ or "")
    p.add_argument("--protocol", default="omadm", choices=("omadm", "lwm2m"))
    args = p.parse_args()
    _common.header("bench_evidence_size")
    print("-- run folder of a full run" + (" (smoke: one requirement's cases)" if args.smoke
                                           else ""))
    run_folder_sizes(args.protocol, args.smoke)
    print("-- transcript memory")
    transcript_memory(args.smoke)
    return 0


if __name__ == "__main__":
    sys.exit(main())
