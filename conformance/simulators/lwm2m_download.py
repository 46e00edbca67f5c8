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
            # The first block alone first: its Size2 (RFC 7959 §4) gives the image's size, so
            # that an image that cannot be stored is refused before its download, as over
            # HTTP by Content-Length (pulled whole, 16 MiB in 1 KiB blocks outlasted the
            # request timeout: Connection lost, not Not enough flash).
            first = Message(code=GET, uri=uri)
            first.opt.block2 = BlockOption.BlockwiseTuple(0, False, FIRST_SZX)
            head = await asyncio.wait_for(
                self._context.request(first, handle_blockwise=False).response, self._timeout)
            size = head.opt.size2 if head.code.is_successful() else None
            if size is not None and size > limit:
                raise DownloadError(Result.NOT_ENOUGH_FLASH, f"Size2 {size} over {limit} bytes")
            # aiocoap's BlockwiseRequest fetches Block2 after Block2 until the last one.
            response = await asyncio.wait_for(
                self._context.request(Message(code=GET, uri=uri)).response, self._timeout
            )
        except (TimeoutError, CoapError, OSError) as exc:
            raise DownloadError(Result.CONNECTION_LOST, f"CoAP GET {uri}: {exc!r}") from None
        if response.code.is_successful():
            if len(response.payload) > limit:
                raise DownloadError(Result.NOT_ENOUGH_FLASH, f"{len(response.payload)} bytes")
            return bytes(response.payload)
        if response.code.class_ == 4:
            raise DownloadError(Result.INVALID_URI, f"CoAP GET {uri}: {response.code}")
        raise DownloadError(Result.CONNECTION_LOST, f"CoAP GET {uri}: {response.code}")

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
