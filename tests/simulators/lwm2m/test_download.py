"""The reference device's CoAP download of a firmware image, against the lab's own package
resource over real UDP: an image it cannot store is refused from the first block's Size2
(RFC 7959 §4), before its download, as over HTTP by Content-Length.

Found by declaring the reference device with CoAP as its only pull protocol: the lab's 16 MiB
out-of-storage package, pulled whole in 1 KiB blocks, outlasted the device's request timeout,
and the device reported 4 Connection lost instead of 2 Not enough flash.
"""

from __future__ import annotations

import pytest
from aiocoap import Context

from conformance.evidence.transcript import Transcript
from conformance.fota.coap import FirmwareResource, PackageStore
from conformance.runtime import LabLoop
from conformance.simulators.lwm2m_download import Downloader
from conformance.simulators.lwm2m_firmware import DownloadError, Result

from .conftest import WAIT, StubServer

LIMIT = 8 * 1024  # the device's storage here


def served(stub: StubServer, size: int) -> tuple[str, PackageStore]:
    store = PackageStore(Transcript())
    store.publish("image", bytes(size))
    stub.site.add_resource(("pkg",), FirmwareResource(store, lambda request: "device"))
    return f"{stub.uri}/pkg/image", store


def fetch(loop: LabLoop, uri: str) -> bytes:
    async def go() -> bytes:
        context = await Context.create_client_context()
        try:
            return await Downloader(context, timeout=WAIT, ca_file=None).fetch(uri, LIMIT)
        finally:
            await context.shutdown()

    return loop.call(go(), 2 * WAIT)


def test_an_image_over_the_storage_is_refused_at_its_first_block(
        lab_loop: LabLoop, stub: StubServer) -> None:
    uri, store = served(stub, 64 * LIMIT)
    with pytest.raises(DownloadError) as refused:
        fetch(lab_loop, uri)
    assert refused.value.result == Result.NOT_ENOUGH_FLASH
    assert [d.block_numbers for d in store.downloads] == [[0]]  # nothing past the first block


def test_an_image_that_fits_is_downloaded_whole(lab_loop: LabLoop, stub: StubServer) -> None:
    uri, store = served(stub, LIMIT)
    assert fetch(lab_loop, uri) == bytes(LIMIT)
    assert store.downloads[-1].complete
