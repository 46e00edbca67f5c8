"""Whole sessions between the lab and the reference OMA-DM device, a separate process, over
real HTTP and HTTPS, in XML and WBXML, with MD5 and HMAC."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import yaml

from conformance.declaration import BUILTIN_DIR, load_declaration
from conformance.evidence.transcript import Transcript
from conformance.omadm.delivery import UdpChannel
from conformance.omadm.lab import OmaDmLab
from conformance.omadm.model import Get, Item
from conformance.runtime import LabLoop
from conformance.verdicts import DeviceTimeout

READY_TIMEOUT = 20.0


class DeviceProcess:
    """The reference device with its JSON-lines control channel."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "conformance.simulators.omadm_device", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(
                target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True
            ),
            threading.Thread(
                target=self._pump, args=(self.proc.stderr, self.stderr.append), daemon=True
            ),
        ]
        for reader in self._readers:
            reader.start()
        self.ready = self._next(READY_TIMEOUT)
        assert self.ready.get("event") == "ready", self.ready
        self._id = 0

    @staticmethod
    def _pump(stream: IO[str], put: Callable[[Any], None]) -> None:
        for line in stream:
            put(line)
        put(None)

    def _next(self, timeout: float) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"device said nothing in {timeout} s: {self.stderr}") from None
        if line is None:
            raise AssertionError(f"device exited: {''.join(self.stderr)[-2000:]}")
        return json.loads(line)  # type: ignore[no-any-return]

    def command(
        self, action: str, params: dict[str, Any] | None = None, timeout: float = 20
    ) -> dict[str, Any]:
        self._id += 1
        assert self.proc.stdin is not None
        self.proc.stdin.write(
            json.dumps({"id": self._id, "action": action, "params": params or {}}) + "\n"
        )
        self.proc.stdin.flush()
        while True:
            reply = self._next(timeout)
            if reply.get("id") == self._id:
                return reply

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"id": 0, "action": "quit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)
        for reader in self._readers:
            reader.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def write_declaration(tmp_path: Path, **omadm: object) -> Path:
    data = yaml.safe_load((BUILTIN_DIR / "omadm-simulator.yaml").read_text())
    data["omadm"].update(omadm)
    data["omadm"]["ddf"] = str((BUILTIN_DIR / data["omadm"]["ddf"]).resolve())
    data["timeouts"].update(request=5, session=10)
    path = tmp_path / "dut.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def lab_and_device(
    loop: LabLoop, transcript: Transcript, tmp_path: Path
) -> Iterator[Callable[..., tuple[OmaDmLab, DeviceProcess]]]:
    started: list[tuple[OmaDmLab, DeviceProcess]] = []

    def start(transport: str = "http", **omadm: object) -> tuple[OmaDmLab, DeviceProcess]:
        dut = write_declaration(tmp_path, transport=transport, **omadm)
        lab = OmaDmLab(loop, load_declaration(dut), transcript, tmp_path / "lab")
        lab.start()
        assert lab.pki is not None
        try:
            device = DeviceProcess(
                [
                    "--dut",
                    str(dut),
                    "--server",
                    lab.url,
                    "--ca",
                    str(lab.pki.ca_path),
                    "--state-dir",
                    str(tmp_path / "device"),
                    "--notify",
                    "127.0.0.1:0",
                ]
            )
        except BaseException:
            lab.stop()
            raise
        started.append((lab, device))
        return lab, device

    yield start
    for lab, device in started:
        device.stop()
        lab.stop()


@pytest.mark.parametrize(
    ("transport", "encoding", "auth"),
    [
        ("http", "xml", "md5"),
        ("https", "wbxml", "hmac"),
        ("https", "xml", "md5"),
        ("http", "wbxml", "hmac"),
    ],
)
def test_session_with_the_reference_device(
    lab_and_device: Callable[..., tuple[OmaDmLab, DeviceProcess]],
    transport: str,
    encoding: str,
    auth: str,
) -> None:
    lab, device = lab_and_device(transport, encoding=encoding, auth=auth)
    assert device.command("trigger_session")["ok"]
    session = lab.wait_session()
    assert session.encoding == encoding and session.auth.type_seen == auth
    assert session.auth.verified and session.package1.alerts("1201")
    decl = lab.declaration
    assert session.get("./DevInfo/DevId").data == f"IMEI:{decl.device.imei}"
    assert session.get("./DevDetail/Ext/HostMan").data == decl.host.manufacturer
    assert session.get("./DevInfo/Nope").status == "404"
    assert session.replace("./DevInfo/Man", "x").status == "405"
    assert session.auth.server_statuses[0] in ("200", "212")  # the device accepted the lab
    session.close()
    scheme = {m.raw[:1] for m in session.messages}
    assert scheme == ({b"<"} if encoding == "xml" else {b"\x02"})  # WBXML 1.2 starts 0x02
    # A second session authenticates with the NextNonce of the first (nonce timing).
    assert device.command("trigger_session")["ok"]
    second = lab.wait_session()
    assert second.auth.verified and second.auth.attempts[0].answer == "212"
    assert second.auth.attempts[0].nonce != b"null"
    second.close()


def test_package0_opens_a_server_initiated_session(
    lab_and_device: Callable[..., tuple[OmaDmLab, DeviceProcess]],
) -> None:
    lab, device = lab_and_device()
    lab.set_package0_channel(UdpChannel.parse(device.ready["notify"]))
    sid = lab.notify()
    session = lab.wait_session(alert="1200")
    assert session.session_id.upper() == format(sid, "X")
    session.close()
    lab.notify(wrong_digest=True)  # the device must ignore it: no session comes
    with pytest.raises(DeviceTimeout, match="no OMA-DM session"):
        lab.wait_session(timeout=1.5)


def test_small_device_max_msg_size_both_directions(
    lab_and_device: Callable[..., tuple[OmaDmLab, DeviceProcess]],
) -> None:
    lab, device = lab_and_device(max_msg_size=1400)
    lab.expect_session(max_msg_size=1400)  # and the lab asks the same of the device
    assert device.command("trigger_session")["ok"]
    session = lab.wait_session()
    assert session.device_max_msg_size == 1400
    value = "".join(f"{i:05d}" for i in range(800))  # 4000 bytes: a large object
    assert session.replace("./FUMO/FwPkg1/PkgName", value).status == "200"
    got = session.get("./FUMO/FwPkg1/PkgName")  # comes back in MoreData chunks
    assert (got.status, got.data) == ("200", value)
    uris = ["./DevInfo/DevId", "./DevInfo/Man", "./DevInfo/Mod", "./DevDetail/Ext/HostMan"]
    results = session.send([Get(cmd_id="", items=[Item(target=u)]) for u in uris * 3])
    assert [r.status for r in results] == ["200"] * 12
    session.close()
    lab_sizes = [len(m.raw) for m in session.messages if m.direction == "lab->device"]
    dev_sizes = [len(m.raw) for m in session.messages if m.direction == "device->lab"]
    assert max(lab_sizes) <= 1400 and max(dev_sizes[1:]) <= 1400
    assert not session.errors
