"""Benchmark: datagram load on the LwM2M lab, libcoap's ``coap-server`` in the same run.

The lab (one ``Lwm2mLab``, built-in declaration with security nosec, transcript to a file)
runs in a child process of its own (``--serve-lab``), so that its CPU time is its own
(utime + stime from /proc). The load is raw UDP from this process (pre-encoded CoAP, only the
MID changes), so the client costs little next to the server:

1. **paced**: K registered devices (one socket each) send CON Update (``POST /rd/<n>``)
   round-robin at R datagrams/s for T s. Counted: answers (matched by socket and MID), the
   kernel's drops on the server socket (``/proc/net/udp``, column ``drops``), server CPU per
   datagram. The same load against ``coap-server`` (libcoap, Debian ``libcoap3-bin``): the
   Updates go to a path it does not have and it answers 4.04, one answer per datagram too.
2. **burst**: N devices send Register (``POST /rd?ep=…``) all at once; latency to the 2.01
   and the lab's CPU per Register, with one retransmission after 2 s (CoAP ACK_TIMEOUT)
   when an answer is missing.
3. **flood** (issue 15): one well-behaved registered device sends an Update every 10 ms
   (100/s, 10x a chatty device at 10/s) while G garbage datagrams/s (random bytes, 1-200 B,
   from 16 other sockets) arrive for T s; the device's answered share and latency.

Run: .venv/bin/python bench/bench_lwm2m_flood.py [--rates 1000,2000,4000] [--seconds 5]
     [--burst 2000] [--garbage 4000]
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common
from _common import percentiles, table
from aiocoap import CON, POST, Message

CLK_TCK = os.sysconf("SC_CLK_TCK")
ACK_TIMEOUT = 2.0


# --------------------------------------------------------------------------- the servers


def serve_lab(folder: Path) -> int:
    """Child: the lab, its address on stdout as one JSON line, until stdin closes."""
    from bench_lwm2m_lab import bench_declaration

    from conformance.evidence.transcript import Transcript
    from conformance.lwm2m.lab import Lwm2mLab
    from conformance.runtime import LabLoop

    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    began: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began.append(time.perf_counter())
        elif began:
            pauses[info["generation"]].append(time.perf_counter() - began.pop())

    gc.callbacks.append(on_gc)
    loop = LabLoop("bench-flood-lab")
    transcript = Transcript(path=folder / "transcript.jsonl")
    lab = Lwm2mLab(loop, bench_declaration(), transcript, folder)
    lab.start()
    sock = lab._endpoints["dm"].interface._pool._transport.get_extra_info("socket")
    host, port = sock.getsockname()[:2]
    print(json.dumps({"host": host, "port": port, "pid": os.getpid(),
                      "rcvbuf": sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)}),
          flush=True)
    sys.stdin.read()  # until the parent closes it
    print(json.dumps({"gc": {str(g): [len(v), round(max(v, default=0) * 1e3, 1),
                                      round(sum(v) * 1e3, 1)] for g, v in pauses.items()},
                      "gc_threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}),
          flush=True)
    lab.stop()
    loop.stop()
    transcript.close()
    return 0


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[str]
    host: str
    port: int
    pid: int
    rcvbuf: int

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def _udp_row(self) -> list[str]:
        want = f"{self.port:04X}"
        for line in Path(f"/proc/{self.pid}/net/udp").read_text().splitlines()[1:]:
            cols = line.split()
            if cols[1].endswith(":" + want):
                return cols
        return []

    def kernel_drops(self) -> int:
        row = self._udp_row()
        return int(row[-1]) if row else 0

    def drain(self, timeout: float = 120) -> float:
        """Wait until the server has read everything queued for it (phases stay apart)."""
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            row = self._udp_row()
            if not row or int(row[4].split(":")[1], 16) == 0:
                break
            time.sleep(0.05)  # bench bookkeeping between phases, not a timed window
        return time.perf_counter() - start

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        if self.name == "lab" and self.proc.stdout is not None:
            stats = json.loads(self.proc.stdout.readline() or "{}")
            print(f"lab garbage collections (count, longest ms, total ms per generation): "
                  f"{stats.get('gc')}; thresholds {stats.get('gc_threshold')}, "
                  f"{stats.get('frozen')} objects frozen")
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(10)


def start_lab(folder: Path) -> Server:
    proc = subprocess.Popen([sys.executable, __file__, "--serve-lab", str(folder)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return Server("lab", proc, info["host"], info["port"], info["pid"], info["rcvbuf"])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_coap_server() -> Server | None:
    exe = shutil.which("coap-server-openssl") or shutil.which("coap-server")
    if exe is None:
        return None
    port = free_port()
    proc = subprocess.Popen([exe, "-A", "127.0.0.1", "-p", str(port), "-v", "0"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, text=True)
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.settimeout(0.2)
    try:
        for _ in range(50):  # until it answers a ping (an empty CON gets a RST)
            probe.sendto(bytes([0x40, 0, 0, 1]), ("127.0.0.1", port))
            try:
                probe.recv(64)
                break
            except TimeoutError:
                continue
    finally:
        probe.close()
    return Server("coap-server", proc, "127.0.0.1", port, proc.pid, 0)


# --------------------------------------------------------------------------- the clients


@dataclass
class Device:
    """A load client: one socket, one pre-encoded request whose MID changes."""

    index: int
    template: bytearray
    transport: Any = None
    mid: int = 0
    sent: dict[int, float] = field(default_factory=dict)
    answers: dict[int, tuple[float, int]] = field(default_factory=dict)  # mid -> (t, code)
    location: str = ""
    first: Message | None = None

    def send(self, now: float) -> int:
        self.mid = (self.mid + 1) & 0xFFFF
        self.template[2:4] = self.mid.to_bytes(2, "big")
        self.transport.sendto(bytes(self.template))
        self.sent[self.mid] = now
        return self.mid


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, device: Device) -> None:
        self.device = device

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) < 4:
            return
        mid = int.from_bytes(data[2:4], "big")
        dev = self.device
        if mid in dev.sent and mid not in dev.answers:
            dev.answers[mid] = (time.perf_counter(), data[1])
            if dev.first is None:
                dev.first = Message.decode(data)


def register_message(ep: str) -> bytearray:
    msg = Message(code=POST, uri_path=("rd",), payload=b"</1/0>,</3/0>",
                  uri_query=(f"ep={ep}", "lt=600", "lwm2m=1.1", "b=U"))
    msg.opt.content_format = 40
    msg.mtype, msg.mid, msg.token = CON, 0, b"r0"  # set by hand, as a device does
    return bytearray(msg.encode())


def update_message(location: str) -> bytearray:
    msg = Message(code=POST, uri_path=tuple(location.split("/")))
    msg.mtype, msg.mid, msg.token = CON, 0, b"u0"
    return bytearray(msg.encode())


async def open_devices(server: Server, n: int) -> list[Device]:
    loop = asyncio.get_running_loop()
    devices = []
    for i in range(n):
        dev = Device(i, bytearray())
        dev.transport, _ = await loop.create_datagram_endpoint(
            lambda d=dev: _Protocol(d), local_addr=("127.0.0.1", 0),
            remote_addr=(server.host, server.port))
        devices.append(dev)
    return devices


async def register_all(devices: list[Device], tag: str) -> tuple[list[float], int, int]:
    """All send Register at once; one retransmission after ACK_TIMEOUT. (latencies, lost, 2.01s)"""
    start = time.perf_counter()
    for dev in devices:
        dev.template = register_message(f"urn:flood:{tag}:{dev.index:05d}")
        dev.send(start)
    first_mid = {dev.index: dev.mid for dev in devices}
    deadline = start + 3 * ACK_TIMEOUT
    retried = False
    while time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
        waiting = [d for d in devices if not d.answers]
        if not waiting:
            break
        if not retried and time.perf_counter() - start > ACK_TIMEOUT:
            retried = True
            for dev in waiting:  # a retransmission keeps its MID (RFC 7252 §4.2)
                dev.transport.sendto(bytes(dev.template))
    latencies = [min(t for t, _ in d.answers.values()) - start for d in devices if d.answers]
    created = 0
    for dev in devices:
        if dev.first is not None and dev.first.code.dotted == "2.01":
            created += 1
            dev.location = "/".join(dev.first.opt.location_path)
        del first_mid[dev.index]
    return latencies, len(devices) - len(latencies), created


async def paced(devices: list[Device], rate: float, seconds: float) -> tuple[int, float]:
    """Round-robin sends at ``rate``/s; returns (sent, achieved rate)."""
    for dev in devices:
        dev.template = update_message(dev.location or "rd/nowhere")
        dev.sent.clear()
        dev.answers.clear()
    start = time.perf_counter()
    sent = 0
    turn = 0
    while True:
        now = time.perf_counter()
        if now - start >= seconds:
            break
        due = int((now - start) * rate) - sent
        for _ in range(due):
            devices[turn % len(devices)].send(now)
            turn += 1
            sent += 1
        await asyncio.sleep(0.002)
    took = time.perf_counter() - start
    end = time.perf_counter() + ACK_TIMEOUT  # let the last answers arrive
    while time.perf_counter() < end and sum(len(d.answers) for d in devices) < sent:
        await asyncio.sleep(0.01)
    return sent, sent / took


def answered(devices: list[Device]) -> tuple[int, list[float]]:
    lat = [t - d.sent[m] for d in devices for m, (t, _c) in d.answers.items()]
    return len(lat), lat


# --------------------------------------------------------------------------- the phases


async def phase_paced(server: Server, rates: list[int], seconds: float, k: int,
                      tag: str) -> list[list[object]]:
    devices = await open_devices(server, k)
    rows: list[list[object]] = []
    try:
        if server.name == "lab":
            server.drain()
            _lat, lost, created = await register_all(devices, tag)
            if created != k:
                rows.append([server.name, "register before the load", k, created, lost, "", "",
                             "", "", ""])
        for rate in rates:
            server.drain()
            drops0, cpu0 = server.kernel_drops(), server.cpu()
            sent, achieved = await paced(devices, rate, seconds)
            cpu = server.cpu() - cpu0
            drops = server.kernel_drops() - drops0
            got, lat = answered(devices)
            p50, _p90, p99 = (v * 1e3 for v in percentiles(lat)) if lat else ("", "", "")
            rows.append([server.name, f"{rate}/s for {seconds:g} s", sent, round(achieved),
                         sent - got, drops, f"{cpu / got * 1e6:.1f}" if got else "",
                         f"{cpu / (seconds + ACK_TIMEOUT) * 100:.0f}%", p50, p99])
    finally:
        for dev in devices:
            dev.transport.close()
    return rows


async def phase_burst(server: Server, n: int, tag: str) -> list[object]:
    devices = await open_devices(server, n)
    try:
        server.drain()
        drops0, cpu0 = server.kernel_drops(), server.cpu()
        start = time.perf_counter()
        lat, lost, created = await register_all(devices, tag)
        wall = time.perf_counter() - start
        cpu = server.cpu() - cpu0
        drops = server.kernel_drops() - drops0
        retried = sum(1 for v in lat if v >= ACK_TIMEOUT)
        p50, p90, p99 = (v * 1e3 for v in percentiles(lat)) if lat else ("", "", "")
        return [server.name, n, created, lost, retried, drops, p50, p90, p99, round(wall, 2),
                f"{cpu / created * 1e6:.0f}" if created else ""]
    finally:
        for dev in devices:
            dev.transport.close()


async def phase_flood(server: Server, garbage_rate: int, seconds: float,
                      tag: str) -> list[object]:
    good = await open_devices(server, 1)
    flooders = await open_devices(server, 16)
    rng = random.Random(15)
    try:
        server.drain()
        _lat, _lost, created = await register_all(good, tag)
        if created != 1:
            return [server.name, "", "", "", "device not registered", "", "", "", ""]
        good[0].template = update_message(good[0].location)
        good[0].sent.clear()
        good[0].answers.clear()
        server.drain()
        drops0, cpu0 = server.kernel_drops(), server.cpu()
        start = time.perf_counter()
        junk = 0
        good_sent = 0
        while (now := time.perf_counter()) - start < seconds:
            due = int((now - start) * garbage_rate) - junk
            for _ in range(due):
                size = rng.randint(1, 200)
                flooders[junk % 16].transport.sendto(rng.randbytes(size))
                junk += 1
            if int((now - start) * 100) >= good_sent:  # 100 Updates/s
                good[0].send(now)
                good_sent += 1
            await asyncio.sleep(0.002)
        end = time.perf_counter() + ACK_TIMEOUT
        while time.perf_counter() < end and len(good[0].answers) < good_sent:
            await asyncio.sleep(0.01)
        cpu = server.cpu() - cpu0
        drops = server.kernel_drops() - drops0
        got, lat = answered(good)
        p50, _p90, p99 = (v * 1e3 for v in percentiles(lat)) if lat else ("", "", "")
        return [server.name, junk, round(junk / seconds), good_sent, got, drops,
                f"{cpu / (junk + good_sent) * 1e6:.1f}", p50, p99]
    finally:
        for dev in good + flooders:
            dev.transport.close()


def main() -> int:
    p = _common.parser(__doc__ or "")
    p.add_argument("--serve-lab", metavar="DIR", help=argparse_suppress())
    p.add_argument("--rates", default="1000,2000,4000")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--devices", type=int, default=64, help="sockets of the paced load")
    p.add_argument("--burst", type=int, default=2000)
    p.add_argument("--garbage", type=int, default=4000, help="garbage datagrams/s (flood)")
    p.add_argument("--no-peer", action="store_true", help="without coap-server")
    args = p.parse_args()
    if args.serve_lab:
        return serve_lab(Path(args.serve_lab))
    if args.smoke:
        args.rates, args.seconds, args.devices, args.burst, args.garbage = "200", 0.5, 4, 20, 200
    _common.header("bench_lwm2m_flood", sys.argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.burst + 512)), hard))
    rates = [int(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-flood-") as tmp:
        lab = start_lab(Path(tmp))
        peer = None if args.no_peer else start_coap_server()
        try:
            print(f"lab: {lab.host}:{lab.port}, socket receive buffer granted {lab.rcvbuf} B "
                  f"(SO_RCVBUF as the kernel reports it); net.core.rmem_max "
                  f"{Path('/proc/sys/net/core/rmem_max').read_text().strip()}")
            rows: list[list[object]] = []
            for server in [lab] + ([peer] if peer else []):
                rows += asyncio.run(phase_paced(server, rates, args.seconds, args.devices,
                                                "paced"))
            print("\npaced valid datagrams (CON Update; coap-server answers 4.04)")
            table(rows, ["server", "load", "sent", "sent/s", "unanswered", "kernel drops",
                         "CPU us/answer", "CPU", "p50 ms", "p99 ms"])
            print("   unanswered: no answer within 2 s of the last send; CPU: the server's "
                  "process time per answered datagram, and its share of one core")
            burst = [asyncio.run(phase_burst(lab, args.burst, "burst"))]
            print(f"\n{args.burst} devices registering at once (one retransmission after "
                  f"{ACK_TIMEOUT:g} s)")
            table(burst, ["server", "devices", "2.01", "lost", "retransmitted",
                          "kernel drops", "p50 ms", "p90 ms", "p99 ms", "wall s",
                          "CPU us/Register"])
            flood = [asyncio.run(phase_flood(lab, args.garbage, args.seconds, "flood"))]
            print(f"\nflood: garbage at {args.garbage}/s for {args.seconds:g} s, one device "
                  "sending an Update every 10 ms")
            table(flood, ["server", "garbage sent", "garbage/s", "device Updates",
                          "answered", "kernel drops", "CPU us/datagram", "p50 ms", "p99 ms"])
        finally:
            lab.stop()
            if peer is not None:
                peer.stop()
    failed = any(r[3] for r in burst if isinstance(r[3], int)) and args.smoke
    return 1 if failed else 0


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
