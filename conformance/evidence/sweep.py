"""A last pass over a finished run folder: no declared secret survives in any file.

The lab's own files are redacted as they are written (the transcript's redactor). Files that
other writers produce — pytest's JUnit XML, pytest-html, allure-pytest's results — may carry a
secret a case printed or put in an assertion; this pass masks it in its usual encodings
(plain, HTML- and JSON-escaped, base64, hex) in every file under the folder.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePath

from conformance.evidence import allure_spool
from conformance.evidence.allure_spool import SPOOL_NAME
from conformance.evidence.redact import MASK_TEXT

# key material the user asked for with an explicit option (--dtls-keylog): kept as written
ASKED_FOR = frozenset({"dtls-keys.log"})
BINARY_SUFFIXES = frozenset({".pcapng", ".gz", ".pdf", ".png"})
MIN_SECRET = 3  # shorter values would mask unrelated text (the Redactor's rule too)


def secret_forms(secrets: Iterable[str]) -> list[str]:
    """Every textual form a secret takes in the run's files, longest first."""
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) < MIN_SECRET:
            continue
        raw = secret.encode()
        forms.update(
            {
                secret,
                html.escape(secret),
                html.escape(html.escape(secret)),
                json.dumps(secret)[1:-1],
                base64.b64encode(raw).decode(),
                raw.hex(),
                raw.hex().upper(),
            }
        )
    return sorted(forms, key=len, reverse=True)


def scrub_folder(folder: Path, secrets: Iterable[str]) -> list[Path]:
    """Mask the secrets in every file under ``folder``; returns the files that changed.

    The Allure spool is masked record by record, each as the file it stands for would be."""
    forms = secret_forms(secrets)
    if not forms:
        return []
    changed = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        if path.name in ASKED_FOR:
            continue
        if path.name == SPOOL_NAME:
            if _scrub_spool(path, forms):
                changed.append(path)
            continue
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # gone since the listing (the spool's rewrite renames its .tmp)
            continue
        new = scrub_data(path.suffix, data, forms)
        if new != data:
            path.write_bytes(new)
            changed.append(path)
    return changed


def scrub_data(suffix: str, data: bytes, forms: list[str]) -> bytes:
    """The bytes of a file with suffix ``suffix``, every form of :func:`secret_forms` masked:
    in text by the mask text, in binary data by as many stars (offsets stay right)."""
    try:
        if suffix in BINARY_SUFFIXES:  # may happen to decode; must keep its offsets
            raise UnicodeDecodeError("utf-8", data, 0, 0, "binary format")
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        new = data
        for form in forms:
            new = new.replace(form.encode(), b"*" * len(form.encode()))
        return new
    scrubbed = text
    for form in forms:
        scrubbed = scrubbed.replace(form, MASK_TEXT)
    return data if scrubbed == text else scrubbed.encode("utf-8")


def _scrub_spool(path: Path, forms: list[str]) -> bool:
    # Record by record (one in memory at a time); rewritten only when one holds a secret.
    def masked() -> Iterator[tuple[str, bytes]]:
        for name, data in allure_spool.records(path):
            yield name, scrub_data(PurePath(name).suffix, data, forms)

    if all(scrub_data(PurePath(name).suffix, data, forms) == data
           for name, data in allure_spool.records(path)):
        return False
    allure_spool.rewrite(path, masked())  # a record cut short (a killed run's last) is dropped
    return True
