"""allure-pytest's result files of a run, kept as records of one append-only file.

allure-commons writes every result, fixture container and attachment as a file of its own
(~1,700 in the OMA-DM catalog run), which the run's end read back, packed and removed. On a
filesystem whose inode allocator passes over recently freed inodes (ext4 without a journal, as
on the machines measured in bench/README.md: 0.4-0.8 ms of kernel CPU per file created once
many files had been removed) that came to about a second of the run's CPU. Here each file is a
record, its size and name on a line, then its bytes and a newline, flushed as it is added: a
run that is killed keeps every record written before, and :func:`records` passes over a last
record cut short. :func:`conformance.evidence.allure_report.pack_results` makes the same
archive members of them as of the files.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

SPOOL_NAME = "allure-results.spool"
MAX_NAME = 255  # bytes of a record's name: one file name


def valid_name(name: str) -> bool:
    """A plain file name (a record becomes ``allure-results/<name>``): no folder, no escape."""
    try:
        raw = name.encode("utf-8")  # as add() writes it
    except UnicodeEncodeError:
        return False
    return (0 < len(raw) <= MAX_NAME and name not in (".", "..")
            and not any(c in name for c in "/\\\n\r\0"))


class Spool:
    """The writing end: one open file, a record per :meth:`add` (threads may share it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None  # opened by the first record
        self._lock = threading.Lock()

    def add(self, name: str, data: bytes) -> None:
        """One record, flushed. After :meth:`close` the file is opened again (nothing lost)."""
        if not valid_name(name):
            raise ValueError(f"not a plain file name for the Allure spool: {name!r}")
        record = b"%d %s\n" % (len(data), name.encode("utf-8")) + data + b"\n"
        with self._lock:
            if self._file is None:
                self._file = open(self.path, "ab")  # noqa: SIM115 - kept open until close()
            self._file.write(record)
            self._file.flush()  # on disk as a file written by allure-commons would be

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def records(path: Path) -> Iterator[tuple[str, bytes]]:
    """The spool's records in the order written. Reading stops at the first record that is
    not whole or not well-formed (what a killed run leaves last)."""
    with open(path, "rb") as spool:
        while True:
            head = spool.readline(MAX_NAME + 24)
            if not head.endswith(b"\n"):
                return
            size_text, _, raw_name = head[:-1].partition(b" ")
            if not size_text.isdigit():
                return
            try:
                name = raw_name.decode("utf-8")
            except UnicodeDecodeError:
                return
            data = spool.read(int(size_text))
            if len(data) != int(size_text) or spool.read(1) != b"\n" or not valid_name(name):
                return
            yield name, data


def rewrite(path: Path, items: Iterable[tuple[str, bytes]]) -> None:
    """Replace the spool by ``items`` (through a temporary file and a rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(b"")  # empty, whatever an earlier attempt left there
    spool = Spool(tmp)
    try:
        for name, data in items:
            spool.add(name, data)
    finally:
        spool.close()
    tmp.replace(path)
