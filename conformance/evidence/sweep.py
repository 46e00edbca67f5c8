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
from collections.abc import Iterable
from pathlib import Path

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
    """Mask the secrets in every file under ``folder``; returns the files that changed."""
    forms = secret_forms(secrets)
    if not forms:
        return []
    changed = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        if path.name in ASKED_FOR:
            continue
        data = path.read_bytes()
        try:
            if path.suffix in BINARY_SUFFIXES:  # may happen to decode; must keep its offsets
                raise UnicodeDecodeError("utf-8", data, 0, 0, "binary format")
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            new = data
            for form in forms:  # binary: same length, so offsets stay right
                new = new.replace(form.encode(), b"*" * len(form.encode()))
            if new != data:
                path.write_bytes(new)
                changed.append(path)
            continue
        scrubbed = text
        for form in forms:
            scrubbed = scrubbed.replace(form, MASK_TEXT)
        if scrubbed != text:
            path.write_text(scrubbed, encoding="utf-8")
            changed.append(path)
    return changed
