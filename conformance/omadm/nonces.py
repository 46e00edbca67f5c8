"""Per-device nonce state of both authentication directions, persisted in the run folder.

Two nonces per device (REQUIREMENTS.md, "Nonce timing"):

- the **client nonce**: what the device must put in its digest. It starts as ``b"null"``
  (AAuthData ``bnVsbA==``) and changes when the lab sends a NextNonce in a Chal. The lab cannot
  know whether its HTTP response reached the device, so a nonce it has sent is kept *pending*
  next to the current one until the device proves it has it (it answered that response, or
  its digest verifies with it); until then either one is accepted. A nonce that has
  authenticated a session is *spent*: a digest over it is never accepted again (that would be
  a replay); a device that lost the lab's answer gets a 401 with a fresh nonce instead.
- the **server nonce**: what the lab puts in its own digest. It changes only when the lab
  actually receives a Status with a Chal from the device.

The state survives a lab restart (JSON in ``run_dir``), so lab and device stay in step.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from dataclasses import dataclass
from pathlib import Path

NULL_NONCE = b"null"
FILE_NAME = "omadm-nonces.json"


@dataclass(frozen=True)
class ClientNonces:
    current: bytes
    pending: bytes | None = None
    spent: bytes | None = None  # the nonce of the last accepted authentication

    def candidates(self) -> list[tuple[str, bytes]]:
        """(label, nonce) pairs a digest may verify with, the newest first."""
        out: list[tuple[str, bytes]] = []
        if self.pending is not None and self.pending != self.spent:
            out.append(("pending", self.pending))
        if self.current != self.spent:
            out.append(("current", self.current))
        return out


@dataclass
class _DeviceNonces:
    client: bytes = NULL_NONCE
    client_pending: bytes | None = None
    client_spent: bytes | None = None
    server: bytes = NULL_NONCE


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode()


def _unb64(value: object) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


# Devices whose nonces are kept (the most recently changed): a flood of made-up DevIds must
# not grow the store, nor the file rewritten on each change, without bound (issue 15).
MAX_DEVICES = 1024


class NonceStore:
    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._devices: dict[str, _DeviceNonces] = {}
        self._load()

    # ------------------------------------------------------------------ client direction

    def client(self, device: str) -> ClientNonces:
        with self._lock:
            state = self._devices.get(device, _DeviceNonces())
            return ClientNonces(state.client, state.client_pending, state.client_spent)

    def offer_client(self, device: str, nonce: bytes) -> None:
        """The lab sent ``nonce`` in a Chal; the device may or may not have received it."""
        with self._lock:
            self._touch(device).client_pending = nonce
            self._save()

    def confirm_client(self, device: str, nonce: bytes) -> None:
        """The device has ``nonce`` (it answered the message carrying it, or used it)."""
        with self._lock:
            state = self._touch(device)
            state.client = nonce
            if state.client_pending == nonce:
                state.client_pending = None
            self._save()

    def spend_client(self, device: str, nonce: bytes) -> None:
        """A digest over ``nonce`` was accepted: the same digest later would be a replay."""
        with self._lock:
            self._touch(device).client_spent = nonce
            self._save()

    # ------------------------------------------------------------------ server direction

    def server(self, device: str) -> bytes:
        with self._lock:
            return self._devices.get(device, _DeviceNonces()).server

    def set_server(self, device: str, nonce: bytes) -> None:
        """Store a NextNonce the device sent in a Status the lab actually received."""
        with self._lock:
            self._touch(device).server = nonce
            self._save()

    def reset(self, device: str) -> None:
        """Back to ``null`` both ways (e.g. after the device's factory reset)."""
        with self._lock:
            self._devices[device] = _DeviceNonces()
            self._save()

    def _touch(self, device: str) -> _DeviceNonces:
        """The device's nonces, now the most recent; the least recent beyond the bound go."""
        state = self._devices.pop(device, None) or _DeviceNonces()
        self._devices[device] = state
        while len(self._devices) > MAX_DEVICES:
            del self._devices[next(iter(self._devices))]
        return state

    # ------------------------------------------------------------------ persistence

    def _load(self) -> None:
        if self._path is None or not self._path.exists():
            return
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # a damaged file only costs one 401 round trip: start from null
        if not isinstance(data, dict):
            return
        for device, entry in data.items():
            if not isinstance(entry, dict):
                continue
            self._devices[str(device)] = _DeviceNonces(
                client=_unb64(entry.get("client")) or NULL_NONCE,
                client_pending=_unb64(entry.get("client_pending")),
                client_spent=_unb64(entry.get("client_spent")),
                server=_unb64(entry.get("server")) or NULL_NONCE,
            )

    def _save(self) -> None:
        if self._path is None:
            return
        data = {
            device: {
                "client": _b64(s.client),
                "client_pending": _b64(s.client_pending),
                "client_spent": _b64(s.client_spent),
                "server": _b64(s.server),
            }
            for device, s in self._devices.items()
        }
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
        tmp.replace(self._path)
