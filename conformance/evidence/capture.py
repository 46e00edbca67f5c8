"""Packet captures of a run, for Wireshark and tshark: ``capture.pcapng`` and its decrypted twin.

The lab terminates every protocol itself, so it does not sniff: it writes each message it
records (and each DTLS datagram as it crossed the socket) as one packet in Wireshark's
"exported PDU" link type (``LINKTYPE_WIRESHARK_UPPER_PDU``, what Wireshark's own *Export PDUs*
writes). Each packet names the dissector Wireshark runs on it, with the IP addresses and ports
of both ends, so the lab's ephemeral ports need no *Decode As*:

- ``capture.pcapng`` — the wire: CoAP (``coap``, LwM2M TLV/SenML by Content-Format), OMA-DM
  and package HTTP (``http``, SyncML XML and WBXML bodies by Content-Type), Package 0
  datagrams, and DTLS records *encrypted*, as they crossed the socket (``dtls``);
- ``capture-decrypted.pcapng`` — what was inside the DTLS sessions: the CoAP the lab decrypted.

No key material is written: the decrypted view comes from the plaintext the lab holds. The
pcapng container is written by ``dpkt``; the exported-PDU header is a handful of tags
(Wireshark's ``epan/exported_pdu.h``). Files are written as messages come (O(1) memory);
a case's capture is the byte range of the run's file between the case's start and end.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal
from urllib.parse import urlsplit

from dpkt import pcapng  # type: ignore[import-untyped]

from conformance.evidence.transcript import Entry

log = logging.getLogger(__name__)
LINKTYPE_WIRESHARK_UPPER_PDU = 252
WIRE_FILE = "capture.pcapng"
DECRYPTED_FILE = "capture-decrypted.pcapng"

# exported_pdu.h tags and port types
_TAG_END = 0
_TAG_DISSECTOR_NAME = 12
_TAG_IPV4_SRC, _TAG_IPV4_DST, _TAG_IPV6_SRC, _TAG_IPV6_DST = 20, 21, 22, 23
_TAG_PORT_TYPE, _TAG_SRC_PORT, _TAG_DST_PORT = 24, 25, 26
_TAG_COL_PROT_TEXT = 33
_PORT_TYPES = {"tcp": 2, "udp": 3}
# pcapng EPB flags: direction in the two low bits (1 inbound, 2 outbound)
_EPB_FLAGS = 2
_INBOUND, _OUTBOUND = 1, 2
_END_OF_OPTIONS = pcapng.PcapngOptionLE(code=pcapng.PCAPNG_OPT_ENDOFOPT)
MAX_COLUMN_TEXT = 200  # a device's string in the packet list, bounded

Transport = Literal["udp", "tcp"]
Endpoint = tuple[str, int]
_HTTP_STATUS = re.compile(r"^(\d{3})\b")
_HTTP_REQUEST = re.compile(r"^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH) (\S+)")
_REASONS = {200: "OK", 206: "Partial Content", 400: "Bad Request", 404: "Not Found",
            405: "Method Not Allowed", 408: "Request Timeout", 413: "Payload Too Large",
            415: "Unsupported Media Type", 416: "Range Not Satisfiable", 500: "Internal Error"}


@dataclass(frozen=True)
class Packet:
    """One exported PDU: the bytes a dissector gets, and where they went."""

    time: float
    dissector: str  # "coap", "http", "dtls", "data"
    transport: Transport
    src: Endpoint | None
    dst: Endpoint | None
    payload: bytes
    inbound: bool  # device → lab
    comment: str = ""
    protocol_text: str = ""  # the Protocol column, when the dissector sets none


def _tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


def _address_tags(endpoint: Endpoint | None, v4: int, v6: int) -> bytes:
    if endpoint is None:
        return b""
    try:
        addr = ipaddress.ip_address(endpoint[0].strip("[]"))
    except ValueError:
        return b""
    return _tlv(v4 if addr.version == 4 else v6, addr.packed)


def exported_pdu(packet: Packet) -> bytes:
    """The packet's bytes in LINKTYPE_WIRESHARK_UPPER_PDU framing (tags, end tag, payload)."""
    name = packet.dissector.encode()
    name += b"\x00" * (-len(name) % 4)  # names are padded to 4 bytes
    tags = [_tlv(_TAG_DISSECTOR_NAME, name)]
    tags.append(_address_tags(packet.src, _TAG_IPV4_SRC, _TAG_IPV6_SRC))
    tags.append(_address_tags(packet.dst, _TAG_IPV4_DST, _TAG_IPV6_DST))
    tags.append(_tlv(_TAG_PORT_TYPE, struct.pack(">I", _PORT_TYPES[packet.transport])))
    if packet.src is not None:
        tags.append(_tlv(_TAG_SRC_PORT, struct.pack(">I", packet.src[1])))
    if packet.dst is not None:
        tags.append(_tlv(_TAG_DST_PORT, struct.pack(">I", packet.dst[1])))
    if packet.protocol_text:
        value = packet.protocol_text[:MAX_COLUMN_TEXT].encode("utf-8", "replace") + b"\x00"
        tags.append(_tlv(_TAG_COL_PROT_TEXT, value + b"\x00" * (-len(value) % 4)))
    return b"".join(tags) + _tlv(_TAG_END, b"") + packet.payload


def parse_endpoint(text: str) -> Endpoint | None:
    """``"127.0.0.1:4000"`` / ``"[::1]:4000"`` → (host, port); None when it is not one."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host, int(port)


def lab_endpoints(addresses: Mapping[str, str]) -> tuple[dict[str, Endpoint], dict[str, str]]:
    """The lab's own end (and HTTP path) per kind of traffic, from ``Lab.addresses()`` (URLs)."""
    kinds = {
        "omadm": "LAB_OMADM_URL",
        "lwm2m": "LAB_LWM2M_URI",
        "lwm2m-dtls": "LAB_LWM2M_DTLS_URI",
        "fota": "LAB_PACKAGE_URL",
    }
    out: dict[str, Endpoint] = {}
    paths: dict[str, str] = {}
    for kind, key in kinds.items():
        url = addresses.get(key)
        if not url:
            continue
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            continue
        if parts.hostname and port:
            out[kind] = (parts.hostname, port)
            paths[kind] = parts.path or "/"
    return out, paths


def _http_message(entry: Entry, path: str) -> bytes:
    """The HTTP message the entry records, rebuilt: start line, headers, body."""
    head: list[str]
    request = _HTTP_REQUEST.match(entry.summary)
    status = _HTTP_STATUS.match(entry.summary)
    if entry.direction == "device->lab":
        method, target = (request.group(1), request.group(2)) if request else ("POST", path)
        if not target.startswith("/"):
            target = path
        head = [f"{method} {target} HTTP/1.1"]
    else:
        code = int(status.group(1)) if status else 200
        head = [f"HTTP/1.1 {code} {_REASONS.get(code, 'Status')}"]
    headers = {k: v for k, v in entry.headers.items() if k.lower() != "content-length"}
    if entry.content_type and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = entry.content_type
    if entry.raw or entry.direction == "device->lab" or entry.protocol != "fota":
        headers["Content-Length"] = str(len(entry.raw))
    head += [f"{k}: {_one_line(v)}" for k, v in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("utf-8", "replace") + entry.raw


def _one_line(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")


def packets_of(
    entry: Entry, lab: Mapping[str, Endpoint], paths: Mapping[str, str] | None = None
) -> list[tuple[Packet, bool]]:
    """The packets for one transcript entry, each with ``decrypted`` (True: the DTLS view)."""
    if entry.direction == "note":
        return []
    inbound = entry.direction == "device->lab"
    peer = parse_endpoint(entry.peer)
    comment = f"transcript #{entry.seq}: {entry.summary}"
    if entry.error:
        comment += f" | PROTOCOL ERROR: {entry.error}"
    secure = entry.headers.get("Security") == "DTLS"

    def packet(dissector: str, transport: Transport, own: Endpoint | None, payload: bytes
               ) -> Packet:
        src, dst = (peer, own) if inbound else (own, peer)
        return Packet(entry.time, dissector, transport, src, dst, payload, inbound, comment)

    if entry.protocol == "lwm2m" and entry.raw:
        own = lab.get("lwm2m-dtls" if secure else "lwm2m")
        return [(packet("coap", "udp", own, entry.raw), secure)]
    if entry.content_type.startswith("application/vnd.syncml.notification"):
        # Package 0 over UDP to the device's listener (over SMS or a shell: not IP traffic)
        via, _, address = entry.summary.rpartition(" via udp ")
        target = parse_endpoint(address.split(" ", 1)[0]) if via else None  # "… (wrong digest)"
        if target is None:
            return []
        pkg0 = Packet(entry.time, "data", "udp", lab.get("omadm"), target, entry.raw, False,
                      comment, protocol_text="OMA-DM Pkg0")
        return [(pkg0, False)]
    if entry.protocol in ("omadm", "fota") and (entry.raw or entry.headers or
                                                _HTTP_STATUS.match(entry.summary)):
        own = lab.get(entry.protocol)
        path = (paths or {}).get(entry.protocol, "/")
        return [(packet("http", "tcp", own, _http_message(entry, path)), False)]
    return []  # notes, and the controller's own channel (not network traffic)


class CaptureFile:
    """One pcapng file of exported PDUs, appended as packets come; sliceable by offset."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = path.open("wb")
        shb = pcapng.SectionHeaderBlockLE(
            opts=[pcapng.PcapngOptionLE(code=pcapng.PCAPNG_OPT_SHB_USERAPPL,
                                         text="conformance lab"), _END_OF_OPTIONS]
        )
        idb = pcapng.InterfaceDescriptionBlockLE(
            snaplen=0, linktype=LINKTYPE_WIRESHARK_UPPER_PDU
        )
        self._writer = pcapng.Writer(self._file, shb=shb, idb=idb)
        self._file.flush()
        self.header_size = self._file.tell()
        self.packets = 0

    def write(self, packet: Packet) -> None:
        data = exported_pdu(packet)
        opts = [pcapng.PcapngOptionLE(code=_EPB_FLAGS, data=struct.pack(
            "<I", _INBOUND if packet.inbound else _OUTBOUND))]
        if packet.comment:
            opts.append(pcapng.PcapngOptionLE(code=pcapng.PCAPNG_OPT_COMMENT,
                                              text=packet.comment[:2000]))
        opts.append(_END_OF_OPTIONS)
        epb = pcapng.EnhancedPacketBlockLE(pkt_data=data, caplen=len(data), pkt_len=len(data),
                                           opts=opts)
        with self._lock:
            if self._file is None:
                return
            self._writer.writepkt(epb, ts=packet.time)
            self._file.flush()
            self.packets += 1

    def offset(self) -> int:
        with self._lock:
            return self._file.tell() if self._file is not None else self.header_size

    def copy_range(self, start: int, end: int, target: Path) -> bool:
        """Write the header and the packets between two offsets to ``target`` (False: none)."""
        if end <= start:
            return False
        with self.path.open("rb") as source:
            header = source.read(self.header_size)
            source.seek(start)
            body = source.read(end - start)
        target.write_bytes(header + body)
        return True

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class RunCapture:
    """The run's two capture files, fed by the transcript (messages) and its wire tap (DTLS)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.wire = CaptureFile(folder / WIRE_FILE)
        self.decrypted = CaptureFile(folder / DECRYPTED_FILE)
        self.lab: dict[str, Endpoint] = {}
        self.paths: dict[str, str] = {}
        self.problems = 0  # packets that could not be written (logged once)

    def set_lab_addresses(self, addresses: Mapping[str, str]) -> None:
        self.lab, self.paths = lab_endpoints(addresses)

    def on_entry(self, entry: Entry) -> None:
        try:
            for packet, decrypted in packets_of(entry, self.lab, self.paths):
                (self.decrypted if decrypted else self.wire).write(packet)
        except Exception as exc:  # the capture is a view: it never costs the lab a message
            self._failed(f"transcript #{entry.seq}", exc)

    def _failed(self, what: str, exc: Exception) -> None:
        self.problems += 1
        if self.problems == 1:
            log.warning("capture: %s not written: %s: %s", what, type(exc).__name__, exc)

    def on_datagram(
        self, protocol: str, inbound: bool, peer: str, local: str, data: bytes, when: float
    ) -> None:
        """A datagram as it crossed the socket (DTLS records, still encrypted)."""
        try:
            own = parse_endpoint(local) or self.lab.get(f"{protocol}-dtls")
            remote = parse_endpoint(peer)
            src, dst = (remote, own) if inbound else (own, remote)
            self.wire.write(Packet(when, "dtls", "udp", src, dst, data, inbound))
        except Exception as exc:
            self._failed(f"a DTLS datagram from {peer}", exc)

    def mark(self) -> tuple[int, int]:
        """Where the next packets go: pass it to :meth:`write_case` at the case's end."""
        return self.wire.offset(), self.decrypted.offset()

    def start(self) -> tuple[int, int]:
        """The mark of the first packet (a case that started the lab owns what came before)."""
        return self.wire.header_size, self.decrypted.header_size

    def write_case(self, since: tuple[int, int], stem: Path) -> list[Path]:
        """The packets written since ``since`` as ``<stem>.pcapng`` (and ``.decrypted.pcapng``)."""
        out = []
        now = self.mark()
        wire = stem.with_name(stem.name + ".pcapng")
        if self.wire.copy_range(since[0], now[0], wire):
            out.append(wire)
        decrypted = stem.with_name(stem.name + ".decrypted.pcapng")
        if self.decrypted.copy_range(since[1], now[1], decrypted):
            out.append(decrypted)
        return out

    def close(self) -> None:
        self.wire.close()
        self.decrypted.close()
        if self.decrypted.packets == 0:
            self.decrypted.path.unlink(missing_ok=True)
