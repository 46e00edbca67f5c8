"""The Firmware Update object /5/0 state machine (OMA LwM2M TS 1.1 Core, Appendix E.6).

::

    Idle(0) --Package URI / Package written--> Downloading(1) --complete+valid--> Downloaded(2)
    Downloaded(2) --Execute /5/0/2--> Updating(3) --installed--> Idle(0), Update Result 1
    any error: Idle(0) with Update Result 2..9; empty URI / empty package: Idle(0), Result 0

The machine decides states and results; downloading and installing are given to it as
coroutines, so its transitions are unit-testable without sockets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from enum import IntEnum
from urllib.parse import urlsplit

from aiocoap import Code

from conformance.errors import ProtocolError
from conformance.fota.packages import MAGIC, OUT_OF_RAM_MARK, ImageInfo, image_info
from conformance.simulators.lwm2m_faults import Faults
from conformance.simulators.lwm2m_store import OperationError

log = logging.getLogger("lwm2m-device.firmware")


class State(IntEnum):
    IDLE = 0
    DOWNLOADING = 1
    DOWNLOADED = 2
    UPDATING = 3


class Result(IntEnum):
    INITIAL = 0
    SUCCESS = 1
    NOT_ENOUGH_FLASH = 2
    OUT_OF_RAM = 3
    CONNECTION_LOST = 4
    INTEGRITY_FAILURE = 5
    UNSUPPORTED_PACKAGE = 6
    INVALID_URI = 7
    UPDATE_FAILED = 8
    UNSUPPORTED_PROTOCOL = 9
    CANCELLED = 10  # LwM2M 1.1


# /5/0/8 Firmware Update Protocol Support values, by the declaration's names
PROTOCOL_IDS = {"coap": 0, "coaps": 1, "http": 2, "https": 3}
NULL_PACKAGE = b"\0"  # TS E.6: writing '\0' to Package resets the state machine

# ETS error-result faults: fault -> (the Update Result the TS asks for, what is reported)
WRONG_RESULTS = {
    "fota-storage-wrong-result": (Result.NOT_ENOUGH_FLASH, Result.OUT_OF_RAM),
    "fota-ram-wrong-result": (Result.OUT_OF_RAM, Result.NOT_ENOUGH_FLASH),
    "fota-connection-lost-wrong-result": (Result.CONNECTION_LOST, Result.UPDATE_FAILED),
    "fota-integrity-wrong-result": (Result.INTEGRITY_FAILURE, Result.UPDATE_FAILED),
    "fota-unsupported-wrong-result": (Result.UNSUPPORTED_PACKAGE, Result.INTEGRITY_FAILURE),
    "fota-invalid-uri-wrong-result": (Result.INVALID_URI, Result.CONNECTION_LOST),
    "fota-failed-update-reported-success": (Result.UPDATE_FAILED, Result.SUCCESS),
}


class DownloadError(Exception):
    """A pull download failed; ``result`` is what /5/0/5 reports."""

    def __init__(self, result: Result, reason: str) -> None:
        super().__init__(reason)
        self.result = result


Fetch = Callable[[str, int], Awaitable[bytes]]  # (uri, size limit) -> image; DownloadError
Install = Callable[[ImageInfo | None, bytes], Awaitable[None]]  # flash it (Execute Update)
Restart = Callable[[], Awaitable[None]]  # boot the new image: register again
Changed = Callable[[int, object], None]  # (resource id, new value): store + observers


class FirmwareUpdate:
    def __init__(
        self,
        *,
        protocols: list[str],
        storage_size: int,
        faults: Faults,
        fetch: Fetch,
        install: Install,
        restart: Restart,
        changed: Changed,
    ) -> None:
        self.pull_protocols = [p for p in protocols if p in PROTOCOL_IDS]
        self.push = "push" in protocols
        self.storage_size = storage_size
        self._faults = faults
        self._fetch = fetch
        self._install = install
        self._restart = restart
        self._changed = changed
        self.state = State.IDLE
        self.result = Result.INITIAL
        self.package_uri = ""
        self.pkg_name = ""
        self.pkg_version = ""
        self._image: bytes | None = None
        self._info: ImageInfo | None = None
        self._task: asyncio.Task[None] | None = None
        self._pushing = False  # a Block1 push is under way
        self.delivered_by = ""  # "push" or the URI scheme of the package in hand

    # ------------------------------------------------------------------ read-side values

    @property
    def protocol_support(self) -> dict[int, int]:
        return {i: PROTOCOL_IDS[p] for i, p in enumerate(self.pull_protocols)}

    @property
    def delivery_method(self) -> int:
        """/5/0/9: 0 pull only, 1 push only, 2 both."""
        if self.push and "fota-wrong-delivery-method" in self._faults:
            return 0  # claims pull only although it takes pushed packages
        if self.pull_protocols and self.push:
            return 2
        return 1 if self.push else 0

    # ------------------------------------------------------------------ transitions

    def _set(self, state: State | None = None, result: Result | None = None) -> None:
        if state is not None and state != self.state:
            self.state = state
            self._changed(3, int(state))
        for fault, (asked, reported) in WRONG_RESULTS.items():
            if result == asked and fault in self._faults:
                log.info("fault %s: reporting %s instead of %s", fault, reported.name, asked.name)
                result = reported
        if result is not None and result != self.result:
            self.result = result
            self._changed(5, int(result))

    def _reset(self, result: Result) -> None:
        self._cancel_task()
        self._image = None
        self._info = None
        self._set_package_info("", "")
        self._set(State.IDLE, result)

    def _set_package_info(self, name: str, version: str) -> None:
        if name != self.pkg_name:
            self.pkg_name = name
            self._changed(6, name)
        if version != self.pkg_version:
            self.pkg_version = version
            self._changed(7, version)

    def _cancel_task(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    def _busy(self) -> None:
        if self.state in (State.DOWNLOADING, State.UPDATING):
            raise OperationError(
                Code.METHOD_NOT_ALLOWED, f"firmware update is in state {self.state.name}"
            )

    def push_started(self) -> None:
        """The first Block1 of a push arrived: Downloading while the blocks come in."""
        if self.push and self.state == State.IDLE:
            self._pushing = True
            self._set(State.DOWNLOADING, Result.INITIAL)

    def push_refused(self) -> None:
        """A pushed image over the storage was refused (4.13): Not enough flash (TS 1.1
        E.6 Update Result 2), back in State 0."""
        self._pushing = False
        if self.push:
            log.warning("pushed image refused: over the storage of %d bytes", self.storage_size)
            self._reset(Result.NOT_ENOUGH_FLASH)

    def write_package(self, data: bytes) -> None:
        """Push delivery: the whole image (aiocoap reassembled the Block1 transfer)."""
        pushing, self._pushing = self._pushing, False
        if not self.push:
            raise OperationError(Code.METHOD_NOT_ALLOWED, "push delivery is not supported")
        if not data or (data == NULL_PACKAGE
                        and "fota-null-package-not-reset" not in self._faults):
            self._reset(Result.INITIAL)
            return
        if not (pushing and self.state == State.DOWNLOADING):
            self._busy()
        self.delivered_by = "push"
        self._set(State.DOWNLOADING, Result.INITIAL)
        self._downloaded(data)

    def write_uri(self, uri: str) -> None:
        """Pull delivery: check the URI now (Result 7/9), download in the background."""
        if not uri:
            self.package_uri = ""
            if "empty-package-uri-ignored" in self._faults and self.state != State.IDLE:
                log.info("fault empty-package-uri-ignored: staying in state %s", self.state.name)
                return
            if "fota-empty-uri-keeps-result" in self._faults:
                log.info("fault fota-empty-uri-keeps-result: keeping result %d", self.result)
                self._reset(self.result)
                return
            self._reset(Result.INITIAL)
            return
        self._busy()
        self.package_uri = uri
        parts = urlsplit(uri)
        if parts.scheme not in PROTOCOL_IDS or not parts.hostname:
            if parts.scheme and parts.hostname and "://" in uri:
                self._reset(Result.UNSUPPORTED_PROTOCOL)
            else:
                self._reset(Result.INVALID_URI)
            return
        if parts.scheme not in self.pull_protocols:
            self._reset(Result.UNSUPPORTED_PROTOCOL)
            return
        self._set(State.DOWNLOADING, Result.INITIAL)
        self.delivered_by = parts.scheme
        self._task = asyncio.get_running_loop().create_task(self._pull(uri))

    async def _pull(self, uri: str) -> None:
        try:
            data = await self._fetch(uri, self.storage_size)
        except DownloadError as exc:
            log.warning("download of %s failed: %s (result %d)", uri, exc, exc.result)
            self._task = None
            self._reset(exc.result)
            return
        self._task = None
        self._downloaded(data)

    def _downloaded(self, data: bytes) -> None:
        if len(data) > self.storage_size:
            log.warning("image of %d bytes exceeds storage of %d", len(data), self.storage_size)
            self._reset(Result.NOT_ENOUGH_FLASH)
            return
        info: ImageInfo | None = None
        if not data.startswith(MAGIC):
            self._reset(Result.UNSUPPORTED_PACKAGE)
            return
        try:
            info = image_info(data)
        except ProtocolError as exc:
            if "fota-accepts-corrupt" not in self._faults:
                log.warning("image rejected: %s", exc)
                self._reset(Result.INTEGRITY_FAILURE)
                return
            log.info("fault fota-accepts-corrupt: ignoring %s", exc)
        if info is not None and info.version.endswith(OUT_OF_RAM_MARK):
            log.warning("image %s: out of RAM while downloading", info.version)
            self._reset(Result.OUT_OF_RAM)
            return
        self._image = data
        self._info = info
        self._set_package_info("firmware", info.version if info else "")
        if "fota-wrong-state" in self._faults:
            return  # stays in Downloading although the image is complete
        self._set(State.DOWNLOADED)

    def execute_update(self) -> None:
        if self.state != State.DOWNLOADED and "fota-update-without-package" in self._faults:
            log.info("fault fota-update-without-package: Update in state %d sets result 8",
                     self.state)
            self._set(result=Result.UPDATE_FAILED)
        if self.state != State.DOWNLOADED or self._image is None:
            raise OperationError(
                Code.METHOD_NOT_ALLOWED,
                f"Update needs state 2 (Downloaded), state is {int(self.state)}",
            )
        self._set(State.UPDATING)
        image, info = self._image, self._info
        self._task = asyncio.get_running_loop().create_task(self._update(image, info))

    async def _update(self, image: bytes, info: ImageInfo | None) -> None:
        try:
            await self._install(info, image)
        except Exception as exc:  # an install failure is a device result, not a crash
            # TS E.6 /5/0/3: a failed update returns to Downloaded (the package is kept)
            log.warning("update failed: %s", exc)
            self._task = None
            self._set(State.DOWNLOADED, Result.UPDATE_FAILED)
            return
        self._task = None
        self._image = None
        self._info = None
        result = Result.SUCCESS
        if self.delivered_by in ("coap", "coaps", "push") and (
                "fota-coap-result-initial" in self._faults):
            log.info("fault fota-coap-result-initial: Update Result stays 0 after the update")
            result = Result.INITIAL
        self._set(State.IDLE, result)
        # The new image "boots" after State/Result are final, so the first Read after the
        # re-registration sees Update Result 1.
        await self._restart()

    def cancel(self) -> None:
        """/5/0/10 Cancel: drop a download in progress or a downloaded image."""
        if self.state in (State.DOWNLOADING, State.DOWNLOADED):
            self._reset(Result.CANCELLED)
            return
        raise OperationError(Code.METHOD_NOT_ALLOWED, "nothing to cancel")

    def reboot(self) -> None:
        """A device reboot loses a download in progress (a downloaded image survives)."""
        if self.state == State.DOWNLOADING:
            self._reset(Result.CONNECTION_LOST)

    def shutdown(self) -> None:
        self._cancel_task()
