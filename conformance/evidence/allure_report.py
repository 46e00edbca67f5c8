"""Allure: the run's extra result files and ``conformance report`` (Allure HTML).

allure-pytest writes one result per case into ``<run>/allure-results`` (the plugin adds the
labels, steps and attachments); this module adds ``environment.properties`` (suite version,
device, firmware, lab) and ``categories.json`` (device FAILs, harness ERRORs, INCONCLUSIVE,
NOT APPLICABLE kept apart), and renders the HTML with the ``allure`` command line when it is
installed (``scripts/install-report-tools.sh``).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conformance.evidence import allure_spool
from conformance.evidence.allure_spool import SPOOL_NAME
from conformance.evidence.runfolder import resolve_latest

RESULTS_DIR = "allure-results"
REPORT_DIR = "allure-report"
INSTALL_HINT = (
    "the allure command is not installed: run scripts/install-report-tools.sh allure "
    "(npm allure-commandline, needs a Java runtime), or "
    "`npx allure-commandline generate --single-file {results} -o {report}`"
)

# Allure sorts each non-passed result into the first category that matches it.
CATEGORIES: list[dict[str, Any]] = [
    {
        "name": "Device FAIL: a requirement is broken",
        "description": "The device did something a requirement forbids; see the ladder.",
        "matchedStatuses": ["failed"],
    },
    {
        "name": "Harness ERROR: a problem of the suite, not of the device",
        "matchedStatuses": ["broken"],
    },
    {
        "name": "INCONCLUSIVE: the lab could not decide",
        "matchedStatuses": ["skipped"],
        "messageRegex": "(?s)INCONCLUSIVE.*",
    },
    {
        "name": "NOT APPLICABLE: the declaration says so",
        "matchedStatuses": ["skipped"],
        "messageRegex": "(?s)NOT APPLICABLE.*",
    },
]


def _escape(text: str, key: bool = False) -> str:
    """Java .properties escaping (ISO-8859-1 file, \\uXXXX for the rest)."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif key and ch in "=:#! ":
            out.append("\\" + ch)
        elif ord(ch) > 0x7E:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else "?")
        else:
            out.append(ch)
    return "".join(out)


def write_allure_metadata(results: Path, environment: Mapping[str, str]) -> list[Path]:
    """``environment.properties`` and ``categories.json`` into the results folder."""
    results.mkdir(parents=True, exist_ok=True)
    env = results / "environment.properties"
    env.write_text(
        "".join(f"{_escape(k, key=True)}={_escape(str(v))}\n" for k, v in environment.items()),
        encoding="ascii",
    )
    cats = results / "categories.json"
    cats.write_text(json.dumps(CATEGORIES, indent=2), encoding="utf-8")
    return [env, cats]


def read_properties(path: Path) -> dict[str, str]:
    """The simple subset of .properties that :func:`write_allure_metadata` writes."""
    out = {}
    for line in path.read_text(encoding="ascii").splitlines():
        key, _, value = line.partition("=")
        decode = lambda s: s.encode("ascii").decode("unicode_escape")  # noqa: E731
        out[decode(key)] = decode(value)
    return out


def allure_command() -> str | None:
    return shutil.which("allure")


PACKED = RESULTS_DIR + ".tar.gz"


def pack_results(run_dir: Path) -> Path | None:
    """Replace ``allure-results/`` and the run's Allure spool (``allure_spool``) by
    ``allure-results.tar.gz``: only the allure CLI reads them, and their ~900 small files cost
    far more disk than their bytes (``conformance report`` unpacks it). A spool's records
    become ``allure-results/<name>`` members, as the files they stand for would. None when the
    run has neither."""
    results = run_dir / RESULTS_DIR
    spool = run_dir / SPOOL_NAME
    if not results.is_dir() and not spool.is_file():
        return None
    target = run_dir / PACKED
    tmp = target.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        if results.is_dir():
            tar.add(results, arcname=RESULTS_DIR)
        if spool.is_file():
            now = time.time()
            for name, data in allure_spool.records(spool):
                member = tarfile.TarInfo(f"{RESULTS_DIR}/{name}")
                member.size, member.mtime, member.mode = len(data), now, 0o644
                tar.addfile(member, io.BytesIO(data))
    tmp.replace(target)
    if results.is_dir():
        shutil.rmtree(results)
    spool.unlink(missing_ok=True)
    return target


def unpack_results(run_dir: Path) -> Path:
    """``allure-results/`` back from ``allure-results.tar.gz`` (when it is packed), or from
    the spool a run left unpacked (a killed run)."""
    results = run_dir / RESULTS_DIR
    packed = run_dir / PACKED
    spool = run_dir / SPOOL_NAME
    if not results.is_dir() and packed.is_file():
        with tarfile.open(packed, "r:gz") as tar:
            tar.extractall(run_dir, filter="data")  # refuses links and paths out of run_dir
    elif spool.is_file():
        results.mkdir(exist_ok=True)
        for name, data in allure_spool.records(spool):  # plain names only: no way out
            (results / name).write_bytes(data)
    return results


def render(run_dir: Path, allure: str | None = None) -> Path:
    """Render ``<run>/allure-report/index.html`` (one self-contained file) from the results."""
    results = unpack_results(run_dir)
    if not results.is_dir():
        raise FileNotFoundError(f"{results}: no Allure results in this run folder")
    report = run_dir / REPORT_DIR
    allure = allure or allure_command()
    if allure is None:
        raise FileNotFoundError(INSTALL_HINT.format(results=results, report=report))
    done = subprocess.run(
        [allure, "generate", "--clean", "--single-file", str(results), "-o", str(report)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"allure generate failed: {(done.stderr or done.stdout).strip()}")
    return report / "index.html"


def run_folder_of(where: str | None, reports: Path) -> Path:
    """The run folder named, or the newest one (``reports/latest``)."""
    if where:
        return Path(where)
    latest = resolve_latest(reports)
    if latest is None:
        raise FileNotFoundError(f"no run folder given and no {reports}/latest")
    return latest


def main_report(where: str | None = None, reports: Path = Path("reports")) -> int:
    """``conformance report [RUN_DIR]``: render the Allure HTML and say where it is."""
    try:
        run_dir = run_folder_of(where, reports)
        index = render(run_dir)
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"conformance report: {exc}", file=sys.stderr)
        return 1
    print(f"Allure report: {index}")
    print(f"open it in a browser (one file), or serve it: allure open {index.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main_report(sys.argv[1] if len(sys.argv) > 1 else None))
