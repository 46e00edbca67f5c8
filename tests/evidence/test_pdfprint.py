"""The warm browser that prints acceptance.pdf (conformance/evidence/pdfprint.py).

With Chromium: it prints what the cold ``--print-to-pdf`` command prints, a browser that
died is replaced by the cold command, and closing leaves neither a browser nor its profile.
Without it (a fake browser on the same pipe): a silent, lying or dying browser is a
PrintError within the deadline, never a hang or a traceback, and closing kills it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.evidence import acceptance, pdfprint
from tests.controllers.test_shell_controller import gone

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>t</title></head>
<body><h1>Verdict per requirement</h1><p>CDR-DVM-012 PASS — ünïcødé &amp; &lt;tags&gt;</p>
<table><tr><th>case</th><td>test_a</td></tr></table></body></html>"""


@pytest.fixture(autouse=True)
def no_warm_browser_left() -> Iterator[None]:
    pdfprint.stop()
    yield
    pdfprint.stop()


def need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: run scripts/install-report-tools.sh and "
                        "scripts/install-capture-tools.sh")


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, timeout=60, check=True).stdout


def page_size(pdf: Path) -> str:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, timeout=60,
                          check=True).stdout
    return next(line for line in info.splitlines() if line.startswith("Page size"))


def warm() -> pdfprint.WarmChromium:
    acceptance.prestart_pdf()
    browser = pdfprint._warm
    assert browser is not None, "no warm browser started"
    return browser


# ---------------------------------------------------------------- with Chromium


def test_the_warm_browser_prints_what_the_cold_command_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need("chromium", "pdftotext", "pdfinfo")
    monkeypatch.setenv(acceptance.PDF_ENV, "1")
    page = tmp_path / "acceptance.html"
    page.write_text(PAGE, encoding="utf-8")
    browser = warm()
    assert acceptance.write_pdf(page, tmp_path / "warm.pdf")
    assert pdfprint._warm is None  # taken: one print per browser
    assert acceptance.write_pdf(page, tmp_path / "cold.pdf")  # no warm one: the command
    warm_text, cold_text = pdf_text(tmp_path / "warm.pdf"), pdf_text(tmp_path / "cold.pdf")
    assert "CDR-DVM-012 PASS — ünïcødé & <tags>" in warm_text
    assert warm_text == cold_text  # no header or footer (date, URL) in either
    assert page_size(tmp_path / "warm.pdf") == page_size(tmp_path / "cold.pdf")
    pdfprint.stop()  # waits for the closing browser
    assert gone(browser.pid, timeout=0) and not Path(browser._profile).exists()


def test_a_shared_browser_prints_every_pdf_then_release_closes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``conformance run`` with devices side by side prints each device's PDF with one
    browser (cli.py): pages one after the other, from two threads at once, then closed."""
    need("chromium", "pdftotext")
    monkeypatch.setenv(acceptance.PDF_ENV, "1")
    acceptance.prestart_pdf(shared=True)
    browser = pdfprint._warm
    assert browser is not None
    pages = []
    for name in ("omadm", "csv", "lwm2m"):
        (tmp_path / name).mkdir()
        pages.append(tmp_path / name)
        (tmp_path / name / "acceptance.html").write_text(PAGE.replace("test_a", name),
                                                         encoding="utf-8")
    assert acceptance.write_pdf_of(pages[0])
    threads = [threading.Thread(target=acceptance.write_pdf_of, args=(page,))
               for page in pages[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert pdfprint._warm is browser  # the same browser printed all three
    for page in pages:
        assert page.name in pdf_text(page / "acceptance.pdf")
    pdfprint.release()
    assert pdfprint._warm is None
    pdfprint.stop()  # waits for the closing browser
    assert gone(browser.pid, timeout=0) and not Path(browser._profile).exists()


def test_a_warm_browser_that_died_is_replaced_by_the_cold_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    need("chromium", "pdftotext")
    monkeypatch.setenv(acceptance.PDF_ENV, "1")
    page = tmp_path / "acceptance.html"
    page.write_text(PAGE, encoding="utf-8")
    browser = warm()
    os.killpg(browser.pid, signal.SIGKILL)
    with caplog.at_level(logging.INFO, logger=pdfprint.__name__):
        assert acceptance.write_pdf(page, tmp_path / "acceptance.pdf")
    assert "did not print acceptance.pdf" in caplog.text
    assert "CDR-DVM-012 PASS" in pdf_text(tmp_path / "acceptance.pdf")
    assert not (tmp_path / "acceptance.pdf.tmp").exists()


@pytest.mark.parametrize("shared", [False, True])
def test_no_warm_browser_when_no_pdf_is_wanted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared: bool
) -> None:
    monkeypatch.setenv(acceptance.PDF_ENV, "0")
    acceptance.prestart_pdf(shared=shared)
    assert pdfprint._warm is None
    (tmp_path / "acceptance.html").write_text(PAGE, encoding="utf-8")
    assert not acceptance.write_pdf_of(tmp_path)
    assert not (tmp_path / "acceptance.pdf").exists()


def test_no_pdf_of_a_run_that_wrote_no_page(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A run that broke before its reports has no acceptance.html: nothing to print."""
    monkeypatch.setenv(acceptance.PDF_ENV, "1")
    assert not acceptance.write_pdf_of(tmp_path)
    assert not (tmp_path / "acceptance.pdf").exists()


def test_a_lab_that_dies_leaves_no_browser(tmp_path: Path) -> None:
    need("chromium")
    script = textwrap.dedent("""
        import os
        from conformance.evidence import acceptance, pdfprint
        acceptance.prestart_pdf()
        print(pdfprint._warm.pid, pdfprint._warm._profile, flush=True)
        os._exit(0)  # no atexit: as a killed lab
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True, env={**os.environ, acceptance.PDF_ENV: "1"})
    pid, profile = done.stdout.split()
    assert gone(int(pid))  # the pipe's end closed: the browser exits by itself
    shutil.rmtree(profile, ignore_errors=True)  # what a killed lab leaves: an empty profile


# ------------------------------------------------ a fake browser on the same pipe

FAKE = """#!{python}
import base64, json, os, sys, time
mode = {mode!r}
if mode == "exit":
    sys.exit(0)
pending = b""
while True:
    data = os.read(3, 65536)
    if not data:
        break
    pending += data
    while b"\\0" in pending:
        raw, _, pending = pending.partition(b"\\0")
        if mode == "garbage":
            os.write(4, b"<html>not json</html>\\0")
        elif mode == "error":
            ident = raw.split(b'"id": ')[1].split(b",")[0]
            os.write(4, b'{{"id": ' + ident + b', "error": {{"code": -1, "message": "no"}}}}\\0')
        elif mode == "liar":  # answers every request, with nothing in it
            ident = raw.split(b'"id": ')[1].split(b",")[0]
            os.write(4, b'{{"id": ' + ident + b', "result": {{"targetId": 7}}}}\\0')
        elif mode in ("good", "endless"):  # the protocol as Chromium speaks it
            request = json.loads(raw)
            result = {{"Target.createTarget": {{"targetId": "t1"}},
                      "Target.attachToTarget": {{"sessionId": "s1"}},
                      "Page.printToPDF": {{"stream": "h1"}}}}.get(request["method"], {{}})
            if request["method"] == "IO.read":
                result = {{"data": base64.b64encode(b"%PDF-1.4 fake " * 64).decode(),
                          "base64Encoded": True, "eof": mode == "good"}}
            os.write(4, json.dumps({{"id": request["id"], "result": result}}).encode() + b"\\0")
            if request["method"] == "Page.navigate":
                event = {{"method": "Page.loadEventFired", "sessionId": "s1", "params": {{}}}}
                os.write(4, json.dumps(event).encode() + b"\\0")
        elif mode == "flood":  # one endless message
            try:
                while True:
                    os.write(4, b"x" * 65536)
            except OSError:
                sys.exit(0)
        # "silent": reads, never answers
"""


def fake_exe(tmp_path: Path, mode: str) -> str:
    exe = tmp_path / f"fake-{mode}"
    exe.write_text(FAKE.format(python=sys.executable, mode=mode), encoding="utf-8")
    exe.chmod(0o755)
    return str(exe)


def fake_browser(tmp_path: Path, mode: str) -> pdfprint.WarmChromium:
    return pdfprint.WarmChromium(fake_exe(tmp_path, mode), ())


def test_a_process_starts_one_browser_at_most(tmp_path: Path) -> None:
    """Later calls (each case after half-way, each part's end) start none: not a second
    one, nor a new one after the first printed (or failed to)."""
    exe = fake_exe(tmp_path, "silent")
    pdfprint.prestart(exe, ())
    first = pdfprint._warm
    assert first is not None
    pdfprint.prestart(exe, ())
    assert pdfprint._warm is first
    page = tmp_path / "acceptance.html"
    page.write_text(PAGE, encoding="utf-8")
    assert not pdfprint.print_warm(page, tmp_path / "acceptance.pdf", timeout=0.5)
    pdfprint.prestart(exe, ())
    assert pdfprint._warm is None
    pdfprint.stop()  # waits for the failed one's close
    assert gone(first.pid, timeout=0)


def test_the_protocol_as_chromium_speaks_it(tmp_path: Path) -> None:
    """Page made at launch, attached, loaded (the event may come before the answer is read),
    printed as a stream, read until eof, put in place whole."""
    browser = fake_browser(tmp_path, "good")
    page = tmp_path / "acceptance.html"
    page.write_text(PAGE, encoding="utf-8")
    try:
        browser.print_to_pdf(page, tmp_path / "acceptance.pdf", timeout=5.0)
    finally:
        browser.close()
    assert (tmp_path / "acceptance.pdf").read_bytes() == b"%PDF-1.4 fake " * 64
    assert not (tmp_path / "acceptance.pdf.tmp").exists()


def test_a_kept_browser_has_its_next_page_before_the_printed_one_closes(
    tmp_path: Path
) -> None:
    """A browser left without a page may exit: the next page is asked for first."""
    browser = fake_browser(tmp_path, "good")
    sent: list[str] = []
    send = browser._send

    def recording(method: str, params: dict[str, object], session: str | None = None) -> int:
        sent.append(method)
        return send(method, params, session)

    browser._send = recording  # type: ignore[method-assign]
    page = tmp_path / "acceptance.html"
    page.write_text(PAGE, encoding="utf-8")
    try:
        for n in (1, 2):
            browser.print_to_pdf(page, tmp_path / f"{n}.pdf", timeout=5.0, keep=True)
    finally:
        browser.close()
    assert (tmp_path / "2.pdf").read_bytes() == b"%PDF-1.4 fake " * 64
    made_then_closed = [m for m in sent if m in ("Target.createTarget", "Target.closeTarget")]
    assert made_then_closed == ["Target.createTarget", "Target.closeTarget"] * 2


@pytest.mark.parametrize(("mode", "says"), [
    ("silent", "did not answer in time"),
    ("garbage", "sent no JSON"),
    ("error", "the browser answered"),
    ("liar", "answer has no targetId"),
    ("exit", "exited"),
    ("flood", "exceeds"),
    ("endless", "the PDF exceeds"),
])
def test_a_misbehaving_browser_is_a_print_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, says: str
) -> None:
    monkeypatch.setattr(pdfprint, "MAX_MESSAGE", 1 << 18)
    monkeypatch.setattr(pdfprint, "MAX_PDF", 1 << 16)
    browser = fake_browser(tmp_path, mode)
    page = tmp_path / "acceptance.html"
    page.write_text(PAGE, encoding="utf-8")
    try:
        with pytest.raises(pdfprint.PrintError, match=says):
            browser.print_to_pdf(page, tmp_path / "acceptance.pdf", timeout=1.0)
        assert not (tmp_path / "acceptance.pdf").exists()
    finally:
        browser.close()  # a silent one is killed, with its group
    assert gone(browser.pid, timeout=0) and not Path(browser._profile).exists()


def test_profiles_of_dead_processes_are_swept(tmp_path: Path) -> None:
    """A lab killed before its end leaves its warm browser's profile (~2 MB): the next warm
    browser's start removes it; a living process's, another name's and a symlink stay."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True, timeout=60)
    dead = tmp_path / f"{pdfprint.PROFILE_PREFIX}{done.stdout.strip()}-abc123"
    (dead / "Default").mkdir(parents=True)
    (dead / "Local State").write_text("{}")
    living = tmp_path / f"{pdfprint.PROFILE_PREFIX}{os.getpid()}-def456"
    living.mkdir()
    cold = tmp_path / "conformance-pdf-12345678"  # a cold print's (TemporaryDirectory)
    cold.mkdir()
    link = tmp_path / f"{pdfprint.PROFILE_PREFIX}999999999-ghi"
    link.symlink_to(cold)
    pdfprint.sweep_profiles(tmp_path)
    assert not dead.exists()
    assert living.is_dir() and cold.is_dir() and link.is_symlink()
