"""Checker for the host identity data file of the manual alternative (guide §1.5, ATT-DMIG-1.5-CSV).

An OEM without ODIS/DHIR submits a ``.csv``: a header row, then one device a line with
``Host_MFR, Host_SW_Ver, Host_Model, IMEI, Host Device Unique ID`` (the guide's sample is tab
separated; commas are accepted). Each problem becomes one :class:`Finding` with its line
number: the physical line where the row starts, also after a quoted field spanning lines. The
file is streamed: a million lines are checked in seconds, and memory grows only by the 12 bytes
a line kept for the duplicate-IMEI check (IMEI as int64, line number as int32), plus 8 more
while it sorts. The command keeps only the findings it prints.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conformance.declaration import DeclarationError, HostDevice, load_declaration

COLUMNS = ("Host_MFR", "Host_SW_Ver", "Host_Model", "IMEI", "Host Device Unique ID")
_NORMALISED = tuple(c.lower().replace(" ", "").replace("_", "") for c in COLUMNS)

# Luhn without a per-digit Python loop: digits in the doubled positions are mapped through this
# table (ASCII digit -> digit sum of its double) and everything is summed in C by sum(bytes).
_DOUBLED = bytes.maketrans(b"0123456789", bytes([0, 2, 4, 6, 8, 1, 3, 5, 7, 9]))
_PLAIN = bytes.maketrans(b"0123456789", bytes(range(10)))
_BUCKETS = 64  # duplicate check: IMEIs are sorted in this many parts


@dataclass(frozen=True)
class Finding:
    line: int  # 1-based line number in the file (0: the file as a whole)
    field: str  # column name, or "line"/"file"
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}: {self.field}: {self.message}"


def imei_luhn_ok(imei: str) -> bool:
    """True for 15 ASCII digits whose last one is the Luhn check digit."""
    if len(imei) != 15 or not imei.isascii() or not imei.isdigit():
        return False
    raw = imei.encode()
    return (sum(raw[0::2].translate(_PLAIN)) + sum(raw[1::2].translate(_DOUBLED))) % 10 == 0


def _delimiter(header: str) -> str:
    return "\t" if "\t" in header else ","


def _header_findings(fields: list[str]) -> list[Finding]:
    got = tuple(f.strip().lower().replace(" ", "").replace("_", "") for f in fields)
    if got == _NORMALISED:
        return []
    found = ", ".join(f.strip() for f in fields)
    return [Finding(1, "header", f"expected the columns {', '.join(COLUMNS)}; found {found}")]


def check_lines(lines: Iterator[str], expected: HostDevice | None = None) -> Iterator[Finding]:
    """Check the file's text lines (without the caller holding them); yield findings in order."""
    first = next(lines, None)
    if first is None:
        yield Finding(0, "file", "empty: a header row and one line per device expected")
        return
    first = first.lstrip("\ufeff")
    delimiter = _delimiter(first)
    header = next(csv.reader([first], delimiter=delimiter), [])
    header_problems = _header_findings(header)
    first_line = 2
    if header_problems and len(header) == 5 and header[3].strip().isdigit():
        # No header at all: line 1 is a device line, say so and check it like the others.
        header_problems = [Finding(1, "header", "missing: line 1 is already a device line")]
        lines = itertools.chain([first], lines)
        first_line = 1
    yield from header_problems

    imeis = array("q")
    line_numbers = array("l")
    reader = csv.reader(lines, delimiter=delimiter, strict=False)
    devices = 0
    consumed = 0  # physical lines the reader has taken: a quoted field may span several
    for row in reader:
        number, consumed = consumed + first_line, reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line: not a device
        devices += 1
        if len(row) != 5:
            yield Finding(number, "line", f"expected 5 fields, found {len(row)}")
            continue
        mfr, sw, model, imei, unique = (f.strip() for f in row)
        for name, value in zip(COLUMNS, (mfr, sw, model, imei, unique), strict=True):
            if not value:
                yield Finding(number, name, "empty")
        if imei and not imei_luhn_ok(imei):
            if len(imei) != 15 or not imei.isdigit():
                yield Finding(number, "IMEI", f"{imei!r} is not 15 digits")
            else:
                yield Finding(number, "IMEI", f"{imei} has a wrong check digit (Luhn)")
        elif imei:
            imeis.append(int(imei))
            line_numbers.append(number)
        unique_ok = not unique or unique.isalnum()
        if not unique_ok:
            yield Finding(number, "Host Device Unique ID", f"{unique!r} is not alphanumeric")
        if expected is not None:
            for name, value, certified in (
                ("Host_MFR", mfr, expected.manufacturer),
                ("Host_Model", model, expected.model),
                ("Host_SW_Ver", sw, expected.software_version),
                ("Host Device Unique ID", unique if unique_ok else "", expected.unique_id),
            ):
                if value and value != certified:
                    message = f"{value!r} differs from the certified {certified!r}"
                    yield Finding(number, name, message)
    if devices == 0:
        yield Finding(0, "file", "no device lines after the header")
    yield from _duplicates(imeis, line_numbers)


def _duplicates(imeis: array[int], line_numbers: array[int]) -> Iterator[Finding]:
    # Sorted values find the repeated IMEIs; a second pass over the compact arrays gives
    # their lines in file order (the first occurrence is the one the others repeat).
    # Sorting all at once would make a list of Python ints (~40 B a line, 40 MB for a million
    # lines); bucket by bucket only one bucket's list exists at a time, over 8 B a line.
    buckets = [array("q") for _ in range(_BUCKETS)]
    for imei in imeis:
        buckets[imei % _BUCKETS].append(imei)
    repeated: set[int] = set()
    for i, bucket in enumerate(buckets):
        ordered = sorted(bucket)
        buckets[i] = array("q")
        repeated.update(a for a, b in itertools.pairwise(ordered) if a == b)
    del buckets, ordered
    if not repeated:
        return
    first_seen: dict[int, int] = {}
    for imei, line in zip(imeis, line_numbers, strict=True):
        if imei not in repeated:
            continue
        if imei in first_seen:
            yield Finding(line, "IMEI", f"{imei:015d} repeats line {first_seen[imei]}")
        else:
            first_seen[imei] = line


def iter_file(path: Path, expected: HostDevice | None = None) -> Iterator[Finding]:
    """The findings of one file as they come; raises UnicodeDecodeError/OSError (see
    :func:`file_problem`)."""
    with path.open(encoding="utf-8", newline="") as handle:
        yield from check_lines(iter(handle), expected)


def file_problem(path: Path, exc: UnicodeDecodeError | OSError) -> Finding:
    """The one finding of a file that cannot be read as UTF-8 text."""
    if isinstance(exc, UnicodeDecodeError):
        bad = exc.object[exc.start : exc.start + 1]
        return Finding(0, "file", f"not UTF-8 text (byte {exc.start}: {bad!r})")
    return Finding(0, "file", f"cannot read {path}: {exc.strerror}")


def check_file(path: Path | str, expected: HostDevice | None = None) -> list[Finding]:
    """All findings of one file (an unreadable file is one finding, not an exception)."""
    path = Path(path)
    try:
        return list(iter_file(path, expected))
    except (UnicodeDecodeError, OSError) as exc:
        return [file_problem(path, exc)]


def check_text(text: str, expected: HostDevice | None = None) -> list[Finding]:
    return list(check_lines(iter(io.StringIO(text, newline="")), expected))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="conformance check-csv",
        description="Check a host identity data file (guide §1.5 manual alternative).",
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--dut", type=Path, help="declaration with the certified host values")
    parser.add_argument("--max-findings", type=int, default=200, help="print at most this many")
    args = parser.parse_args(argv)
    expected: HostDevice | None = None
    try:
        expected = load_declaration(args.dut).host if args.dut else None
    except DeclarationError as exc:
        print(exc, file=sys.stderr)
        return 2
    # Streamed: only the findings shown are kept (a million bad lines are a million findings).
    shown: list[Finding] = []
    total = 0
    try:
        for finding in iter_file(args.file, expected):
            total += 1
            if len(shown) < args.max_findings:
                shown.append(finding)
    except (UnicodeDecodeError, OSError) as exc:  # as check_file: that is the only finding
        shown, total = [file_problem(args.file, exc)], 1
    for finding in shown:
        print(f"{args.file}:{finding}")
    if total > args.max_findings:
        print(f"… and {total - args.max_findings} more findings")
    verdict = "PASS" if not total else "FAIL"
    print(f"{args.file}: {verdict} ({total} findings)")
    return 0 if not total else 1


