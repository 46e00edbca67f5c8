"""OMA-DM Package 0 as a WAP Push SMS: SMS-SUBMIT TPDUs in PDU mode, and their decoder (pure).

Layers, outermost first (3GPP TS 23.040, WAP WDP/WSP, OMA DM Notification):

- SMS-SUBMIT TPDU: first octet with TP-UDHI, TP-MR, TP-DA, TP-PID 0, TP-DCS 0x04 (8-bit data),
  no validity period, TP-UDL, then the user data. In PDU mode (``AT+CMGF=0``) the modem gets
  an SMSC information octet ``00`` (use the default SMSC) before the TPDU; ``AT+CMGS=<n>``
  counts the TPDU only.
- User data header: application port addressing, 16-bit (IEI 0x05): destination 2948 (WAP
  Push connectionless), source 9200 (WSP); concatenation with an 8-bit reference (IEI 0x00)
  when the push does not fit one SMS (140 octets of user data).
- WSP Push PDU: transaction id, PDU type 0x06 (Push), HeadersLen (uintvar), content type
  ``application/vnd.syncml.notification`` as the well-known short integer 0x44, the header
  X-Wap-Application-Id (well-known field 0x2F) = ``x-wap-application:syncml.dm`` (0x07), then
  the Package 0 bytes.

Codes as in Android's WspTypeDecoder tables (WINA assigned numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.errors import ProtocolError

WAP_PUSH_PORT = 2948  # WDP destination: WAP Push, connectionless
WSP_SOURCE_PORT = 9200  # WDP source: WSP connectionless
IEI_CONCAT_8BIT = 0x00
IEI_PORTS_16BIT = 0x05
DCS_8BIT_DATA = 0x04
MAX_USER_DATA = 140  # octets of TP-UD in one SMS

WSP_PDU_PUSH = 0x06
CONTENT_TYPE_SYNCML_NOTIFICATION = 0x44  # application/vnd.syncml.notification
HEADER_X_WAP_APPLICATION_ID = 0x2F
APP_ID_SYNCML_DM = 0x07  # x-wap-application:syncml.dm

_PROTOCOL = "sms"


# --------------------------------------------------------------------------- WSP


def encode_uintvar(value: int) -> bytes:
    """WSP variable-length unsigned integer: 7 bits per octet, high bit = more follow."""
    if value < 0:
        raise ValueError("uintvar is unsigned")
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def decode_uintvar(data: bytes, offset: int) -> tuple[int, int]:
    value = 0
    for i in range(5):  # WSP limits a uintvar to 5 octets (32 bits)
        if offset + i >= len(data):
            raise ProtocolError(_PROTOCOL, "truncated uintvar", where=f"octet {offset + i}")
        octet = data[offset + i]
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            return value, offset + i + 1
    raise ProtocolError(_PROTOCOL, "uintvar longer than 5 octets", where=f"octet {offset}")


def wsp_push_pdu(body: bytes, transaction_id: int = 0) -> bytes:
    """The WSP Push PDU carrying a DM notification (Package 0)."""
    headers = bytes(
        [
            0x80 | CONTENT_TYPE_SYNCML_NOTIFICATION,  # short-integer form of the well-known type
            0x80 | HEADER_X_WAP_APPLICATION_ID,
            0x80 | APP_ID_SYNCML_DM,
        ]
    )
    return (
        bytes([transaction_id & 0xFF, WSP_PDU_PUSH]) + encode_uintvar(len(headers)) + headers + body
    )


@dataclass(frozen=True)
class WspPush:
    transaction_id: int
    pdu_type: int
    content_type: int | str  # well-known code, or the text of an extension media type
    application_id: int | str | None
    headers: bytes  # the raw headers, content type included
    body: bytes


def parse_wsp_push(data: bytes) -> WspPush:
    if len(data) < 3:
        raise ProtocolError(_PROTOCOL, "WSP push shorter than 3 octets", where="octet 0")
    tid, pdu_type = data[0], data[1]
    if pdu_type not in (0x06, 0x07):  # Push, ConfirmedPush
        raise ProtocolError(
            _PROTOCOL, f"WSP PDU type 0x{pdu_type:02x} is not a push", where="octet 1"
        )
    length, start = decode_uintvar(data, 2)
    end = start + length
    if end > len(data) or length == 0:
        raise ProtocolError(_PROTOCOL, "WSP headers overrun the PDU", where=f"octet {start}")
    headers = data[start:end]
    content_type: int | str
    if headers[0] & 0x80:
        content_type, pos = headers[0] & 0x7F, 1
    elif 0x20 <= headers[0] < 0x80:  # Extension-media: text up to NUL
        nul = headers.find(b"\x00")
        if nul < 0:
            raise ProtocolError(_PROTOCOL, "content type text without NUL", where=f"octet {start}")
        content_type, pos = headers[:nul].decode("latin-1"), nul + 1
    else:  # Content-general-form (value-length + media): keep it opaque
        size = headers[0] if headers[0] < 31 else 0
        content_type, pos = headers[1 : 1 + size].hex(), 1 + size
    application_id: int | str | None = None
    if pos + 1 < len(headers) and headers[pos] == 0x80 | HEADER_X_WAP_APPLICATION_ID:
        value = headers[pos + 1]
        if value & 0x80:
            application_id = value & 0x7F
        else:
            nul = headers.find(b"\x00", pos + 1)
            application_id = headers[pos + 1 : nul if nul >= 0 else None].decode("latin-1")
    return WspPush(tid, pdu_type, content_type, application_id, headers, data[end:])


# --------------------------------------------------------------------------- SMS-SUBMIT


def encode_address(number: str) -> bytes:
    """TP-DA: digit count, type of address, BCD digits swapped per octet (F-padded)."""
    international = number.startswith("+")
    digits = number.lstrip("+")
    if not digits.isdigit():
        raise ValueError(f"SMS destination {number!r}: expected digits, optionally after '+'")
    toa = 0x91 if international else 0x81
    padded = digits + ("F" if len(digits) % 2 else "")
    swapped = "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))
    return bytes([len(digits), toa]) + bytes.fromhex(swapped)


def decode_address(data: bytes, offset: int) -> tuple[str, int]:
    if offset + 2 > len(data):
        raise ProtocolError(_PROTOCOL, "truncated address", where=f"octet {offset}")
    count, toa = data[offset], data[offset + 1]
    size = (count + 1) // 2
    end = offset + 2 + size
    if end > len(data):
        raise ProtocolError(_PROTOCOL, "address overruns the PDU", where=f"octet {offset}")
    semi = data[offset + 2 : end].hex().upper()
    digits = "".join(semi[i + 1] + semi[i] for i in range(0, len(semi), 2))[:count]
    if not digits.isdigit():
        raise ProtocolError(_PROTOCOL, f"address digits {digits!r}", where=f"octet {offset + 2}")
    return ("+" if toa & 0x70 == 0x10 else "") + digits, end


@dataclass(frozen=True)
class SubmitPdu:
    """One SMS as given to the modem: hex with the SMSC octet, and the AT+CMGS length."""

    hex: str
    tpdu_length: int


def wap_push_sms(
    destination: str, package0: bytes, *, reference: int = 0, transaction_id: int = 0
) -> list[SubmitPdu]:
    """Package 0 as one or more SMS-SUBMIT PDUs (concatenated with ``reference`` if needed)."""
    push = wsp_push_pdu(package0, transaction_id)
    ports = bytes([IEI_PORTS_16BIT, 4]) + WAP_PUSH_PORT.to_bytes(2, "big")
    ports += WSP_SOURCE_PORT.to_bytes(2, "big")
    single_room = MAX_USER_DATA - 1 - len(ports)
    if len(push) <= single_room:
        return [_submit(destination, ports, push)]
    room = single_room - 5  # the concatenation IE takes 5 octets
    chunks = [push[i : i + room] for i in range(0, len(push), room)]
    if len(chunks) > 255:
        raise ValueError(f"Package 0 of {len(package0)} octets needs more than 255 SMS")
    return [
        _submit(
            destination,
            ports + bytes([IEI_CONCAT_8BIT, 3, reference & 0xFF, len(chunks), n]),
            chunk,
        )
        for n, chunk in enumerate(chunks, start=1)
    ]


def _submit(destination: str, udh: bytes, payload: bytes) -> SubmitPdu:
    first_octet = 0x01 | 0x40  # SMS-SUBMIT, TP-UDHI; TP-VPF 00: no validity period
    user_data = bytes([len(udh)]) + udh + payload
    tpdu = (
        bytes([first_octet, 0x00])  # TP-MR 0: the modem assigns the reference
        + encode_address(destination)
        + bytes([0x00, DCS_8BIT_DATA, len(user_data)])  # TP-PID, TP-DCS, TP-UDL (octets)
        + user_data
    )
    return SubmitPdu(hex=("00" + tpdu.hex()).upper(), tpdu_length=len(tpdu))


@dataclass(frozen=True)
class ParsedSubmit:
    smsc: bytes
    first_octet: int
    message_reference: int
    destination: str
    protocol_id: int
    data_coding: int
    information_elements: tuple[tuple[int, bytes], ...]
    payload: bytes
    tpdu_length: int

    @property
    def ports(self) -> tuple[int, int] | None:
        for iei, data in self.information_elements:
            if iei == IEI_PORTS_16BIT and len(data) == 4:
                return int.from_bytes(data[:2], "big"), int.from_bytes(data[2:], "big")
        return None

    @property
    def concatenation(self) -> tuple[int, int, int] | None:
        """(reference, total, sequence number) when this SMS is one part of several."""
        for iei, data in self.information_elements:
            if iei == IEI_CONCAT_8BIT and len(data) == 3:
                return data[0], data[1], data[2]
        return None


def parse_submit_pdu(pdu_hex: str) -> ParsedSubmit:
    """Decode what a modem gets after AT+CMGS (SMSC octets first, then an 8-bit SMS-SUBMIT)."""
    try:
        data = bytes.fromhex(pdu_hex.strip())
    except ValueError:
        raise ProtocolError(_PROTOCOL, "PDU is not hex", data=pdu_hex.encode()[:64]) from None
    if not data:
        raise ProtocolError(_PROTOCOL, "empty PDU", where="octet 0")
    smsc_len = data[0]
    pos = 1 + smsc_len
    if pos + 2 > len(data):
        raise ProtocolError(_PROTOCOL, "truncated after the SMSC", where=f"octet {pos}")
    tpdu_start = pos
    first = data[pos]
    if first & 0x03 != 0x01:
        raise ProtocolError(
            _PROTOCOL, f"TP-MTI {first & 3} is not SMS-SUBMIT", where=f"octet {pos}"
        )
    reference = data[pos + 1]
    destination, pos = decode_address(data, pos + 2)
    if pos + 2 > len(data):
        raise ProtocolError(_PROTOCOL, "truncated before TP-DCS", where=f"octet {pos}")
    pid, dcs = data[pos], data[pos + 1]
    pos += 2
    pos += {0x00: 0, 0x10: 1, 0x08: 7, 0x18: 7}[first & 0x18]  # skip TP-VP by its format
    if dcs & 0x0C != 0x04:
        raise ProtocolError(
            _PROTOCOL, f"TP-DCS 0x{dcs:02x} is not 8-bit data", where=f"octet {pos - 1}"
        )
    if pos >= len(data):
        raise ProtocolError(_PROTOCOL, "missing TP-UDL", where=f"octet {pos}")
    udl = data[pos]
    user_data = data[pos + 1 :]
    if len(user_data) != udl:
        raise ProtocolError(
            _PROTOCOL, f"TP-UDL says {udl} octets, {len(user_data)} follow", where=f"octet {pos}"
        )
    elements: list[tuple[int, bytes]] = []
    payload = user_data
    if first & 0x40:
        if not user_data:
            raise ProtocolError(_PROTOCOL, "TP-UDHI set but no header", where=f"octet {pos + 1}")
        udhl = user_data[0]
        if 1 + udhl > len(user_data):
            raise ProtocolError(_PROTOCOL, "UDH overruns the user data", where=f"octet {pos + 1}")
        udh, payload = user_data[1 : 1 + udhl], user_data[1 + udhl :]
        i = 0
        while i < len(udh):
            if i + 2 > len(udh) or i + 2 + udh[i + 1] > len(udh):
                raise ProtocolError(
                    _PROTOCOL, "information element overruns the UDH", where=f"UDH octet {i}"
                )
            elements.append((udh[i], udh[i + 2 : i + 2 + udh[i + 1]]))
            i += 2 + udh[i + 1]
    return ParsedSubmit(
        smsc=data[1:tpdu_start],
        first_octet=first,
        message_reference=reference,
        destination=destination,
        protocol_id=pid,
        data_coding=dcs,
        information_elements=tuple(elements),
        payload=payload,
        tpdu_length=len(data) - tpdu_start,
    )


def reassemble(parts: list[ParsedSubmit]) -> bytes:
    """The WDP payload (the WSP push) of one message from its SMS, in any order."""
    if len(parts) == 1 and parts[0].concatenation is None:
        return parts[0].payload
    keyed = []
    for part in parts:
        concat = part.concatenation
        if concat is None:
            raise ProtocolError(_PROTOCOL, "a part of a concatenated message has no IEI 0x00")
        keyed.append((concat, part.payload))
    references = {c[0] for c, _ in keyed}
    totals = {c[1] for c, _ in keyed}
    numbers = sorted(c[2] for c, _ in keyed)
    if len(references) != 1 or totals != {len(parts)} or numbers != list(range(1, len(parts) + 1)):
        raise ProtocolError(
            _PROTOCOL, f"inconsistent concatenation headers: {[c for c, _ in keyed]}"
        )
    return b"".join(payload for _, payload in sorted(keyed, key=lambda item: item[0][2]))
