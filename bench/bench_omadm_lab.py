"""Benchmark 2: OMA-DM lab capacity, N concurrent sessions of five packages each.

The lab (one ``OmaDmLab`` on one ``LabLoop``, the built-in declaration: HTTP, MD5 auth both
ways, transcript to a file) runs in this process. The "test side" is a small async driver on
the lab loop doing what ``DmSession.send``/``close`` do (a ``SendAction`` on the session's
queue, await its future): per session ``Get ./DevInfo/DevId``, then ``Replace ./Vendor/Bench``,
then close. The devices are lightweight scripted clients (aiohttp) in *one child process*,
all N started at once, each with its own DevId and SessionID. By default (``--devices light``)
they write their messages from format strings and read the lab's with a few lxml lookups: on
2 cores their process shares the machine with the lab and its loop's queue is part of every
latency. ``--devices full`` builds and reads every message with the suite's codec (the same
messages: ``check_light_device`` compares them at each start):

    pkg1 Alert 1201 + DevInfo (Cred MD5)  ->  pkg2 Status 212 + Get
    pkg3 Status + Results                 ->  pkg4 Status + Replace
    pkg5 Status                           ->  pkg6 Status, Final (closed by the lab)

Checked, per session: every answer is addressed to its own DevId/SessionID, the Results the
driver gets is the session's own DevId, the Replace the device gets carries its own DevId,
and the transcript holds exactly the 6 messages of each session (none lost, none mixed).

Figures per N: sessions/s, HTTP exchanges/s, POST round-trip latency percentiles (device
side), session duration percentiles, lab-process CPU per exchange (and as a share of the wall
time: under 100 % the lab waits on something else), the device process's CPU per exchange.
``--floor``: N light clients of 3 POSTs each (no codec) against a plain aiohttp server
(a fixed answer), and against the same server decoding a package 1 and encoding a package 2
per POST with the lab's codec and nothing else (the floor of any lab with this codec).
Run: .venv/bin/python bench/bench_omadm_lab.py [--n 10,50,100,200,400] [--encoding xml|wbxml]
     [--floor] [--devices light|full]
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import _common
from _common import percentiles, table
from lxml import etree

from conformance.declaration import Declaration, builtin_declaration
from conformance.evidence.transcript import Transcript
from conformance.httpguard import LISTEN_BACKLOG
from conformance.omadm import auth, codec
from conformance.omadm.lab import OmaDmLab
from conformance.omadm.model import (
    AUTH_MD5,
    Alert,
    Chal,
    Command,
    Cred,
    Get,
    Item,
    Meta,
    Replace,
    Results,
    Status,
    SyncHdr,
    SyncML,
)
from conformance.omadm.nonces import NULL_NONCE, NonceStore
from conformance.omadm.server import EndAction, LiveSession, SendAction
from conformance.runtime import LabLoop

PACKAGES_PER_SESSION = 6  # HTTP messages in the transcript: 3 POSTs and 3 answers


# --------------------------------------------------------------------------- device side


@dataclass
class DeviceResult:
    latencies: list[float] = field(default_factory=list)  # per POST round trip, seconds
    duration: float = 0.0
    errors: list[str] = field(default_factory=list)


class LoadDevice:
    """A well-behaved OMA-DM client: just enough of a device for load (real codecs, HTTP)."""

    def __init__(self, url: str, dm: dict[str, str], dev_id: str, sid: str, enc: str) -> None:
        self.url, self.dm, self.dev_id, self.sid, self.enc = url, dm, dev_id, sid, enc
        self.msg_id = 0
        self.nonce = NULL_NONCE
        self.tree = {"./DevInfo/DevId": dev_id, "./DevInfo/Man": "Bench", "./DevInfo/Mod": "L1"}

    def header(self, cred: bool) -> SyncHdr:
        self.msg_id += 1
        hdr = SyncHdr(session_id=self.sid, msg_id=str(self.msg_id), target=self.url,
                      source=self.dev_id, meta=Meta(max_msg_size=16384))
        if cred:
            hdr.cred = Cred(auth.md5_digest(self.dm["client_name"], self.dm["client_secret"],
                                            self.nonce))
        return hdr

    def package1(self) -> SyncML:
        items = [Item(source=u, meta=Meta(format="chr"), data=v) for u, v in self.tree.items()]
        return SyncML(self.header(True), [Alert(cmd_id="1", data="1201"),
                                          Replace(cmd_id="2", items=items)], final=True)

    def answer(self, lab: SyncML, result: DeviceResult) -> SyncML:
        hdr = lab.header
        nxt = auth.new_nonce()
        body: list[Command] = [Status(
            cmd_id="", msg_ref=hdr.msg_id, cmd_ref="0", cmd="SyncHdr", data="212",
            chal=Chal(Meta(type=AUTH_MD5, format="b64", next_nonce=auth.nonce_to_b64(nxt))))]
        for cmd in lab.body:
            if isinstance(cmd, Status):
                continue
            items = getattr(cmd, "items", [])
            uri = items[0].target if items else ""
            code = "200"
            if isinstance(cmd, Get):
                if uri in self.tree:
                    body.append(Results(cmd_id="", msg_ref=hdr.msg_id, cmd_ref=cmd.cmd_id,
                                        items=[Item(source=uri, meta=Meta(format="chr"),
                                                    data=self.tree[uri])]))
                else:
                    code = "404"
            elif isinstance(cmd, Replace):
                value = str(items[0].data)
                if value != f"for {self.dev_id}":
                    result.errors.append(f"mixed up: got Replace {value!r}")
                self.tree[uri or ""] = value
            body.insert(len(body) - (1 if isinstance(cmd, Get) and code == "200" else 0),
                        Status(cmd_id="", msg_ref=hdr.msg_id, cmd_ref=cmd.cmd_id, cmd=cmd.name,
                               data=code))
        for i, cmd in enumerate(body, 1):
            cmd.cmd_id = str(i)
        return SyncML(self.header(False), body, final=True)

    async def post(self, http: Any, msg: SyncML, result: DeviceResult) -> SyncML:
        data = codec.encode(msg, self.enc)
        start = time.perf_counter()
        async with http.post(self.url, data=data,
                             headers={"Content-Type": codec.content_type_of(self.enc)}) as resp:
            body = await resp.read()
            status = resp.status
        result.latencies.append(time.perf_counter() - start)
        if status != 200:
            raise RuntimeError(f"HTTP {status}")
        reply = codec.decode(body, self.enc)
        if reply.header.target != self.dev_id or reply.header.session_id != self.sid:
            result.errors.append(f"mixed up: answer for {reply.header.target} "
                                 f"session {reply.header.session_id}")
        if reply.header.resp_uri:
            self.url = reply.header.resp_uri
        for status_cmd in reply.statuses():
            if status_cmd.cmd == "SyncHdr" and status_cmd.chal and status_cmd.chal.meta.next_nonce:
                self.nonce = auth.nonce_from_b64(status_cmd.chal.meta.next_nonce)
        return reply

    async def run(self, http: Any) -> DeviceResult:
        result = DeviceResult()
        start = time.perf_counter()
        try:
            reply = await self.post(http, self.package1(), result)
            for _ in range(10):
                commands = [c for c in reply.body if not isinstance(c, Status)]
                if reply.final and not commands:
                    break
                reply = await self.post(http, self.answer(reply, result), result)
            else:
                result.errors.append("session did not end")
        except Exception as exc:  # counted, reported: a lost session
            result.errors.append(f"{type(exc).__name__}: {exc}")
        result.duration = time.perf_counter() - start
        return result


# The light device: LoadDevice's messages from format strings, the lab's answers read with a
# few lxml lookups. On 2 cores the devices' one process shares the machine with the lab, and
# every latency includes its loop's queue: LoadDevice spends most of its CPU in our codec.
# check_light_device() proves both devices put the same messages on the wire.
_MD5_CRED = ('<Cred><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">'
             "syncml:auth-md5</Type></Meta><Data>{}</Data></Cred>")
_HEADER = ("<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>{sid}</SessionID>"
           "<MsgID>{msg_id}</MsgID><Target><LocURI>{url}</LocURI></Target><Source><LocURI>{dev}"
           "</LocURI></Source>{cred}<Meta><MaxMsgSize xmlns=\"syncml:metinf\">16384</MaxMsgSize>"
           "</Meta></SyncHdr>")
_MESSAGE = ('<?xml version="1.0" encoding="UTF-8"?>\n<SyncML xmlns="SYNCML:SYNCML1.2">{header}'
            "<SyncBody>{body}<Final/></SyncBody></SyncML>")
_CHR_ITEM = ("<Item><Source><LocURI>{}</LocURI></Source><Meta><Format xmlns=\"syncml:metinf\">chr"
             "</Format></Meta><Data>{}</Data></Item>")
_STATUS = ("<Status><CmdID>{}</CmdID><MsgRef>{}</MsgRef><CmdRef>{}</CmdRef><Cmd>{}</Cmd>{}"
           "<Data>{}</Data></Status>")
_CHAL = ('<Chal><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">'
         'syncml:auth-md5</Type><NextNonce xmlns="syncml:metinf">{}</NextNonce></Meta></Chal>')
_RESULTS = "<Results><CmdID>{}</CmdID><MsgRef>{}</MsgRef><CmdRef>{}</CmdRef>{}</Results>"


@dataclass
class LabAnswer:
    """What a device needs of the lab's message: its address, nonce and commands."""

    target: str
    session_id: str
    msg_id: str
    resp_uri: str | None
    next_nonce: str | None
    commands: list[tuple[str, str, str, str | None]]  # name, CmdID, Item Target, Item Data
    final: bool = False


def read_lab_answer(body: bytes) -> LabAnswer:
    root = etree.fromstring(body)  # the lab's own output: not the hardened parser's job here
    hdr = root.find("{*}SyncHdr")
    answer = LabAnswer(hdr.findtext("{*}Target/{*}LocURI") or "", hdr.findtext("{*}SessionID")
                       or "", hdr.findtext("{*}MsgID") or "", hdr.findtext("{*}RespURI"), None, [])
    for el in root.find("{*}SyncBody"):
        name = el.tag.rpartition("}")[2]
        if name == "Status":
            if el.findtext("{*}Cmd") == "SyncHdr":
                answer.next_nonce = el.findtext("{*}Chal/{*}Meta/{*}NextNonce")
        elif name == "Final":
            answer.final = True
        else:
            answer.commands.append((name, el.findtext("{*}CmdID") or "",
                                    el.findtext("{*}Item/{*}Target/{*}LocURI") or "",
                                    el.findtext("{*}Item/{*}Data")))
    return answer


class RawHttp:
    """A device's one keep-alive HTTP/1.1 connection, written and read by hand, as a module's
    small HTTP client does: a fraction of aiohttp's CPU per POST. Answers must carry a
    Content-Length (the lab's do); anything else is an error of the run."""

    def __init__(self) -> None:
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.where = ("", 0)

    async def post(self, url: str, body: bytes, ctype: str) -> tuple[int, bytes]:
        parts = urlsplit(url)
        where = (parts.hostname or "", parts.port or 80)
        if self.streams is None or where != self.where:
            self.close()
            self.streams, self.where = await asyncio.open_connection(*where), where
        reader, writer = self.streams
        path = f"{parts.path}?{parts.query}" if parts.query else parts.path
        writer.write(f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: {ctype}"
                     f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status, length, close = int(head[0].split(" ", 2)[1]), -1, False
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                close = value.strip().lower() == "close"
        if length < 0:
            raise RuntimeError(f"answer without Content-Length: {head[:3]}")
        data = await reader.readexactly(length)
        if close:
            self.close()
        return status, data

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


class LightDevice(LoadDevice):
    """LoadDevice's messages without the codec (see check_light_device), over RawHttp."""

    def __init__(self, url: str, dm: dict[str, str], dev_id: str, sid: str, enc: str) -> None:
        super().__init__(url, dm, dev_id, sid, enc)
        self.http = RawHttp()

    def message(self, body: str, cred: bool) -> bytes:
        self.msg_id += 1
        digest = (auth.md5_digest(self.dm["client_name"], self.dm["client_secret"], self.nonce)
                  if cred else "")
        header = _HEADER.format(sid=escape(self.sid), msg_id=self.msg_id, url=escape(self.url),
                                dev=escape(self.dev_id),
                                cred=_MD5_CRED.format(digest) if cred else "")
        return _MESSAGE.format(header=header, body=body).encode()

    def package1_bytes(self) -> bytes:
        items = "".join(_CHR_ITEM.format(escape(u), escape(v)) for u, v in self.tree.items())
        return self.message(f"<Alert><CmdID>1</CmdID><Data>1201</Data></Alert><Replace>"
                            f"<CmdID>2</CmdID>{items}</Replace>", cred=True)

    def answer_bytes(self, lab: LabAnswer, result: DeviceResult) -> bytes:
        ref = escape(lab.msg_id)
        chal = _CHAL.format(auth.nonce_to_b64(auth.new_nonce()))
        body = [_STATUS.format(1, ref, "0", "SyncHdr", chal, "212")]
        for name, cmd_id, uri, data in lab.commands:
            code, results = "200", ""
            if name == "Get":
                if uri in self.tree:
                    item = _CHR_ITEM.format(escape(uri), escape(self.tree[uri]))
                    results = _RESULTS.format(len(body) + 2, ref, escape(cmd_id), item)
                else:
                    code = "404"
            elif name == "Replace":
                if data != f"for {self.dev_id}":
                    result.errors.append(f"mixed up: got Replace {data!r}")
                self.tree[uri] = data or ""
            body.append(_STATUS.format(len(body) + 1, ref, escape(cmd_id), escape(name), "",
                                       code))
            if results:  # after its Status, as LoadDevice puts it
                body.append(results)
        return self.message("".join(body), cred=False)

    async def post_bytes(self, data: bytes, result: DeviceResult) -> LabAnswer:
        start = time.perf_counter()
        status, body = await self.http.post(self.url, data, codec.content_type_of("xml"))
        result.latencies.append(time.perf_counter() - start)
        if status != 200:
            raise RuntimeError(f"HTTP {status}")
        reply = read_lab_answer(body)
        if reply.target != self.dev_id or reply.session_id != self.sid:
            result.errors.append(f"mixed up: answer for {reply.target} "
                                 f"session {reply.session_id}")
        if reply.resp_uri:
            self.url = reply.resp_uri
        if reply.next_nonce:
            self.nonce = auth.nonce_from_b64(reply.next_nonce)
        return reply

    async def run(self, http: Any) -> DeviceResult:
        result = DeviceResult()
        start = time.perf_counter()
        try:
            reply = await self.post_bytes(self.package1_bytes(), result)
            for _ in range(10):
                if reply.final and not reply.commands:  # as LoadDevice: the session ends
                    break
                reply = await self.post_bytes(self.answer_bytes(reply, result), result)
            else:
                result.errors.append("session did not end")
        except Exception as exc:  # counted, reported: a lost session
            result.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.http.close()
        result.duration = time.perf_counter() - start
        return result


def check_light_device() -> str | None:
    """Why LightDevice's messages differ from LoadDevice's (decoded by the codec), or None."""
    dm = {"client_name": "c", "client_secret": "s"}
    full, light = (kind("http://127.0.0.1/dm?a&b", dm, "IMEI:<1>", "7", "xml")
                   for kind in (LoadDevice, LightDevice))
    pairs = [(full.package1(), light.package1_bytes())]
    _package1, lab = codec_floor_messages()
    lab.body.insert(3, Replace(cmd_id="5", items=[Item(target="./X", data="for IMEI:<1>")]))
    lab.header.msg_id = "3"
    lab.body[0].chal = Chal(Meta(type=AUTH_MD5, format="b64", next_nonce="AAEC"))
    for device in (full, light):  # the same nonce, so that both Creds agree
        device.nonce = b"\x00\x01\x02"
    errors_full, errors_light = DeviceResult(), DeviceResult()
    answer = full.answer(lab, errors_full)
    got = light.answer_bytes(read_lab_answer(codec.encode(lab, "xml")), errors_light)
    for model in answer.body:
        if isinstance(model, Status) and model.chal is not None:  # a fresh nonce each
            model.chal.meta.next_nonce = "-"
    pairs.append((answer, got))
    for want, data in pairs:
        decoded = codec.decode(data, "xml")
        for model in decoded.body:
            if isinstance(model, Status) and model.chal is not None:
                model.chal.meta.next_nonce = "-"
        if decoded != want:
            return f"light device sent {data!r}, the full one {codec.encode(want, 'xml')!r}"
    if errors_full.errors or errors_light.errors:
        return f"devices found errors: {errors_full.errors} {errors_light.errors}"
    return None


def devices_main(url: str, dm: dict[str, str], n: int, tag: str, enc: str, kind: str,
                 out: Any) -> None:
    """Child process: N devices at once on one asyncio loop; sends back their results."""
    import aiohttp

    async def main() -> tuple[list[DeviceResult], float]:
        device = LightDevice if kind == "light" else LoadDevice
        devices = [device(url, dm, f"IMEI:{tag}{i:06d}", str(i + 1), enc) for i in range(n)]
        if kind == "light":  # each over a connection of its own (RawHttp)
            start = time.perf_counter()
            results = await asyncio.gather(*(d.run(None) for d in devices))
            return list(results), time.perf_counter() - start
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            start = time.perf_counter()
            results = await asyncio.gather(*(d.run(http) for d in devices))
            return list(results), time.perf_counter() - start

    cpu0 = cpu_seconds()
    results, wall = asyncio.run(main())
    cpu = cpu_seconds() - cpu0  # the devices' own CPU: a limit of their own on 2 cores
    out.send(([(r.latencies, r.duration, r.errors) for r in results], wall, cpu))
    out.close()


# --------------------------------------------------------------------------- lab side


class Driver:
    """The test side on the lab loop: per session Get DevId, Replace, close; checks results."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.errors: list[str] = []
        self.done = 0
        self.tasks: set[asyncio.Task[None]] = set()

    def on_session(self, live: LiveSession) -> None:
        task = asyncio.get_running_loop().create_task(self.drive(live))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send(self, live: LiveSession, cmds: list[Command]) -> Any:
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        live.actions.put_nowait(SendAction(cmds, done))
        return await asyncio.wait_for(done, self.timeout)

    async def drive(self, live: LiveSession) -> None:
        try:
            got = await self._send(live, [Get(cmd_id="", items=[Item(target="./DevInfo/DevId")])])
            if got[0].status != "200" or got[0].data != live.device:
                self.errors.append(f"{live.device}: Get gave {got[0].status} {got[0].data!r}")
            value = f"for {live.device}"
            item = Item(target="./Vendor/Bench", meta=Meta(format="chr"), data=value)
            got = await self._send(live, [Replace(cmd_id="", items=[item])])
            if got[0].status != "200":
                self.errors.append(f"{live.device}: Replace gave {got[0].status}")
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            live.actions.put_nowait(EndAction(False, done))
            await asyncio.wait_for(done, self.timeout)
            self.done += 1
        except Exception as exc:
            self.errors.append(f"{live.device}: driver {type(exc).__name__}: {exc}")


def bench_declaration(request_timeout: float) -> Declaration:
    decl = builtin_declaration("omadm")
    timeouts = decl.timeouts.model_copy(update={"request": request_timeout, "session": 60})
    # Every simulated device connects from 127.0.0.1: the per-address connection cap (32 by
    # default, against one hostile host) would refuse all but 32 of them.
    limits = decl.limits.model_copy(update={"connections_per_source": 100_000})
    return decl.model_copy(update={"timeouts": timeouts, "limits": limits})


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_level(lab: OmaDmLab, loop: LabLoop, transcript: Transcript, n: int, tag: str,
              enc: str, kind: str) -> list[object]:
    driver = Driver(timeout=60)
    server = lab._running()  # the bench drives sessions on the loop, as DmSession does
    loop.call(_set_hook(server, driver), 5)
    account = lab.accounts.primary
    creds = {"client_name": account.client_name, "client_secret": account.client_secret}
    mark = transcript.mark()
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    cpu0 = cpu_seconds()
    proc = ctx.Process(target=devices_main, args=(lab.http_url, creds, n, tag, enc, kind, send))
    proc.start()
    send.close()
    raw, wall, device_cpu = recv.recv()
    proc.join(30)
    # Driver tasks finish when the last answers are composed; give them the loop briefly.
    deadline = time.monotonic() + 10
    while driver.done + len(driver.errors) < n and time.monotonic() < deadline:
        time.sleep(0.01)  # bench bookkeeping only, not part of the timed window
    cpu = cpu_seconds() - cpu0
    latencies = [lat for lats, _, _ in raw for lat in lats]
    durations = [d for _, d, _ in raw]
    device_errors = [e for _, _, errs in raw for e in errs]
    entries = [e for e in transcript.since(mark)
               if e.protocol == "omadm" and e.direction != "note"]
    per_device: dict[str, int] = {}
    for entry in entries:
        per_device[entry.device] = per_device.get(entry.device, 0) + 1
    ok_sessions = sum(1 for _, _, errs in raw if not errs)
    lost = sum(1 for count in per_device.values() if count != PACKAGES_PER_SESSION)
    lost += n - len(per_device)
    problems = device_errors + driver.errors
    for problem in problems[:3]:
        print(f"   ! {problem}")
    exchanges = len(latencies)
    p50, p90, p99 = percentiles(latencies)
    d50, d99 = percentiles(durations, (50, 99))
    return [n, ok_sessions, len(problems), lost, n / wall, exchanges / wall, p50 * 1e3,
            p90 * 1e3, p99 * 1e3, max(latencies) * 1e3, d50 * 1e3, d99 * 1e3,
            cpu / max(exchanges, 1) * 1e3, cpu / wall * 100, device_cpu / max(exchanges, 1) * 1e3]


async def _set_hook(server: Any, driver: Driver) -> None:
    server._on_session = driver.on_session


# --------------------------------------------------------------------------- the floor

FLOOR_BODY = b"<SyncML>" + b"x" * 900 + b"</SyncML>"  # about the size of a package 1


def codec_floor_messages() -> tuple[bytes, SyncML]:
    """A device's package 1 (as the benchmark's devices send it) and a package 2 answer."""
    device = LoadDevice("http://127.0.0.1/dm", {"client_name": "c", "client_secret": "s"},
                        "IMEI:floor000001", "1", "xml")
    hdr = SyncHdr(session_id="1", msg_id="1", target="IMEI:floor000001",
                  source="http://127.0.0.1/dm", resp_uri="http://127.0.0.1/dm/s1",
                  meta=Meta(max_msg_size=16384))
    answer = SyncML(hdr, [
        Status(cmd_id="1", msg_ref="1", cmd_ref="0", cmd="SyncHdr", data="212"),
        Status(cmd_id="2", msg_ref="1", cmd_ref="1", cmd="Alert", data="200"),
        Status(cmd_id="3", msg_ref="1", cmd_ref="2", cmd="Replace", data="200"),
        Get(cmd_id="4", items=[Item(target="./DevInfo/DevId")])], final=True)
    return codec.encode(device.package1(), "xml"), answer


def floor_main(url: str, n: int, body: bytes, out: Any) -> None:
    """Child: N clients at once, 3 POSTs each (a session's worth), against a floor server,
    each over its own RawHttp connection as the light devices."""
    errors: list[int] = []

    async def client(latencies: list[float]) -> None:
        http = RawHttp()
        for _ in range(3):
            t = time.perf_counter()
            status, _data = await http.post(url, body, "application/vnd.syncml.dm+xml")
            if status != 200:
                errors.append(status)
            latencies.append(time.perf_counter() - t)
        http.close()

    async def main() -> tuple[list[float], float, int]:
        latencies: list[float] = []
        start = time.perf_counter()
        await asyncio.gather(*(client(latencies) for _ in range(n)))
        return latencies, time.perf_counter() - start, len(errors)

    out.send(asyncio.run(main()))
    out.close()


def floor_levels(levels: list[int], with_codec: bool = False) -> list[list[object]]:
    """The same N x 3 POSTs against a plain aiohttp server that answers a fixed body; with
    the codec, the body is a package 1 that the server decodes (``codec.decode_shown``, as
    the lab does) and the answer a package 2 it encodes (``codec.encode_shown``) each time:
    what the SyncML codec alone adds to a POST, with no session, authentication or evidence."""
    from aiohttp import web

    package1, answer = codec_floor_messages()

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=FLOOR_BODY, content_type="application/vnd.syncml.dm+xml")

    async def handle_with_codec(request: web.Request) -> web.Response:
        msg, _shown = codec.decode_shown(await request.read(), "xml")
        if msg.header.source != "IMEI:floor000001":
            return web.Response(status=400)
        data, _shown = codec.encode_shown(answer, "xml")
        return web.Response(body=data, content_type="application/vnd.syncml.dm+xml")

    loop = LabLoop("bench-floor")
    holder: dict[str, Any] = {}

    async def start() -> str:
        app = web.Application()
        app.router.add_post("/dm", handle_with_codec if with_codec else handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=LISTEN_BACKLOG)  # as the lab's
        await site.start()
        holder["runner"] = runner
        return f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/dm"  # type: ignore[union-attr]

    rows: list[list[object]] = []
    try:
        url = loop.call(start(), 10)
        ctx = mp.get_context("spawn")
        for n in levels:
            recv, send = ctx.Pipe(duplex=False)
            cpu0 = cpu_seconds()
            proc = ctx.Process(target=floor_main,
                               args=(url, n, package1 if with_codec else FLOOR_BODY, send))
            proc.start()
            send.close()
            latencies, wall, errors = recv.recv()
            proc.join(30)
            cpu = cpu_seconds() - cpu0
            p50, p90, p99 = percentiles(latencies)
            rows.append([n, "floor + codec" if with_codec else "floor", errors, "", n / wall,
                         len(latencies) / wall, p50 * 1e3, p90 * 1e3, p99 * 1e3,
                         max(latencies) * 1e3, "", "", cpu / len(latencies) * 1e3])
    finally:
        if "runner" in holder:
            loop.call(holder["runner"].cleanup(), 10)
        loop.stop()
    return rows


def main() -> int:
    p = _common.parser(__doc__ or "")
    p.add_argument("--n", default="10,50,100,200,400", help="comma-separated session counts")
    p.add_argument("--encoding", default="xml", choices=("xml", "wbxml"))
    p.add_argument("--nonces", default="file", choices=("file", "memory"),
                   help="memory: the lab's NonceStore without its file, to isolate its cost")
    p.add_argument("--floor", action="store_true",
                   help="also the same POSTs against a plain aiohttp server (fixed answer), "
                   "and against it with the codec (decode, encode) per POST")
    p.add_argument("--devices", default="light", choices=("light", "full"),
                   help="light: the devices' messages from format strings (the default; "
                   "the same messages, checked at start); full: built and read by the codec")
    args = p.parse_args()
    if args.encoding == "wbxml":
        args.devices = "full"  # the light device speaks XML only
    problem = check_light_device()
    if problem:
        print(f"   ! {problem}")
        return 1
    levels = [2, 5] if args.smoke else [int(x) for x in args.n.split(",")]
    args.floor = args.floor or args.smoke  # the smoke run proves the floors run too
    _common.header(f"bench_omadm_lab: concurrent OMA-DM sessions ({args.encoding}, "
                   f"nonces {args.nonces}, {args.devices} devices)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        loop = LabLoop("bench-lab")
        transcript = Transcript(path=Path(tmp) / "transcript.jsonl")
        lab = OmaDmLab(loop, bench_declaration(60), transcript, Path(tmp))
        if args.nonces == "memory":
            lab.nonces = NonceStore(None)  # what the file rewrite per message costs
        lab.start()
        try:
            for i, n in enumerate(levels):
                # The smoke run's first level uses the codec's devices: both kinds still run.
                kind = "full" if args.smoke and i == 0 else args.devices
                rows.append(run_level(lab, loop, transcript, n, f"{os.getpid() % 1000:03d}{i}",
                                      args.encoding, kind))
        finally:
            lab.stop()
            loop.stop()
            transcript.close()
    print("   latency = device-side POST round trip (lab decode, auth, transcript, driver "
          "turn, encode); duration = whole session")
    table(rows, ["N", "ok", "errors", "lost/mixed", "sess/s", "POST/s", "p50 ms", "p90 ms",
                 "p99 ms", "max ms", "sess p50 ms", "sess p99 ms", "lab CPU ms/POST",
                 "lab CPU % of wall", "devices CPU ms/POST"])
    print(f"   lab process peak RSS: {_common.peak_rss_mib():.0f} MiB")
    failed = any(r[2] or r[3] for r in rows)
    if args.floor:
        print("\n   floor: plain aiohttp server, fixed ~900 B answer, N light clients (RawHttp) "
              "x 3 POSTs (CPU = this process: the server); floor + codec: the same server "
              "decoding a package 1 and encoding a package 2 per POST with the lab's codec "
              "(XML), nothing else")
        floors = floor_levels(levels) + floor_levels(levels, with_codec=True)
        failed = failed or any(row[2] for row in floors)
        table(floors, ["N", "ok", "errors", "lost/mixed", "sess/s", "POST/s", "p50 ms",
                       "p90 ms", "p99 ms", "max ms", "sess p50 ms", "sess p99 ms",
                       "server CPU ms/POST"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
