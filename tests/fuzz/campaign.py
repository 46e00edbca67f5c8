"""Fuzzing targets, the mutation engine and the long campaign runner, in one place.

Every decoder that reads bytes from a device (or a vendor file) is a :class:`Target`: a
function from bytes to a value, the exception types it is allowed to raise (the project's own
``ProtocolError``; ``DeclarationError`` for declarations; nothing at all for the CSV checker,
whose answer is a list of findings), and a seed corpus of valid inputs. Inputs are random
bytes or valid seeds changed by a few :data:`Op` mutations (bit flips, interesting values,
dictionary tokens, deletions, duplications, splices), the way AFL-style fuzzers work.

The same :func:`apply_ops` is used by the hypothesis tests (``test_*.py`` here: CI-sized,
shrinkable, under the ``ci`` profile) and by this runner, which drives each target with N
inputs from a seeded ``random.Random`` and counts::

    .venv/bin/python tests/fuzz/campaign.py --inputs 100000 --jobs 2 [--seed 1] [TARGET …]

Anything escaping a target other than its allowed types is a finding: printed with the
input (hex) that triggered it, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

HERE = FsPath(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from conformance.controllers import sms  # noqa: E402
from conformance.declaration import DeclarationError, parse_declaration  # noqa: E402
from conformance.errors import ProtocolError  # noqa: E402
from conformance.hostcsv import check_text  # noqa: E402
from conformance.lwm2m import codecs as lw_codecs  # noqa: E402
from conformance.lwm2m.codecs.linkformat import object_links, parse_links  # noqa: E402
from conformance.lwm2m.model import Content, ContentFormat, Path  # noqa: E402
from conformance.lwm2m.objects import ObjectRegistry, load_ddf  # noqa: E402
from conformance.omadm import auth, codec, ddf, notification, wbxml, xmlcodec  # noqa: E402
from conformance.omadm.server import rejection, salvage_header  # noqa: E402

# --------------------------------------------------------------------------- mutations

# (kind, a, b, data): what a mutation does is chosen by ``kind``; a/b are positions or
# counts taken modulo the input length, ``data`` the bytes it writes (when it writes).
Op = tuple[int, int, int, bytes]
N_KINDS = 10
INTERESTING = [
    b"\x00", b"\x01", b"\x7f", b"\x80", b"\xff", b"\xff\xff", b"\x00\x00", b"\x7f\xff",
    b"\x80\x00", b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x80\x00\x00\x00",
]


def apply_ops(seed: bytes, ops: list[Op], tokens: list[bytes], seeds: list[bytes]) -> bytes:
    """``seed`` changed by ``ops`` (deterministic: the same ops give the same bytes)."""
    data = bytearray(seed)
    for kind, a, b, payload in ops:
        n = len(data)
        kind %= N_KINDS
        if kind == 0 and n:  # flip one bit
            data[a % n] ^= 1 << (b % 8)
        elif kind == 1 and n:  # overwrite with an interesting value
            value = INTERESTING[b % len(INTERESTING)]
            pos = a % n
            data[pos : pos + len(value)] = value
        elif kind == 2:  # insert a dictionary token (structure-aware bytes)
            token = tokens[b % len(tokens)] if tokens else payload
            pos = a % (n + 1)
            data[pos:pos] = token
        elif kind == 3 and n:  # delete a range
            pos = a % n
            del data[pos : pos + 1 + b % 64]
        elif kind == 4 and n:  # duplicate a range (repetition, nesting, long runs)
            pos = a % n
            chunk = bytes(data[pos : pos + 1 + b % 256])
            data[pos:pos] = chunk * (1 + (b >> 8) % 8)
        elif kind == 5:  # insert raw bytes
            pos = a % (n + 1)
            data[pos:pos] = payload
        elif kind == 6 and n:  # overwrite with raw bytes
            pos = a % n
            data[pos : pos + len(payload)] = payload
        elif kind == 7:  # truncate
            del data[a % (n + 1) :]
        elif kind == 8 and seeds:  # splice: our head, another seed's tail
            other = seeds[b % len(seeds)]
            data = data[: a % (n + 1)] + other[(a >> 8) % (len(other) + 1) :]
        elif kind == 9:  # a long run (digits by default): numbers past int()'s 4300 digits
            unit = payload[:1] if b % 2 and payload else b"9"
            pos = a % (n + 1)
            data[pos:pos] = unit * (1 + (b >> 1) % 6000)
    return bytes(data)


def random_ops(rng: random.Random, max_ops: int = 6) -> list[Op]:
    return [
        (
            rng.randrange(N_KINDS),
            rng.getrandbits(20),
            rng.getrandbits(16),
            rng.randbytes(rng.choice((1, 1, 2, 4, 8, 16))),
        )
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, max_ops)))
    ]


def random_input(rng: random.Random, target: Target) -> bytes:
    """One fuzz input: mostly mutated seeds (deep paths), some random bytes (framing)."""
    if not target.seeds or rng.random() < 0.1:
        head = target.seeds[rng.randrange(len(target.seeds))][:2] if target.seeds else b""
        return head[: rng.randrange(3)] + rng.randbytes(rng.randrange(200))
    seed = target.seeds[rng.randrange(len(target.seeds))]
    if target.mutator is not None and rng.random() < 0.5:
        seed = target.mutator(seed, rng)
        if rng.random() < 0.5:
            return seed
    return apply_ops(seed, random_ops(rng), target.tokens, target.seeds)


def mutate_xml_tree(seed: bytes, rng: random.Random) -> bytes:
    """Element-level changes that keep the XML well-formed, so the SyncML/DDF mapping (not the
    XML parser) sees them: drop, duplicate, move, empty, rename, nest, retext."""
    from lxml import etree

    try:
        root = etree.fromstring(seed, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return seed
    names = ["Data", "Item", "Meta", "CmdID", "MoreData", "Status", "Results", "Final", "Chal",
             "Cred", "Node", "NodeName", "DFFormat", "Size", "Type", "Format", "LocURI",
             "Atomic", "Sequence", "Item", "Resources", "ObjectID", "Operations"]
    texts = ["", " ", "0", "-1", "1.5", "99999999999999999999", "\u00e9", "b64", "node",
             "chr", "int", "Multiple", "Single", "R", "RW", "E", "1.2", "\x7f", "a" * 300]
    for _ in range(1 + rng.randrange(4)):
        elements = [e for e in root.iter() if isinstance(e.tag, str)]
        el = elements[rng.randrange(len(elements))]
        parent = el.getparent()
        kind = rng.randrange(7)
        if kind == 0 and parent is not None:
            parent.remove(el)
        elif kind == 1 and parent is not None:
            parent.insert(parent.index(el), etree.fromstring(etree.tostring(el)))
        elif kind == 2 and parent is not None:
            other = elements[rng.randrange(len(elements))]
            if el not in other.iterancestors() and el is not other:
                parent.remove(el)
                other.append(el)
        elif kind == 3:
            el.text = None
            for child in list(el):
                el.remove(child)
        elif kind == 4:
            ns = el.tag[: el.tag.index("}") + 1] if el.tag.startswith("{") else ""
            el.tag = ns + names[rng.randrange(len(names))]
        elif kind == 5:
            child = etree.SubElement(el, names[rng.randrange(len(names))])
            child.text = texts[rng.randrange(len(texts))].encode().decode("unicode_escape")
        else:
            el.text = texts[rng.randrange(len(texts))].encode().decode("unicode_escape")
    return bytes(etree.tostring(root))


# --------------------------------------------------------------------------- targets


@dataclass
class Target:
    name: str
    run: Callable[[bytes], object]
    seeds: list[bytes]
    allowed: tuple[type[BaseException], ...] = (ProtocolError,)
    tokens: list[bytes] = field(default_factory=list)
    mutator: Callable[[bytes, random.Random], bytes] | None = None
    slow: float = 1.0  # seconds: one input taking longer is a finding


def _corpus() -> list[bytes]:
    folder = ROOT / "tests" / "omadm" / "codecs" / "corpus"
    return [p.read_bytes() for p in sorted(folder.glob("*.xml"))]


XML_TOKENS = [
    b"<", b">", b"</", b"/>", b"&", b"&amp;", b"&#0;", b"&#x0;", b"&#1114112;", b"\x00",
    b"<![CDATA[", b"]]>", b"<!--", b"-->", b"<?xml version='1.0'?>", b"<!DOCTYPE SyncML>",
    b'<!DOCTYPE a [<!ENTITY e "x">]>', b"&e;", b"xmlns='x'", b"xmlns:p='SYNCML:SYNCML1.2'",
    b"<p:", b"<Data>", b"</Data>", b"<Item>", b"</Item>", b"<MoreData/>", b"<Final/>",
    b"<Meta>", b"</Meta>", b"<Size>", b"</Size>", b"<CmdID>", b"</CmdID>", b"<Status>",
    b"<Chal>", b"<Cred>", b"<Atomic>", b"</Atomic>", b"<Sequence>", b"\xef\xbb\xbf",
    b"\xff\xfe", b"encoding='UTF-16'", b"encoding='bogus'", b"-1", b"99999999999999999999",
    b"\xc3", b"\xed\xa0\x80", b"<NextNonce>", b"</NextNonce>", b"<LocURI>", b"</LocURI>",
]

WBXML_TOKENS = [
    bytes([t]) for t in (0x00, 0x01, 0x02, 0x03, 0x04, 0x40, 0x44, 0x80, 0x83, 0xC3, 0xC4)
] + [b"\x00\x01", b"\x00\x02", b"\x03abc\x00", b"\x83\x00", b"\x83\xff\xff\xff\x7f",
     b"\xc3\x05hello", b"\xc3\x8f\xff\xff\xff\x7f", b"\x02\x81\x80\x00", b"\x02\xff\xbf\x00",
     b"\x6d", b"\x2d", b"\x01\x01\x01"]


def _wbxml_seeds() -> list[bytes]:
    out = []
    for doc in _corpus():
        try:
            out.append(wbxml.encode(xmlcodec.decode(doc)))
        except ProtocolError:
            continue
    return out


# --------------------------------------------------------------------------- hostile builders

AMP_MARKER = "@@AMPLIFY@@"


def _wbxml_parts(data: bytes) -> tuple[bytes, bytes, bytes]:
    """(version + public id + charset, string table, body) of a WBXML document."""
    reader = wbxml._Reader(data)
    reader.byte("version")
    if reader.mb_u_int32("public id") == 0:
        reader.mb_u_int32("public id index")
    reader.mb_u_int32("charset")
    head_end = reader.pos
    length = reader.mb_u_int32("string table length")
    table = reader.take(length, "string table")
    return data[:head_end], table, data[reader.pos :]


def with_string_refs(data: bytes, inline: bytes, copies: int, string: bytes) -> bytes:
    """``data`` with its inline string ``inline`` (STR_I) replaced by ``copies`` STR_T
    references to ``string``, added to the string table: text multiplied, bytes not."""
    head, table, body = _wbxml_parts(data)
    ref = bytes([wbxml.STR_T]) + wbxml._mb_u_int32(len(table))
    body = body.replace(bytes([wbxml.STR_I]) + inline + b"\x00", ref * copies, 1)
    table += string + b"\x00"
    return head + wbxml._mb_u_int32(len(table)) + table + body


def amplified_wbxml(copies: int, size: int, session_id: str = "1") -> bytes:
    """A valid SyncML DM WBXML package 1 whose one Data is ``copies`` references to a string
    of ``size`` bytes: ``copies x size`` bytes of text from about ``size + 2 x copies``
    (issue 15: 100 KB x 1000 took the lab 3.7-12 s and 190 MB)."""
    from conformance.omadm.model import Alert, Item, Meta, Replace, SyncHdr, SyncML

    msg = SyncML(
        SyncHdr(session_id=session_id, msg_id="1", target="http://lab/oma", source="IMEI:amp"),
        [Alert(cmd_id="1", data="1201"),
         Replace(cmd_id="2", items=[Item(source="./DevInfo/Ext", meta=Meta(format="chr"),
                                         data=AMP_MARKER)])],
        final=True,
    )
    return with_string_refs(wbxml.encode(msg), AMP_MARKER.encode(), copies, b"A" * size)


def mutate_wbxml_strtbl(seed: bytes, rng: random.Random) -> bytes:
    """String-table amplification: one inline string of ``seed`` becomes many STR_T
    references to a long string (the generator that finds an unbounded expansion)."""
    if rng.random() < 0.5:
        return seed
    try:
        _, _, body = _wbxml_parts(seed)
    except ProtocolError:
        return seed
    start = body.find(bytes([wbxml.STR_I]))
    end = body.find(b"\x00", start + 1)
    if start < 0 or end < 0:
        return seed
    size = rng.choice((16, 256, 4096, 65536))
    copies = rng.choice((1, 10, 100, 1000, 2000))
    return with_string_refs(seed, body[start + 1 : end], copies, b"x" * size)


# Characters XML 1.0 cannot hold (C0 controls, U+FFFE/FFFF, a lone surrogate as UTF-8).
NOT_XML = [bytes([c]) for c in (1, 2, 8, 11, 12, 14, 27, 31)] + [
    b"\xef\xbf\xbe", b"\xef\xbf\xbf", b"\xed\xa0\x80"]
_HEADER_VALUES = (b"<SessionID>", b"<MsgID>", b"<LocURI>")


def mutate_header_chars(seed: bytes, rng: random.Random) -> bytes:
    """A character XML cannot hold in a header value the lab echoes in its rejection (the
    generator that finds an unencodable answer)."""
    tag = _HEADER_VALUES[rng.randrange(len(_HEADER_VALUES))]
    at = seed.find(tag)
    if at < 0:
        return seed
    at += len(tag) + rng.randrange(3)
    return seed[:at] + NOT_XML[rng.randrange(len(NOT_XML))] + seed[at:]


def _rejection(data: bytes) -> object:
    """The lab's Status 400 answer to a malformed message, built from the header it salvages,
    must encode whatever the message held (issue 15: 97 of 21,000 mutants made it a 500)."""
    hdr = salvage_header(data)
    if hdr is None:  # no header: the lab answers plain HTTP 400
        return None
    for encoding in ("xml", "wbxml"):
        codec.encode_shown(rejection(hdr), encoding)
    return hdr


def _xml_decode(data: bytes) -> object:
    return xmlcodec.decode(data)


def _xml_pretty(data: bytes) -> object:
    # pretty() is used on every message for the transcript and must never raise at all.
    text = codec.pretty(data, "xml")
    assert isinstance(text, str)
    return text


def _wbxml_decode(data: bytes) -> object:
    return wbxml.decode(data)


def _wbxml_to_xml(data: bytes) -> object:
    shown = wbxml.wbxml_to_xml(data, binary="hex")
    # What the lab shows of a WBXML message must itself be readable XML.
    try:
        return xmlcodec.xml_to_tree(shown)
    except ProtocolError as exc:
        raise AssertionError(f"wbxml_to_xml wrote XML it cannot read back: {exc}") from None


def _shown(encoding: str) -> Callable[[bytes], object]:
    """The server's path: decode and the transcript text from one parse (codec.decode_shown)."""

    def run(data: bytes) -> object:
        msg, text = codec.decode_shown(data, encoding)
        assert isinstance(text, str)
        return msg

    return run


def _wbxml_pretty(data: bytes) -> object:
    text = codec.pretty(data, "wbxml")
    assert isinstance(text, str)
    return text


def _package0(data: bytes) -> object:
    found = notification.parse(data)
    notification.verify(found, "server", "secret", b"nonce")
    return found


def _hmac_header(data: bytes) -> object:
    return auth.parse_hmac_header(data.decode("utf-8", "replace"))


def _nonce(data: bytes) -> object:
    return auth.nonce_from_b64(data.decode("utf-8", "replace"))


def _ddf(data: bytes) -> object:
    found = ddf.parse(data)
    return ddf.validate(found)


def _lwm2m_ddf(data: bytes) -> object:
    return load_ddf(data, source="fuzz")


def _ddf_seeds() -> list[bytes]:
    out = [p.read_bytes() for p in (ROOT / "tests" / "omadm" / "codecs" / "ddf").glob("*.xml")]
    out += [(ROOT / "examples" / "acme-m1-ddf.xml").read_bytes()]
    sim = ROOT / "conformance" / "simulators" / "omadm_ddf.xml"
    if sim.exists():
        out.append(sim.read_bytes())
    return out


def _lwm2m_ddf_seeds() -> list[bytes]:
    return [p.read_bytes() for p in sorted((ROOT / "conformance" / "lwm2m" / "ddf").glob("*.xml"))]


# LwM2M payloads: the first byte picks the path the request addressed, the rest is the payload,
# so one bytes input covers every depth and both single and multiple resources.
REGISTRY = ObjectRegistry.builtin()
PATHS = [
    Path(3), Path(3, 0), Path(3, 0, 0), Path(3, 0, 7), Path(3, 0, 7, 0), Path(3, 0, 9),
    Path(5, 0), Path(5, 0, 1), Path(5, 0, 0), Path(5, 0, 3), Path(1, 0, 1), Path(1, 0, 6),
    Path(10241, 0), Path(10241, 0, 5905), Path(4, 0), Path(0, 0, 3), Path(0, 0, 5),
    Path(9999, 0), Path(9999, 0, 1), Path(3, 0, 11), Path(3, 0, 13), Path(3, 0, 14),
]
SAMPLE: Content = {
    Path(3, 0, 0): "Open Mobile Alliance",
    Path(3, 0, 1): "Lightweight M2M Client",
    Path(3, 0, 9): 100,
    Path(3, 0, 7, 0): 3800,
    Path(3, 0, 7, 1): 5000,
    Path(3, 0, 11, 0): 0,
    Path(3, 0, 13): 1367491215,
    Path(3, 0, 16): "U",
    Path(5, 0, 0): b"\x00\x01\x02firmware\xff",
    Path(5, 0, 1): "coap://127.0.0.1:5683/fw",
    Path(5, 0, 3): 0,
    Path(5, 0, 5): 1,
    Path(1, 0, 1): 300,
    Path(1, 0, 6): False,
    Path(1, 0, 7): "U",
}


def _lwm2m_seeds(fmt: ContentFormat) -> list[bytes]:
    out = []
    for index, path in enumerate(PATHS):
        content = {k: v for k, v in SAMPLE.items() if path.contains(k)}
        if not content or not lw_codecs.supports(fmt, path, REGISTRY):
            continue
        try:
            payload = lw_codecs.encode(fmt, path, content, REGISTRY)
        except ProtocolError:
            continue
        out.append(bytes([index]) + payload)
    return out or [b"\x02" + b"x"]


def _lwm2m(fmt: ContentFormat) -> Callable[[bytes], object]:
    def run(data: bytes) -> object:
        path = PATHS[data[0] % len(PATHS)] if data else Path(3, 0)
        payload = data[1:]
        found = lw_codecs.decode(fmt, path, payload, REGISTRY)
        # describe() is what the transcript shows: it must never raise.
        shown = lw_codecs.describe(int(fmt), payload, path, REGISTRY)
        assert isinstance(shown, str)
        return found

    return run


def _links(data: bytes) -> object:
    text = data.decode("utf-8", "replace")
    links = parse_links(text)
    for link in links:
        for name in link.params:
            link.value(name)
            link.values(name)
    return object_links(links)


LINK_SEEDS = [
    b'</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>,</5/0>,</10241/0>',
    b'</lwm2m>;rt="oma.lwm2m",</lwm2m/1/0>,</lwm2m/3>;ver="1.1",</lwm2m/3/0>',
    b"</3>;ver=1.1,</3/0/7>;dim=2;pmin=10;pmax=60,</3/0/1>",
    b'</3/0>;rt="a b";title="x\\"y",,</4/0> ,',
]


def _query(data: bytes) -> object:
    from conformance.lwm2m import query  # the LwM2M lab module: imported only when fuzzed

    options = data.decode("utf-8", "replace").split("&")
    update = bool(data[:1]) and data[0] % 2 == 1
    try:
        query.parse_bootstrap_query(options)
    except ProtocolError:
        pass
    return query.parse_query(options, update=update)


QUERY_SEEDS = [
    b"ep=urn:imei:357099060399038&lt=300&lwm2m=1.1&b=U",
    b'ep="dev"&lt=86400&lwm2m=1.0&b=UQ&sms=+15551234567',
    b"lt=60&b=U&Q",
    b"ep=x&lwm2m=1.2&b=UQ&et=meter&d=dom&pct=112&aid=1&foo",
]


def _coap(data: bytes) -> object:
    """The LwM2M lab's own reading of a datagram around aiocoap's decoder, as its transcript
    tap does it: header checks, decode (its errors become a refusal), then the label, the
    options and the payload description, which must never raise."""
    from aiocoap import Message
    from aiocoap.error import UnparsableMessage

    from conformance.lwm2m import coaplog

    problem = coaplog.format_error(data)
    if problem is not None:
        raise ProtocolError("coap", problem)
    try:
        msg = Message.decode(data, remote=None)
    except (UnparsableMessage, ValueError, IndexError) as exc:  # what the tap rejects
        raise ProtocolError("coap", str(exc)) from None
    label = coaplog.summarize(msg)
    headers = coaplog.options_of(msg)
    fmt = msg.opt.content_format
    path = "/" + "/".join(msg.opt.uri_path) if msg.code.is_request() else "/3/0"
    shown = coaplog.describe_payload(int(fmt) if fmt is not None else None,
                                     bytes(msg.payload), path, REGISTRY)
    assert isinstance(label, str) and isinstance(shown, str) and isinstance(headers, dict)
    return msg


def _coap_seeds() -> list[bytes]:
    from aiocoap import CON, GET, NON, POST, Message
    from aiocoap.numbers.codes import Code

    tlv = lw_codecs.encode(ContentFormat.TLV, Path(3, 0), {Path(3, 0, 0): "x",
                                                           Path(3, 0, 9): 5}, REGISTRY)
    specs = [
        (CON, 1, b"\x01\x02", Message(code=POST, uri_path=("rd",), content_format=40,
                                      uri_query=("ep=dev", "lt=300", "lwm2m=1.1", "b=U"),
                                      payload=LINK_SEEDS[0])),
        (CON, 0xFFFF, b"12345678", Message(code=GET, uri_path=("3", "0"), accept=11542,
                                           observe=0)),
        (NON, 7, b"\xaa", Message(code=Code.CONTENT, observe=3, content_format=11542,
                                  payload=tlv)),
        (CON, 9, b"t", Message(code=Code.CONTENT, content_format=110,
                               payload=b'[{"bn":"/3/0/","n":"0","vs":"x"}]')),
    ]
    out = []
    for mtype, mid, token, msg in specs:
        msg.mtype, msg.mid, msg.token = mtype, mid, token  # wire fields set by hand, as a device
        out.append(bytes(msg.encode()))
    return out


def _yaml(data: bytes) -> object:
    return parse_declaration(data.decode("utf-8", "replace"), source="fuzz.yaml")


def _yaml_seeds() -> list[bytes]:
    files = sorted((ROOT / "tests" / "declaration" / "files").glob("*.yaml"))
    files += sorted((ROOT / "examples").glob("*.yaml"))
    files += sorted((ROOT / "conformance" / "builtin").glob("*.yaml"))
    return [p.read_bytes() for p in files]


YAML_TOKENS = [
    b"\n", b": ", b"- ", b"{", b"}", b"[", b"]", b"&a ", b"*a", b"!!python/object:os.system",
    b"!!binary ", b"<<: *a", b"${HOME}", b"${NOT_SET_ANYWHERE}", b"'", b'"', b"\t", b"? ",
    b"~", b"null", b"1e999", b"0x10", b".inf", b"---\n", b"...\n", b"%YAML 1.1\n", b"|\n",
]


def _csv(data: bytes) -> object:
    found = check_text(data.decode("utf-8", "replace"))
    assert isinstance(found, list)
    return found


def _csv_seeds() -> list[bytes]:
    return [p.read_bytes() for p in sorted((ROOT / "tests" / "csv" / "fixtures").glob("*.csv"))]


CSV_TOKENS = [b"\t", b",", b'"', b'""', b"\n", b"\r\n", b"\r", b"\x00", b"357099060399038",
              b"35709906039903\xd9\xa1", b"\xef\xbb\xbf", b"\xe2\x80\xa8", b"\x1c"]


def _sms(data: bytes) -> object:
    # What a modem log gives back: hex text (and sometimes not hex at all).
    text = data.hex() if data[:1] != b"!" else data[1:].decode("latin-1")
    parsed = sms.parse_submit_pdu(text)
    sms.reassemble([parsed])
    return sms.parse_wsp_push(parsed.payload)


def _wsp(data: bytes) -> object:
    return sms.parse_wsp_push(data)


def _sms_seeds() -> list[bytes]:
    p0 = notification.build("ATTLabA", "s3cret", b"null", 1234)
    out = []
    for body in (p0, p0 * 3):
        for part in sms.wap_push_sms("+15551234567", body, reference=7):
            out.append(bytes.fromhex(part.hex))
    return out


def targets() -> dict[str, Target]:
    """Every fuzz target by name (built on demand: the seeds come from the codecs)."""
    corpus = _corpus()
    wbxml_seeds = _wbxml_seeds()
    p0 = [
        notification.build("ATTLabA", "s3cret", b"null", 0x1234),
        notification.build("ATTLabA", "s3cret", b"n", 7, ui_mode=3, vendor=b"vendor-data"),
        notification.build("", "", b"", 0),
    ]
    found = [
        Target("syncml-xml", _xml_decode, corpus, tokens=XML_TOKENS, mutator=mutate_xml_tree),
        Target("syncml-xml-pretty", _xml_pretty, corpus, allowed=(), tokens=XML_TOKENS),
        Target("syncml-xml-shown", _shown("xml"), corpus, tokens=XML_TOKENS,
               mutator=mutate_xml_tree),
        Target("syncml-rejection", _rejection, corpus, allowed=(),
               tokens=XML_TOKENS + NOT_XML, mutator=mutate_header_chars),
        Target("wbxml", _wbxml_decode, wbxml_seeds, tokens=WBXML_TOKENS,
               mutator=mutate_wbxml_strtbl),
        Target("wbxml-shown", _shown("wbxml"), wbxml_seeds, tokens=WBXML_TOKENS,
               mutator=mutate_wbxml_strtbl),
        Target("wbxml-to-xml", _wbxml_to_xml, wbxml_seeds, tokens=WBXML_TOKENS,
               mutator=mutate_wbxml_strtbl),
        Target("wbxml-pretty", _wbxml_pretty, wbxml_seeds, allowed=(), tokens=WBXML_TOKENS,
               mutator=mutate_wbxml_strtbl),
        Target("package0", _package0, p0),
        Target(
            "hmac-header",
            _hmac_header,
            [auth.hmac_header("dev", "secret", b"null", b"body").encode()],
            tokens=[b",", b"=", b'"', b" ", b"mac=", b"username=", b"algorithm=MD5"],
        ),
        Target("nextnonce", _nonce, [base64.b64encode(b"0123456789abcdef")]),
        Target("omadm-ddf", _ddf, _ddf_seeds(), tokens=XML_TOKENS, mutator=mutate_xml_tree),
        Target("lwm2m-ddf", _lwm2m_ddf, _lwm2m_ddf_seeds(), tokens=XML_TOKENS,
               mutator=mutate_xml_tree),
        Target("link-format", _links, LINK_SEEDS,
               tokens=[b"<", b">", b";", b",", b"=", b'"', b"\\", b"</", b"/>"]),
        Target("registration-query", _query, QUERY_SEEDS,
               tokens=[b"&", b"=", b'"', b"ep=", b"lt=", b"lwm2m=", b"b=", b"Q", b"\xc2\xb2"]),
        # Read once at the start of a run, never on the lab's loop; PyYAML's pure-Python
        # scanner is quadratic in flow nesting (5000 "[" take about 2 s): bounded at 5 s.
        Target("declaration-yaml", _yaml, _yaml_seeds(), allowed=(DeclarationError,),
               tokens=YAML_TOKENS, slow=5.0),
        Target("host-csv", _csv, _csv_seeds(), allowed=(), tokens=CSV_TOKENS),
        Target("sms-pdu", _sms, _sms_seeds()),
        Target("wsp-push", _wsp, [sms.wsp_push_pdu(p0[0])]),
        Target("coap-datagram", _coap, _coap_seeds(),
               tokens=[b"\xff", b"\x0d", b"\x0e", b"\xd0\x00", b"\xe0\xff\xff", b"\x60",
                       b"\x40", b"\x48", b"\x50", b"\xb2rd", b"\x41\x00", b"\xd1\x0a"]),
    ]
    for fmt in (ContentFormat.TLV, ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR,
                ContentFormat.LWM2M_JSON, ContentFormat.TEXT, ContentFormat.OPAQUE):
        tokens = {
            ContentFormat.TLV: [bytes([t]) for t in (0x00, 0x08, 0x10, 0x18, 0x20, 0x40, 0x80,
                                                     0x88, 0xC0, 0xC8, 0xE8, 0xFF)],
            ContentFormat.SENML_CBOR: [bytes([t]) for t in (0x80, 0x9F, 0xA1, 0xBF, 0xFF, 0x21,
                                                            0x22, 0x00, 0x02, 0x03, 0x04,
                                                            0x08, 0xFB, 0xD8, 0x5F, 0x7F)],
        }.get(fmt, [b"{", b"}", b"[", b"]", b'"', b":", b",", b'"bn"', b'"n"', b'"v"',
                    b'"vs"', b'"vd"', b'"vlo"', b'"e"', b'"sv"', b'"ov"', b"1e999", b"-0",
                    b"true", b"null", b"NaN", b"18446744073709551616", b'"bver"'])
        name = {ContentFormat.TLV: "tlv", ContentFormat.SENML_JSON: "senml-json",
                ContentFormat.SENML_CBOR: "senml-cbor", ContentFormat.LWM2M_JSON: "lwm2m-json",
                ContentFormat.TEXT: "lwm2m-text", ContentFormat.OPAQUE: "lwm2m-opaque"}[fmt]
        found.append(Target(name, _lwm2m(fmt), _lwm2m_seeds(fmt), tokens=tokens))
    return {t.name: t for t in found}


# --------------------------------------------------------------------------- hypothesis


def strategy(target: Target) -> Any:
    """Hypothesis inputs for ``target``: random bytes, and seeds changed by shrinkable ops."""
    from hypothesis import strategies as st

    ops = st.lists(
        st.tuples(
            st.integers(0, N_KINDS - 1),
            st.integers(0, 2**20),
            st.integers(0, 2**16),
            st.binary(min_size=1, max_size=16),
        ),
        min_size=1,
        max_size=6,
    )
    options = [st.binary(max_size=300)]
    if target.seeds:
        seeds = st.sampled_from(target.seeds)
        options.append(
            st.builds(apply_ops, seeds, ops, st.just(target.tokens), st.just(target.seeds))
        )
        if target.mutator is not None:
            options.append(st.builds(target.mutator, seeds, st.randoms(use_true_random=False)))
    return st.one_of(options)


def assert_contained(target: Target, data: bytes) -> None:
    """The property every test here checks: nothing but the allowed error escapes."""
    finding = check(target, data)
    assert finding is None, f"{finding.error} at {finding.where} (input {data[:200].hex()})"


# --------------------------------------------------------------------------- checking


@dataclass
class Finding:
    target: str
    error: str  # "KeyError: 'x'"
    where: str  # the innermost frame in the project: file:line
    data: bytes

    def key(self) -> tuple[str, str, str]:
        return self.target, self.error.split(":", 1)[0], self.where


def check(target: Target, data: bytes) -> Finding | None:
    """Run one input; a finding when something not allowed escapes."""
    try:
        target.run(data)
    except target.allowed:
        return None
    except RecursionError as exc:  # the frames would be useless: say so plainly
        return Finding(target.name, f"RecursionError: {exc}", "?", data)
    except Exception as exc:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/conformance/" in
                  f.filename or "/tests/fuzz/" in f.filename]
        frame = frames[-1] if frames else None
        where = f"{FsPath(frame.filename).name}:{frame.lineno}" if frame else "?"
        return Finding(target.name, f"{type(exc).__name__}: {exc}"[:300], where, data)
    return None


@dataclass
class Result:
    target: str
    inputs: int
    seconds: float
    refused: int  # inputs that raised the allowed error type
    findings: list[Finding]
    slowest: float = 0.0  # seconds, the longest single input


def run_target(name: str, inputs: int, seed: int) -> Result:
    target = targets()[name]
    rng = random.Random(f"{seed}:{name}")
    unique: dict[tuple[str, str, str], Finding] = {}
    refused = 0
    slowest = 0.0
    start = time.perf_counter()
    for _ in range(inputs):
        data = random_input(rng, target)
        began = time.perf_counter()
        try:
            target.run(data)
            finding = None
        except target.allowed:
            refused += 1
            finding = None
        except Exception:
            finding = check(target, data)
        took = time.perf_counter() - began
        slowest = max(slowest, took)
        if finding is None and took > target.slow:
            finding = Finding(name, f"slow: {took:.1f} s for {len(data)} bytes", "?", data)
        if finding is not None:
            kept = unique.get(finding.key())
            if kept is None or len(finding.data) < len(kept.data):
                unique[finding.key()] = finding  # keep the shortest input per bug
    return Result(
        name, inputs, time.perf_counter() - start, refused, list(unique.values()), slowest
    )


def _run_one(args: tuple[str, int, int]) -> Result:
    return run_target(*args)


# --------------------------------------------------------------------------- the running lab

# Issue 15: the decoders' campaign above cannot see what the *servers* answer. These
# generators drive a running lab over loopback sockets and hold it to: no 5.xx / HTTP 5xx
# from any input, every answer at once, and the RFC answer where one is due.

CT_XML = "application/vnd.syncml.dm+xml"
CT_WBXML = "application/vnd.syncml.dm+wbxml"
SLOW_ANSWER = 2.0  # seconds: an answer slower than this means the lab's loop was held


@dataclass
class LabTarget:
    """Where a running lab listens (loopback), and the bounds it was given."""

    omadm_url: str
    coap_port: int
    connections_per_source: int
    registrations_per_source: int
    request_deadline: float


class LabProbe:
    """Hostile devices against a running lab; each generator returns its findings (text)."""

    def __init__(self, lab: LabTarget, rng: random.Random, transcript: Any = None) -> None:
        import requests

        self.lab = lab
        self.rng = rng
        self.transcript = transcript  # in-process lab: findings are checked there too
        self.mid = rng.randrange(65536)  # MIDs in sequence: a repeat is a duplicate (RFC 7252)
        self.http = requests.Session()
        self.decoders = targets()
        self.statuses: dict[str, int] = {}  # "HTTP 400", "CoAP 4.02" -> count
        self.generators: dict[str, Callable[[], list[str]]] = {
            "http-syncml-mutant": self.syncml_mutant,
            "http-wbxml-amplified": self.wbxml_amplified,
            "coap-datagram-mutant": self.coap_mutant,
            "coap-critical-option": self.critical_option,
            "coap-block1-broken": self.block1_broken,
            "coap-update-takeover": self.update_takeover,
            "coap-long-query": self.long_query,
            "http-connection-flood": self.connection_flood,
            "http-slow-body": self.slow_body,
            "coap-registration-flood": self.registration_flood,
        }

    def close(self) -> None:
        self.http.close()

    def _count(self, key: str) -> None:
        self.statuses[key] = self.statuses.get(key, 0) + 1

    # -- HTTP ----------------------------------------------------------------------------------

    def post(self, body: bytes, ctype: str) -> list[str]:
        began = time.perf_counter()
        resp = self.http.post(self.lab.omadm_url, data=body, headers={"Content-Type": ctype},
                              timeout=30)
        took = time.perf_counter() - began
        self._count(f"HTTP {resp.status_code}")
        found = []
        if resp.status_code >= 500:
            found.append(f"HTTP {resp.status_code} for {len(body)} bytes: {body[:80]!r}")
        if took > SLOW_ANSWER and resp.status_code != 200:  # 200: a session, held by design
            found.append(f"answered after {took:.1f} s ({resp.status_code})")
        return found

    def syncml_mutant(self) -> list[str]:
        name = self.rng.choice(("syncml-xml", "wbxml", "syncml-rejection"))
        body = random_input(self.rng, self.decoders[name])
        return self.post(body, CT_WBXML if name == "wbxml" else CT_XML)

    def wbxml_amplified(self) -> list[str]:
        copies = self.rng.choice((10, 100, 1000, 5000))
        size = self.rng.choice((1000, 10_000, 100_000))
        return self.post(amplified_wbxml(copies, size, str(self.rng.randrange(10**6))),
                         CT_WBXML)

    def connection_flood(self) -> list[str]:
        """The per-source bound + 3 connections at once: no more than the bound admitted.

        Other connections of this address (a slowloris cut meanwhile, a keep-alive) change
        which ones are refused, never how many may be open: each refused one reads a 429.
        """
        import select
        import socket
        from urllib.parse import urlsplit

        url = urlsplit(self.lab.omadm_url)
        socks = []
        refused = 0
        try:
            for _ in range(self.lab.connections_per_source + 3):
                socks.append(socket.create_connection((url.hostname, url.port), timeout=2))
            waiting = list(socks)
            while waiting:
                readable, _, _ = select.select(waiting, [], [], 0.5)
                if not readable:
                    break
                for sock in readable:
                    waiting.remove(sock)
                    try:
                        refused += sock.recv(64).startswith(b"HTTP/1.1 429")
                    except OSError:
                        pass
        finally:
            for sock in socks:
                sock.close()
        self._count(f"HTTP 429 x{refused}")
        admitted = len(socks) - refused
        if admitted > self.lab.connections_per_source or refused == 0:
            return [f"{admitted} of {len(socks)} connections admitted at once, bound "
                    f"{self.lab.connections_per_source}"]
        return []

    def slow_body(self) -> list[str]:
        """A body trickled a byte per 50 ms: the whole-request deadline must answer 408."""
        import socket
        from urllib.parse import urlsplit

        url = urlsplit(self.lab.omadm_url)
        sock = socket.create_connection((url.hostname, url.port), timeout=5)
        sock.settimeout(0.05)
        answer = b""
        try:
            sock.sendall(f"POST {url.path} HTTP/1.1\r\nHost: lab\r\nContent-Type: {CT_XML}\r\n"
                         "Content-Length: 100000\r\n\r\n".encode())
            for _ in range(int(self.lab.request_deadline * 20) + 60):  # deadline + 3 s at most
                try:
                    answer = sock.recv(100)
                    break
                except TimeoutError:
                    sock.send(b"<")
        except OSError:
            answer = b"<closed>"
        finally:
            sock.close()
        self._count(f"HTTP {answer[9:12].decode('ascii', 'replace') or 'nothing'} (slow body)")
        if not answer.startswith(b"HTTP/1.1 408"):
            return [f"body trickled past the deadline: {answer[:40]!r}, expected 408"]
        return []

    # -- CoAP ----------------------------------------------------------------------------------

    def coap(self, datagram: bytes, sock: Any = None) -> Any:
        """Send one datagram; the lab's answer decoded (None: no answer in 3 s)."""
        import socket

        from aiocoap import Message

        own = sock is None
        if own:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(3)
        try:
            sock.sendto(datagram, ("127.0.0.1", self.lab.coap_port))
            try:
                data, _ = sock.recvfrom(65536)
            except TimeoutError:
                return None
            answer = Message.decode(data)
            self._count(f"CoAP {answer.code.dotted if answer.code else answer.mtype}")
            return answer
        finally:
            if own:
                sock.close()

    def _request(self, code: Any, path: tuple[str, ...], query: tuple[str, ...] = (),
                 payload: bytes = b"", extra: tuple[Any, ...] = (), **options: Any) -> bytes:
        from aiocoap import Message

        msg = Message(code=code, uri_path=path, uri_query=query, payload=payload, **options)
        for option in extra:  # e.g. an option aiocoap has no name for
            msg.opt.add_option(option)
        self.mid = (self.mid + 1) % 65536
        msg.mtype, msg.mid = 0, self.mid  # CON, as a device sets it
        msg.token = self.rng.randbytes(4)
        return bytes(msg.encode())

    @staticmethod
    def _five(answer: Any, what: str) -> list[str]:
        if answer is not None and answer.code is not None and answer.code.class_ == 5:
            return [f"{what}: {answer.code.dotted} {bytes(answer.payload)[:60]!r}"]
        return []

    def coap_mutant(self) -> list[str]:
        datagram = random_input(self.rng, self.decoders["coap-datagram"])
        return self._five(self.coap(datagram), f"datagram {datagram[:40].hex()}")

    def _register(self, ep: str, sock: Any = None, **options: Any) -> Any:
        from aiocoap import POST

        query = (f"ep={ep}", "lt=60", "lwm2m=1.1", "b=U")
        return self.coap(self._request(POST, ("rd",), query, b"</1/0>,</3/0>",
                                       content_format=40, **options), sock)

    def critical_option(self) -> list[str]:
        from aiocoap import POST
        from aiocoap.numbers.optionnumbers import OptionNumber
        from aiocoap.optiontypes import OpaqueOption

        number = self.rng.randrange(2049, 65000) | 1  # odd: critical (RFC 7252 5.4.6)
        if hasattr(OptionNumber(number), "name"):
            return []
        datagram = self._request(POST, ("rd",), (f"ep=crit{number}", "lt=60", "b=U"),
                                 b"</1/0>", extra=(OpaqueOption(number, b"\x01"),),
                                 content_format=40)
        answer = self.coap(datagram)
        if answer is None or answer.code.dotted != "4.02":
            got = answer.code.dotted if answer is not None else "nothing"
            return [f"critical option {number}: {got}, expected 4.02 (RFC 7252 5.4.1)"]
        return []

    def block1_broken(self) -> list[str]:
        import socket

        from aiocoap import POST

        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(3)
        ep = f"blk{self.rng.randrange(10**6)}"
        query = (f"ep={ep}", "lt=60", "b=U")
        links = (b"</1/0>," * 40)[:128]
        kind = self.rng.choice(("gap", "bigger", "szx7"))
        try:
            first = self._request(POST, ("rd",), query, links[:64], content_format=40,
                                  block1=(0, True, 2))
            answer = self.coap(first, sock)
            found = self._five(answer, "Block1 block 0")
            second_block = {"gap": (2, False, 2), "bigger": (1, False, 3),
                            "szx7": (1, False, 7)}[kind]
            payload = links[64:] if kind != "szx7" else links[64:] * 8
            second = self._request(POST, ("rd",), query, payload, content_format=40,
                                   block1=second_block)
            answer = self.coap(second, sock)
            found += self._five(answer, f"Block1 {kind}")
            want = "4.00" if kind == "szx7" else "4.08"
            if answer is None or answer.code.dotted != want:
                got = answer.code.dotted if answer is not None else "nothing"
                found.append(f"Block1 {kind}: {got}, expected {want} (RFC 7959)")
            return found
        finally:
            sock.close()

    def update_takeover(self) -> list[str]:
        """Register from one socket, Update from another (the registration follows it over
        NoSec), De-register from the first: each a finding in the lab's transcript."""
        import socket

        from aiocoap import DELETE, POST

        owner, other = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
        try:
            for sock in (owner, other):
                sock.bind(("127.0.0.1", 0))
                sock.settimeout(3)
            answer = self._register(f"own{self.rng.randrange(10**6)}", owner)
            found = self._five(answer, "Register")
            if answer is None or not answer.opt.location_path:
                return found
            location = tuple(answer.opt.location_path)
            mark = self.transcript.mark() if self.transcript is not None else 0
            update = self.coap(self._request(POST, location, ("lt=90",)), other)
            found += self._five(update, "Update from another address")
            delete = self.coap(self._request(DELETE, location), owner)
            found += self._five(delete, "De-register from another address")
            if self.transcript is not None:
                noted = [e for e in self.transcript.since(mark)
                         if "not the owner" in (e.error or "")]
                if len(noted) < 2:
                    found.append(f"Update and De-register from other addresses: "
                                 f"{len(noted)} findings recorded, expected 2")
            return found
        finally:
            owner.close()
            other.close()

    def registration_flood(self) -> list[str]:
        """Random endpoints from one socket: past the per-source bound, 4.29."""
        import socket

        from aiocoap import DELETE

        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(3)
        codes, locations = [], []
        try:
            for _ in range(self.lab.registrations_per_source + 2):
                answer = self._register(f"flood{self.rng.randrange(10**9)}", sock)
                codes.append(answer.code.dotted if answer is not None else "-")
                if answer is not None and answer.opt.location_path:
                    locations.append(tuple(answer.opt.location_path))
            for location in locations:
                self.coap(self._request(DELETE, location), sock)
        finally:
            sock.close()
        if codes[-2:] != ["4.29", "4.29"] or any(c[0] == "5" for c in codes):
            return [f"{len(codes)} registrations from one socket: {codes[-3:]}, expected 4.29"]
        return []

    def long_query(self) -> list[str]:
        ep = "e" * self.rng.choice((300, 5000, 60000))
        answer = self._register(ep)
        if answer is None or answer.code.dotted != "4.00":
            got = answer.code.dotted if answer is not None else "nothing"
            return [f"endpoint name of {len(ep)} characters: {got}, expected 4.00"]
        return []


def start_lab(run_dir: FsPath, **limits: Any) -> tuple[Any, list[Any], Any, LabTarget]:
    """OMA-DM, LwM2M (NoSec) and package servers on one LabLoop, as ``conformance lab``
    starts them: (loop, the parts, the transcript, where they listen)."""
    from conformance.declaration import builtin_declaration
    from conformance.evidence.transcript import Transcript
    from conformance.fota.server import PackageServer
    from conformance.lwm2m.lab import Lwm2mLab
    from conformance.omadm.lab import OmaDmLab
    from conformance.runtime import LabLoop

    dm = builtin_declaration("omadm")
    lw = builtin_declaration("lwm2m")
    timeouts = dm.timeouts.model_copy(update={"request": 2.0, "session": 5.0})
    limit = dm.limits.model_copy(update=limits)
    dm = dm.model_copy(update={"timeouts": timeouts, "limits": limit})
    assert lw.lwm2m is not None
    lw = lw.model_copy(update={"timeouts": timeouts, "limits": limit,
                               "lwm2m": lw.lwm2m.model_copy(update={"security": "nosec"})})
    loop = LabLoop("campaign-lab")
    transcript = Transcript(path=run_dir / "transcript.jsonl")
    parts: list[Any] = [PackageServer(loop, dm, transcript, run_dir),
                        OmaDmLab(loop, dm, transcript, run_dir),
                        Lwm2mLab(loop, lw, transcript, run_dir)]
    for part in parts:
        part.start()
    coap = int(parts[2].addresses()["LAB_LWM2M_URI"].rsplit(":", 1)[1])
    target = LabTarget(parts[1].http_url, coap, limit.connections_per_source,
                       limit.registrations_per_source, dm.request_deadline())
    return loop, parts, transcript, target


def stop_lab(loop: Any, parts: list[Any], transcript: Any) -> None:
    for part in reversed(parts):
        part.stop()
    loop.stop()
    transcript.close()


def lab_errors(transcript: Any) -> list[str]:
    """Transcript entries that say the lab itself failed (never a device's fault)."""
    return [f"{e.summary}: {e.error}" for e in transcript
            if "internal error" in e.summary or "lab error" in e.summary
            or (e.error or "").startswith("harness")]


def run_lab_campaign(inputs: int, seed: int) -> int:
    import tempfile

    rng = random.Random(f"{seed}:lab")
    with tempfile.TemporaryDirectory() as tmp:
        loop, parts, transcript, target = start_lab(
            FsPath(tmp), connections_per_source=8, registrations_per_source=4,
            request_deadline=0.5)
        probe = LabProbe(target, rng, transcript)
        names = list(probe.generators)
        counts = dict.fromkeys(names, 0)
        findings: dict[str, list[str]] = {n: [] for n in names}
        start = time.perf_counter()
        try:
            for i in range(inputs):
                name = names[i % len(names)]
                counts[name] += 1
                try:
                    findings[name] += probe.generators[name]()
                except Exception as exc:  # the lab stopped answering: that is a finding too
                    findings[name].append(f"{type(exc).__name__}: {exc}"[:200])
            internal = lab_errors(transcript)
            wall = time.perf_counter() - start
            fives = sum(v for k, v in probe.statuses.items()
                        if k.startswith(("HTTP 5", "CoAP 5")))
            _print_lab_campaign(names, counts, findings, probe.statuses, internal, fives)
        finally:
            probe.close()
            try:
                stop_lab(loop, parts, transcript)
            except Exception as exc:
                internal.append(f"the lab did not stop: {exc}")
                print(f"the lab did not stop: {exc}")
    total = sum(len(f) for f in findings.values()) + len(internal)
    print(f"total: {inputs} inputs against the running lab, {wall:.0f} s, {total} findings "
          f"(seed {seed})")
    return 1 if total or fives else 0


def _print_lab_campaign(names: list[str], counts: dict[str, int],
                        findings: dict[str, list[str]], statuses: dict[str, int],
                        internal: list[str], fives: int) -> None:
    for name in names:
        flag = f"  {len(findings[name])} FINDINGS" if findings[name] else ""
        print(f"{name:24} {counts[name]:>7} inputs{flag}")
        for finding in findings[name][:3]:
            print(f"    {finding}")
    print("answers: " + ", ".join(f"{k} x{v}" for k, v in sorted(statuses.items())))
    print(f"lab errors in the transcript: {len(internal)}; 5.xx/5xx answers: {fives}")
    for line in internal[:5]:
        print(f"    {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("targets", nargs="*", help="default: all")
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs per target")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=FsPath, help="write the figures here too")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--lab", action="store_true",
                        help="drive a running lab (loopback) instead of the decoders")
    args = parser.parse_args(argv)
    if args.lab:
        return run_lab_campaign(args.inputs, args.seed)
    every = targets()
    if args.list:
        print("\n".join(every))
        return 0
    names = args.targets or list(every)
    unknown = [n for n in names if n not in every]
    if unknown:
        parser.error(f"unknown targets {unknown}; --list shows them")
    start = time.perf_counter()
    jobs = [(n, args.inputs, args.seed) for n in names]
    results: list[Result] = []
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for result in pool.map(_run_one, jobs):
            results.append(result)
            flag = f"  {len(result.findings)} FINDINGS" if result.findings else ""
            print(f"{result.target:20} {result.inputs:>9} inputs {result.seconds:8.1f} s "
                  f"{result.refused:>9} refused  slowest {result.slowest * 1000:7.1f} ms{flag}",
                  flush=True)
            for f in result.findings:
                print(f"    {f.error} at {f.where}\n    input: {f.data[:512].hex()}", flush=True)
    total = sum(r.inputs for r in results)
    findings = sum(len(r.findings) for r in results)
    wall = time.perf_counter() - start
    print(f"total: {total} inputs, {len(results)} targets, {wall:.0f} s wall, "
          f"{findings} findings (seed {args.seed})")
    if args.json:
        args.json.write_text(json.dumps([
            {"target": r.target, "inputs": r.inputs, "seconds": round(r.seconds, 1),
             "refused": r.refused, "slowest_ms": round(r.slowest * 1000, 1),
             "findings": [{"error": f.error, "where": f.where, "input": f.data.hex()}
                          for f in r.findings]}
            for r in results], indent=1))
    return 1 if findings else 0





if __name__ == "__main__":
    sys.exit(main())
