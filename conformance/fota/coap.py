"""Firmware packages over CoAP: ``coap(s)://lab/fw/<name>``, block-wise (RFC 7959 Block2).

The lab publishes a blob under a name; a device pulls it with GETs (Package URI pull, TS 1.1
object 5). Blocks are cut here rather than by aiocoap's cache so each block served is counted:
the evidence says how many blocks a device fetched and whether it got the whole package.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from aiocoap import Code, Message
from aiocoap.resource import PathCapable, Resource

from conformance.evidence.transcript import Transcript

DEFAULT_SZX = 6  # 1024-byte blocks unless the device asks for smaller ones


@dataclass
class Download:
    name: str
    peer: str
    size: int
    blocks_served: int = 0
    bytes_served: int = 0
    complete: bool = False
    started: float = field(default_factory=time.time)
    finished: float | None = None
    block_numbers: list[int] = field(default_factory=list)


class PackageStore:
    """Published packages and the downloads of each (lab loop only)."""

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript
        self.packages: dict[str, bytes] = {}
        self.downloads: list[Download] = []

    def publish(self, name: str, data: bytes) -> None:
        if not name or "/" in name:
            raise ValueError(f"package name must be one path segment: {name!r}")
        self.packages[name] = bytes(data)

    def download_for(self, name: str, peer: str) -> Download:
        for download in reversed(self.downloads):
            if download.name == name and download.peer == peer and not download.complete:
                return download
        download = Download(name, peer, len(self.packages[name]))
        self.downloads.append(download)
        return download


class FirmwareResource(Resource, PathCapable):
    """``GET /fw/<name>``; answers Block2 by hand so every block is counted."""

    def __init__(self, store: PackageStore, peer_of: Any) -> None:
        super().__init__()
        self.store = store
        self.peer_of = peer_of

    async def needs_blockwise_assembly(self, request: Message) -> bool:
        return False

    async def render_get(self, request: Message) -> Message:
        name = "/".join(request.opt.uri_path)
        data = self.store.packages.get(name)
        if data is None:
            return Message(code=Code.NOT_FOUND, payload=b"no such package")
        etag = hashlib.sha256(data).digest()[:8]
        block2 = request.opt.block2
        max_szx = min(DEFAULT_SZX, request.remote.maximum_block_size_exp)
        number, szx = (0, max_szx)
        if block2 is not None:
            number, szx = block2.block_number, min(block2.size_exponent, max_szx)
        if block2 and block2.size_exponent > max_szx:
            # RFC 7959 §2.4: the server may answer a smaller block; renumber to the same offset.
            number = block2.start // (1 << (szx + 4))
        size = 1 << (szx + 4)
        download = self.store.download_for(name, self.peer_of(request.remote))
        if number * size >= max(len(data), 1) and not (number == 0 and not data):
            return Message(code=Code.BAD_OPTION, payload=b"block out of range")
        chunk = data[number * size : (number + 1) * size]
        more = (number + 1) * size < len(data)
        download.blocks_served += 1
        download.bytes_served += len(chunk)
        download.block_numbers.append(number)
        if not more:
            download.complete = True
            download.finished = time.time()
            self.store.transcript.note(
                "fota",
                f"CoAP package {name} served completely: {len(data)} bytes in "
                f"{download.blocks_served} block(s)",
                peer=download.peer,
            )
        response = Message(code=Code.CONTENT, payload=chunk, content_format=42)
        response.opt.etag = etag
        if more or block2 is not None or number:
            response.opt.block2 = (number, more, szx)
        if number == 0:
            response.opt.size2 = len(data)
        return response
