"""Per-case evidence files: the case's verdict, its messages by reference, its ladder diagram.

Each message is stored once, in the run's ``transcript.jsonl``; a case's files refer to it
instead of copying it. For each case the plugin calls :func:`write_case_evidence`, which writes
next to each other in ``evidence/``:

- ``<case>.txt``: the verdict in lab words (:func:`case_text`), then one line per message of
  the case (``#seq time arrow summary``, the seq being the line of ``transcript.jsonl``) and
  the deciding messages in full (headers, decoded form, hex dump, protocol error);
- ``<case>.svg``: the ladder diagram, failing step in red (for the cases that did not pass:
  a PASS keeps its message lines and capture, and its run folder stays small);

and returns the files with their sha256, which the acceptance report lists (the plugin adds
the case's ``.pcapng`` captures). Entries are already redacted by the transcript.
"""

from __future__ import annotations

import hashlib
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


def message_line(entry: Entry) -> str:
    when = datetime.fromtimestamp(entry.time, UTC).strftime("%H:%M:%S.%f")[:-3]
    arrow = {"device->lab": "DEVICE → LAB", "lab->device": "LAB → DEVICE", "note": "LAB NOTE"}
    error = f"  !! {entry.error}" if entry.error else ""
    return f"#{entry.seq} {when} {arrow[entry.direction]} [{entry.protocol}] {entry.summary}{error}"


def messages_text(
    entries: Sequence[Entry], deciding: Iterable[int] = (), store: str = "transcript.jsonl"
) -> str:
    """The case's messages by reference (one line each) and the deciding ones in full."""
    if not entries:
        return "messages: none exchanged\n"
    seqs = [e.seq for e in entries]
    lines = [
        f"messages: {len(entries)} (#{seqs[0]}–#{seqs[-1]}; each in full, once, in {store}: "
        "line N is message #N)",
        *(message_line(e) for e in entries),
    ]
    marked = set(deciding)
    full = [format_entry(e) for e in entries if e.seq in marked]
    if full:
        lines += ["", "deciding message(s) in full:", *full]
    return "\n".join(lines) + "\n"


def write_case_evidence(
    folder: Path,
    entries: Sequence[Entry],
    *,
    title: str,
    summary: str = "",
    device: str = "Device",
    highlight: Iterable[int] = (),
    slug: str = "case",
    ladder: bool = True,
) -> list[EvidenceFile]:
    """``<slug>.txt`` (``summary`` + the messages by reference) and, with ``ladder``,
    ``<slug>.svg`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    marked = list(highlight)
    text = folder / f"{slug}.txt"
    text.write_text(
        (summary or f"{title}\n") + "\n" + messages_text(entries, marked), encoding="utf-8"
    )
    files = [EvidenceFile(text, sha256_of(text), "case")]
    if entries and ladder:
        svg = folder / f"{slug}.svg"
        svg.write_text(
            ladder_svg(entries, title=title, device=device, highlight=marked), encoding="utf-8"
        )
        files.append(EvidenceFile(svg, sha256_of(svg), "ladder"))
    return files


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

