"""Benchmark 3: LwM2M lab capacity with N lightweight load clients, and the aiocoap floor.

The lab (one ``Lwm2mLab`` on one ``LabLoop``, built-in declaration with security nosec,
transcript to a file) runs in this process. The devices are *load clients*, not reference
devices: N plain aiocoap contexts (one UDP socket each, bound exclusively as the lab binds
its own) in one child process, each serving ``/3/0`` (TLV or SenML CBOR by Accept, its serial
number is its endpoint name) and an observable ``/3/0/13`` that notifies once, 20 ms after an
Observe (a device-side timer). Phases, each timed:

1. register: all N send Register (``POST /rd``) at once; client-side latency per request;
   the lab side waits for each with ``lab.wait_registration`` (W driver threads);
2. DM: per device through the sync facade, W threads: ``read /3/0`` TLV, ``read /3/0`` SenML
   CBOR (the serial number checked against the endpoint: no mixed-up answer), ``observe
   /3/0/13``, ``next()`` notification, ``cancel("get")``; latency per facade call;
3. de-register: all N send ``DELETE`` at once; the lab side ``wait_deregistration``.

Peak RSS: the lab process's VmRSS with N devices registered (and VmHWM at the end).
Floor: the same N clients and the same phases 1 and 3 against a *plain* aiocoap server (same
socket class, no lab: answers 2.01/2.02 without parsing anything), and phase-2-like GETs sent
by a plain aiocoap client context (no codec, no transcript) with W in flight.

Run: .venv/bin/python bench/bench_lwm2m_lab.py [--n 10,100,500,1000] [--workers 32]
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import _common
from _common import percentiles, table

from conformance.declaration import Declaration, builtin_declaration
from conformance.evidence.transcript import Transcript
from conformance.lwm2m import codecs
from conformance.lwm2m.model import ContentFormat
from conformance.lwm2m.model import Path as LPath
from conformance.lwm2m.objects import ObjectRegistry
from conformance.runtime import LabLoop

SERIAL = LPath(3, 0, 2)


class NullTap:
    """TapHooks that record nothing: a plain aiocoap endpoint."""

    def incoming(self, remote: Any, datagram: bytes, *, secure: bool) -> bool:
        return True

    def outgoing(self, message: Any, *, secure: bool, raw: bytes | None = None) -> None:
        return None

    def note(self, text: str, sockaddr: Any, *, error: bool = False) -> None:
        return None

    def wire(self, data: bytes, sockaddr: Any, local: str, *, inbound: bool) -> None:
        return None

    def held(self) -> AbstractContextManager[None]:
        return nullcontext()


def vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------- device side


def device_content(ep: str) -> dict[LPath, Any]:
    return {
        LPath(3, 0, 0): "Bench Inc", LPath(3, 0, 1): "L1", SERIAL: ep,
        LPath(3, 0, 3): "FW-1.0.0", LPath(3, 0, 9): 87, LPath(3, 0, 11, 0): 0,
        LPath(3, 0, 13): 1_700_000_000, LPath(3, 0, 16): "U",
    }


def devices_main(lab_uri: str, n: int, tag: str, conn: Any) -> None:
    """Child process: N load clients; register, serve until told, de-register, report."""
    import logging

    import aiocoap
    from aiocoap import resource

    from conformance.lwm2m.transports import open_endpoint

    logging.disable(logging.WARNING)  # aiocoap warns on each request sent from a server socket
    registry = ObjectRegistry.builtin()

    class DeviceObject(resource.Resource):
        def __init__(self, ep: str) -> None:
            super().__init__()
            content = device_content(ep)
            self.payloads = {
                int(fmt): codecs.encode(fmt, LPath(3, 0), content, registry)
                for fmt in (ContentFormat.TLV, ContentFormat.SENML_CBOR)
            }

        async def render_get(self, request: Any) -> Any:
            fmt = request.opt.accept if request.opt.accept is not None else ContentFormat.TLV
            if int(fmt) not in self.payloads:
                return aiocoap.Message(code=aiocoap.NOT_ACCEPTABLE)
            return aiocoap.Message(code=aiocoap.CONTENT, payload=self.payloads[int(fmt)],
                                   content_format=int(fmt))

    class CurrentTime(resource.ObservableResource):
        def __init__(self) -> None:
            super().__init__()
            self.value = 1_700_000_000

        async def render_get(self, request: Any) -> Any:
            if request.opt.observe == 0:
                asyncio.get_running_loop().call_later(0.02, self.tick)  # the device's clock
            return aiocoap.Message(code=aiocoap.CONTENT, payload=str(self.value).encode(),
                                   content_format=0)

        def tick(self) -> None:
            self.value += 1
            self.updated_state()

    async def main() -> dict[str, Any]:
        clients = []
        for i in range(n):
            ep = f"urn:bench:{tag}:{i:05d}"
            site = resource.Site()
            site.add_resource(["3", "0"], DeviceObject(ep))
            site.add_resource(["3", "0", "13"], CurrentTime())
            endpoint = await open_endpoint(site, ("127.0.0.1", 0), NullTap(), name=f"c{i}")
            clients.append((ep, endpoint.context))
        conn.send("ready")

        async def request(ctx: Any, msg: Any, lats: list[float], errors: list[str]) -> Any:
            start = time.perf_counter()
            try:
                resp = await asyncio.wait_for(ctx.request(msg).response, 60)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return None
            lats.append(time.perf_counter() - start)
            return resp

        reg_lat: list[float] = []
        errors: list[str] = []
        query = "lt=600&lwm2m=1.1&b=U"
        start = time.perf_counter()
        replies = await asyncio.gather(*(
            request(ctx, aiocoap.Message(
                code=aiocoap.POST, uri=f"{lab_uri}/rd?ep={ep}&{query}",
                payload=b"</1/0>,</3/0>", content_format=40), reg_lat, errors)
            for ep, ctx in clients))
        reg_wall = time.perf_counter() - start
        locations = [r.opt.location_path if r is not None and r.code.is_successful() else None
                     for r in replies]
        conn.send(("registered", reg_wall, reg_lat, errors[:5], len(errors)))
        # The lab side says when its DM phase is over; the loop keeps serving meanwhile.
        order = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        assert order == "deregister"
        dereg_lat: list[float] = []
        errors = []
        start = time.perf_counter()
        await asyncio.gather(*(
            request(ctx, aiocoap.Message(code=aiocoap.DELETE,
                                         uri=f"{lab_uri}/{'/'.join(loc)}"), dereg_lat, errors)
            for (_, ctx), loc in zip(clients, locations, strict=True) if loc))
        dereg_wall = time.perf_counter() - start
        for _, ctx in clients:
            await ctx.shutdown()
        return {"dereg_wall": dereg_wall, "dereg_lat": dereg_lat, "errors": errors[:5],
                "n_errors": len(errors)}

    result = asyncio.run(main())
    conn.send(("done", result))
    conn.close()


# --------------------------------------------------------------------------- lab side


class FloorServer:
    """A plain aiocoap server on /rd: 2.01 Created (location /rd) for POST, 2.02 for DELETE."""

    def __init__(self) -> None:
        self.endpoint: Any = None
        self.count = 0
        self.peers: list[Any] = []  # the remote of each Register: the device's socket

    async def start(self) -> str:
        import aiocoap
        from aiocoap import resource

        from conformance.lwm2m.transports import open_endpoint

        floor = self

        class Anything(resource.Resource):
            async def render_post(self, request: Any) -> Any:
                floor.count += 1
                floor.peers.append(request.remote)
                return aiocoap.Message(code=aiocoap.CREATED, location_path=("rd",))

            async def render_delete(self, request: Any) -> Any:
                return aiocoap.Message(code=aiocoap.DELETED)

        site = resource.Site()
        site.add_resource(["rd"], Anything())  # Register and De-register both on /rd
        self.endpoint = await open_endpoint(site, ("127.0.0.1", 0), NullTap(), name="floor")
        return str(self.endpoint.uri)

    async def stop(self) -> None:
        await self.endpoint.context.shutdown()


def bench_declaration() -> Declaration:
    decl = builtin_declaration("lwm2m")
    assert decl.lwm2m is not None
    lw = decl.lwm2m.model_copy(update={"security": "nosec", "psk_identity": None,
                                       "psk_key": None})
    timeouts = decl.timeouts.model_copy(update={"request": 30, "session": 60})
    return decl.model_copy(update={"lwm2m": lw, "timeouts": timeouts})


def start_devices(uri: str, n: int, tag: str) -> tuple[Any, Any]:
    ctx = mp.get_context("spawn")
    mine, theirs = ctx.Pipe()
    proc = ctx.Process(target=devices_main, args=(uri, n, tag, theirs))
    proc.start()
    theirs.close()
    if mine.recv() != "ready":
        raise RuntimeError("load clients did not start")
    return proc, mine


def ms(values: list[float]) -> list[float]:
    return [v * 1e3 for v in percentiles(values)]


def lab_level(n: int, workers: int, tag: str, tmp: Path) -> tuple[list[list[object]], float]:
    from conformance.lwm2m.lab import Lwm2mLab

    loop = LabLoop(f"bench-lwm2m-{tag}")
    transcript = Transcript(path=tmp / f"transcript-{tag}.jsonl")
    lab = Lwm2mLab(loop, bench_declaration(), transcript, tmp)
    lab.start()
    rows: list[list[object]] = []
    rss_registered = 0.0
    try:
        uri = lab.addresses()["LAB_LWM2M_URI"]
        proc, conn = start_devices(uri, n, tag)
        eps = [f"urn:bench:{tag}:{i:05d}" for i in range(n)]
        _, reg_wall, reg_lat, reg_errors, n_reg_errors = conn.recv()
        with ThreadPoolExecutor(workers) as pool:
            regs = list(pool.map(lambda ep: lab.wait_registration(ep, 60), eps))
        rss_registered = vm_kib("VmRSS") / 1024
        rows.append([n, "register (device side)", n / reg_wall, *ms(reg_lat), n_reg_errors])
        for problem in reg_errors:
            print(f"   ! register: {problem}")
        assert len(regs) == n

        lat: dict[str, list[float]] = {k: [] for k in ("read tlv", "read senml-cbor",
                                                       "observe", "notification", "cancel")}
        problems: list[str] = []
        lock = threading.Lock()

        def dm(ep: str) -> None:
            local: dict[str, float] = {}
            try:
                for fmt, key in ((ContentFormat.TLV, "read tlv"),
                                 (ContentFormat.SENML_CBOR, "read senml-cbor")):
                    t = time.perf_counter()
                    r = lab.read(ep, "/3/0", fmt)
                    local[key] = time.perf_counter() - t
                    got = (r.content or {}).get(SERIAL)
                    if not r.ok or got != ep:
                        raise RuntimeError(f"{key}: {r.code} serial {got!r} {r.decode_error}")
                t = time.perf_counter()
                obs = lab.observe(ep, "/3/0/13")
                local["observe"] = time.perf_counter() - t
                t = time.perf_counter()
                note = obs.next(30)
                local["notification"] = time.perf_counter() - t
                if not note.ok:
                    raise RuntimeError(f"notification {note.code}")
                t = time.perf_counter()
                obs.cancel("get", 30)
                local["cancel"] = time.perf_counter() - t
            except Exception as exc:
                with lock:
                    problems.append(f"{ep}: {type(exc).__name__}: {exc}")
                return
            with lock:
                for k, v in local.items():
                    lat[k].append(v)

        start = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(dm, eps))
        dm_wall = time.perf_counter() - start
        for key, values in lat.items():
            rows.append([n, f"{key} (facade call)", len(values) / dm_wall, *ms(values),
                         n - len(values)])
        for problem in problems[:3]:
            print(f"   ! {problem}")
        conn.send("deregister")
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda ep: lab.wait_deregistration(ep, 60), eps))
        _kind, result = conn.recv()
        proc.join(30)
        rows.append([n, "de-register (device side)", n / result["dereg_wall"],
                     *ms(result["dereg_lat"]), result["n_errors"]])
        rows.append([n, f"DM phase, {workers} threads: devices/s", n / dm_wall, "", "", "",
                     len(problems)])
    finally:
        lab.stop()
        loop.stop()
        transcript.close()
    return rows, rss_registered


def floor_level(n: int, workers: int, tag: str) -> list[list[object]]:
    """Phases 1 and 3 against a plain aiocoap server; phase 2 as plain GETs (W in flight)."""
    import aiocoap

    loop = LabLoop(f"bench-floor-{tag}")
    floor = FloorServer()
    rows: list[list[object]] = []
    try:
        uri = loop.call(floor.start(), 10)
        proc, conn = start_devices(uri, n, tag)
        _, reg_wall, reg_lat, _, n_err = conn.recv()
        rows.append([n, "floor: register", n / reg_wall, *ms(reg_lat), n_err])
        # Plain GETs from the floor server's context to each device's /3/0 (no codec).
        peers = list(floor.peers)
        lats: list[float] = []

        async def gets() -> float:
            sem = asyncio.Semaphore(workers)

            async def one(peer: Any) -> None:
                async with sem:
                    t = time.perf_counter()
                    msg = aiocoap.Message(code=aiocoap.GET, uri_path=("3", "0"),
                                          accept=ContentFormat.TLV)
                    msg.remote = peer
                    await floor.endpoint.context.request(msg).response
                    lats.append(time.perf_counter() - t)

            start = time.perf_counter()
            await asyncio.gather(*(one(p) for p in peers))
            return time.perf_counter() - start

        if peers:
            wall = loop.call(gets(), 120)
            rows.append([n, f"floor: GET /3/0 ({workers} in flight)", len(lats) / wall,
                         *ms(lats), n - len(lats)])
        conn.send("deregister")
        _kind, result = conn.recv()
        proc.join(30)
        rows.append([n, "floor: de-register", n / result["dereg_wall"],
                     *ms(result["dereg_lat"]), result["n_errors"]])
    finally:
        loop.call(floor.stop(), 10)
        loop.stop()
    return rows


def main() -> int:
    p = _common.parser(__doc__ or "")
    p.add_argument("--n", default="10,100,500,1000")
    p.add_argument("--workers", type=int, default=32, help="facade threads in the DM phase")
    p.add_argument("--no-floor", action="store_true")
    args = p.parse_args()
    levels = [3] if args.smoke else [int(x) for x in args.n.split(",")]
    _common.header(f"bench_lwm2m_lab: N load clients against one LwM2M lab "
                   f"({args.workers} facade threads)")
    rows: list[list[object]] = []
    rss: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, n in enumerate(levels):
            level_rows, rss_mib = lab_level(n, args.workers, f"l{i}", Path(tmp))
            rows += level_rows
            rss.append([n, rss_mib])
            if not args.no_floor:
                rows += floor_level(n, args.workers, f"f{i}")
    table(rows, ["N", "phase", "per s", "p50 ms", "p90 ms", "p99 ms", "failed"])
    print("   lab process VmRSS with N devices registered (one process, levels in sequence):")
    table(rss, ["N", "RSS MiB"])
    print(f"   lab process peak RSS (VmHWM): {vm_kib('VmHWM') / 1024:.0f} MiB")
    return 0 if all(not r[-1] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
