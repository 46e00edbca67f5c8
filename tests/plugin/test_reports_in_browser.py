"""End to end: the run's HTML reports opened in a real headless browser (Debian chromium).

Checks, in the DOM the browser built (after pytest-html's JavaScript ran), that the
requirement rows and the ladder diagrams are there, and keeps screenshots in the run folder.
Also renders the Allure report with the `allure` CLI. Both tools come from
``scripts/install-report-tools.sh``; without them these tests fail and say so.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import html as lxml_html

from conformance.evidence import acceptance, allure_report
from conformance.requirements import CATALOG

INSTALL = "run scripts/install-report-tools.sh"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
Run = tuple[Path, str]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail(f"chromium is not installed: {INSTALL} chromium")
    profile = tmp_path / "chromium-profile"
    done = subprocess.run(
        [exe, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def dom(tmp_path: Path, page: Path, *extra: str, fragment: str = "") -> lxml_html.HtmlElement:
    out = chromium(tmp_path, *extra, "--dump-dom", page.resolve().as_uri() + fragment).stdout
    return lxml_html.fromstring(out)


def screenshot(tmp_path: Path, page: Path, target: Path) -> None:
    chromium(tmp_path, f"--screenshot={target}", "--window-size=1280,1600", page.resolve().as_uri())
    check_png(target, 1280, 1600)


def check_png(path: Path, width: int, height: int) -> None:
    """A real picture of that size, not a blank page (many different pixel bytes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (width, height)
    idat, pos = b"", 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    assert len(set(zlib.decompress(idat))) > 64, f"{path} looks blank"


def test_report_html_renders_requirements_and_evidence_links(
    failing_run: Run, tmp_path: Path
) -> None:
    run, _ = failing_run
    page = dom(tmp_path, run / "report.html")
    requirements = [td.text_content() for td in page.xpath("//td[@class='col-requirement']")]
    assert sorted(set(requirements)) == ["CDR-DVM-012", "CDR-DVM-3954", "CDR-DVM-4532"]
    verdicts = {td.text_content() for td in page.xpath("//td[@class='col-verdict']")}
    assert verdicts == {"PASS", "FAIL", "INCONCLUSIVE", "ERROR", "NOT APPLICABLE"}
    links = page.xpath("//div[contains(@class,'extraHTML')]//a[@class='evidence-link']/@href")
    ladders = [href for href in links if href.endswith(".svg")]
    assert len(ladders) == 2  # cases that did not pass and exchanged messages: linked
    assert all((run / href).is_file() for href in links)
    assert not page.xpath("//div[contains(@class,'extraHTML')]//svg")
    screenshot(tmp_path, run / "report.html", run / "screenshot.png")


def test_acceptance_html_renders_every_requirement(failing_run: Run, tmp_path: Path) -> None:
    run, _ = failing_run
    page = dom(tmp_path, run / "acceptance.html")
    rows = page.xpath("//tr[@class='requirement']")
    assert [r.get("id") for r in rows] == [r.id for r in CATALOG]
    assert page.xpath("string(//tr[@id='CDR-DVM-4532']/td[4])") == "FAIL"
    # inlined for the failing and inconclusive cases that exchanged messages (FAIL, INCONCLUSIVE)
    assert len(page.xpath("//details[@class='ladder']/svg")) == 2
    screenshot(tmp_path, run / "acceptance.html", run / "acceptance-screenshot.png")


def test_allure_report_renders_the_categories(failing_run: Run, tmp_path: Path) -> None:
    if allure_report.allure_command() is None:
        pytest.fail(f"the allure CLI is not installed: {INSTALL} allure")
    run, _ = failing_run
    assert allure_report.main_report(str(run)) == 0
    index = run / "allure-report" / "index.html"
    page = dom(tmp_path, index, "--virtual-time-budget=15000", fragment="#categories")
    text = page.text_content()
    assert "Device FAIL: a requirement is broken" in text
    assert "Harness ERROR: a problem of the suite, not of the device" in text
    assert "INCONCLUSIVE: the lab could not decide" in text


# ----------------------------------------------------------------- hostile strings

PWNED = "document.documentElement.setAttribute('data-pwned', '1')"
HOSTILE_DEVICE = f"<script>{PWNED}</script>evil-module"
HOSTILE_ANSWER = f'"><img src=x onerror="{PWNED}">'
NODES = ["./DMAcc/<x>/AppID", f'./DMAcc/"><img src=x onerror="{PWNED}">/Name']
HOSTILE_CASES = f"""
import pytest

NODES = {NODES!r}

@pytest.mark.requirement("CDR-DVM-4532")
@pytest.mark.parametrize("node", NODES)
def test_node(lab, evidence, node):
    lab.transcript.record("omadm", "lab->device", "200 pkg2 Get " + node, raw=node.encode())
    got = lab.transcript.record("omadm", "device->lab", {HOSTILE_ANSWER!r}, raw=b"<x/>",
                                error={HOSTILE_ANSWER!r})
    evidence.highlight(got)
    evidence.expect(node, "<b>declared</b>", {HOSTILE_ANSWER!r}, ok=False)
    assert False, "the device answered " + {HOSTILE_ANSWER!r} + " for " + node
"""


@pytest.fixture
def hostile_run(
    pytester: pytest.Pytester, fake_lab: object, write_dut: Callable[..., Path]
) -> Path:
    dut = write_dut(device={"name": HOSTILE_DEVICE})
    pytester.makepyfile(test_catalog=HOSTILE_CASES)
    pytester.runpytest("--dut", str(dut), "--reports", "reports", "--run-name", "r")
    return pytester.path / "reports" / "r"


@pytest.mark.parametrize("page", ["report.html", "acceptance.html"])
def test_hostile_device_strings_are_shown_verbatim_and_never_run(
    hostile_run: Path, tmp_path: Path, page: str
) -> None:
    doc = dom(tmp_path, hostile_run / page, "--virtual-time-budget=5000")
    assert doc.get("data-pwned") is None  # no script ran, no onerror fired
    assert not doc.xpath("//img[@onerror]")
    assert not [s for s in doc.iter("script") if (s.text or "").strip() == PWNED]
    # pytest-html builds its rows from a JSON blob in JavaScript: expand every row's extras
    text = doc.text_content()
    assert "./DMAcc/<x>/AppID" in text  # not ./DMAcc//AppID
    if page == "acceptance.html":
        assert HOSTILE_DEVICE in text and HOSTILE_ANSWER in text
        assert "<b>declared</b>" in text


# ----------------------------------------------------------------- acceptance.pdf


def test_acceptance_pdf_reads_like_the_page(failing_run: Run, tmp_path: Path) -> None:
    run, _ = failing_run
    pdf = run / "acceptance.pdf"
    assert not pdf.exists()  # the project's tests skip it (CONFORMANCE_PDF=0) …
    if shutil.which("chromium") is None:
        pytest.fail(f"chromium is not installed: {INSTALL} chromium")
    assert acceptance.write_pdf(run / "acceptance.html", pdf)  # … and render it here
    for tool in ("pdftotext", "pdftoppm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: run scripts/install-capture-tools.sh")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, timeout=60, check=True).stdout
    top = text[: text.index("All requirements and cases")]
    # top-down: the verdict table, then the failing requirement with its deciding message
    assert top.index("Verdict per requirement") < top.index("Failing and inconclusive")
    assert top.index("CDR-DVM-4532") < top.index("CDR-DVM-012")
    assert "POST pkg3 Results '1'" in top and "IMEISV is '1', expected two digits" in top
    page = run / "acceptance-pdf-page1"
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile",
                    str(pdf), str(page)], check=True, timeout=60)
    png = page.with_suffix(".png")
    width, height = struct.unpack(">II", png.read_bytes()[16:24])
    assert 400 < width < height  # an A4/Letter portrait page
    check_png(png, width, height)
