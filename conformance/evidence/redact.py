"""Secrets never reach a file: every transcript entry passes through a :class:`Redactor`.

The lab registers each secret it learns (client/server AAuthSecret, PSK keys, passwords) and
the redactor replaces it wherever it appears: in decoded text, in headers, and in raw bytes
(same length, so offsets in a hex dump still line up).
"""

from __future__ import annotations

import base64
import threading

MASK_TEXT = "«redacted»"


class Redactor:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._text: set[str] = set()
        self._bytes: set[bytes] = set()

    def add(self, secret: str | bytes | None) -> None:
        """Register a secret, and its usual encodings (base64, hex) too."""
        if not secret:
            return
        raw = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(raw) < 3:  # too short to redact without destroying unrelated text
            return
        forms = {raw, base64.b64encode(raw), raw.hex().encode(), raw.hex().upper().encode()}
        with self._lock:
            self._bytes.update(forms)
            for form in forms:
                try:
                    self._text.add(form.decode())
                except UnicodeDecodeError:
                    pass

    @property
    def secrets(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._text)

    def text(self, value: str) -> str:
        with self._lock:
            secrets = sorted(self._text, key=len, reverse=True)
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, MASK_TEXT)
        return value

    def raw(self, value: bytes) -> bytes:
        with self._lock:
            secrets = sorted(self._bytes, key=len, reverse=True)
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, b"*" * len(secret))
        return value
