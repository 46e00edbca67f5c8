"""FUMO on the reference device against a tiny aiohttp package server run by the test."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from conformance.declaration import Declaration
from conformance.fota.packages import corrupted, make_reference_image, truncated
from conformance.runtime import LabLoop
from conformance.simulators import omadm_mo as mo
from conformance.simulators.omadm_core import DeviceOptions, ReferenceDevice
from conformance.simulators.omadm_faults import Faults
from conformance.simulators.omadm_fumo import ALERT_TYPES

WAIT = 15.0
IMAGE = make_reference_image("FW-2.0.0", size=8 * 1024)
S = mo.FumoState


class PackageServer:
    def __init__(self, loop: LabLoop) -> None:
        self.loop = loop
        self.hits: list[str] = []
        app = web.Application()
        app.router.add_get("/{name}", self._serve)
        self.runner = web.AppRunner(app)
        self.port = loop.call(self._start(), 10)

    async def _start(self) -> int:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return int(self.runner.addresses[0][1])

    async def _serve(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.hits.append(name)
        bodies = {"good": IMAGE, "corrupt": corrupted(IMAGE), "truncated": truncated(IMAGE)}
        if name in bodies:
            return web.Response(body=bodies[name], content_type="application/octet-stream")
        if name == "broken":
            return web.Response(status=500)
        return web.Response(status=404)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        self.loop.call(self.runner.cleanup(), 10)


@pytest.fixture
def packages(loop: LabLoop) -> Iterator[PackageServer]:
    server = PackageServer(loop)
    yield server
    server.close()


@pytest.fixture
def device(declaration: Declaration, tmp_path: Path) -> Iterator[Callable[..., ReferenceDevice]]:
    made: list[ReferenceDevice] = []

    def make(*faults: str) -> ReferenceDevice:
        dev = ReferenceDevice(declaration, DeviceOptions(state_dir=tmp_path), Faults(faults))
        made.append(dev)
        return dev

    yield make
    for dev in made:
        dev.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_update(dev: ReferenceDevice, url: str, correlator: str = "corr-1") -> None:
    """What the lab's Replace + Exec do, then the post-session work, then wait for it."""
    tree = dev.tree
    assert tree.replace(f"{mo.FUMO_NODE}/DownloadAndUpdate/PkgURL", url, "chr") == "200"
    assert tree.exec(f"{mo.FUMO_NODE}/DownloadAndUpdate", "", correlator) == "202"
    jobs, tree.jobs = tree.jobs, []
    assert len(jobs) == 1
    for job in jobs:
        job()
    dev.fumo.join(WAIT)


def test_download_and_update_succeeds(
    device: Callable[..., ReferenceDevice], packages: PackageServer
) -> None:
    dev = device()
    run_update(dev, packages.url("good"))
    assert dev.fumo.history == [
        S.DOWNLOAD_PROGRESSING,
        S.DOWNLOAD_COMPLETE,
        S.UPDATE_PROGRESSING,
        S.UPDATE_SUCCESSFUL_NO_DATA,
    ]
    assert dev.tree.value("./DevDetail/FwV") == "FW-2.0.0"
    assert dev.tree.get(mo.FUMO_STATE).values[0].data == "100"
    [alert] = dev.pending_alerts  # no server here: the alert waits for the next session
    assert (alert.result, alert.correlator, alert.source) == ("200", "corr-1", mo.FUMO_NODE)
    assert alert.alert_type == ALERT_TYPES["DownloadAndUpdate"]
    assert packages.hits == ["good"]


@pytest.mark.parametrize(
    ("name", "result", "history"),
    [
        ("corrupt", "402", [30, 40, 60, 80]),
        ("truncated", "402", [30, 40, 60, 80]),
        ("missing", "411", [30, 20]),
        ("broken", "500", [30, 20]),
    ],
)
def test_failures_give_the_fumo_result_code(
    device: Callable[..., ReferenceDevice],
    packages: PackageServer,
    name: str,
    result: str,
    history: list[int],
) -> None:
    dev = device()
    run_update(dev, packages.url(name))
    assert dev.fumo.history == history
    assert dev.pending_alerts[0].result == result
    assert dev.tree.value("./DevDetail/FwV") == "FW-1.0.0"


@pytest.mark.parametrize(
    ("url", "result"),
    [
        ("http://127.0.0.1:{closed}/fw.bin", "412"),  # a port closed when the test runs
        ("ftp://127.0.0.1/fw.bin", "411"),
        ("not a url", "411"),
    ],
)
def test_unreachable_or_bad_urls(
    device: Callable[..., ReferenceDevice], url: str, result: str
) -> None:
    dev = device()
    run_update(dev, url.format(closed=closed_port()))
    assert dev.fumo.history == [30, 20]
    assert dev.pending_alerts[0].result == result


def test_fault_fumo_accepts_corrupt(
    device: Callable[..., ReferenceDevice], packages: PackageServer
) -> None:
    dev = device("fumo-accepts-corrupt")
    run_update(dev, packages.url("corrupt"))
    assert dev.fumo.history[-1] == S.UPDATE_SUCCESSFUL_NO_DATA
    assert dev.pending_alerts[0].result == "200"


def test_fault_fumo_version_unchanged(
    device: Callable[..., ReferenceDevice], packages: PackageServer
) -> None:
    dev = device("fumo-version-unchanged")
    run_update(dev, packages.url("good"))
    assert dev.pending_alerts[0].result == "200"
    assert dev.tree.value("./DevDetail/FwV") == "FW-1.0.0"


def test_fault_fumo_no_alert(
    device: Callable[..., ReferenceDevice], packages: PackageServer
) -> None:
    dev = device("fumo-no-alert")
    run_update(dev, packages.url("good"))
    assert dev.tree.value("./DevDetail/FwV") == "FW-2.0.0"
    assert dev.pending_alerts == []


def test_exec_while_busy_and_update_without_data(device: Callable[..., ReferenceDevice]) -> None:
    dev = device()
    assert dev.tree.exec(f"{mo.FUMO_NODE}/Update", "", None) == "404"
    dev.tree.set_value(mo.FUMO_STATE, str(S.DOWNLOAD_PROGRESSING))
    assert dev.tree.exec(f"{mo.FUMO_NODE}/DownloadAndUpdate", "", None) == "500"


def test_fumo_through_the_lab_ends_with_generic_alert(
    rig: Callable[..., Any], packages: PackageServer
) -> None:
    r = rig()
    r.lab.expect_session()
    r.device.trigger_session({})
    session = r.lab.wait_session(WAIT)
    url = packages.url("good")
    assert session.replace(f"{mo.FUMO_NODE}/DownloadAndUpdate/PkgURL", url).status == "200"
    assert session.exec(f"{mo.FUMO_NODE}/DownloadAndUpdate", correlator="abc-42").status == "202"
    alert = session.wait_alert("1226", WAIT)
    assert alert.correlator == "abc-42"
    item = alert.items[0]
    assert item.source == mo.FUMO_NODE
    assert item.meta is not None and item.meta.type == ALERT_TYPES["DownloadAndUpdate"]
    assert item.meta.format == "chr" and item.meta.mark
    assert item.text() == "200"
    later = session.alert_session
    assert later is not None
    assert later.get("./DevDetail/FwV").data == "FW-2.0.0"
    later.close()
    assert r.device.pending_alerts == []  # delivered: the lab answered 200


def test_download_then_update_are_two_operations(
    device: Callable[..., ReferenceDevice], packages: PackageServer
) -> None:
    dev = device()
    tree = dev.tree
    assert tree.replace(f"{mo.FUMO_NODE}/Download/PkgURL", packages.url("good"), "chr") == "200"
    for op, correlator in (("Download", "d-1"), ("Update", "u-1")):
        assert tree.exec(f"{mo.FUMO_NODE}/{op}", "", correlator) == "202"
        jobs, tree.jobs = tree.jobs, []
        for job in jobs:
            job()
        dev.fumo.join(WAIT)
    assert dev.fumo.history == [30, 40, 60, 100]
    assert [(a.alert_type, a.result, a.correlator) for a in dev.pending_alerts] == [
        (ALERT_TYPES["Download"], "200", "d-1"),
        (ALERT_TYPES["Update"], "200", "u-1"),
    ]
    assert tree.value("./DevDetail/FwV") == "FW-2.0.0"
