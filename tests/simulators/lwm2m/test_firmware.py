"""The /5/0 state machine (TS 1.1 Appendix E.6) with fake download/install coroutines."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiocoap import Code

from conformance.fota.packages import OUT_OF_RAM_MARK, corrupted, make_reference_image, truncated
from conformance.simulators.lwm2m_faults import Faults
from conformance.simulators.lwm2m_firmware import (
    WRONG_RESULTS,
    DownloadError,
    FirmwareUpdate,
    Result,
    State,
)
from conformance.simulators.lwm2m_store import OperationError

IMAGE = make_reference_image("FW-2.0.0", size=4096)


class Harness:
    def __init__(self, *faults: str, protocols: tuple[str, ...] = ("coap", "http", "push"),
                 storage: int = 1 << 20, fetch_result: bytes | Exception = IMAGE) -> None:
        self.changes: list[tuple[int, object]] = []
        self.state_changes: asyncio.Queue[object] = asyncio.Queue()
        self.installed: list[str | None] = []
        self.restarted = asyncio.Event()
        self.fetched: list[str] = []
        self.release_fetch = asyncio.Event()
        self.release_fetch.set()
        self._fetch_result = fetch_result
        self.fw = FirmwareUpdate(
            protocols=list(protocols), storage_size=storage, faults=Faults(faults),
            fetch=self.fetch, install=self.install, restart=self.restart,
            changed=self.changed,
        )

    def changed(self, rid: int, value: object) -> None:
        self.changes.append((rid, value))
        if rid == 3:
            self.state_changes.put_nowait(value)

    async def fetch(self, uri: str, limit: int) -> bytes:
        self.fetched.append(uri)
        await self.release_fetch.wait()
        if isinstance(self._fetch_result, Exception):
            raise self._fetch_result
        return self._fetch_result

    async def install(self, info: Any, image: bytes) -> None:
        self.installed.append(info.version if info else None)

    async def restart(self) -> None:
        self.restarted.set()

    def states(self) -> list[object]:
        return [v for rid, v in self.changes if rid == 3]


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 5))


async def settle(h: Harness, state: State) -> None:
    """Wait until the machine reports ``state`` (bounded by run()'s wait_for)."""
    while h.fw.state != state:
        await h.state_changes.get()


def test_pull_walks_0_1_2_3_then_idle_with_result_1() -> None:
    async def test() -> None:
        h = Harness()
        h.fw.write_uri("coap://127.0.0.1:5683/fw/a.bin")
        assert h.fw.state == State.DOWNLOADING
        await settle(h, State.DOWNLOADED)
        assert h.fw.pkg_version == "FW-2.0.0"
        h.fw.execute_update()
        assert h.fw.state == State.UPDATING
        await asyncio.wait_for(h.restarted.wait(), 2)
        assert (h.fw.state, h.fw.result) == (State.IDLE, Result.SUCCESS)
        assert h.states() == [1, 2, 3, 0]
        assert h.installed == ["FW-2.0.0"]
    run(test)


def test_push_downloads_synchronously() -> None:
    async def test() -> None:
        h = Harness()
        h.fw.write_package(IMAGE)
        assert h.fw.state == State.DOWNLOADED
        assert h.fetched == []
    run(test)


@pytest.mark.parametrize(
    ("data", "result"),
    [
        (corrupted(IMAGE), Result.INTEGRITY_FAILURE),
        (truncated(IMAGE), Result.INTEGRITY_FAILURE),
        (b"\x7fELF" + bytes(100), Result.UNSUPPORTED_PACKAGE),
    ],
)
def test_bad_images_give_their_result(data: bytes, result: Result) -> None:
    async def test() -> None:
        h = Harness()
        h.fw.write_package(data)
        assert (h.fw.state, h.fw.result) == (State.IDLE, result)
    run(test)


def test_image_larger_than_storage_is_result_2() -> None:
    async def test() -> None:
        h = Harness(storage=1000)
        h.fw.write_package(IMAGE)
        assert (h.fw.state, h.fw.result) == (State.IDLE, Result.NOT_ENOUGH_FLASH)
    run(test)


@pytest.mark.parametrize(
    ("uri", "result"),
    [
        ("not a uri", Result.INVALID_URI),
        ("coap:///nohost", Result.INVALID_URI),
        ("ftp://127.0.0.1/fw.bin", Result.UNSUPPORTED_PROTOCOL),
        ("https://127.0.0.1/fw.bin", Result.UNSUPPORTED_PROTOCOL),  # not declared
    ],
)
def test_uri_errors(uri: str, result: Result) -> None:
    async def test() -> None:
        h = Harness()
        h.fw.write_uri(uri)
        assert (h.fw.state, h.fw.result) == (State.IDLE, result)
        assert h.fetched == []
    run(test)


def test_download_error_result_comes_from_the_fetcher() -> None:
    async def test() -> None:
        h = Harness(fetch_result=DownloadError(Result.CONNECTION_LOST, "refused"))
        h.fw.write_uri("http://127.0.0.1:1/fw.bin")
        await settle(h, State.IDLE)
        assert h.fw.result == Result.CONNECTION_LOST
    run(test)


def test_execute_outside_state_2_is_405_and_state_unchanged() -> None:
    async def test() -> None:
        h = Harness()
        with pytest.raises(OperationError) as info:
            h.fw.execute_update()
        assert info.value.code == Code.METHOD_NOT_ALLOWED
        assert h.fw.state == State.IDLE
        h.release_fetch.clear()
        h.fw.write_uri("coap://127.0.0.1/fw.bin")
        with pytest.raises(OperationError):
            h.fw.execute_update()
        assert h.fw.state == State.DOWNLOADING
        h.fw.shutdown()
    run(test)


def test_empty_uri_or_package_resets_to_idle() -> None:
    async def test() -> None:
        h = Harness()
        h.fw.write_package(IMAGE)
        assert h.fw.state == State.DOWNLOADED
        h.fw.write_uri("")
        assert (h.fw.state, h.fw.result) == (State.IDLE, Result.INITIAL)
        h.fw.write_package(IMAGE)
        h.fw.write_package(b"")
        assert (h.fw.state, h.fw.result) == (State.IDLE, Result.INITIAL)
    run(test)


def test_push_refused_when_not_declared() -> None:
    async def test() -> None:
        h = Harness(protocols=("coap",))
        with pytest.raises(OperationError):
            h.fw.write_package(IMAGE)
        assert h.fw.delivery_method == 0
        assert h.fw.protocol_support == {0: 0}
    run(test)


def test_delivery_method_and_protocols() -> None:
    h = Harness(protocols=("coap", "coaps", "http", "https", "push"))
    assert h.fw.delivery_method == 2
    assert sorted(h.fw.protocol_support.values()) == [0, 1, 2, 3]
    assert Harness(protocols=("push",)).fw.delivery_method == 1


def test_fault_fota_wrong_state_stays_downloading() -> None:
    async def test() -> None:
        h = Harness("fota-wrong-state")
        h.fw.write_package(IMAGE)
        assert h.fw.state == State.DOWNLOADING
    run(test)


def test_fault_fota_accepts_corrupt_installs_it() -> None:
    async def test() -> None:
        h = Harness("fota-accepts-corrupt")
        h.fw.write_package(corrupted(IMAGE))
        assert h.fw.state == State.DOWNLOADED
        h.fw.execute_update()
        await asyncio.wait_for(h.restarted.wait(), 2)
        assert h.fw.result == Result.SUCCESS
    run(test)


def test_cancel() -> None:
    async def test() -> None:
        h = Harness()
        h.fw.write_package(IMAGE)
        h.fw.cancel()
        assert (h.fw.state, h.fw.result) == (State.IDLE, Result.CANCELLED)
        with pytest.raises(OperationError):
            h.fw.cancel()
    run(test)


def test_null_package_resets_unless_the_fault() -> None:
    async def test() -> None:
        h = Harness()
        h.fw.write_package(IMAGE)
        h.fw.write_package(b"\0")  # TS E.6: '\0' to Package resets
        assert (h.fw.state, h.fw.result) == (State.IDLE, Result.INITIAL)
        faulty = Harness("fota-null-package-not-reset")
        faulty.fw.write_package(b"\0")
        assert (faulty.fw.state, faulty.fw.result) == (State.IDLE, Result.UNSUPPORTED_PACKAGE)
    run(test)


def test_marked_images_fail_as_their_mark_says() -> None:
    async def test() -> None:
        h = Harness()
        h.fw.write_package(make_reference_image("FW-2.0.0" + OUT_OF_RAM_MARK, 4096))
        assert (h.fw.state, h.fw.result) == (State.IDLE, Result.OUT_OF_RAM)

        failing = Harness()

        async def install(info: Any, image: bytes) -> None:
            raise RuntimeError("does not boot")

        failing.fw._install = install  # the device's flashing fails
        failing.fw.write_package(IMAGE)
        failing.fw.execute_update()
        await settle(failing, State.DOWNLOADED)  # TS E.6 /5/0/3: back to Downloaded
        assert failing.fw.result == Result.UPDATE_FAILED and not failing.restarted.is_set()
    run(test)


@pytest.mark.parametrize("fault", list(WRONG_RESULTS))
def test_wrong_result_faults_report_another_result(fault: str) -> None:
    asked, reported = WRONG_RESULTS[fault]
    h = Harness(fault)
    h.fw._set(State.IDLE, asked)
    assert h.fw.result == reported != asked
    clean = Harness()
    clean.fw._set(State.IDLE, asked)
    assert clean.fw.result == asked


def test_fault_update_without_package_sets_result_8() -> None:
    h = Harness("fota-update-without-package")
    with pytest.raises(OperationError):
        h.fw.execute_update()
    assert (h.fw.state, h.fw.result) == (State.IDLE, Result.UPDATE_FAILED)


def test_fault_empty_uri_keeps_result() -> None:
    async def test() -> None:
        h = Harness("fota-empty-uri-keeps-result")
        h.fw.write_uri("ftp://127.0.0.1/fw.bin")
        assert h.fw.result == Result.UNSUPPORTED_PROTOCOL
        h.fw.write_uri("")
        assert (h.fw.state, h.fw.result) == (State.IDLE, Result.UNSUPPORTED_PROTOCOL)
    run(test)
