"""Per-case evidence files: the case's own slice of the transcript, readable and machine-readable.

For each case the plugin calls :func:`write_case_evidence` with the entries recorded while the
case ran; it writes ``transcript.txt`` (every message: time, direction, summary, headers,
decoded form, raw hex), ``transcript.json`` and ``ladder.svg`` into the case's folder and
returns the files with their sha256, which the acceptance report lists. Entries are already
redacted by the transcript, so nothing here can leak a secret the lab knew about.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from conformance.evidence.ladder import ladder_svg
from conformance.evidence.transcript import Entry

HEX_WIDTH = 32


@dataclass(frozen=True)
class EvidenceFile:
    path: Path
    sha256: str
    kind: str  # "transcript", "transcript-json", "ladder", …

    def to_json(self, relative_to: Path) -> dict[str, str]:
        try:
            shown = str(self.path.relative_to(relative_to))
        except ValueError:
            shown = str(self.path)
        return {"path": shown, "sha256": self.sha256, "kind": self.kind}


def case_slug(nodeid: str) -> str:
    """A file-system-safe folder name for a pytest node id."""
    name = nodeid.split("::", 1)[-1] if "::" in nodeid else nodeid
    module = Path(nodeid.split("::", 1)[0]).stem
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{module}.{name}").strip("_")
    if len(slug) > 120:
        slug = slug[:100] + "-" + hashlib.sha256(nodeid.encode()).hexdigest()[:12]
    return slug


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def hexdump(data: bytes) -> str:
    lines = []
    for offset in range(0, len(data), HEX_WIDTH):
        chunk = data[offset : offset + HEX_WIDTH]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:06x}  {chunk.hex(' '):<{HEX_WIDTH * 3}} {text}")
    return "\n".join(lines)


def format_entry(entry: Entry) -> str:
    when = datetime.fromtimestamp(entry.time, UTC).isoformat(timespec="milliseconds")
    arrow = {"device->lab": "DEVICE → LAB", "lab->device": "LAB → DEVICE", "note": "LAB NOTE"}
    head = f"#{entry.seq} {when} {arrow[entry.direction]} [{entry.protocol}] {entry.summary}"
    parts = [head]
    meta = [
        f"{k}: {v}"
        for k, v in (
            ("device", entry.device),
            ("peer", entry.peer),
            ("session", entry.session),
            ("content-type", entry.content_type),
        )
        if v
    ]
    if meta:
        parts.append("  " + " | ".join(meta))
    if entry.error:
        parts.append(f"  PROTOCOL ERROR: {entry.error}")
    for key, value in entry.headers.items():
        parts.append(f"  {key}: {value}")
    if entry.decoded:
        parts.append("  -- decoded --")
        parts.extend("  " + line for line in entry.decoded.splitlines())
    if entry.raw:
        parts.append(f"  -- raw ({len(entry.raw)} bytes) --")
        parts.extend("  " + line for line in hexdump(entry.raw).splitlines())
    return "\n".join(parts)


def write_case_evidence(
    folder: Path,
    entries: Sequence[Entry],
    *,
    title: str,
    device: str = "Device",
    highlight: Iterable[int] = (),
) -> list[EvidenceFile]:
    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "transcript.txt"
    text.write_text(
        f"{title}\n{len(entries)} messages\n\n"
        + "\n\n".join(format_entry(e) for e in entries)
        + "\n",
        encoding="utf-8",
    )
    data = folder / "transcript.json"
    data.write_text(json.dumps([e.to_json() for e in entries], indent=1), encoding="utf-8")
    ladder = folder / "ladder.svg"
    ladder.write_text(
        ladder_svg(entries, title=title, device=device, highlight=highlight), encoding="utf-8"
    )
    return [
        EvidenceFile(text, sha256_of(text), "transcript"),
        EvidenceFile(data, sha256_of(data), "transcript-json"),
        EvidenceFile(ladder, sha256_of(ladder), "ladder"),
    ]


@dataclass(frozen=True)
class Expectation:
    """A value the case compared against: usually from the declaration."""

    name: str  # "./DevDetail/Ext/HostSwV" or "declaration host.software_version"
    expected: str
    actual: str
    ok: bool

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "expected": self.expected, "actual": self.actual, "ok": self.ok}


def failing_steps(entries: Sequence[Entry], failed: bool) -> list[int]:
    """The seqs to highlight: entries with a protocol error; else, for a failed case, the last
    exchange before the failure (the last message, or the last note when there is none)."""
    errors = [e.seq for e in entries if e.error is not None]
    if errors or not failed or not entries:
        return errors
    messages = [e for e in entries if e.direction != "note"]
    return [(messages or list(entries))[-1].seq]


def case_text(
    *,
    nodeid: str,
    requirement: str,
    verdict: str,
    message: str,
    expectations: Sequence[Expectation] = (),
    steps: Sequence[Entry] = (),
    detail: str = "",
) -> str:
    """The case's verdict in lab words: why, which values, which message (``case.txt``)."""
    lines = [nodeid, f"requirement: {requirement or '(none)'}", f"verdict: {verdict}"]
    if message:
        lines.append(f"why: {message}")
    lines.extend(f"failing step: #{e.seq} {e.summary}" + (f" ({e.error})" if e.error else "")
                 for e in steps)
    if expectations:
        lines += ["", "values compared (expected ← declaration / actual ← device):"]
        lines += [
            f"  [{'ok' if x.ok else 'MISMATCH'}] {x.name}: expected {x.expected!r}, "
            f"actual {x.actual!r}"
            for x in expectations
        ]
    if detail:
        lines += ["", "detail:", *("  " + line for line in detail.splitlines())]
    return "\n".join(lines) + "\n"


def write_case_summary(folder: Path, text: str) -> EvidenceFile:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "case.txt"
    path.write_text(text, encoding="utf-8")
    return EvidenceFile(path, sha256_of(path), "case")
