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
from pathlib import Path

import pytest
from lxml import html as lxml_html

from conformance.evidence import allure_report
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


def test_report_html_renders_requirements_and_ladders(failing_run: Run, tmp_path: Path) -> None:
    run, _ = failing_run
    page = dom(tmp_path, run / "report.html")
    requirements = [td.text_content() for td in page.xpath("//td[@class='col-requirement']")]
    assert sorted(set(requirements)) == ["CDR-DVM-012", "CDR-DVM-3954", "CDR-DVM-4532"]
    verdicts = {td.text_content() for td in page.xpath("//td[@class='col-verdict']")}
    assert verdicts == {"PASS", "FAIL", "INCONCLUSIVE", "ERROR", "NOT APPLICABLE"}
    ladders = page.xpath("//div[contains(@class,'extraHTML')]//div[@class='ladder']/svg")
    assert len(ladders) == 3  # the cases that exchanged messages
    steps = [g.get("class") for svg in ladders for g in svg.iter("g")]
    assert steps.count("step error") == 2 and "step normal" in steps
    screenshot(tmp_path, run / "report.html", run / "screenshot.png")


def test_acceptance_html_renders_every_requirement(failing_run: Run, tmp_path: Path) -> None:
    run, _ = failing_run
    page = dom(tmp_path, run / "acceptance.html")
    rows = page.xpath("//tr[@class='requirement']")
    assert [r.get("id") for r in rows] == [r.id for r in CATALOG]
    assert page.xpath("string(//tr[@id='CDR-DVM-4532']/td[4])") == "FAIL"
    assert len(page.xpath("//details[@class='ladder']/svg")) == 4
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
