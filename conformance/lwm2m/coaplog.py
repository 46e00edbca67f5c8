"""The CoAP transcript tap: every message in and out, at the message layer.

The lab's transports call :class:`CoapTap` for each datagram received (decrypted, for DTLS)
and each message sent, so retransmissions, duplicates, empty ACKs, RSTs, notifications and
every block show up. Each entry gets a ladder-diagram label (``CON POST /rd?ep=…``,
``ACK 2.01 Created Location rd/1``, ``NON 2.05 Observe=3 tlv``), the options, and the payload
raw and decoded by its content format. An unparsable datagram is recorded with its bytes as a
protocol error and, if it was a CON, rejected with a RST (RFC 7252 §4.2).
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from aiocoap import Code, Message
from aiocoap.error import UnparsableMessage
from aiocoap.numbers.optionnumbers import OptionNumber
from aiocoap.numbers.types import ACK, CON, RST, Type

from conformance.evidence.transcript import Transcript
from conformance.lwm2m.dtls import peer_of
from conformance.lwm2m.model import ContentFormat

PROTOCOL = "lwm2m"
# After this many copies of one MID from one peer, stop recording each copy (one note says so).
STORM_THRESHOLD = 20
# Unparsable datagrams recorded per second, from all peers together (a flood comes from many
# addresses); beyond it they are counted, still rejected, and one note a second gives the count.
GARBAGE_PER_SECOND = 200
# Security object resources whose values are keys (TS 1.1 Appendix E.1): 5 Secret Key,
# 8 SMS Binding Secret Key(s). Whatever carries them (a bootstrap Write, a device that answers
# a Read of /0), they are registered as secrets before the message is recorded.
SECRET_RESOURCES = frozenset({5, 8})


def security_secrets(fmt: int | None, payload: bytes, path: str | None, registry: Any) -> list[Any]:
    """The secret-key values a payload for ``path`` carries (none when it carries none or
    does not decode: then the redactor still masks every secret it knows)."""
    if fmt is None or not payload or path is None or not (path == "/" or path.startswith("/0")):
        return []
    from conformance.errors import ProtocolError
    from conformance.lwm2m import codecs
    from conformance.lwm2m.model import Path

    try:
        content = codecs.decode(int(fmt), Path.parse(path), payload, registry)
    except (ProtocolError, KeyError, ValueError):
        return []
    return [
        value for key, value in content.items()
        if key.object_id == 0 and key.resource_id in SECRET_RESOURCES and value
    ]


def format_error(datagram: bytes) -> str | None:
    """RFC 7252 §3 header checks aiocoap's decoder does not make (it is lenient)."""
    if len(datagram) < 4:
        return f"datagram of {len(datagram)} bytes is shorter than the CoAP header"
    if datagram[0] >> 6 != 1:
        return f"CoAP version {datagram[0] >> 6}"
    tkl = datagram[0] & 0x0F
    if tkl > 8:
        return f"reserved token length {tkl}"
    if len(datagram) < 4 + tkl:
        return f"token of {tkl} bytes announced, {len(datagram) - 4} present"
    if datagram[1] == 0 and len(datagram) > 4:
        return "empty message (0.00) with token, options or payload"
    major, minor = divmod(datagram[1], 32)
    if major in (1, 6, 7):  # RFC 7252 §12.1; aiocoap would drop it silently, even a CON
        return f"reserved code class {major} (code {major}.{minor:02d})"
    # Type and code that do not go together (RFC 7252 §4.2, §4.3); aiocoap would only log them.
    mtype = (datagram[0] >> 4) & 3
    if mtype == 3 and datagram[1]:
        return f"Reset with code {major}.{minor:02d} (a Reset must be Empty)"
    if mtype == 2 and major == 0 and minor:
        return f"Acknowledgement carrying request code 0.{minor:02d}"
    if mtype == 1 and not datagram[1]:
        return "Empty Non-confirmable message (a NON carries a request or a response)"
    pos = 4 + tkl
    while pos < len(datagram):  # walk the options to the payload marker
        byte = datagram[pos]
        if byte == 0xFF:
            return "payload marker followed by no payload" if pos + 1 == len(datagram) else None
        pos += 1
        for nibble in (byte >> 4, byte & 0x0F):
            if nibble == 13:
                pos += 1
            elif nibble == 14:
                pos += 2
        length = byte & 0x0F
        if length == 13 and pos - 1 < len(datagram):
            length = datagram[pos - 1] + 13
        elif length == 14 and pos - 2 >= 0 and pos <= len(datagram):
            length = int.from_bytes(datagram[pos - 2 : pos], "big") + 269
        pos += length
    return None


def format_name(fmt: int | None) -> str:
    if fmt is None:
        return ""
    return ContentFormat.describe(int(fmt))


def peer_text(remote: Any) -> str:
    """``host:port`` of a remote, kept on it: aiocoap makes a remote per datagram (a DTLS
    session's lasts), and the tap, the quick path and the registration handlers each ask."""
    kept = getattr(remote, "__dict__", None)
    text = kept.get(_PEER_TEXT) if kept is not None else None
    if type(text) is not str:
        peer = peer_of(remote)
        text = f"{peer[0]}:{peer[1]}" if peer else str(remote)
        if kept is not None:
            kept[_PEER_TEXT] = text
    return text


_PEER_TEXT = "_lab_peer_text"


def code_text(code: Any) -> str:
    """``2.05 Content``; unknown codes as ``2.31``."""
    known = type(code) is Code  # a plain int is no Code: "2.04", not "2.04 Changed"
    text = _CODE_TEXTS.get(code) if known else None
    if text is None:
        try:
            text = f"{code.dotted} {code.name_printable}"
        except Exception:
            major, minor = divmod(int(code), 32)
            text = f"{major}.{minor:02d}"
        if known:
            _CODE_TEXTS[int(code)] = text  # 256 codes at most
    return text


_CODE_TEXTS: dict[int, str] = {}


def _block(opt: Any) -> str:
    return f"{opt.block_number}/{int(opt.more)}/{opt.size}"


class _Options:
    """A message's options read in one pass: aiocoap's per-option properties each look their
    number up again, and a label plus the headers read a dozen of them for every message."""

    __slots__ = ("values",)

    def __init__(self, msg: Message) -> None:
        values: dict[int, list[Any]] = {}
        for option in msg.opt.option_list():
            values.setdefault(int(option.number), []).append(option.value)
        self.values = values

    def all(self, number: OptionNumber) -> list[Any]:
        return self.values.get(number, [])

    def one(self, number: OptionNumber) -> Any:
        found = self.values.get(number)
        return found[0] if found else None


_URI_PATH, _URI_QUERY = OptionNumber.URI_PATH, OptionNumber.URI_QUERY
_CONTENT_FORMAT, _ACCEPT, _OBSERVE = (
    OptionNumber.CONTENT_FORMAT, OptionNumber.ACCEPT, OptionNumber.OBSERVE)
_BLOCK1, _BLOCK2, _LOCATION_PATH = (
    OptionNumber.BLOCK1, OptionNumber.BLOCK2, OptionNumber.LOCATION_PATH)
_SIZE1, _SIZE2, _ETAG = OptionNumber.SIZE1, OptionNumber.SIZE2, OptionNumber.ETAG


def _format_header(values: list[Any]) -> str:
    return f"{int(values[0])} {format_name(values[0])}"


# (option, header, its text from the option's values), in the headers' order
_HEADERS: tuple[tuple[int, str, Callable[[list[Any]], str]], ...] = (
    (_URI_PATH, "Uri-Path", lambda v: "/" + "/".join(v)),
    (_URI_QUERY, "Uri-Query", "&".join),
    (_CONTENT_FORMAT, "Content-Format", _format_header),
    (_ACCEPT, "Accept", _format_header),
    (_OBSERVE, "Observe", lambda v: str(v[0])),
    (_BLOCK1, "Block1", lambda v: _block(v[0])),
    (_BLOCK2, "Block2", lambda v: _block(v[0])),
    (_LOCATION_PATH, "Location-Path", "/".join),
    (_SIZE1, "Size1", lambda v: str(v[0])),
    (_SIZE2, "Size2", lambda v: str(v[0])),
    (_ETAG, "ETag", lambda v: v[0].hex()),
)


def options_of(msg: Message, o: _Options | None = None) -> dict[str, str]:
    """The options worth seeing, as transcript headers."""
    values = (o or _Options(msg)).values
    if not values:
        return {}
    return {header: text(values[number]) for number, header, text in _HEADERS if number in values}


def summarize(msg: Message, o: _Options | None = None) -> str:
    """The ladder label: ``CON GET /3/0 Accept:tlv``, ``ACK 2.05 tlv Block2:0/1/512``."""
    values = (o or _Options(msg)).values
    mtype = msg.mtype
    kind = _TYPE_TEXTS.get(mtype) if type(mtype) is Type else None
    if kind is None:
        kind = str(mtype) if mtype is not None else "?"
    code = msg.code
    if code.is_request():
        path = "/" + "/".join(values.get(_URI_PATH, ()))
        query = values.get(_URI_QUERY)
        parts = [kind, str(code), path + ("?" + "&".join(query) if query else "")]
        if _OBSERVE in values:
            parts.append(f"Observe={values[_OBSERVE][0]}")
        if _ACCEPT in values:
            parts.append(f"Accept:{format_name(values[_ACCEPT][0])}")
        if _CONTENT_FORMAT in values:
            parts.append(format_name(values[_CONTENT_FORMAT][0]))
    elif code.is_response():
        parts = [kind, code_text(code)]
        if _LOCATION_PATH in values:
            parts.append("Location " + "/".join(values[_LOCATION_PATH]))
        if _OBSERVE in values:
            parts.append(f"Observe={values[_OBSERVE][0]}")
        if _CONTENT_FORMAT in values:
            parts.append(format_name(values[_CONTENT_FORMAT][0]))
    else:
        parts = [kind] if mtype != RST else ["RST"]
        parts.append(f"MID={msg.mid}")
        if mtype == CON:  # an Empty CON only provokes a Reset (RFC 7252 §4.3)
            parts.append("(CoAP ping)")
    if not values:
        return " ".join(parts)
    if _BLOCK1 in values:
        parts.append("Block1:" + _block(values[_BLOCK1][0]))
    if _BLOCK2 in values:
        parts.append("Block2:" + _block(values[_BLOCK2][0]))
    return " ".join(parts)


_TYPE_TEXTS = {t: str(t) for t in Type}


def describe_payload(
    fmt: int | None, payload: bytes, path: str | None, registry: Any
) -> str:
    """Decoded form of a payload by content format; never raises (the codecs' ``describe``)."""
    if not payload:
        return ""
    try:
        from conformance.lwm2m import codecs
        from conformance.lwm2m.model import Path

        try:
            lwm2m_path = Path.parse(path) if path else None
        except ValueError:  # not an LwM2M path (/rd, /bs, /fw/…)
            lwm2m_path = None
        return str(codecs.describe(fmt, payload, path=lwm2m_path, registry=registry))
    except Exception as exc:  # describe must never take the lab down, whatever the bytes
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            return f"{len(payload)} bytes ({type(exc).__name__} while describing)"
        return text


class CoapTap:
    """Records CoAP messages to the transcript; device names come from ``device_of(peer)``."""

    def __init__(
        self,
        transcript: Transcript,
        *,
        device_of: Callable[[str], tuple[str, str]],
        registry: Callable[[], Any] = lambda: None,
        endpoint_name: str = "",
        on_contact: Callable[[str], None] | None = None,
    ) -> None:
        self.transcript = transcript
        self.device_of = device_of  # peer -> (device name, session)
        # An exchange with peer completed (queue mode: lwm2m/queuemode.py ContactWatch).
        self.on_contact = on_contact
        self.registry = registry
        self.endpoint_name = endpoint_name
        self._paths: collections.OrderedDict[tuple[str, bytes], str] = collections.OrderedDict()
        self._seen: collections.OrderedDict[tuple[str, int, Any], int] = collections.OrderedDict()
        # (peer, token) -> future: the next response on that token is rejected with a RST
        self._reject: dict[tuple[str, bytes], asyncio.Future[Message]] = {}
        self._garbage_second = 0  # the second (monotonic, whole) of the current window
        self._garbage_recorded = 0  # unparsable datagrams recorded in that second
        self._garbage_skipped = 0  # not recorded since the last note about them
        self._garbage_peer = ""

    def reject_next(self, remote: Any, token: bytes, done: asyncio.Future[Message]) -> None:
        """Answer the next message on ``token`` from ``remote`` with a RST (Observe cancel)."""
        peer = peer_text(remote)
        self._reject[(peer, bytes(token))] = done
        device, session = self.device_of(peer)
        self.transcript.record(
            PROTOCOL,
            "note",
            f"observe cancel armed: the next notification on token {bytes(token).hex()} gets a RST",
            device=device,
            peer=peer,
            session=session,
        )

    # -- TapHooks ------------------------------------------------------------------------------

    def incoming(self, remote: Any, datagram: bytes, *, secure: bool) -> bool | Message:
        try:
            return self._incoming(remote, datagram, secure=secure)
        except Exception as exc:  # a tap bug must not cost the device its message
            self.transcript.record(
                PROTOCOL, "note", f"harness: transcript tap failed on a datagram: {exc!r}",
                raw=datagram,
            )
            return True

    def _incoming(self, remote: Any, datagram: bytes, *, secure: bool) -> bool | Message:
        peer = peer_text(remote)
        device, session = self.device_of(peer)
        try:
            problem = format_error(datagram)
            if problem:
                raise UnparsableMessage(problem)
            msg = Message.decode(datagram, remote=remote)
        except (UnparsableMessage, ValueError, IndexError) as exc:
            self._reject_unparsable(remote, peer, device, datagram, exc)
            return False
        key = (peer, msg.mid, msg.mtype)
        copies = self._seen.get(key, 0) + 1
        self._seen[key] = copies
        self._seen.move_to_end(key)
        while len(self._seen) > 4096:
            self._seen.popitem(last=False)
        if copies > STORM_THRESHOLD:
            if copies == STORM_THRESHOLD + 1:
                self.transcript.record(
                    PROTOCOL,
                    "device->lab",
                    f"retransmission storm: MID {msg.mid} seen {copies} times, "
                    "further copies not recorded",
                    device=device,
                    peer=peer,
                    session=session,
                    error=f"retransmission storm of MID {msg.mid} ({msg.mtype})",
                )
            # not recorded, still answered: by the deduplication of aiocoap or of the lab's
            # quick path (server.QuickRegistrations), per RFC 7252 §4.5
            return msg
        opts = _Options(msg)
        summary = summarize(msg, opts)
        if copies > 1:
            summary += " (duplicate MID)"
        path = self._path_for(peer, msg, opts)
        self._record("device->lab", msg, opts, summary, peer, device, session, path, secure,
                     datagram)
        token_key = (peer, bytes(msg.token))
        reject = self._reject.pop(token_key, None) if msg.code.is_response() else None
        if reject is not None:
            self._send_rst(remote, peer, device, msg.mid, "observation cancelled by RST")
            if not reject.done():
                reject.set_result(msg)
            return False
        if self.on_contact is not None and msg.mtype is not CON:
            self.on_contact(peer)  # a response or a NON: the device is listening now
        return msg  # aiocoap takes the decoded message as it is

    def outgoing(self, message: Message, *, secure: bool, raw: bytes | None = None) -> None:
        try:
            peer = peer_text(message.remote)
            device, session = self.device_of(peer)
            opts = _Options(message)
            path = self._path_for(peer, message, opts)
            raw = bytes(message.encode()) if raw is None else bytes(raw)
            self._record("lab->device", message, opts, summarize(message, opts), peer, device,
                         session, path, secure, raw)
            self.transcript.flush()  # on disk before it is sent, within a hold too
            if self.on_contact is not None and message.mtype is ACK:
                self.on_contact(peer)  # the lab answered the device's CON (an Update…)
        except Exception as exc:  # recording must never stop a message from being sent
            self.transcript.note(PROTOCOL, f"transcript tap failed on an outgoing message: {exc}")

    def held(self) -> AbstractContextManager[None]:
        return self.transcript.held()

    def wire(self, data: bytes, sockaddr: Any, local: str, *, inbound: bool) -> None:
        peer = f"{sockaddr[0]}:{sockaddr[1]}" if sockaddr else ""
        self.transcript.datagram(PROTOCOL, inbound, peer, bytes(data), local)

    def note(self, text: str, sockaddr: Any, *, error: bool = False) -> None:
        peer = f"{sockaddr[0]}:{sockaddr[1]}" if sockaddr else ""
        device, session = self.device_of(peer) if peer else ("", "")
        self.transcript.record(
            PROTOCOL,
            "note",
            text,
            device=device,
            peer=peer,
            session=session,
            error=text if error else None,
        )

    # -- helpers -------------------------------------------------------------------------------

    def _path_for(self, peer: str, msg: Message, opts: _Options) -> str | None:
        """The request path a message's payload belongs to (requests, and responses by token)."""
        key = (peer, bytes(msg.token))
        if msg.code.is_request():
            path = "/" + "/".join(opts.all(_URI_PATH))
            self._paths[key] = path
            while len(self._paths) > 1024:
                self._paths.popitem(last=False)
            return path
        return self._paths.get(key)

    def _record(
        self,
        direction: str,
        msg: Message,
        opts: _Options,
        summary: str,
        peer: str,
        device: str,
        session: str,
        path: str | None,
        secure: bool,
        raw: bytes,
    ) -> None:
        headers = options_of(msg, opts)
        headers["MID"] = str(msg.mid)
        headers["Token"] = bytes(msg.token).hex()
        if secure:
            headers["Security"] = "DTLS"
        fmt = opts.one(_CONTENT_FORMAT)
        decoded = ""
        if msg.payload:  # an Update, an ACK: nothing to look into
            number = int(fmt) if fmt is not None else None
            payload, registry = bytes(msg.payload), self.registry()
            for secret in security_secrets(number, payload, path, registry):
                self.transcript.redactor.add(
                    secret if isinstance(secret, bytes | str) else str(secret))
            decoded = describe_payload(number, payload, path, registry)
        self.transcript.record(
            PROTOCOL,
            direction,  # type: ignore[arg-type]
            summary,
            device=device,
            peer=peer,
            session=session,
            content_type=format_name(fmt),
            raw=raw,
            decoded=decoded,
            headers=headers,
            error=self._payload_error(msg, path) if direction == "device->lab" else None,
        )

    def _payload_error(self, msg: Message, path: str | None) -> str | None:
        """A device's answer whose (complete) payload its content format cannot carry."""
        if not msg.code.is_successful() or not msg.payload or path is None:
            return None
        block2 = msg.opt.block2
        if block2 is not None and (block2.more or block2.block_number):
            return None  # one block of several: the facade checks the assembled payload
        fmt = msg.opt.content_format
        if fmt is None:
            return "coap: payload without Content-Format"
        try:
            from conformance.errors import ProtocolError
            from conformance.lwm2m import codecs
            from conformance.lwm2m.codecs import linkformat
            from conformance.lwm2m.model import Path

            if int(fmt) == 40:
                linkformat.parse_links(bytes(msg.payload).decode("utf-8"))
                return None
            try:
                lwm2m_path = Path.parse(path)
            except ProtocolError:
                return None
            codecs.decode(int(fmt), lwm2m_path, bytes(msg.payload), self.registry())
        except UnicodeDecodeError as exc:
            return f"link-format: not UTF-8 ({exc.reason})"
        except ProtocolError as exc:
            return str(exc)
        return None

    def _garbage_recordable(self, peer: str) -> bool:
        """Whether this unparsable datagram goes to the transcript (GARBAGE_PER_SECOND)."""
        second = int(time.monotonic())
        if second != self._garbage_second:
            self._garbage_second, self._garbage_recorded = second, 0
        if self._garbage_recorded < GARBAGE_PER_SECOND:
            self._garbage_recorded += 1
            return True
        if not self._garbage_skipped:  # the count goes to the transcript within a second
            asyncio.get_running_loop().call_later(1.0, self._note_garbage_skipped)
        self._garbage_skipped += 1
        self._garbage_peer = peer
        return False

    def _note_garbage_skipped(self) -> None:
        skipped, self._garbage_skipped = self._garbage_skipped, 0
        self.transcript.record(
            PROTOCOL,
            "note",
            f"flood: {skipped} more unparsable datagrams rejected but not recorded "
            f"(over {GARBAGE_PER_SECOND}/s; the last from {self._garbage_peer})",
            peer=self._garbage_peer,
            error=f"coap: flood of unparsable datagrams ({skipped} not recorded)",
        )

    def _reject_unparsable(
        self, remote: Any, peer: str, device: str, datagram: bytes, exc: Exception
    ) -> None:
        recorded = self._garbage_recordable(peer)
        if recorded:
            self._record_unparsable(peer, device, datagram, exc)
        # A CON we cannot process at all is rejected with a RST carrying its MID (RFC 7252 §4.2).
        if len(datagram) >= 4 and datagram[0] >> 6 == 1 and (datagram[0] >> 4) & 3 == int(CON):
            mid = int.from_bytes(datagram[2:4], "big")
            self._send_rst(remote, peer, device, mid, "unparsable CON rejected", record=recorded)

    def _record_unparsable(self, peer: str, device: str, datagram: bytes, exc: Exception) -> None:
        self.transcript.record(
            PROTOCOL,
            "device->lab",
            f"unparsable CoAP datagram ({len(datagram)} bytes)",
            device=device,
            peer=peer,
            raw=datagram,
            error=f"coap: not a valid CoAP message: {exc}",
        )

    def _send_rst(
        self, remote: Any, peer: str, device: str, mid: int, why: str, *, record: bool = True
    ) -> None:
        rst = bytes([0x70, 0x00]) + mid.to_bytes(2, "big")
        try:
            remote.send(rst)
        except Exception as send_exc:
            if record:
                self.note(f"could not send RST: {send_exc}", peer_of(remote))
            return
        if record:
            self.transcript.record(
                PROTOCOL, "lab->device", f"RST MID={mid} ({why})", device=device, peer=peer,
                raw=rst,
            )

