"""Benchmark 1: codec speed.

- WBXML against Debian's libwbxml 0.11.8 on the same corpus in the same run, three ways:
  (a) libwbxml *in this process* through ctypes (its converter API, the work the CLI does
      minus process start-up): per-message time, the fair ratio;
  (b) the CLIs ``wbxml2xml``/``xml2wbxml``, one process per message: per-invocation time,
      mostly process start-up, what a lab scripting libwbxml pays;
  (c) the CLIs on one large message (a Results with many items) where start-up is amortised.
  Ours is timed doing the same job: WBXML -> XML text (``wbxml.wbxml_to_xml``) and
  XML -> WBXML (``wbxml.xml_to_wbxml``); also the model-level codec the lab runs
  (``wbxml.decode``/``encode``: bytes <-> SyncML objects, with the DTD structure checks).
- SyncML XML decode/encode (``xmlcodec``).
- LwM2M TLV and SenML CBOR (and SenML JSON for reference) encode/decode, MB/s.

Corpus: tests/omadm/codecs/corpus/*.xml (12 real-world-shaped messages, 0.5-2.4 kB).
Run: .venv/bin/python bench/bench_codecs.py   (--smoke: tiny timings, proves it runs;
--wbxml: only the WBXML corpus rows, for quick before/after runs with bench/ab.py)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common
from _common import per_call, table

from conformance.lwm2m import codecs as lwm2m_codecs
from conformance.lwm2m.model import Content, ContentFormat, ObjLink, ResourceType
from conformance.lwm2m.model import Path as LPath
from conformance.lwm2m.objects import ObjectRegistry
from conformance.omadm import wbxml, xmlcodec
from conformance.omadm.model import Item, Meta, Results, SyncHdr, SyncML

CORPUS = _common.REPO / "tests" / "omadm" / "codecs" / "corpus"


# --------------------------------------------------------------------------- libwbxml (ctypes)


class LibWbxml:
    """libwbxml2's converter API in-process (same library the Debian CLIs link)."""

    def __init__(self) -> None:
        self.lib = ctypes.CDLL("libwbxml2.so.1")
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"))
        p, lib = ctypes.c_void_p, self.lib
        run_args = [p, ctypes.c_char_p, ctypes.c_ulong, ctypes.POINTER(p),
                    ctypes.POINTER(ctypes.c_ulong)]
        for direction in ("wbxml2xml", "xml2wbxml"):
            getattr(lib, f"wbxml_conv_{direction}_create").argtypes = [ctypes.POINTER(p)]
            getattr(lib, f"wbxml_conv_{direction}_run").argtypes = run_args
            getattr(lib, f"wbxml_conv_{direction}_destroy").argtypes = [p]
        lib.wbxml_conv_wbxml2xml_set_gen_type.argtypes = [p, ctypes.c_int]
        lib.wbxml_conv_xml2wbxml_set_version.argtypes = [p, ctypes.c_int]
        lib.wbxml_conv_xml2wbxml_disable_string_table.argtypes = [p]
        self.libc.free.argtypes = [p]

    def _run(self, direction: str, data: bytes, strtbl: bool = True) -> bytes:
        # WB_ULONG output lengths are read through an unsigned long: correct whether the
        # library's type is 32 or 64 bits wide (little-endian, zero-initialised).
        lib, conv = self.lib, ctypes.c_void_p()
        if getattr(lib, f"wbxml_conv_{direction}_create")(ctypes.byref(conv)) != 0:
            raise RuntimeError("libwbxml: converter not created")
        if direction == "wbxml2xml":
            lib.wbxml_conv_wbxml2xml_set_gen_type(conv, 0)  # compact, as ours writes
        else:
            lib.wbxml_conv_xml2wbxml_set_version(conv, 0x02)  # WBXML 1.2, as ours writes
            if not strtbl:  # inline strings only (xml2wbxml -n), as ours writes
                lib.wbxml_conv_xml2wbxml_disable_string_table(conv)
        out, size = ctypes.c_void_p(), ctypes.c_ulong(0)
        rc = getattr(lib, f"wbxml_conv_{direction}_run")(
            conv, data, len(data), ctypes.byref(out), ctypes.byref(size)
        )
        getattr(lib, f"wbxml_conv_{direction}_destroy")(conv)
        if rc != 0:
            raise RuntimeError(f"libwbxml {direction} error {rc}")
        result = ctypes.string_at(out, size.value)
        self.libc.free(out)
        return result

    def wbxml2xml(self, data: bytes) -> bytes:
        return self._run("wbxml2xml", data)

    def xml2wbxml(self, data: bytes) -> bytes:
        return self._run("xml2wbxml", data)

    def xml2wbxml_inline(self, data: bytes) -> bytes:
        return self._run("xml2wbxml", data, strtbl=False)


# --------------------------------------------------------------------------- corpora


def omadm_corpus() -> list[tuple[str, bytes, bytes, SyncML]]:
    """(name, XML, our WBXML, model) of each corpus message."""
    out = []
    for path in sorted(CORPUS.glob("*.xml")):
        xml = path.read_bytes()
        msg = xmlcodec.decode(xml)
        out.append((path.name, xml, wbxml.encode(msg), msg))
    return out


def large_message(items: int) -> SyncML:
    """A package-3-like Results with ``items`` leaf values (a tree walk's answer)."""
    results = Results(
        cmd_id="2", msg_ref="1", cmd_ref="3",
        items=[
            Item(source=f"./Vendor/Node{i}/Leaf", meta=Meta(format="chr", type="text/plain"),
                 data=f"value number {i} of the walk")
            for i in range(items)
        ],
    )
    hdr = SyncHdr(session_id="1", msg_id="3", target="http://lab/oma", source="IMEI:1")
    return SyncML(hdr, [results], final=True)


def registry_content(registry: ObjectRegistry, object_id: int, instances: int) -> Content:
    """Typed values for every readable resource of ``instances`` instances of an object."""
    values: dict[ResourceType, object] = {
        ResourceType.STRING: "Open Mobile Alliance device 123",
        ResourceType.CORELNK: "</3/0>",
        ResourceType.INTEGER: 123456,
        ResourceType.UNSIGNED: 42,
        ResourceType.TIME: 1_700_000_000,
        ResourceType.FLOAT: 3.25,
        ResourceType.BOOLEAN: True,
        ResourceType.OPAQUE: bytes(range(32)),
        ResourceType.OBJLNK: ObjLink(3, 0),
    }
    obj = registry.get(object_id)
    assert obj is not None
    content: Content = {}
    for inst in range(instances):
        for res in obj.resources.values():
            if not res.readable or res.type not in values:
                continue
            value = values[res.type]
            if res.multiple:
                for ri in range(3):
                    content[LPath(object_id, inst, res.id, ri)] = value  # type: ignore[assignment]
            else:
                content[LPath(object_id, inst, res.id)] = value  # type: ignore[assignment]
    return content


# --------------------------------------------------------------------------- CLI timing


def cli_per_invocation(args: list[str], inputs: list[Path], out: Path, rounds: int) -> float:
    """Median wall seconds of one CLI process converting one input (all inputs, ``rounds``)."""
    samples = []
    for _ in range(rounds):
        for path in inputs:
            start = time.perf_counter()
            subprocess.run([*args, "-o", str(out), str(path)], check=True, capture_output=True)
            samples.append(time.perf_counter() - start)
    samples.sort()
    return samples[len(samples) // 2]


def process_floor(rounds: int) -> float:
    """Median wall seconds of spawning /bin/true from Python: the start-up floor of any CLI."""
    true = shutil.which("true") or "/bin/true"
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run([true], check=True)
        samples.append(time.perf_counter() - start)
    samples.sort()
    return samples[len(samples) // 2]


# --------------------------------------------------------------------------- main


def _converts(fn: Callable[[bytes], object], data: bytes) -> bool:
    try:
        fn(data)
    except RuntimeError:
        return False
    return True


def corpus_time(fn: Callable[[bytes], object], inputs: list[bytes], min_time: float) -> float:
    """Seconds per message, averaged over one pass of the corpus."""
    def one_pass() -> None:
        for data in inputs:
            fn(data)
    return per_call(one_pass, min_time=min_time) / len(inputs)


def corpus_times(
    cases: dict[str, tuple[Callable[[Any], object], list[Any]]], min_time: float, rounds: int = 5
) -> dict[str, float]:
    """Seconds per message of each case, best of ``rounds`` round-robin batches.

    Every case is timed once per round, one after the other, so a change of load on the
    shared machine falls on ours and libwbxml alike: their ratio is what this benchmark is for
    (timed one after the other, libwbxml's own time moved from 31 to 60 us between runs).
    """
    sizes: dict[str, int] = {}
    for name, (fn, inputs) in cases.items():  # warm up, and passes per batch of min_time
        start = time.perf_counter()
        for data in inputs:
            fn(data)
        sizes[name] = max(1, round(min_time / max(time.perf_counter() - start, 1e-9)))
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for name, (fn, inputs) in cases.items():
            start = time.perf_counter()
            for _ in range(sizes[name]):
                for data in inputs:
                    fn(data)
            took = (time.perf_counter() - start) / sizes[name] / len(inputs)
            best[name] = min(best[name], took)
    return best


def strtbl_growth(lib: LibWbxml, sizes: list[int]) -> None:
    """libwbxml's string-table encoder against message size (one call each, in-process)."""
    rows = []
    for items in sizes:
        msg = large_message(items)
        xml = xmlcodec.encode(msg)
        start = time.perf_counter()
        lib.xml2wbxml(xml)
        theirs = time.perf_counter() - start
        start = time.perf_counter()
        wbxml.xml_to_wbxml(xml)
        rows.append([items, len(xml), theirs * 1e3, (time.perf_counter() - start) * 1e3])
    print("\n   XML -> WBXML by message size (libwbxml with its string table, ours inline):")
    table(rows, ["items", "XML bytes", "libwbxml ms", "ours ms"])


def main() -> int:
    p = _common.parser(__doc__ or "")
    p.add_argument("--strtbl-growth", action="store_true",
                   help="only: libwbxml's string-table encoder at 200/500/1000 items")
    p.add_argument("--wbxml", action="store_true",
                   help="only: the WBXML rows of the corpus table (quick before/after runs)")
    args = p.parse_args()
    _common.header("bench_codecs: codec speed")
    if args.strtbl_growth:
        strtbl_growth(LibWbxml(), [50, 100] if args.smoke else [200, 500, 1000])
        return 0
    min_time = 0.01 if args.smoke else 0.3
    rounds = 1 if args.smoke else 10
    corpus = omadm_corpus()
    xmls = [x for _, x, _, _ in corpus]
    wbxmls = [w for _, _, w, _ in corpus]
    msgs = [m for _, _, _, m in corpus]
    xml_bytes, wbxml_bytes = sum(map(len, xmls)), sum(map(len, wbxmls))
    print(f"   corpus: {len(corpus)} messages, {xml_bytes} B XML, {wbxml_bytes} B WBXML "
          f"(ours; mean {wbxml_bytes / len(corpus):.0f} B)")

    lib = LibWbxml()
    rows: list[list[object]] = []

    def row(what: str, secs: float, nbytes: float, peer: float | None = None) -> None:
        ratio = f"{secs / peer:.2f}x libwbxml" if peer else ""
        rows.append([what, secs * 1e6, nbytes / secs / 1e6, ratio])

    mean_w, mean_x = wbxml_bytes / len(corpus), xml_bytes / len(corpus)
    # libwbxml's inline mode refuses nested XML in Data (LITERAL tags need a string table):
    # the inline comparison runs on the messages it takes, ours on the same ones.
    inline = [x for x in xmls if _converts(lib.xml2wbxml_inline, x)]
    mean_i = sum(map(len, inline)) / len(inline)
    t = corpus_times({
        "lib_w2x": (lib.wbxml2xml, wbxmls),
        "ours_w2x": (wbxml.wbxml_to_xml, wbxmls),
        "decode": (wbxml.decode, wbxmls),
        "decode_tree": (wbxml.decode_tree, wbxmls),
        "lib_x2w": (lib.xml2wbxml, xmls),
        "lib_x2w_inline": (lib.xml2wbxml_inline, inline),
        "ours_x2w": (wbxml.xml_to_wbxml, inline),
        "encode": (wbxml.encode, msgs),
    }, min_time)
    lib_w2x, ours_w2x, ours_x2w = t["lib_w2x"], t["ours_w2x"], t["ours_x2w"]
    row("libwbxml wbxml2xml (ctypes, in-process)", lib_w2x, mean_w)
    row("ours wbxml_to_xml  (WBXML -> XML text)", ours_w2x, mean_w, lib_w2x)
    row("ours wbxml.decode  (WBXML -> SyncML model)", t["decode"], mean_w, lib_w2x)
    row("ours wbxml.decode_tree (WBXML -> element tree, no checks)", t["decode_tree"], mean_w,
        lib_w2x)
    row("libwbxml xml2wbxml, string table (ctypes)", t["lib_x2w"], mean_x)
    row(f"libwbxml xml2wbxml, inline strings (ctypes, {len(inline)} msgs)", t["lib_x2w_inline"],
        mean_i)
    row(f"ours xml_to_wbxml  (XML text -> WBXML, {len(inline)} msgs)", ours_x2w, mean_i,
        t["lib_x2w_inline"])
    enc = t["encode"]
    rows.append(["ours wbxml.encode  (SyncML model -> WBXML)", enc * 1e6, mean_w / enc / 1e6, ""])
    if args.wbxml:
        print("\n   OMA-DM corpus, WBXML only, per message (ratio = ours / libwbxml):")
        table(rows, ["operation", "us/msg", "MB/s", "ratio"])
        return 0
    row("ours xmlcodec.decode (SyncML XML parse -> model)",
        corpus_time(xmlcodec.decode, xmls, min_time), mean_x)
    enc = corpus_time(lambda m: xmlcodec.encode(m), msgs, min_time)  # type: ignore[arg-type,return-value]
    rows.append(["ours xmlcodec.encode (model -> XML)", enc * 1e6, mean_x / enc / 1e6, ""])
    print("\n   OMA-DM corpus, per message (MB/s of the input side; ratio = ours / libwbxml; "
          "ours writes inline strings, so XML -> WBXML is compared with libwbxml's inline mode):")
    table(rows, ["operation", "us/msg", "MB/s", "ratio"])

    # The CLIs: one process per message (what a lab scripting libwbxml pays), and one large
    # message where the start-up is amortised (WBXML documents cannot be concatenated).
    small, large = (50, 200) if args.smoke else (300, 5000)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        w_files, x_files = [], []
        for name, _xml, wb, _ in corpus:
            (folder / (name + ".wbxml")).write_bytes(wb)
            w_files.append(folder / (name + ".wbxml"))
            x_files.append(CORPUS / name)
        floor = process_floor(rounds * 5)
        cli_w2x = cli_per_invocation(["wbxml2xml", "-m", "0"], w_files, folder / "o.xml", rounds)
        x_inline = [f for f, x in zip(x_files, xmls, strict=True) if x in inline]
        cli_x2w = cli_per_invocation(["xml2wbxml", "-v", "1.2", "-n"], x_inline,
                                     folder / "o.wbxml", rounds)
        print("\n   libwbxml CLIs, one process per corpus message (median wall time, process "
              "start-up included):")
        table(
            [
                ["spawn /bin/true from Python (start-up floor)", floor * 1e3, ""],
                ["wbxml2xml -m 0", cli_w2x * 1e3, f"{cli_w2x / ours_w2x:.0f}x ours in-proc."],
                ["xml2wbxml -v 1.2 -n", cli_x2w * 1e3, f"{cli_x2w / ours_x2w:.0f}x ours in-proc."],
            ],
            ["what", "ms/invocation", ""],
        )
        big_rows: list[list[object]] = []
        for items in (small, large):
            msg = large_message(items)
            big_w, big_x = wbxml.encode(msg), xmlcodec.encode(msg)
            (folder / "big.wbxml").write_bytes(big_w)
            (folder / "big.xml").write_bytes(big_x)
            label = f"{items} items ({len(big_w) // 1000} kB WBXML, {len(big_x) // 1000} kB XML)"

            def big(fn: Callable[[], object]) -> float:
                return per_call(fn, min_time=min_time, repeat=3)

            cases: list[tuple[str, Callable[[], object], Callable[[], object] | None,
                              list[str] | None, Path]] = [
                ("WBXML -> XML", lambda w=big_w: wbxml.wbxml_to_xml(w),
                 lambda w=big_w: lib.wbxml2xml(w), ["wbxml2xml", "-m", "0"], folder / "big.wbxml"),
                ("XML -> WBXML inline", lambda x=big_x: wbxml.xml_to_wbxml(x),
                 lambda x=big_x: lib.xml2wbxml_inline(x), ["xml2wbxml", "-v", "1.2", "-n"],
                 folder / "big.xml"),
                ("WBXML -> model (ours only)", lambda w=big_w: wbxml.decode(w), None, None,
                 folder / "big.wbxml"),
            ]
            if items == small:  # libwbxml's string table grows worse than quadratically
                cases.insert(2, ("XML -> WBXML strtbl", lambda x=big_x: wbxml.xml_to_wbxml(x),
                                 lambda x=big_x: lib.xml2wbxml(x), ["xml2wbxml", "-v", "1.2"],
                                 folder / "big.xml"))
            for what, ours_fn, lib_fn, cli, src in cases:
                ours_t = big(ours_fn)
                if lib_fn is None or cli is None:
                    big_rows.append([label, what, ours_t * 1e3, "", "", "", ""])
                    continue
                lib_t = big(lib_fn)
                cli_t = cli_per_invocation(cli, [src], folder / "o.out", 3)
                big_rows.append([label, what, ours_t * 1e3, lib_t * 1e3, cli_t * 1e3,
                                 f"{ours_t / lib_t:.2f}x", f"{ours_t / cli_t:.2f}x"])
    print("\n   one large message (a Results with many items), ms per message:")
    table(big_rows, ["message", "direction", "ours", "libwbxml in-proc", "libwbxml CLI",
                     "ours/lib", "ours/CLI"])

    # LwM2M payloads.
    registry = ObjectRegistry.builtin()
    payloads = {
        "/3/0 device (1 instance)": (LPath(3, 0), registry_content(registry, 3, 1)),
        "/10241 host info (500 inst.)": (LPath(10241), registry_content(registry, 10241, 500)),
    }
    if args.smoke:
        payloads = {k: v for k, v in payloads.items() if "500" not in k}
    lrows: list[list[object]] = []
    for label, (path, content) in payloads.items():
        for name, fmt in (("TLV", ContentFormat.TLV), ("SenML CBOR", ContentFormat.SENML_CBOR),
                          ("SenML JSON", ContentFormat.SENML_JSON)):
            payload = lwm2m_codecs.encode(fmt, path, content, registry)
            assert lwm2m_codecs.decode(fmt, path, payload, registry) == content
            enc = per_call(lambda f=fmt, p=path, c=content: lwm2m_codecs.encode(f, p, c, registry),
                           min_time=min_time)
            dec = per_call(lambda f=fmt, p=path, d=payload: lwm2m_codecs.decode(f, p, d, registry),
                           min_time=min_time)
            lrows.append([label, name, len(payload), len(content), enc * 1e6,
                          len(payload) / enc / 1e6, dec * 1e6, len(payload) / dec / 1e6])
    print("\n   LwM2M content formats (MB/s of payload bytes; values = resources encoded):")
    table(lrows, ["payload", "format", "bytes", "values", "enc us", "enc MB/s", "dec us",
                  "dec MB/s"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
