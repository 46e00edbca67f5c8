"""The captures, read back by Debian's tshark: dissected fields, not only that the file opens.

One test builds a capture from real codec output (SyncML XML and WBXML over HTTP, CoAP, a
Package 0 datagram, DTLS records); the others read the per-case captures of short real runs
of the built-in devices (OMA-DM over HTTP; LwM2M over DTLS: encrypted on the wire, the CoAP
in the decrypted view). tshark comes from scripts/install-capture-tools.sh.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiocoap import CON, GET, Message

from conformance.evidence.capture import DECRYPTED_FILE, WIRE_FILE, RunCapture
from conformance.evidence.transcript import Transcript
from conformance.omadm import notification, wbxml

# the lab's ends in the capture built from codec output (no server runs in that test)
LAB = {
    "LAB_OMADM_URL": "http://127.0.0.1:40001/dm",
    "LAB_LWM2M_URI": "coap://127.0.0.1:40002",
    "LAB_LWM2M_DTLS_URI": "coaps://127.0.0.1:40003",
}
ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests/omadm/codecs/corpus"


def tshark(capture: Path, *fields: str, extra: tuple[str, ...] = ()) -> list[list[str]]:
    """One row per packet: the values of ``fields`` (several values of one field: ',')."""
    exe = shutil.which("tshark")
    if exe is None:
        pytest.fail("tshark is not installed: run scripts/install-capture-tools.sh")
    args = [exe, "-r", str(capture), "-T", "fields", *extra]
    for field in fields:
        args += ["-e", field]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return [line.split("\t") for line in done.stdout.splitlines()]


def test_each_protocol_is_dissected_by_wireshark(tmp_path: Path) -> None:
    xml = (CORPUS / "01-pkg1-alert1201-md5.xml").read_bytes()
    binary = wbxml.xml_to_wbxml(xml)
    request = Message(code=GET, uri="coap://127.0.0.1/3/0/0")
    request.mid, request.token, request.mtype = 7, b"\x01\x02", CON
    pkg0 = notification.build("lab", "secret", b"nonce", 4660)
    t = Transcript(path=tmp_path / "transcript.jsonl")
    capture = RunCapture(tmp_path)
    capture.set_lab_addresses(LAB)
    t.subscribe(capture.on_entry)
    t.subscribe_datagrams(capture.on_datagram)
    xml_ct, wbxml_ct = "application/vnd.syncml.dm+xml", "application/vnd.syncml.dm+wbxml"
    t.record("omadm", "device->lab", "POST pkg1: Alert 1201", peer="127.0.0.1:5000", raw=xml,
             content_type=xml_ct, headers={"Content-Type": xml_ct})
    t.record("omadm", "lab->device", "200 pkg2: Get", peer="127.0.0.1:5000", raw=binary,
             content_type=wbxml_ct, headers={"Content-Type": wbxml_ct})
    t.record("lwm2m", "lab->device", "CON GET /3/0/0", peer="127.0.0.1:5001",
             raw=bytes(request.encode()))
    t.record("lwm2m", "lab->device", "CON GET /3/0/0", peer="127.0.0.1:5002",
             raw=bytes(request.encode()), headers={"Security": "DTLS"})
    t.record("package0", "lab->device", "Package 0 session 4660 via udp 127.0.0.1:5003",
             raw=pkg0, content_type="application/vnd.syncml.notification")
    alert = bytes.fromhex("15fefd00010000000000010002") + b"\x02\x28"  # epoch 1: encrypted
    t.datagram("lwm2m", True, "127.0.0.1:5002", alert, "127.0.0.1:40003")
    capture.close()
    wire, decrypted = tmp_path / WIRE_FILE, tmp_path / DECRYPTED_FILE
    rows = tshark(wire, "_ws.col.Protocol", "http.request.method", "http.request.uri",
                  "http.response.code", "coap.code", "coap.opt.uri_path", "dtls.record.version",
                  "udp.dstport", "exported_pdu.dst_port", "frame.comment")
    protocols = [r[0] for r in rows]
    assert protocols == ["HTTP", "HTTP", "CoAP", "OMA-DM Pkg0", "DTLSv1.2"]
    assert rows[0][1:3] == ["POST", "/dm"] and rows[1][3] == "200"
    assert rows[2][4:6] == ["1", "3,0,0"]  # GET, /3/0/0
    assert rows[4][6] == "0xfefd"  # DTLS 1.2 record, as it crossed the socket
    assert [r[8] for r in rows] == ["40001", "5000", "5001", "5003", "40003"]
    assert rows[0][9].startswith("transcript #1: POST pkg1: Alert 1201")
    # the SyncML inside: XML (with Wireshark's XML-over-HTTP heuristic) and WBXML
    values = tshark(wire, "xml.cdata", extra=("--enable-heuristic", "xml_http", "-Y", "xml"))
    assert {"./DevInfo/DevId", "IMEI:359881234567890"} <= set(values[0][0].split(","))
    # Wireshark 4.0 has no token map for SyncML 1.2's literal public id: it shows the header,
    # the string table and, with raw tokens, the element values
    (header,) = tshark(wire, "wbxml.version", "wbxml.string_table_item_string",
                       extra=("-Y", "wbxml"))
    assert header == ["0x02", "-//SYNCML//DTD SyncML 1.2//EN"]
    (strings,) = tshark(wire, "wbxml.str_i",
                        extra=("-o", "wbxml.skip_wbxml_token_mapping:TRUE", "-Y", "wbxml"))
    assert {"./DevInfo/DevId", "IMEI:359881234567890"} <= set(strings[0].split(","))
    # the decrypted view has the CoAP that went inside the DTLS session
    inner = tshark(decrypted, "coap.code", "coap.opt.uri_path", "exported_pdu.dst_port")
    assert inner == [["1", "3,0,0", "5002"]]
    # a case's capture is the slice of the run's file
    data = wire.read_bytes()
    assert data.count(b"\x0a\x0d\x0d\x0a") >= 1 and capture.wire.packets == 5


def run_builtin(tmp_path: Path, protocol: str, keyword: str, *extra: str) -> Path:
    reports = tmp_path / "reports"
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--dut", f"builtin:{protocol}",
         "--reports", str(reports), "--run-name", "r", "-q", "-p", "no:cacheprovider",
         "-k", keyword, *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return reports / "r"


def test_omadm_case_captures_show_http_and_syncml(tmp_path: Path) -> None:
    run = run_builtin(tmp_path, "omadm", "package1")
    captures = sorted((run / "evidence").glob("*.pcapng"))
    assert captures
    for path in captures:
        rows = tshark(path, "http.request.method", "http.content_type")
        assert rows and all(r[0] in ("POST", "") for r in rows), path
        assert any(r[0] == "POST" and r[1] == "application/vnd.syncml.dm+xml" for r in rows)
        syncml = tshark(path, "xml.tag", extra=("--enable-heuristic", "xml_http", "-Y", "xml"))
        assert any("<SyncHdr>" in r[0] for r in syncml), path
    total = tshark(run / WIRE_FILE, "frame.number")
    assert len(total) >= len(captures)
    assert not list(run.glob("*keys*"))  # no key material unless asked for


def test_lwm2m_case_captures_show_dtls_and_the_coap_inside(tmp_path: Path) -> None:
    run = run_builtin(tmp_path, "lwm2m", "test_security", "--dtls-keylog")
    # the run's file: the handshake and the records, encrypted, as they crossed the socket
    records = tshark(run / WIRE_FILE, "dtls.record.content_type")
    types = {t for r in records for t in r[0].split(",") if t}
    assert {"20", "22", "23"} <= types  # change cipher spec, handshake, application data
    assert not tshark(run / WIRE_FILE, "coap.code", extra=("-Y", "coap"))  # no CoAP in clear
    register = tshark(run / DECRYPTED_FILE, "coap.code", "coap.opt.uri_path")
    assert ["2", "rd"] in register  # the device's Register (POST /rd), readable only here
    # each case's slice: DTLS records on the wire, the CoAP inside in its decrypted twin
    inner = sorted((run / "evidence").glob("*.decrypted.pcapng"))
    assert inner
    for path in inner:
        wire = path.with_name(path.name.replace(".decrypted.pcapng", ".pcapng"))
        assert all(r[0].startswith("DTLS") for r in tshark(wire, "_ws.col.Protocol")), wire
        coap = tshark(path, "coap.code", "coap.opt.uri_path", "coap.mid")
        assert coap and all(r[0] and r[2] for r in coap), path
    # asked for with --dtls-keylog: Wireshark decrypts the wire view itself
    keys = run / "dtls-keys.log"
    assert keys.read_text().startswith("PMS_CLIENT_RANDOM ")
    lab = json.loads((run / "acceptance.json").read_text())["lab"]
    port = urlsplit(lab["LAB_LWM2M_DTLS_URI"]).port  # the lab's DTLS port, for "Decode As"
    decrypted = tshark(run / WIRE_FILE, "coap.code", "coap.opt.uri_path",
                       extra=("-o", f"tls.keylog_file:{keys}", "-d", f"dtls.port=={port},coap",
                              "-Y", "coap"))
    assert ["2", "rd"] in decrypted


def test_a_capture_problem_never_costs_the_lab_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = Transcript(path=tmp_path / "transcript.jsonl")
    capture = RunCapture(tmp_path)
    t.subscribe(capture.on_entry)
    t.subscribe_datagrams(capture.on_datagram)

    def broken(*args: object) -> list[object]:
        raise ValueError("capture bug")

    monkeypatch.setattr("conformance.evidence.capture.packets_of", broken)
    entry = t.record("lwm2m", "device->lab", "CON POST /rd", peer="not an address",
                     raw=b"\x40\x02\x00\x01")
    t.datagram("lwm2m", True, "[::1]:99999999", b"\x16\xfe\xfd", "nonsense")
    assert t.since(0) == [entry] and capture.problems == 1
    capture.close()
    assert tshark(tmp_path / WIRE_FILE, "_ws.col.Protocol") == [["DTLS"]]
