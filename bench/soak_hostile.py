"""Soak: good and hostile devices mixed against one running lab for a bounded time; lab RSS.

The lab (OMA-DM, LwM2M NoSec and package servers on one LabLoop, as ``conformance lab``
starts them; ``tests/fuzz/campaign.py``'s ``start_lab``) runs in a child process, with the
test side of bench_omadm_lab.py driving each OMA-DM session (Get, Replace, close). This
process plays the devices over loopback, in cycles:

- good: one OMA-DM session (bench_omadm_lab.LoadDevice: MD5 both ways, three exchanges), one
  LwM2M Register / Update / De-register, one 64 KiB package download;
- hostile: two of the campaign's lab generators in turn (mutated SyncML and WBXML, string-table
  amplification, a connection flood past the per-source cap, mutated CoAP datagrams, unknown
  critical options, broken Block1, Update/De-register from another address, overlong
  endpoint names), plus five slowloris connections kept open, trickling a byte per cycle
  until the lab cuts them at the whole-request deadline (1 s here, so that the slow-body
  generator waits 1 s, not the default 6).

Every answer is counted by status; a 5.xx/5xx, a good exchange that fails, or a lab error in
the transcript is reported. The child's VmRSS is sampled every ``--sample`` seconds.

``--trim-transcript`` keeps only the newest 2,000 transcript entries in the lab's memory (the
file keeps them all): a stand-in for the streaming transcript (O(1) memory) done separately
under issue 15, so that the RSS figure shows the rest of the lab. Without it the in-memory
transcript grows with every message by design of the current ``Transcript``.

Run: .venv/bin/python bench/soak_hostile.py --minutes 30 [--trim-transcript] [--smoke]
"""

from __future__ import annotations

import asyncio
import importlib.util
import multiprocessing as mp
import random
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common

CAMPAIGN_PATH = _common.REPO / "tests" / "fuzz" / "campaign.py"
PACKAGE = bytes(range(256)) * 256  # 64 KiB
KEEP_ENTRIES = 2000
SLOW_SOCKETS = 5


def campaign() -> Any:
    name = "conformance_fuzz_campaign"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, CAMPAIGN_PATH)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def vm_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --------------------------------------------------------------------------- lab (child)


def lab_main(conn: Any, trim: bool, per_source: int) -> None:
    import bench_omadm_lab as dm_bench

    c = campaign()
    with tempfile.TemporaryDirectory() as tmp:
        loop, parts, transcript, target = c.start_lab(
            Path(tmp), connections_per_source=per_source, request_deadline=1.0)
        packages, omadm, _ = parts
        driver = dm_bench.Driver(timeout=30)
        loop.call(dm_bench._set_hook(omadm._running(), driver), 5)
        url = packages.publish("soak.bin", PACKAGE).http
        dm = omadm.declaration.omadm
        creds = {"client_name": dm.client_name,
                 "client_secret": dm.client_secret.get_secret_value()}
        conn.send((target, url, creds))
        while not conn.poll(1.0):
            if trim:
                with transcript._lock:  # bench stand-in for the streaming transcript
                    del transcript._entries[:-KEEP_ENTRIES]
        conn.recv()
        errors = c.lab_errors(transcript)
        # Hostile devices never answer the driver's commands: only the good ones' count.
        good = [e for e in driver.errors if e.startswith("IMEI:SOAK")]
        stats = (len(transcript), errors[:10], len(errors), driver.done, good[:5])
        c.stop_lab(loop, parts, transcript)
    conn.send(stats)


# --------------------------------------------------------------------------- devices (here)


class Soak:
    def __init__(self, target: Any, package_url: str, creds: dict[str, str], seed: int) -> None:
        import requests

        c = campaign()
        self.c = c
        self.target = target
        self.package_url = package_url
        self.creds = creds
        self.rng = random.Random(seed)
        self.probe = c.LabProbe(target, self.rng)
        self.http = requests.Session()
        self.counts: dict[str, int] = {}
        self.findings: list[str] = []
        self.slow: list[socket.socket] = []
        self.n = 0

    def count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def good_omadm(self) -> None:
        import aiohttp
        import bench_omadm_lab as dm_bench

        async def run() -> Any:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
                device = dm_bench.LoadDevice(self.target.omadm_url, self.creds,
                                             f"IMEI:SOAK{self.n:09d}", str(self.n + 1), "xml")
                return await device.run(http)

        result = asyncio.run(run())
        self.count("good OMA-DM session " + ("ok" if not result.errors else "FAILED"))
        self.findings += [f"good OMA-DM session: {e}" for e in result.errors]

    def good_lwm2m(self) -> None:
        from aiocoap import DELETE, POST

        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(3)
        try:
            answer = self.probe._register(f"urn:soak:{self.n}", sock)
            codes = [answer.code.dotted if answer else "-"]
            if answer is not None and answer.opt.location_path:
                where = tuple(answer.opt.location_path)
                for code, query in ((POST, ("lt=120",)), (DELETE, ())):
                    reply = self.probe.coap(self.probe._request(code, where, query), sock)
                    codes.append(reply.code.dotted if reply else "-")
        finally:
            sock.close()
        ok = codes == ["2.01", "2.04", "2.02"]
        self.count("good LwM2M register/update/de-register " + ("ok" if ok else "FAILED"))
        if not ok:
            self.findings.append(f"good LwM2M device got {codes}")

    def good_download(self) -> None:
        resp = self.http.get(self.package_url, timeout=30)
        ok = resp.status_code == 200 and resp.content == PACKAGE
        self.count("good download " + ("ok" if ok else "FAILED"))
        if not ok:
            self.findings.append(f"good download: HTTP {resp.status_code}")

    def slowloris(self) -> None:
        host, port = self.target.omadm_url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        kept = []
        for sock in self.slow:
            try:
                sock.send(b"x")
                kept.append(sock)
            except OSError:  # cut by the lab at the whole-request deadline
                self.count("slowloris connection cut by the lab")
                sock.close()
        while len(kept) < SLOW_SOCKETS:
            sock = socket.create_connection((host, int(port)), timeout=5)
            sock.send(b"POST /oma HTTP/1.1\r\nHost: lab\r\nContent-Type: "
                      b"application/vnd.syncml.dm+xml\r\nContent-Length: 100000\r\n\r\n<")
            kept.append(sock)
        self.slow = kept

    def cycle(self) -> None:
        self.n += 1
        self.good_omadm()
        self.good_lwm2m()
        self.good_download()
        names = list(self.probe.generators)
        for k in range(2):
            name = names[(2 * self.n + k) % len(names)]
            self.count(f"hostile {name}")
            self.findings += self.probe.generators[name]()
        self.slowloris()

    def close(self) -> None:
        for sock in self.slow:
            sock.close()
        self.http.close()
        self.probe.close()


def main() -> int:
    p = _common.parser(__doc__ or "")
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--sample", type=float, default=30.0, help="seconds between RSS samples")
    p.add_argument("--trim-transcript", action="store_true")
    p.add_argument("--pause", type=float, default=0.1, help="seconds between cycles")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    minutes = 1.0 if args.smoke else args.minutes
    _common.header(f"soak_hostile: {minutes:g} min of mixed good and hostile devices"
                   f"{', transcript trimmed in memory' if args.trim_transcript else ''}")
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    per_source = 16
    proc = ctx.Process(target=lab_main, args=(theirs, args.trim_transcript, per_source))
    proc.start()
    assert proc.pid is not None
    lab_pid = proc.pid
    campaign()  # the lab sends a LabTarget of that module
    target, url, creds = ours.recv()
    soak = Soak(target, url, creds, args.seed)
    samples: list[tuple[float, float, int]] = []  # (minutes, RSS MiB, cycles)
    start = time.monotonic()
    end = start + minutes * 60
    next_sample = start
    try:
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_sample:
                samples.append(((now - start) / 60, vm_rss_mib(lab_pid), soak.n))
                print(f"   t={samples[-1][0]:5.1f} min  lab VmRSS {samples[-1][1]:7.1f} MiB  "
                      f"cycles {soak.n}", flush=True)
                next_sample += args.sample
            soak.cycle()
            time.sleep(args.pause)  # pacing of the traffic, not a synchronisation
        samples.append(((time.monotonic() - start) / 60, vm_rss_mib(lab_pid), soak.n))
    finally:
        soak.close()
        ours.send("stop")
        entries, errors, n_errors, driven, driver_errors = ours.recv()
        proc.join(60)
    print(f"   end: t={samples[-1][0]:.1f} min, lab VmRSS {samples[-1][1]:.1f} MiB, "
          f"{soak.n} cycles, {entries} transcript entries in the lab's memory")
    warm = [s for s in samples if s[0] >= min(5.0, minutes / 3)]
    if len(warm) >= 2:
        rss = [s[1] for s in warm]
        slope = (warm[-1][1] - warm[0][1]) / max(warm[-1][0] - warm[0][0], 1e-9) * 10
        print(f"   after warm-up (t >= {warm[0][0]:.1f} min): VmRSS min {min(rss):.1f}, "
              f"max {max(rss):.1f}, first {rss[0]:.1f}, last {rss[-1]:.1f} MiB; "
              f"{slope:+.2f} MiB per 10 min")
    fives = {k: v for k, v in soak.probe.statuses.items() if k.startswith(("HTTP 5", "CoAP 5"))}
    print("   answers to hostile devices: " + ", ".join(
        f"{k} x{v}" for k, v in sorted(soak.probe.statuses.items())))
    print("   cycles: " + ", ".join(f"{k} x{v}" for k, v in sorted(soak.counts.items())))
    print(f"   5.xx/5xx answers: {sum(fives.values())}; lab errors in the transcript: "
          f"{n_errors}; OMA-DM sessions driven: {driven}; findings: {len(soak.findings)}")
    for line in (soak.findings[:10] + errors + driver_errors):
        print(f"   ! {line}")
    return 1 if fives or n_errors or soak.findings or driver_errors else 0


if __name__ == "__main__":
    sys.exit(main())
