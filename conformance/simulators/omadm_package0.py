"""The Package 0 (DM Notification 1.2) listener of the reference device: one UDP socket.

Each datagram is parsed with :mod:`conformance.omadm.notification`; a notification whose
digest verifies with the server credentials and the server nonce this device issued starts a
server-initiated session (Alert 1200) with the notification's SessionID. Anything else is
logged and ignored, as a real client must (a wrong digest is how a forged trigger looks).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from conformance.errors import ProtocolError

if TYPE_CHECKING:
    from conformance.omadm.notification import Notification

log = logging.getLogger("omadm-device")

MAX_DATAGRAM = 2048


def session_id_text(session_id: int) -> str:
    """The SyncHdr SessionID for a notification's 16-bit session id (hexadecimal, DMNOTI)."""
    return format(session_id, "X")


class Package0Listener:
    def __init__(
        self,
        host: str,
        port: int,
        on_valid: Callable[[Notification], None],
        credentials: Callable[[], tuple[str, str, bytes]],
        *,
        check_digest: bool = True,
    ) -> None:
        """``credentials()`` gives (server id, server secret, server nonce) at arrival time."""
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self._sock.settimeout(0.2)  # how often the thread looks at the stop flag
        self._on_valid = on_valid
        self._credentials = credentials
        self._check_digest = check_digest
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="package0", daemon=True)
        self.received = 0
        self.accepted = 0

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                raise
            self.received += 1
            try:
                self.handle(data, f"{peer[0]}:{peer[1]}")
            except Exception:  # one bad datagram must not stop the listener
                log.exception("Package 0 from %s: internal error", peer)

    def handle(self, data: bytes, peer: str = "") -> bool:
        """Check one Package 0; True when it started a session."""
        # Imported here: the rest of the device works without the notification codec.
        from conformance.omadm import notification

        try:
            parsed = notification.parse(data)
        except ProtocolError as exc:
            log.warning("Package 0 from %s ignored: %s", peer, exc)
            return False
        server_id, secret, nonce = self._credentials()
        if parsed.server_id != server_id:
            log.warning(
                "Package 0 from %s ignored: server id %r is not ours (%r)",
                peer,
                parsed.server_id,
                server_id,
            )
            return False
        if not notification.verify(parsed, server_id, secret, nonce):
            if self._check_digest:
                log.warning("Package 0 from %s ignored: wrong digest", peer)
                return False
            log.info("Package 0 from %s: wrong digest, accepted anyway (fault)", peer)
        log.info(
            "Package 0 from %s: session %s, ui-mode %s", peer, parsed.session_id, parsed.ui_mode
        )
        self.accepted += 1
        self._on_valid(parsed)
        return True
