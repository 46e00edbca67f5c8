"""A one-bench labgrid lab on loopback, for the labgrid controller's tests.

The real daemons, as a lab runs them: ``labgrid-coordinator`` (port 0, its own folder),
``labgrid-exporter`` with a bench config exporting the pty modem emulator as a
``RawSerialPort`` (the exporter serves it through ``ser2net`` while the place is acquired) and
a ``NetworkPowerPort`` whose switch is :class:`PowerSwitch`, and the place created with
``labgrid-client`` as docs/lab-setup.md shows. Every wait is for an event, with a deadline.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

START_TIMEOUT = 30.0  # seconds a daemon may take to come up on a loaded machine
BIN = Path(sys.executable).parent


class PowerSwitch:
    """A network power switch with one outlet, labgrid's ``simplerest`` model, on loopback.

    ``GET /outlet/<index>/<0|1>`` switches; ``GET /outlet/<index>`` reads. Every switching is
    put in ``events`` so a test waits for it.
    """

    def __init__(self) -> None:
        self.state = True
        self.events: queue.Queue[str] = queue.Queue()
        switch = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                match = re.fullmatch(r"/outlet/(\d+)(?:/([01]))?", self.path)
                if match is None:
                    self.send_error(404)
                    return
                if match.group(2) is not None:
                    switch.state = match.group(2) == "1"
                    switch.events.put("on" if switch.state else "off")
                body = b"1" if switch.state else b"0"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/outlet/{{index}}/{{value}}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def switched(self) -> list[str]:
        """What happened since the last call (the controller's actions are synchronous)."""
        seen = []
        while True:
            try:
                seen.append(self.events.get_nowait())
            except queue.Empty:
                return seen

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Daemon:
    """A labgrid daemon whose output is watched line by line (and kept for failures)."""

    def __init__(self, name: str, argv: list[str], cwd: Path) -> None:
        self.name = name
        self.log = cwd / f"{name}.log"
        self.lines: queue.Queue[str] = queue.Queue()
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its ser2net children go with it
        )
        assert self.proc.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        with self.log.open("w") as log:
            for line in stream:
                log.write(line)
                log.flush()
                self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            match = re.search(pattern, line)
            if match:
                return match
        raise RuntimeError(
            f"{self.name} did not print {pattern!r} within {timeout:g} s; "
            f"exit status {self.proc.poll()}; log:\n{self.log.read_text()[-2000:]}"
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._reader.join(timeout=5)


def client(coordinator: str, *args: str, user: str | None = None) -> str:
    """``labgrid-client -x <coordinator> <args>``: its output; raises on a non-zero status."""
    env = dict(os.environ)
    if user is not None:
        env["LG_USERNAME"] = user
    done = subprocess.run(
        [str(BIN / "labgrid-client"), "-x", coordinator, *args],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise RuntimeError(f"labgrid-client {' '.join(args)}: {done.stdout}{done.stderr}")
    return done.stdout


class LabgridBench:
    """Coordinator + exporter + place ``place`` with the modem's port and the switch."""

    def __init__(self, folder: Path, modem_port: str, switch: PowerSwitch) -> None:
        self.folder, self.modem_port, self.switch = folder, modem_port, switch
        self.place = "bench-1"
        self.exporter_name = "lab-exporter-1"
        self.coordinator = ""
        self.daemons: list[Daemon] = []

    def start(self) -> None:
        if shutil.which("ser2net") is None and not Path("/usr/sbin/ser2net").exists():
            raise RuntimeError("ser2net is not installed: run scripts/bootstrap.sh")
        folder, modem_port, switch = self.folder, self.modem_port, self.switch
        coordinator = Daemon(
            "coordinator", [str(BIN / "labgrid-coordinator"), "-l", "127.0.0.1:0"], folder
        )
        self.daemons.append(coordinator)
        port = coordinator.wait_for(r"listening on [\d.]+:(\d+)").group(1)
        self.coordinator = f"127.0.0.1:{port}"
        config = folder / "exporter.yaml"
        config.write_text(
            f"{self.place}:\n"
            f"  RawSerialPort:\n"
            f"    port: {modem_port}\n"
            f"    speed: 115200\n"
            f"  NetworkPowerPort:\n"
            f"    model: simplerest\n"
            f"    host: '{switch.url}'\n"
            f"    index: 1\n"
        )
        exporter = Daemon(
            "exporter",
            [
                str(BIN / "labgrid-exporter"),
                "-c",
                self.coordinator,
                "-n",
                self.exporter_name,
                "--hostname",
                "127.0.0.1",
                str(config),
            ],
            folder,
        )
        self.daemons.append(exporter)
        exporter.wait_for(r"connected to coordinator")
        client(self.coordinator, "-p", self.place, "create")
        client(self.coordinator, "-p", self.place, "add-match", f"{self.exporter_name}/*/*")
        self._await_resources()

    def _await_resources(self) -> None:
        """Until the coordinator has the exporter's serial port and power switch."""
        deadline = time.monotonic() + START_TIMEOUT
        shown = ""
        while time.monotonic() < deadline:
            shown = client(self.coordinator, "-p", self.place, "show")
            if "NetworkSerialPort" in shown and "NetworkPowerPort" in shown:
                return
        raise RuntimeError(f"the place never got the exporter's resources:\n{shown}")

    def client(self, *args: str, user: str | None = None) -> str:
        """``labgrid-client -p <place> <args>`` as ``user`` (another lab member) if given."""
        return client(self.coordinator, "-p", self.place, *args, user=user)

    def holder(self) -> str:
        """Who holds the place now (empty when nobody)."""
        shown = client(self.coordinator, "-p", self.place, "show")
        match = re.search(r"acquired: (\S+)", shown)
        return "" if match is None or match.group(1) == "None" else match.group(1)

    def stop(self) -> None:
        for daemon in reversed(self.daemons):
            daemon.stop()


def bench(folder: Path, modem_port: str) -> Iterator[tuple[LabgridBench, PowerSwitch]]:
    switch = PowerSwitch()
    lab = LabgridBench(folder, modem_port, switch)
    try:
        lab.start()
        yield lab, switch
    finally:
        lab.stop()
        switch.close()
