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
        # Longest first (a secret inside a longer one), sorted once per add, not per entry:
        # every transcript entry is redacted several times over.
        self._text_order: tuple[str, ...] = ()
        self._bytes_order: tuple[bytes, ...] = ()

    def add(self, secret: str | bytes | None) -> None:
        """Register a secret, and its usual encodings (base64, hex) too."""
        if not secret:
            return
        raw = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(raw) < 3:  # too short to redact without destroying unrelated text
            return
        forms = {raw, base64.b64encode(raw), raw.hex().encode(), raw.hex().upper().encode()}
        with self._lock:
            if forms <= self._bytes:
                return  # known already: the order stands
            self._bytes.update(forms)
            for form in forms:
                try:
                    self._text.add(form.decode())
                except UnicodeDecodeError:
                    pass
            self._text_order = tuple(sorted(self._text, key=len, reverse=True))
            self._bytes_order = tuple(sorted(self._bytes, key=len, reverse=True))

    @property
    def active(self) -> bool:
        """Whether any secret is known (until then every value passes unchanged)."""
        return bool(self._bytes_order)

    @property
    def secrets(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._text)

    def text(self, value: str) -> str:
        for secret in self._text_order:  # one attribute read: a consistent tuple
            if secret in value:
                value = value.replace(secret, MASK_TEXT)
        return value

    def raw(self, value: bytes) -> bytes:
        for secret in self._bytes_order:
            if secret in value:
                value = value.replace(secret, b"*" * len(secret))
        return value
