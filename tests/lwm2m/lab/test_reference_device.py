"""Whole interactions between the lab and the reference LwM2M device (its own process), over
real UDP and over DTLS PSK: bootstrap, register, read in every format, write, execute,
observe/notify/cancel, FOTA pull and push, de-register."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path as FsPath
from typing import IO, Any

import pytest

from conformance.evidence.transcript import Transcript
from conformance.fota.packages import make_reference_image
from conformance.lwm2m.lab import Lwm2mLab
from conformance.lwm2m.model import ContentFormat, Path
from conformance.runtime import LabLoop
from conformance.verdicts import DeviceTimeout

from .conftest import declaration

EP = "urn:imei:357099060343341"
HOST = {
    Path(10241, 0, 5905): "ACME Inc",
    Path(10241, 0, 5906): "Arrow21",
    Path(10241, 0, 5907): "99bAEfgXXf",
    Path(10241, 0, 5908): "40",
}
FORMATS = [
    ContentFormat.TLV,
    ContentFormat.SENML_JSON,
    ContentFormat.SENML_CBOR,
    ContentFormat.LWM2M_JSON,
]


class ReferenceDevice:
    """The reference device process with its JSON-line control channel."""

    def __init__(self, args: list[str], state_dir: FsPath) -> None:
        argv = [sys.executable, "-m", "conformance.simulators.lwm2m_device", "--bind",
                "127.0.0.1", "--state-dir", str(state_dir), "--update-time", "0.1", *args]
        # SO_REUSEPORT off: with port 0 it can hand two sockets one port (see transports.py)
        env = {**os.environ, "AIOCOAP_REUSE_PORT": "0"}
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.stderr: list[bytes] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True).start()
        self.ready = self.next_line(20)
        assert self.ready.get("event") == "ready", self.ready
        self._id = 0

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def _drain(self, stream: IO[bytes]) -> None:
        self.stderr.extend(stream)

    def next_line(self, timeout: float) -> dict[str, Any]:
        line = self.lines.get(timeout=timeout)
        assert line is not None, b"".join(self.stderr).decode(errors="replace")[-2000:]
        return line

    def command(self, action: str, timeout: float = 15, **params: Any) -> dict[str, Any]:
        self._id += 1
        assert self.proc.stdin is not None
        self.proc.stdin.write(
            (json.dumps({"id": self._id, "action": action, "params": params}) + "\n").encode()
        )
        self.proc.stdin.flush()
        answer = self.next_line(timeout)
        assert answer["id"] == self._id
        return answer

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.command("quit", timeout=10)
                self.proc.wait(timeout=10)
            except (AssertionError, queue.Empty, OSError, subprocess.TimeoutExpired):
                self.proc.kill()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture(params=["udp", "dtls"])
def secure_lab(
    request: pytest.FixtureRequest, lab_loop: LabLoop, transcript: Transcript, tmp_path: FsPath
) -> Iterator[tuple[Lwm2mLab, bool]]:
    secure = request.param == "dtls"
    the_lab = Lwm2mLab(
        lab_loop, declaration(security="psk" if secure else "nosec"), transcript, tmp_path
    )
    the_lab.start()
    yield the_lab, secure
    the_lab.stop()


@pytest.fixture()
def start_device(tmp_path: FsPath) -> Iterator[Callable[..., ReferenceDevice]]:
    devices: list[ReferenceDevice] = []

    def start(*args: str) -> ReferenceDevice:
        state = tmp_path / f"device-state-{len(devices)}"
        state.mkdir()
        device = ReferenceDevice(list(args), state)
        devices.append(device)
        return device

    yield start
    for device in devices:
        device.close()


def test_bootstrap_register_and_deregister(
    secure_lab: tuple[Lwm2mLab, bool], start_device: Callable[..., ReferenceDevice]
) -> None:
    lab, secure = secure_lab
    addresses = lab.addresses()
    device = start_device(
        "--bootstrap", addresses["LAB_BOOTSTRAP_DTLS_URI" if secure else "LAB_BOOTSTRAP_URI"]
    )
    request = lab.wait_bootstrap_request(EP, timeout=10)
    assert request.secure is secure
    session = lab.bootstrap(EP)
    codes = [r.code for r in session.provision()]
    assert codes[-1] == "2.04", session.responses
    reg = lab.wait_registration(EP, timeout=10)
    assert reg.secure is secure
    assert 10241 in reg.objects and reg.lifetime == 300
    assert lab.read(EP, "/10241/0/5905", fmt=ContentFormat.TEXT).content == {
        Path(10241, 0, 5905): "ACME Inc"
    }
    assert device.command("quit")["ok"]
    assert lab.wait_deregistration(EP, timeout=10).kind == "deregister"


def test_device_management_and_reporting(
    secure_lab: tuple[Lwm2mLab, bool], start_device: Callable[..., ReferenceDevice]
) -> None:
    lab, secure = secure_lab
    start_device("--server", lab.addresses()["LAB_LWM2M_DTLS_URI" if secure else "LAB_LWM2M_URI"])
    reg = lab.wait_registration(EP, timeout=10)
    assert reg.secure is secure

    for fmt in FORMATS:
        response = lab.read(EP, "/10241/0", fmt=fmt)
        assert (response.code, response.content_format) == ("2.05", fmt)
        assert response.content == HOST, (fmt, response.decode_error)
    assert lab.write(EP, "/10241/0/5905", "x", fmt=ContentFormat.TEXT).code == "4.05"
    discover = lab.discover(EP, "/10241/0")
    assert discover.code == "2.05" and b"</10241/0/5905>" in discover.payload

    # Execute the registration-update trigger: the device sends an Update
    assert lab.execute(EP, "/1/0/8").code == "2.04"
    lab.wait_update(EP, timeout=10)

    # Observe the lifetime, change it by a write: a notification; cancel both ways
    observation = lab.observe(EP, "/1/0/1", fmt=ContentFormat.TEXT)
    assert observation.initial.content == {Path(1, 0, 1): 300}
    assert lab.write(EP, "/1/0/1", 301, fmt=ContentFormat.TEXT).code == "2.04"
    assert observation.next(timeout=10).content == {Path(1, 0, 1): 301}
    assert observation.cancel("get").code == "2.05"
    again = lab.observe(EP, "/1/0/1", fmt=ContentFormat.TEXT)
    assert lab.write(EP, "/1/0/1", 302, fmt=ContentFormat.TEXT).code == "2.04"
    assert again.next(timeout=10).content == {Path(1, 0, 1): 302}
    lab.transcript.subscribe(
        lambda e: e.summary.startswith("observe cancel armed")
        and _write_later(lab, EP, "/1/0/1", 303)
    )
    assert again.cancel("rst", timeout=10).content == {Path(1, 0, 1): 303}
    assert lab.write(EP, "/1/0/1", 304, fmt=ContentFormat.TEXT).code == "2.04"
    with pytest.raises(DeviceTimeout):
        again.next(timeout=0.5)  # cancelled: nothing more reaches the test


def _write_later(lab: Lwm2mLab, ep: str, path: str, value: int) -> bool:
    # From a transcript listener (lab loop thread): write from another thread, not blocking.
    threading.Thread(
        target=lab.write, args=(ep, path, value), kwargs={"fmt": ContentFormat.TEXT}, daemon=True
    ).start()
    return True


def _wait_state(lab: Lwm2mLab, observation: Any, wanted: int, timeout: float = 15) -> None:
    state = observation.initial.content.get(Path(5, 0, 3)) if observation.initial.content else None
    while state != wanted:
        notification = observation.next(timeout=timeout)
        assert notification.content is not None, notification
        state = notification.content[Path(5, 0, 3)]
        assert state != 0 or wanted == 0, "firmware download failed: " + str(
            lab.read(EP, "/5/0/5", fmt=ContentFormat.TEXT).content
        )


@pytest.mark.parametrize("delivery", ["pull", "push"])
def test_fota(
    secure_lab: tuple[Lwm2mLab, bool],
    start_device: Callable[..., ReferenceDevice],
    delivery: str,
) -> None:
    lab, secure = secure_lab
    start_device("--server", lab.addresses()["LAB_LWM2M_DTLS_URI" if secure else "LAB_LWM2M_URI"])
    first = lab.wait_registration(EP, timeout=10)
    image = make_reference_image("FW-2.0.0", 8 * 1024)
    state = lab.observe(EP, "/5/0/3", fmt=ContentFormat.TEXT)
    assert state.initial.content == {Path(5, 0, 3): 0}
    if delivery == "pull":
        uri = lab.publish_package("fw-2", image)
        assert uri.startswith("coap://")  # the built-in device declares coap (not coaps) pull
        assert lab.write(EP, "/5/0/1", uri, fmt=ContentFormat.TEXT).code == "2.04"
        assert lab.read(EP, "/5/0/5", fmt=ContentFormat.TEXT).content == {Path(5, 0, 5): 0}
    else:
        assert lab.write(EP, "/5/0/0", image, fmt=ContentFormat.OPAQUE).code == "2.04"
    _wait_state(lab, state, 2)
    if delivery == "pull":
        download = lab.downloads("fw-2")[-1]
        assert download.complete and download.bytes_served == len(image)
    assert lab.execute(EP, "/5/0/2").code == "2.04"
    again = lab.wait_registration(EP, timeout=15, newer_than=first.registered_at)
    assert again.secure is secure
    assert lab.read(EP, "/3/0/3", fmt=ContentFormat.TEXT).content == {Path(3, 0, 3): "FW-2.0.0"}
    assert lab.read(EP, "/5/0/5", fmt=ContentFormat.TEXT).content == {Path(5, 0, 5): 1}



def test_observe_composite_and_send(
    secure_lab: tuple[Lwm2mLab, bool], start_device: Callable[..., ReferenceDevice]
) -> None:
    """LwM2M 1.1 reporting: Observe-Composite (FETCH) notifies on a change under any path and
    ends on its cancel; the device's Send reaches the lab's /dp and is kept."""
    lab, secure = secure_lab
    device = start_device(
        "--server", lab.addresses()["LAB_LWM2M_DTLS_URI" if secure else "LAB_LWM2M_URI"])
    lab.wait_registration(EP, timeout=10)
    paths = ["/1/0/1", "/3/0/0"]
    observation = lab.observe_composite(EP, paths, ContentFormat.SENML_CBOR)
    assert observation.initial.code == "2.05" and observation.initial.observe is not None
    assert observation.initial.content is not None
    assert observation.initial.content[Path(1, 0, 1)] == 300
    assert Path(3, 0, 0) in observation.initial.content
    assert lab.write(EP, "/1/0/1", 301, fmt=ContentFormat.TEXT).code == "2.04"
    note = observation.next(timeout=10)
    assert note.content is not None and note.content[Path(1, 0, 1)] == 301
    assert Path(3, 0, 0) in note.content
    assert observation.cancel("get").code == "2.05"
    assert lab.write(EP, "/1/0/1", 300, fmt=ContentFormat.TEXT).code == "2.04"
    with pytest.raises(DeviceTimeout):
        observation.next(timeout=0.5)

    since = time.time()
    assert device.command("send", paths="/1/0/1 /3/0/11")["ok"]
    report = lab.wait_send(EP, since, timeout=10)
    assert report is not None
    assert report.content == {Path(1, 0, 1): 300, Path(3, 0, 11, 0): 0}
    assert report.content_format == ContentFormat.SENML_CBOR
    assert lab.write(EP, "/1/0/23", True, fmt=ContentFormat.TEXT).code == "2.04"
    muted = device.command("send", paths="/1/0/1")
    assert not muted["ok"] and "muted" in muted["error"]
