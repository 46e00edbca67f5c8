"""DTLS 1.2 PSK on the lab side: aiocoap's tinydtls server transport, with its traps fixed.

aiocoap 0.4.17's ``tinydtls_server`` transport has three problems for a lab server, each
verified against its source (``aiocoap/transports/tinydtls_server.py``):

1. ``MessageInterfaceSimpleServer.create_server`` adds ``COAPS_PORT - COAP_PORT`` (1) to the
   requested port, so "port 0" becomes port 1 and a declared port P becomes P+1. We bind
   exactly the port asked for and report the port the OS gave.
2. ``recognize_remote`` only accepts plain-UDP ``_Address`` objects, so a request the *server*
   starts towards a client that connected over DTLS finds no interface
   (``NoRequestInterface``). We recognise our own DTLS remotes, so the lab can Read / Write /
   Execute / Observe a DTLS client over the session the client established.
3. ``_inject_error`` pops the connection unconditionally: a second fatal event for the same
   peer raises ``KeyError`` inside tinydtls' callback. We pop defensively.

Beyond those, the lab must *see* the handshake: every ClientHello is inspected (record
version, RFC 5746 renegotiation indication, cipher suites), the PSK identity offered is
noted, and alerts are recorded as transcript notes with a likely reason. A ClientHello whose
record-layer version is ``{254, XX}`` but not one tinydtls knows (mbedtls 2.x may send
``fe00``) is rewritten to ``fefd`` before tinydtls sees it: RFC 6347 §4.2.1 says a DTLS 1.2
server should accept any ``{254, XX}`` record version on a ClientHello, and the record header
of an epoch-0 message is covered neither by a MAC nor by the handshake hash, so the rewrite
cannot break the handshake.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiocoap import Message
from aiocoap.transports import tinydtls_server
from aiocoap.transports.generic_udp import GenericMessageInterface
from aiocoap.transports.tinydtls import (
    CODE_CLOSE_NOTIFY,
    LEVEL_FATAL,
    LEVEL_WARNING,
    CloseNotifyReceived,
)

from conformance.lwm2m.sockets import BoundPort, TapHooks, bind_exclusive, deliver, send_tapped

# RFC 5246 / 6347 numbers used in the inspection
_CT_ALERT = 21
_CT_HANDSHAKE = 22
_HT_CLIENT_HELLO = 1
_HT_CLIENT_KEY_EXCHANGE = 16
_EXT_RENEGOTIATION_INFO = 0xFF01
_SCSV_RENEGOTIATION = 0x00FF
_KNOWN_RECORD_VERSIONS = (0xFEFD, 0xFEFF)  # DTLS 1.2, DTLS 1.0
_DTLS_1_2 = b"\xfe\xfd"
MAX_PEER_STATES = 1024

ALERTS = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    40: "handshake_failure",
    42: "bad_certificate",
    47: "illegal_parameter",
    50: "decode_error",
    51: "decrypt_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    110: "unsupported_extension",
    115: "unknown_psk_identity",
}


@dataclass
class ClientHelloInfo:
    record_version: int
    client_version: int
    cookie: bool
    cipher_suites: list[int]
    renegotiation_info: bool  # the RFC 5746 extension or the SCSV

    def describe(self) -> str:
        suites = ",".join(f"0x{s:04x}" for s in self.cipher_suites[:12])
        return (
            f"record version {self.record_version:04x}, client_version "
            f"{self.client_version:04x}, {'with' if self.cookie else 'no'} cookie, "
            f"suites [{suites}], RFC 5746 renegotiation indication: "
            f"{'yes' if self.renegotiation_info else 'none'}"
        )


def inspect_client_hello(datagram: bytes) -> ClientHelloInfo | None:
    """The first record's ClientHello, if the datagram starts with one; never raises."""
    try:
        if len(datagram) < 25 or datagram[0] != _CT_HANDSHAKE or datagram[13] != _HT_CLIENT_HELLO:
            return None
        record_version = struct.unpack_from("!H", datagram, 1)[0]
        body = datagram[25:]
        client_version = struct.unpack_from("!H", body, 0)[0]
        pos = 2 + 32
        pos += 1 + body[pos]  # session id
        cookie_len = body[pos]
        pos += 1 + cookie_len
        (suites_len,) = struct.unpack_from("!H", body, pos)
        pos += 2
        suites = [
            struct.unpack_from("!H", body, pos + i)[0] for i in range(0, suites_len - 1, 2)
        ]
        pos += suites_len
        pos += 1 + body[pos]  # compression methods
        reneg = _SCSV_RENEGOTIATION in suites
        if pos + 2 <= len(body):
            (ext_len,) = struct.unpack_from("!H", body, pos)
            pos += 2
            end = min(len(body), pos + ext_len)
            while pos + 4 <= end:
                ext_type, length = struct.unpack_from("!HH", body, pos)
                reneg = reneg or ext_type == _EXT_RENEGOTIATION_INFO
                pos += 4 + length
        return ClientHelloInfo(record_version, client_version, cookie_len > 0, suites, reneg)
    except (IndexError, struct.error):
        return None


def normalise_client_hello_version(datagram: bytes) -> bytes:
    """Rewrite an unusual ``{254, XX}`` record version on an epoch-0 ClientHello to fefd."""
    if (
        len(datagram) >= 14
        and datagram[0] == _CT_HANDSHAKE
        and datagram[1] == 0xFE
        and datagram[3:5] == b"\x00\x00"
        and datagram[13] == _HT_CLIENT_HELLO
        and struct.unpack_from("!H", datagram, 1)[0] not in _KNOWN_RECORD_VERSIONS
    ):
        return datagram[:1] + _DTLS_1_2 + datagram[3:]
    return datagram


def client_key_exchange_identity(datagram: bytes) -> bytes | None:
    """The PSK identity of a plaintext ClientKeyExchange (RFC 4279), if this datagram has one."""
    pos = 0
    try:
        while pos + 13 <= len(datagram):
            ctype = datagram[pos]
            epoch = struct.unpack_from("!H", datagram, pos + 3)[0]
            (length,) = struct.unpack_from("!H", datagram, pos + 11)
            record = datagram[pos + 13 : pos + 13 + length]
            if ctype == _CT_HANDSHAKE and epoch == 0 and record[:1] == bytes([16]):
                (id_len,) = struct.unpack_from("!H", record, 12)
                return bytes(record[14 : 14 + id_len])
            pos += 13 + length
    except struct.error:
        return None
    return None


def carries_encrypted_handshake(datagram: bytes) -> bool:
    """Whether any record in the datagram is a handshake record of epoch >= 1 (a Finished)."""
    pos = 0
    while pos + 13 <= len(datagram):
        if datagram[pos] == _CT_HANDSHAKE and datagram[pos + 3 : pos + 5] != b"\x00\x00":
            return True
        pos += 13 + struct.unpack_from("!H", datagram, pos + 11)[0]
    return False


class PskStore:
    """Identity -> key, looked up by tinydtls through aiocoap's ``find_dtls_psk`` protocol.

    Keys are registered with the transcript's redactor by whoever adds them; the store
    remembers which identities peers asked for, so a failed handshake can say why.
    """

    def __init__(self) -> None:
        self._keys: dict[bytes, bytes] = {}
        self.on_lookup: Callable[[bytes, bool], None] | None = None
        # (identity, known, wall clock) of the latest lookups: a case asks whether a device
        # offered an identity; bounded against handshake floods.
        self.lookups: deque[tuple[bytes, bool, float]] = deque(maxlen=MAX_PEER_STATES)
        self._looked_up: asyncio.Event | None = None

    def add(self, identity: bytes, key: bytes) -> None:
        self._keys[identity] = key

    def find_dtls_psk(self, identity: bytes) -> tuple[bytes, str]:
        key = self._keys.get(bytes(identity))
        self.lookups.append((bytes(identity), key is not None, time.time()))
        if self._looked_up is not None:
            self._looked_up.set()
        if self.on_lookup is not None:
            self.on_lookup(bytes(identity), key is not None)
        if key is None:
            raise KeyError(identity)
        return key, "psk:" + bytes(identity).decode("utf-8", "replace")

    async def wait_lookup(self, identity: bytes, since: float) -> bool:
        """Whether ``identity`` was known, once a peer offers it at or after ``since``
        (lab loop only; the caller bounds the wait)."""
        while True:
            found = next((known for offered, known, at in self.lookups
                          if offered == identity and at >= since), None)
            if found is not None:
                return found
            self._looked_up = self._looked_up or asyncio.Event()
            self._looked_up.clear()
            await self._looked_up.wait()


@dataclass
class DtlsPeerState:
    """What the lab learnt about one DTLS peer's handshake (for notes and failure reasons)."""

    hello: ClientHelloInfo | None = None
    identity: bytes | None = None
    identity_known: bool | None = None
    connected: bool = False
    failure_recorded: bool = False


class _LabDtlsAddress(tinydtls_server._AddressDTLS):
    """A DTLS peer: reports handshake events to the lab and tolerates repeated errors."""

    def _write(self, recipient: Any, data: bytes) -> int:
        pool: _LabDtlsSocket = self._protocol
        if pool.hooks is not None:
            pool.hooks.wire(data, self._underlying_address.address, pool.hostinfo_local,
                            inbound=False)
        if data[:1] == bytes([_CT_ALERT]):
            pool.lab_sent_alert(self, data)
        written: int = super()._write(recipient, data)
        return written

    def _event(self, level: int, code: int) -> None:
        pool: _LabDtlsSocket = self._protocol
        pool.lab_event(self, level, code)
        if (level, code) == (LEVEL_WARNING, CODE_CLOSE_NOTIFY):
            # The device closed its session (aiocoap only handles a *fatal* close_notify):
            # forget it, so its next ClientHello starts a clean one.
            self._inject_error(CloseNotifyReceived())
            return
        super()._event(level, code)

    def _inject_error(self, e: BaseException) -> None:
        self._protocol._message_interface._received_exception(self, e)
        self._retransmission_task.cancel()
        connections = self._protocol._connections
        if connections.get(self._underlying_address.address) is self:
            del connections[self._underlying_address.address]


class _LabDtlsSocket(tinydtls_server._DatagramServerSocketSimpleDTLS):
    _Address = _LabDtlsAddress
    hooks: TapHooks | None = None
    states: dict[tuple[Any, ...], DtlsPeerState]

    @classmethod
    async def create(
        cls, bind: tuple[str, int], log: Any, loop: Any, message_interface: Any
    ) -> Any:
        # As aiocoap's, minus SO_REUSEPORT (see transports.bind_exclusive).
        wrapped = tinydtls_server.GoingThroughMessageDecryption(message_interface)
        return await bind_exclusive(cls, bind, log, wrapped)

    def datagram_received(self, data: bytes, sockaddr: tuple[Any, ...]) -> None:
        # Never let a peer's bytes raise into asyncio's datagram machinery.
        try:
            if self.hooks is not None:
                self.hooks.wire(data, sockaddr, self.hostinfo_local, inbound=True)
            self._lab_datagram(data, sockaddr)
        except Exception as exc:  # the lab survives a hostile peer; record what happened
            if self.hooks is not None:
                self.hooks.note(f"DTLS: datagram dropped, {type(exc).__name__}: {exc}", sockaddr)

    def _lab_datagram(self, data: bytes, sockaddr: tuple[Any, ...]) -> None:
        if not hasattr(self, "states"):
            self.states = {}
        if sockaddr not in self.states and len(self.states) >= MAX_PEER_STATES:
            # Bounded memory against ClientHello floods: forget the oldest unconnected peer.
            stale = next((k for k, v in self.states.items() if not v.connected), None)
            self.states.pop(stale if stale is not None else next(iter(self.states)))
        state = self.states.setdefault(sockaddr, DtlsPeerState())
        hello = inspect_client_hello(data)
        if hello is not None:
            if sockaddr in self._connections and state.connected:
                # A fresh ClientHello from a connected peer: it restarted its session.
                old = self._connections.pop(sockaddr)
                old._retransmission_task.cancel()
                state = self.states[sockaddr] = DtlsPeerState()
            state.hello = hello
            if self.hooks is not None:
                self.hooks.note(f"DTLS ClientHello: {hello.describe()}", sockaddr)
            fixed = normalise_client_hello_version(data)
            if fixed is not data and self.hooks is not None:
                self.hooks.note(
                    f"DTLS: ClientHello record version {hello.record_version:04x} accepted as "
                    "fefd (RFC 6347 4.2.1: any {254,XX} on a ClientHello)",
                    sockaddr,
                )
            data = fixed
        identity = client_key_exchange_identity(data)
        if identity is not None:
            state.identity = identity
        if data[:1] == bytes([_CT_ALERT]) and self.hooks is not None:
            if len(data) >= 15 and data[3:5] == b"\x00\x00":
                what = f"level {data[13]} {ALERTS.get(data[14], data[14])}"
            else:
                what = "(encrypted)"
            self.hooks.note(f"DTLS alert from the device: {what}", sockaddr)
        finished = carries_encrypted_handshake(data)
        super().datagram_received(data, sockaddr)
        if finished and not state.connected and not state.failure_recorded:
            # tinydtls completes synchronously on a good Finished; a Finished that leaves the
            # handshake open failed verification and was silently dropped (RFC 6347 4.1.2.7).
            state.failure_recorded = True
            if self.hooks is not None:
                who = state.identity.decode("utf-8", "replace") if state.identity else "?"
                self.hooks.note(
                    f"DTLS handshake failed: the device's Finished (PSK identity {who!r}) does "
                    "not verify; the device's PSK key differs from the declared one",
                    sockaddr,
                    error=True,
                )

    def lab_sent_alert(self, address: _LabDtlsAddress, data: bytes) -> None:
        if self.hooks is None:
            return
        sockaddr = address._underlying_address.address
        if len(data) >= 15 and data[3:5] == b"\x00\x00":
            what = f"level {data[13]} {ALERTS.get(data[14], data[14])}"
        else:
            what = "(encrypted)"
        self.hooks.note(f"DTLS alert sent by the lab: {what}", sockaddr)

    def lab_event(self, address: _LabDtlsAddress, level: int, code: int) -> None:
        sockaddr = address._underlying_address.address
        state = getattr(self, "states", {}).setdefault(sockaddr, DtlsPeerState())
        if self.hooks is None:
            return
        if level == 0 and code == tinydtls_server.DTLS_EVENT_CONNECTED:
            state.connected = True
            who = state.identity.decode("utf-8", "replace") if state.identity else "?"
            self.hooks.note(f"DTLS handshake complete (PSK identity {who!r})", sockaddr)
        elif level in (LEVEL_WARNING, LEVEL_FATAL):
            what = ALERTS.get(code, str(code))
            reason = self._failure_reason(state) if level == LEVEL_FATAL else ""
            self.hooks.note(
                f"DTLS {'fatal' if level == LEVEL_FATAL else 'warning'} alert {what}"
                + (f": {reason}" if reason else ""),
                sockaddr,
                error=level == LEVEL_FATAL and code != 0,
            )

    @staticmethod
    def _failure_reason(state: DtlsPeerState) -> str:
        if state.identity_known is False:
            return "the device's PSK identity is not the declared one"
        if state.connected:
            return "after the handshake"
        if state.hello is not None and not state.hello.renegotiation_info:
            return (
                "handshake failed; the ClientHello carries no RFC 5746 renegotiation "
                "indication (older tinydtls), or the PSK key differs"
            )
        if state.identity is not None:
            return "handshake failed after the PSK identity was accepted: the PSK key differs"
        return "handshake failed"


class LabDtlsServer(tinydtls_server.MessageInterfaceTinyDTLSServer):
    """aiocoap's tinydtls server interface: exact port, own remotes recognised, tapped."""

    _serversocket = _LabDtlsSocket
    hooks: TapHooks

    @classmethod
    async def create_lab_server(
        cls,
        bind: tuple[str, int],
        mman: Any,
        *,
        log: Any,
        loop: asyncio.AbstractEventLoop,
        credentials: PskStore,
        hooks: TapHooks,
    ) -> LabDtlsServer:
        self = cls(mman, log, loop)
        self.hooks = hooks
        # Bind exactly what was asked (aiocoap would add 1, trap 1 above).
        self._pool = await self._serversocket.create(bind, log, loop, self)
        self._pool._server_credentials = credentials
        self._pool.hooks = hooks
        self._pool.states = {}

        def on_lookup(identity: bytes, known: bool) -> None:
            # tinydtls asks for the key by identity; remember it for failure reasons.
            for state in self._pool.states.values():
                if state.identity == identity and not state.connected:
                    state.identity_known = known
            if not known:
                hooks.note(
                    f"DTLS: unknown PSK identity {identity.decode('utf-8', 'replace')!r}",
                    None,
                    error=True,
                )

        credentials.on_lookup = on_lookup
        return self

    @property
    def bound(self) -> BoundPort:
        sock = self._pool._transport.get_extra_info("socket")
        host, port = sock.getsockname()[:2]
        return BoundPort(host, port)

    async def shutdown(self) -> None:
        # aiocoap injects LibraryShutdown into each session after the message manager is gone
        # (a logged "shutdown sequence mismatch"); the lab just drops the sessions.
        for connection in list(self._pool._connections.values()):
            connection._retransmission_task.cancel()
        self._pool._connections.clear()
        await GenericMessageInterface.shutdown(self)

    async def recognize_remote(self, remote: Any) -> bool:
        # Trap 2: our own DTLS remotes are ours to send requests on.
        return isinstance(remote, _LabDtlsAddress) and remote._protocol is self._pool

    quick: Any = None  # sockets.QuickAnswers: Register and plain Update answered at once
    pings: Any = None  # ping.PingWatch: the lab's CoAP pings in flight

    def _received_datagram(self, address: Any, datagram: bytes) -> None:
        # Decrypted CoAP from a DTLS peer: tap it (decoded once there), then aiocoap.
        with self.hooks.held():
            taken = self.hooks.incoming(address, datagram, secure=True)
            if isinstance(taken, Message) and self._mman is not None:
                deliver(self, taken)
            elif taken:
                super()._received_datagram(address, datagram)

    def send(self, message: Any) -> None:
        if not send_tapped(self, message, secure=True):
            super().send(message)


def peer_of(remote: Any) -> tuple[str, int] | None:
    """``(host, port)`` of an aiocoap remote of the lab's UDP or DTLS transports."""
    if isinstance(remote, tinydtls_server._AddressDTLS):
        addr = remote._underlying_address.address
    else:
        addr = getattr(remote, "address", None)
    if not addr:
        return None
    return str(addr[0]), int(addr[1])
