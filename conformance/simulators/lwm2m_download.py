"""Pull delivery of firmware images: CoAP(S) block-wise GET via aiocoap, HTTP(S) via requests.

Every failure becomes a :class:`DownloadError` carrying the Update Result the TS assigns:
a server that says "no such package" is an invalid URI (7), a transfer that cannot be made or
breaks off is a lost connection (4), an image that will not fit is not enough flash (2).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiocoap import GET, Context, Message
from aiocoap.error import Error as CoapError
from aiocoap.optiontypes import BlockOption

from conformance.simulators.lwm2m_firmware import DownloadError, Result

log = logging.getLogger("lwm2m-device.download")

_CHUNK = 16 * 1024
FIRST_SZX = 6  # 1024-byte first block: what the lab and most servers serve anyway


class Downloader:
    def __init__(self, context: Context, *, timeout: float, ca_file: str | None) -> None:
        self._context = context
        self._timeout = timeout
        self._ca_file = ca_file

    async def fetch(self, uri: str, limit: int) -> bytes:
        scheme = uri.split(":", 1)[0].lower()
        if scheme in ("coap", "coaps"):
            return await self._coap(uri, limit)
        return await asyncio.to_thread(self._http, uri, limit)

    async def _coap(self, uri: str, limit: int) -> bytes:
        try:
            return await asyncio.wait_for(self._coap_blocks(uri, limit), self._timeout)
        except (TimeoutError, CoapError, OSError) as exc:
            raise DownloadError(Result.CONNECTION_LOST, f"CoAP GET {uri}: {exc!r}") from None

    async def _coap_blocks(self, uri: str, limit: int) -> bytes:
        """Block2 after Block2 (RFC 7959), refusing the image as soon as it cannot be stored:
        by the first block's Size2 (§4) when the server gives it, as over HTTP by
        Content-Length, else when the blocks go past the storage. (Pulled whole first, the
        lab's 16 MiB out-of-storage image outlasted the timeout: Connection lost, not Not
        enough flash.)"""
        body = bytearray()
        number, szx = 0, FIRST_SZX
        while True:
            request = Message(code=GET, uri=uri)
            request.opt.block2 = BlockOption.BlockwiseTuple(number, False, szx)
            response = await self._context.request(request, handle_blockwise=False).response
            if not response.code.is_successful():
                kind = Result.INVALID_URI if response.code.class_ == 4 else Result.CONNECTION_LOST
                raise DownloadError(kind, f"CoAP GET {uri}: {response.code}")
            declared = response.opt.size2
            if declared is not None and declared > limit:
                raise DownloadError(Result.NOT_ENOUGH_FLASH, f"Size2 {declared} over {limit}")
            block = response.opt.block2
            if block is not None and block.start != len(body):
                raise DownloadError(Result.CONNECTION_LOST,
                                    f"CoAP GET {uri}: block at {block.start}, expected "
                                    f"{len(body)}")
            body += response.payload
            if len(body) > limit:
                raise DownloadError(Result.NOT_ENOUGH_FLASH, f"over {limit} bytes")
            if block is None or not block.more:
                return bytes(body)
            szx = block.size_exponent
            number = len(body) >> (szx + 4)

    def _http(self, uri: str, limit: int) -> bytes:
        # Imported here: most device processes never pull over HTTP, and requests costs each
        # start ~0.065 s CPU (the device starts once per catalog run and on every reboot).
        import requests

        verify: Any = self._ca_file or True
        try:
            with requests.get(uri, stream=True, timeout=self._timeout, verify=verify) as resp:
                if 400 <= resp.status_code < 500:
                    raise DownloadError(Result.INVALID_URI, f"HTTP {resp.status_code} for {uri}")
                if resp.status_code != 200:
                    raise DownloadError(
                        Result.CONNECTION_LOST, f"HTTP {resp.status_code} for {uri}"
                    )
                declared = resp.headers.get("Content-Length")
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    # Refuse before downloading what cannot be stored.
                    raise DownloadError(Result.NOT_ENOUGH_FLASH, f"Content-Length {declared}")
                body = bytearray()
                for chunk in resp.iter_content(_CHUNK):
                    body += chunk
                    if len(body) > limit:
                        raise DownloadError(Result.NOT_ENOUGH_FLASH, f"over {limit} bytes")
                if declared is not None and declared.isdigit() and len(body) != int(declared):
                    raise DownloadError(
                        Result.CONNECTION_LOST, f"got {len(body)} of {declared} bytes"
                    )
                return bytes(body)
        except requests.exceptions.InvalidURL as exc:
            raise DownloadError(Result.INVALID_URI, str(exc)) from None
        except requests.RequestException as exc:
            raise DownloadError(Result.CONNECTION_LOST, f"HTTP GET {uri}: {exc}") from None
