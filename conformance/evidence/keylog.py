"""DTLS key log, only on request (``--dtls-keylog``): lets Wireshark decrypt the wire view itself.

Never written unless the user asks: it puts key material into the run folder. For each DTLS
PSK handshake the lab serves, one line of the NSS key log format Wireshark reads
(*Preferences → Protocols → TLS → (Pre)-Master-Secret log filename*, also used for DTLS;
tshark ``-o tls.keylog_file:dtls-keys.log``)::

    PMS_CLIENT_RANDOM <client random, hex> <pre-master secret, hex>

The pre-master secret is the RFC 4279 §2 one, made from the PSK of the identity the device
offered in its ClientKeyExchange; Wireshark derives the master secret itself, with the
handshake hash when the session uses the extended master secret (RFC 7627, as tinydtls does).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEYLOG_FILE = "dtls-keys.log"
_HANDSHAKE = 22
_CLIENT_HELLO, _CLIENT_KEY_EXCHANGE = 1, 16
_RECORD_HEADER = 13
_HANDSHAKE_HEADER = 12
MAX_PEERS = 1024


def psk_premaster(psk: bytes) -> bytes:
    """RFC 4279 §2 (plain PSK): uint16 N, N zero bytes, uint16 N, the PSK."""
    n = len(psk).to_bytes(2, "big")
    return n + b"\x00" * len(psk) + n + psk


def handshakes(datagram: bytes) -> Iterator[tuple[int, bytes]]:
    """(message type, body) of each epoch-0 handshake record in a datagram (one fragment)."""
    pos = 0
    while pos + _RECORD_HEADER <= len(datagram):
        kind = datagram[pos]
        epoch = int.from_bytes(datagram[pos + 3 : pos + 5], "big")
        length = int.from_bytes(datagram[pos + 11 : pos + 13], "big")
        record = datagram[pos + _RECORD_HEADER : pos + _RECORD_HEADER + length]
        pos += _RECORD_HEADER + length
        if kind == _HANDSHAKE and epoch == 0 and len(record) >= _HANDSHAKE_HEADER:
            yield record[0], record[_HANDSHAKE_HEADER:]


@dataclass
class _Handshake:
    client_random: bytes = b""
    identity: bytes | None = None
    written: bool = False


class DtlsKeyLog:
    """Fed the DTLS datagrams (``Transcript.subscribe_datagrams``); writes ``path``."""

    def __init__(self, path: Path, keys: Mapping[bytes, bytes]) -> None:
        self.path = path
        self.keys = dict(keys)
        self._lock = threading.Lock()
        self._peers: dict[str, _Handshake] = {}

    def on_datagram(
        self, protocol: str, inbound: bool, peer: str, local: str, data: bytes, when: float
    ) -> None:
        with self._lock:
            for kind, body in handshakes(data):
                self._message(peer, inbound, kind, body)

    def _message(self, peer: str, inbound: bool, kind: int, body: bytes) -> None:
        if inbound and kind == _CLIENT_HELLO and len(body) >= 34:
            if peer not in self._peers and len(self._peers) >= MAX_PEERS:
                self._peers.pop(next(iter(self._peers)))
            self._peers[peer] = _Handshake(client_random=body[2:34])
            return
        state = self._peers.get(peer)
        if state is None:
            return
        if inbound and kind == _CLIENT_KEY_EXCHANGE and len(body) >= 2:
            size = int.from_bytes(body[:2], "big")
            state.identity = body[2 : 2 + size]
        self._write(state)

    def _write(self, state: _Handshake) -> None:
        psk = self.keys.get(state.identity or b"")
        if state.written or psk is None or not state.client_random:
            return
        with self.path.open("a", encoding="ascii") as out:
            out.write(f"PMS_CLIENT_RANDOM {state.client_random.hex()} {psk_premaster(psk).hex()}\n")
        state.written = True


def declared_keys(declaration: Any) -> dict[bytes, bytes]:
    """PSK identity → key of the declaration's LwM2M client (empty without PSK)."""
    lw = getattr(declaration, "lwm2m", None)
    if lw is None or not lw.psk_identity or lw.psk_key is None:
        return {}
    return {lw.psk_identity.encode(): bytes.fromhex(lw.psk_key.get_secret_value())}


def attach(lab: Any, declaration: Any, run_dir: Path) -> Path | None:
    """Write ``run_dir/dtls-keys.log`` for the lab's DTLS sessions (None: nothing to log)."""
    keys = declared_keys(declaration)
    transcript = getattr(lab, "transcript", None)
    if not keys or transcript is None or not hasattr(transcript, "subscribe_datagrams"):
        return None
    log = DtlsKeyLog(run_dir / KEYLOG_FILE, keys)
    transcript.subscribe_datagrams(log.on_datagram)
    return log.path
