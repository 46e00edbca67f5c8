"""The ``conformance`` command: run the suite, start the lab, run a reference device, check files.

Every error is one clear message on stderr and a non-zero exit status; ``--debug`` shows the
traceback instead. ``run`` starts pytest in a child process (one per declaration), so each run
has a fresh lab, its own run folder and its own exit status.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conformance import warmstart

# conformance.declaration (pydantic models, ~0.1 s to import) is imported where it is used:
# `conformance run` starts its zygote first, which then imports beside this process.

CATALOG_ENV = "CONFORMANCE_CATALOG"
PROTOCOLS = ("omadm", "lwm2m")
# What `conformance run` judges without --dut: each built-in declaration, with the catalog
# folder of its cases ("": all; the CSV host device supplies a file, it has no other case).
BUILTIN_RUNS = {"omadm": "", "lwm2m": "", "csv-host-device": "csv"}
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 10  # plugin/gate.py: a requirement could not be judged
EXIT_ERROR = 11  # plugin/gate.py: the suite itself broke
EXIT_LAB_PORTS = EXIT_ERROR  # a fixed lab port is taken: the run does not start
NO_TESTS = 5  # pytest's "no tests collected"
# In a catalog folder: how long its cases took on the built-in devices, keyed by path from
# that folder (scripts/case_seconds.py writes it). It times the cases of a run in parts that no
# earlier run of the device in the reports folder timed (all of them in a first run).
CASE_SECONDS = "case-seconds.json"
# --parts auto (./run suite): parts side by side per built-in device, by measurement
# (bench/README.md §4). The LwM2M cases mostly wait on protocol timers: ten parts (against 6,
# 8 and 12; under a CPU quota that made the machine ~2.2x slower, ten were still no slower
# than six). The OMA-DM run, mostly CPU, ended last whole: two.
AUTO_PARTS = {"lwm2m": 10, "omadm": 2}


class CliError(Exception):
    """A problem to report in one line (exit status ``code``)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- the parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conformance",
        allow_abbrev=False,
        description="AT&T device-management conformance suite: the lab OMA-DM/LwM2M server, "
        "reference devices and the certification catalog.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
        "run",
        allow_abbrev=False,  # "--report…" style pytest options must reach pytest untouched
        help="run the certification catalog against a device (reports under --reports)",
        description="Run the catalog with pytest, one child process per device, side by side. "
        "Without --dut it runs the built-in OMA-DM and LwM2M reference devices. Each device has "
        "its own lab, ports and run folder; a summary follows. Other arguments go to pytest "
        "(-k, -x, -v …). Exit status: the acceptance verdict: 0 every applicable requirement "
        "PASSes, 1 a FAIL, 10 INCONCLUSIVE (0 with --accept-inconclusive), 11 ERROR (the suite "
        "broke); with several devices the worst of theirs, a FAIL first.",
    )
    run.add_argument(
        "--dut", metavar="FILE", action="append",
        help="device declaration (or builtin:omadm|lwm2m); repeat it to run several devices "
        "side by side, each with its own lab and run folder",
    )
    run.add_argument("--reports", metavar="DIR", default="reports", help="default: ./reports")
    run.add_argument(
        "--fault", metavar="NAME", action="append", default=[],
        help="inject a reference-device fault (repeatable; see `conformance faults`)",
    )
    run.add_argument("--run-name", metavar="NAME", help="run folder name instead of a timestamp")
    run.add_argument(
        "--order", metavar="ORDER", default="catalog",
        help="case order: catalog (default), reverse, or random:SEED (pytest-randomly); "
        "verdicts must not depend on it",
    )
    run.add_argument(
        "--catalog", metavar="DIR",
        help=f"the testcases folder (default: ${CATALOG_ENV}, else the repository's testcases/)",
    )
    run.add_argument(
        "--parts", metavar="K|auto", default="1",
        help="run a built-in (simulated) device's catalog as K parts side by side, each with its "
        "own lab and reference device, merged into the device's one run folder (in the "
        "catalog's order, a part done with its share takes what the others have not started); "
        "auto: "
        f"{AUTO_PARTS['lwm2m']} for builtin:lwm2m (its cases wait on protocol timers), "
        f"{AUTO_PARTS['omadm']} for builtin:omadm, 1 for the others. A declared device is one "
        "device: auto means 1 for it, and K > 1 is refused (default: 1)",
    )
    add_rerun_options(run)

    lab = sub.add_parser(
        "lab",
        help="start only the lab servers, print their addresses, stream the transcript",
        description="Start the servers the declaration needs and print their addresses, then "
        "show every message as it passes, until Ctrl-C. The transcript is kept in a run folder.",
    )
    lab.add_argument("--dut", metavar="FILE", help="device declaration (default: builtin:omadm)")
    lab.add_argument("--reports", metavar="DIR", default="reports", help="default: ./reports")
    lab.add_argument("--lab-factory", help=argparse.SUPPRESS)  # tests: "module:callable"

    sim = sub.add_parser(
        "simulate",
        help="run a reference device in the foreground (omadm|lwm2m --server URL [--fault F])",
        description="Run a reference device against a lab address. Its own options follow "
        "(--server URL, --fault NAME, --dut FILE, --bootstrap URL, --state-dir DIR, "
        "--list-faults).",
    )
    sim.add_argument("protocol", choices=PROTOCOLS)
    sim.add_argument("device_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    check = sub.add_parser(
        "check-declaration",
        help="validate a device declaration (exit 0 valid, 1 with the problems)",
    )
    check.add_argument("file")

    sub.add_parser("schema", help="print the declaration's JSON Schema (for editors)")

    csv = sub.add_parser(
        "check-csv", help="check a host identity CSV file (the guide's §1.5 manual alternative)"
    )
    csv.add_argument("file")
    csv.add_argument("--dut", metavar="FILE", help="declaration with the certified host values")

    faults = sub.add_parser("faults", help="list the reference devices' injectable faults")
    faults.add_argument("protocol", choices=PROTOCOLS)

    compare = sub.add_parser(
        "compare",
        help="requirement verdict changes between two run folders (non-zero on a regression)",
    )
    compare.add_argument("old", help="the older run folder")
    compare.add_argument("new", help="the newer run folder")
    compare.add_argument(
        "--accept-inconclusive", action="store_true",
        help="a requirement that went from PASS to INCONCLUSIVE is not a regression",
    )

    report = sub.add_parser(
        "report",
        help="render a run's Allure results as HTML (needs the allure CLI; default: latest run)",
        description="Render RUN_DIR/allure-results into RUN_DIR/allure-report/index.html with "
        "the `allure` CLI (scripts/install-report-tools.sh installs it); without it, says how.",
    )
    report.add_argument("run_dir", nargs="?", help="a run folder (default: reports/latest)")
    report.add_argument("--reports", metavar="DIR", default="reports", help="default: ./reports")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.pytest_args = extra
    handler = COMMANDS[args.command]
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `conformance schema | head`: the reader left, nothing to say
        sys.stderr.close()
        return 1
    except Exception as exc:
        if args.debug:
            raise
        from conformance.declaration import DeclarationError

        code = exc.code if isinstance(exc, CliError) else 1
        text = str(exc) if isinstance(exc, CliError | DeclarationError) else (
            f"{type(exc).__name__}: {exc}"
        )
        print(f"conformance {args.command}: {text}", file=sys.stderr)
        return code


# --------------------------------------------------------------------------- run


def find_catalog(option: str | None) -> Path:
    """--catalog, else $CONFORMANCE_CATALOG, else testcases/ next to the package."""
    chosen = option or os.environ.get(CATALOG_ENV)
    # This file is conformance/cli.py; the repository's catalog sits next to the package.
    path = Path(chosen) if chosen else Path(__file__).resolve().parent.parent / "testcases"
    if not path.is_dir():
        raise CliError(f"no catalog folder at {path} (give --catalog DIR)", EXIT_USAGE)
    return path


def pytest_command(
    catalog: Path, dut: str, reports: str, faults: list[str], run_name: str | None,
    pytest_args: list[str],
) -> list[str]:
    """One catalog run as a command line (``python -m pytest …``)."""
    return [sys.executable, "-m", "pytest",
            *catalog_args(catalog, dut, reports, faults, run_name, pytest_args)]


def catalog_args(
    catalog: Path | list[str], dut: str, reports: str, faults: list[str], run_name: str | None,
    pytest_args: list[str],
) -> list[str]:
    """The pytest arguments of one catalog run (``catalog``: its folder, or the cases)."""
    targets = [str(catalog)] if isinstance(catalog, Path) else catalog
    cmd = [*targets, "--dut", dut, "--reports", reports]
    # labgrid's own pytest plugin (installed with it) would read LG_ENV and restyle the logs;
    # the suite drives labgrid benches through its controller instead. pytest-xdist (both its
    # plugins: looponfail imports execnet) and hypothesis's plugin (installed for the suite's
    # own tests) serve no catalog; without them a one-case LwM2M run took 1.43 s CPU instead of
    # 1.55 s (bench/README.md, CI).
    cmd += ["-p", "no:labgrid", "-p", "no:xdist", "-p", "no:xdist.looponfail",
            "-p", "no:hypothesispytest"]
    for fault in faults:
        cmd += ["--fault", fault]
    if run_name:
        cmd += ["--run-name", run_name]
    return cmd + pytest_args


def case_order_args(order: str) -> list[str]:
    from conformance.plugin.order import order_args

    return order_args(order)


@dataclass
class PlannedRun:
    """One device of a ``conformance run``: its declaration, label and run folder."""

    dut: str  # as given: a file or builtin:<protocol>
    label: str  # prefixes its output lines when devices run side by side
    folder: Path
    cases: Path = Path()  # the catalog (or the part of it) this device runs
    code: int | None = None
    parts: int = 1  # >1: run as that many parts side by side, merged into ``folder``
    # The parts are split by case durations: an earlier run's verdicts.json, then the
    # catalog's CASE_SECONDS for the cases that run did not have.
    weights: list[Path] = field(default_factory=list)
    earlier_seconds: float | None = None  # how long that run took (None: unknown)


def plan_runs(duts: list[str], reports: Path, run_name: str | None) -> list[PlannedRun]:
    """Each declaration loaded (a bad one fails here, in one message), checked for taken or
    shared fixed ports, and given its own run folder name."""
    from conformance.declaration import builtin_declaration, load_declaration
    from conformance.evidence.runfolder import folder_name, safe_name
    from conformance.labports import clashing_ports, taken_ports

    declarations = [
        builtin_declaration(dut.removeprefix("builtin:")) if dut.startswith("builtin:")
        else load_declaration(dut)
        for dut in duts
    ]
    problems = clashing_ports(declarations)
    for declaration in declarations:
        problems += taken_ports(declaration)
    if problems:
        raise CliError("the lab cannot start: " + "; ".join(problems), EXIT_LAB_PORTS)
    now = datetime.now(UTC)
    planned: list[PlannedRun] = []
    taken: set[str] = set()
    for dut, declaration in zip(duts, declarations, strict=True):
        label = dut.removeprefix("builtin:") if dut.startswith("builtin:") else (
            declaration.device.name
        )
        if run_name:
            base = safe_name(run_name if len(duts) == 1 else f"{run_name}-{label}")
        else:
            base = folder_name(declaration.device.name, now)
        name, n = base, 1
        while name in taken or (reports / name).exists():
            n += 1
            name = f"{base}-{n}"
        taken.add(name)
        planned.append(PlannedRun(dut, label, reports / name))
    return planned


def cmd_run(args: argparse.Namespace) -> int:
    warmstart.prestart()  # the zygote's imports overlap the planning below
    catalog = find_catalog(args.catalog)
    try:
        order_args = case_order_args(args.order)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    reports = Path(args.reports)
    duts = args.dut or [f"builtin:{name}" for name in BUILTIN_RUNS]
    parts = {dut: parts_for(dut, args.parts) for dut in duts}
    runs = []
    for run in plan_runs(duts, reports, args.run_name):
        # A built-in may have its own part of the catalog (the CSV host device: csv/).
        run.cases = catalog / BUILTIN_RUNS.get(run.dut.removeprefix("builtin:"), "")
        if run.cases.is_dir():
            runs.append(run)
        else:
            print(f"conformance run: {run.dut}: the catalog has no {run.cases.name}/ folder",
                  flush=True)
    for run in runs:
        run.parts = parts[run.dut]
        if run.parts > 1:
            if (earlier := earlier_verdicts(reports, run.dut)) is not None:
                run.weights.append(earlier[0])
                run.earlier_seconds = earlier[1]
            if (run.cases / CASE_SECONDS).is_file():  # a first run; a case the earlier had not
                run.weights.append(run.cases / CASE_SECONDS)
        shown = f", {run.parts} parts side by side" if run.parts > 1 else ""
        print(f"conformance run: {run.dut} (catalog {catalog}{shown})", flush=True)
    others = len(runs) > 1
    pytest_args = [*order_args, *args.pytest_args]
    held_back = runs_held_back(runs)
    children = start_runs([run for run in runs if run not in held_back], args, pytest_args,
                          others=others)
    # The browser that prints the PDFs this process writes (a merged acceptance.pdf, those of
    # devices side by side: pdfprint.py) starts while the parts wait on their cases: half-way
    # through the longest earlier run of a device in parts, when there is one (its ~1.5 s of
    # start-up CPU is spare then, not taken from the parts' busy start and end; the devices
    # that end before it, the CSV one first, wait for it), else when a child ends (_relay).
    printing = threading.Event()  # a device's PDF printed here may be printed now
    browser = browser_timer(runs, printing)
    if browser is None:
        printing.set()
    # Side by side: each child's lines go out whole, prefixed with its device's label.
    relays, collected = relay_lines(children, others=others, start_browser=browser is None)
    not_started: list[PlannedRun] = []
    if held_back:
        most = most_parts(runs)  # a declared device beside them is not waited for
        try:
            wait_until_collected([event for run, event in collected if run.parts == most])
        except KeyboardInterrupt:  # the runs started stop; those held back never start
            not_started = held_back
        else:
            later = start_runs(held_back, args, pytest_args, others=others)
            relays += relay_lines(later, others=others, start_browser=browser is None)[0]
            children += later
    wait_and_finish([run for run in runs if run not in not_started], children, printing)
    if browser is not None:
        browser.cancel()
    release_pdf_browser()  # every PDF is printed: the browser exits while the rest ends
    for relay in relays:
        relay.join()
    warmstart.stop_zygote()  # every run has ended: the zygote goes (and is waited for) now
    for run in not_started:  # not judged: never a pass, whatever the others' status
        run.code = EXIT_INCONCLUSIVE
        print(f"conformance run: {run.dut}: not started (interrupted): not judged", flush=True)
    for run in runs:
        if run.code == NO_TESTS:
            print(f"conformance run: {run.dut}: no case of the catalog applies", flush=True)
        elif run.folder.is_dir():
            print(f"conformance run: {run.dut}: exit status {run.code}, reports in {run.folder}",
                  flush=True)
    if len(runs) > 1:
        print(summary_table(runs), flush=True)
    return overall_status([run.code for run in runs if run.code is not None])


def parts_for(dut: str, option: str) -> int:
    """How many parts a device's catalog runs in (``--parts``)."""
    from conformance.plugin.parts import MAX_PARTS

    builtin = dut.removeprefix("builtin:") if dut.startswith("builtin:") else None
    if option == "auto":
        return AUTO_PARTS.get(builtin or "", 1)
    if not option.isdigit() or not 1 <= int(option) <= MAX_PARTS:
        raise CliError(f"--parts {option!r}: expected auto or a number from 1 to {MAX_PARTS}",
                       EXIT_USAGE)
    if int(option) > 1 and builtin is None:
        raise CliError(f"--parts {option}: {dut} is one device; only a built-in simulated "
                       "device can run as parts, each part starting its own", EXIT_USAGE)
    return int(option)


EARLIER_RUNS_LOOKED_AT = 50


def earlier_verdicts(reports: Path, dut: str) -> tuple[Path, float | None] | None:
    """The newest verdicts.json in ``reports`` of a run of ``dut`` (for balancing its parts),
    and how long that run took."""
    from conformance.plugin.parts import MAX_WEIGHTS_BYTES

    try:
        found = [(f.stat().st_mtime, f) for f in reports.glob("*/verdicts.json")
                 if not f.parent.is_symlink()]
    except OSError:
        return None
    for _, path in sorted(found, reverse=True)[:EARLIER_RUNS_LOOKED_AT]:
        try:
            if path.stat().st_size > MAX_WEIGHTS_BYTES:
                continue
            facts = json.loads(path.read_text(encoding="utf-8")).get("run", {})
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(facts, dict) and facts.get("declaration") == dut:
            return path, run_seconds(facts)
    return None


Child = tuple[PlannedRun, int, warmstart.Run]  # a run, its part (1 if whole), its pytest


def start_runs(runs: list[PlannedRun], args: argparse.Namespace, pytest_args: list[str], *,
               others: bool) -> list[Child]:
    """The pytest child of each part of each run."""
    return [(run, part, start_child(run, part, args, pytest_args, others=others))
            for run in runs for part in range(1, run.parts + 1)]


def relay_lines(children: list[Child], *, others: bool, start_browser: bool
                ) -> tuple[list[threading.Thread], list[tuple[PlannedRun, threading.Event]]]:
    """A started thread relaying each child's lines (:func:`_relay`), and each child's run
    with an event set once the child has collected its cases (a part's COLLECTED line) or
    ended."""
    relays, collected = [], []
    for run, part, proc in children:
        if proc.stdout is None:
            continue
        collected.append((run, threading.Event()))
        relays.append(threading.Thread(target=_relay, args=(
            proc, f"[{child_label(run, part)}] ", start_browser and cli_prints_pdf(run, others),
            collected[-1][1]), daemon=True))
        relays[-1].start()
    return relays, collected


def runs_held_back(runs: list[PlannedRun]) -> list[PlannedRun]:
    """The built-in devices side by side in fewer parts than the device in the most: started
    once every part of those has collected its cases (the COLLECTED line), so that their CPU
    work fills those parts' protocol waits instead of slowing the parts' start-up, when the
    two cores are busiest (./run suite: bench/README.md §4). A declared device is never held
    back: a real device may be waiting for its lab."""
    most = most_parts(runs)
    return [run for run in runs if run.dut.startswith("builtin:") and run.parts < most]


def most_parts(runs: list[PlannedRun]) -> int:
    """The number of parts of the device run in the most."""
    return max((run.parts for run in runs), default=1)


def wait_until_collected(collected: list[threading.Event]) -> None:
    """Until each of these children has collected its cases, or ended (:func:`relay_lines`)."""
    for event in collected:
        event.wait()


def child_label(run: PlannedRun, part: int) -> str:
    return f"{run.label} {part}/{run.parts}" if run.parts > 1 else run.label


def start_child(
    run: PlannedRun, part: int, args: argparse.Namespace, pytest_args: list[str], *,
    others: bool,
) -> warmstart.Run:
    """The pytest child of one device, or of one part of it (its own lab and simulated device,
    its run folder in the device folder's parts/, no PDF: the merged report prints one).
    ``others``: other devices run side by side with it (its PDF printed here too)."""
    from conformance.evidence.acceptance import PDF_ENV

    quiet = others or run.parts > 1  # lines relayed with a prefix, not written straight out
    # Its PDF printed here, by the browser every device shares (cli_prints_pdf), not its own.
    env = {**os.environ, PDF_ENV: "0"} if cli_prints_pdf(run, others) else None
    if run.parts == 1:
        reports, name = args.reports, run.folder.name
    else:
        from conformance.evidence.parts import part_folder, part_queue

        folder = part_folder(run.folder, part)
        folder.parent.mkdir(parents=True, exist_ok=True)
        if part == 1:
            part_queue(run.folder).unlink(missing_ok=True)  # a queue of this run's only
        reports, name = str(folder.parent), folder.name
        pytest_args = [*pytest_args, "-p", "conformance.plugin.parts", f"--part={part}/{run.parts}"]
        pytest_args += [f"--part-weights={path}" for path in run.weights]
        if args.order == "catalog":  # another order asked for keeps it, in fixed shares
            pytest_args.append(f"--part-queue={part_queue(run.folder)}")
    # A fork of a warm interpreter that has the libraries every run imports (warmstart.py).
    args_of_run = catalog_args(run.cases, run.dut, reports, args.fault, name, pytest_args)
    return warmstart.popen_pytest(args_of_run, env=env,
                                  stdout=subprocess.PIPE if quiet else None)


def wait_through_ctrl_c(procs: Sequence[Any]) -> list[int]:
    """Each run's exit status. Ctrl-C reaches the runs too: they write the reports of what
    they ran (marked incomplete); wait for that, so that a device run in parts still gets its
    merged folder. A second Ctrl-C leaves at once."""
    try:
        return [proc.wait() for proc in procs]
    except KeyboardInterrupt:
        return [proc.wait() for proc in procs]


def cli_prints_pdf(run: PlannedRun, others: bool) -> bool:
    """Whether this process prints the device's acceptance.pdf, not its pytest child: the
    merged one of a device in parts, and that of a device side by side with others, so that
    one browser prints them all (a browser's start costs ~1.5 s of CPU, taken from the other
    devices' cases; pdfprint.py). A device run alone prints its own."""
    return run.parts > 1 or others


def wait_and_finish(runs: list[PlannedRun],
                    children: list[Child],
                    printing: threading.Event | None = None) -> None:
    """Each run's exit status (``run.code``) once its children have ended. A device in parts
    is merged as soon as its own parts have ended, beside the devices still running (the
    other device's run often ends last); the PDF of a device side by side with others is
    printed once its run has ended and ``printing`` is set (the shared browser has started)
    or every child has ended."""
    others = len(runs) > 1
    printing = printing or threading.Event()
    finishers = {id(run): RunFinisher(run, [proc for r, _part, proc in children if r is run],
                                      printing)
                 for run in runs if cli_prints_pdf(run, others)}
    for finisher in finishers.values():
        finisher.start()
    statuses = wait_through_ctrl_c([proc for _run, _part, proc in children])
    printing.set()  # nothing left to wait for
    codes = {(id(run), part): code
             for (run, part, _proc), code in zip(children, statuses, strict=True)}
    for run in runs:
        run.code = finishers[id(run)].code() if id(run) in finishers else codes[id(run), 1]


class RunFinisher(threading.Thread):
    """Waits for the children of one device, then finishes its run folder here: merges its
    parts (:func:`merge_parts`, which prints the merged PDF), or prints its PDF."""

    def __init__(self, run: PlannedRun, procs: list[warmstart.Run],
                 printing: threading.Event) -> None:
        super().__init__(name=f"finish-{run.label}", daemon=True)  # a second Ctrl-C leaves
        self.run_planned = run
        self.procs = procs
        self.printing = printing
        self._code: int | None = None
        self._failed: BaseException | None = None

    def run(self) -> None:
        try:
            codes = wait_through_ctrl_c(self.procs)
            if self.run_planned.parts > 1:
                self._code = merge_parts(self.run_planned, codes)
            else:
                self._code = codes[0]
                from conformance.evidence.acceptance import prestart_pdf, write_pdf_of

                self.printing.wait()
                prestart_pdf(shared=True)  # none started yet (no timer): now
                try:
                    write_pdf_of(self.run_planned.folder)
                except (OSError, subprocess.SubprocessError) as exc:  # the verdict stands
                    print(f"conformance run: {self.run_planned.dut}: acceptance.pdf not written "
                          f"({type(exc).__name__}: {exc})", flush=True)
        except BaseException as exc:  # re-raised in the caller's thread, by code()
            self._failed = exc

    def code(self) -> int:
        """The device's exit status, once finished."""
        self.join()
        if self._failed is not None:
            raise self._failed
        assert self._code is not None
        return self._code


def merge_parts(run: PlannedRun, codes: list[int]) -> int:
    """The device's run folder from its parts' folders; its exit status."""
    from conformance.evidence.parts import Part, merge, part_folder

    parts = [Part(part_folder(run.folder, i), code) for i, code in enumerate(codes, start=1)]
    try:
        return merge(run.folder, parts, split_by=run.weights)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"conformance run: {run.dut}: merging its parts failed ({type(exc).__name__}: "
              f"{exc}); each part's folder is in {run.folder / 'parts'}", flush=True)
        return EXIT_ERROR  # the suite broke: the device was not judged as a whole


def browser_timer(runs: list[PlannedRun], started: threading.Event) -> threading.Timer | None:
    """A timer starting the PDFs' shared browser half-way through the longest earlier run of
    a device in parts (after its parts' busy start, when the devices held back run too), then
    setting ``started`` (None: no such run known)."""
    from conformance.evidence.acceptance import prestart_pdf

    lasted = [run.earlier_seconds for run in runs
              if run.parts > 1 and run.earlier_seconds is not None]
    if not lasted:
        return None

    def start() -> None:
        prestart_pdf(shared=True)
        started.set()

    timer = threading.Timer(max(lasted) / 2, start)
    timer.daemon = True
    timer.start()
    return timer


def run_seconds(facts: dict[str, Any]) -> float | None:
    """Seconds from start to finish of a run, from its verdicts.json "run" facts (None:
    unknown)."""
    try:
        took = (datetime.fromisoformat(facts["finished"])
                - datetime.fromisoformat(facts["started"])).total_seconds()
    except (ValueError, KeyError, TypeError):
        return None
    return took if 0 < took < 24 * 3600 else None


def _relay(proc: warmstart.Run, prefix: str, start_browser: bool,
           collected: threading.Event) -> None:
    """``proc``'s lines, prefixed; ``collected`` set at its part's COLLECTED line, or at its
    end. At its end, if ``start_browser`` (this process prints its device's PDF, and no timer
    will start the browser), the shared browser starts (if another child's end has not
    started it yet)."""
    from conformance.plugin.parts import COLLECTED

    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            text = line.decode("utf-8", "replace")
            sys.stdout.write(prefix + text)
            sys.stdout.flush()
            if not collected.is_set() and COLLECTED.match(text.rstrip("\n")):
                collected.set()
    finally:
        collected.set()
    if start_browser:
        from conformance.evidence.acceptance import prestart_pdf

        prestart_pdf(shared=True)


def release_pdf_browser() -> None:
    """Every PDF is printed: the shared browser closes (in the background; exit waits)."""
    from conformance.evidence import pdfprint

    pdfprint.release()


def summary_table(runs: list[PlannedRun]) -> str:
    """One summary of the devices run side by side: verdict counts and exit status of each."""
    from conformance.verdicts import Verdict

    names = [v.value for v in Verdict]
    width = max(len(run.label) for run in runs)
    lines = ["conformance run: summary", f"  {'device':{width}}  " + " | ".join(names) + " | exit"]
    for run in runs:
        counts: dict[str, int] = {}
        try:
            data = json.loads((run.folder / "verdicts.json").read_text(encoding="utf-8"))
            counts = {str(k): int(v) for k, v in data.get("counts", {}).items()}
        except (OSError, ValueError, AttributeError):
            pass  # no verdicts: the run broke before its end; its exit status says so
        cells = " | ".join(f"{counts.get(n, 0):>{len(n)}}" for n in names)
        lines.append(f"  {run.label:{width}}  {cells} | {run.code}")
    return "\n".join(lines)


def overall_status(codes: list[int]) -> int:
    """The runs' combined acceptance status (plugin/gate.py): the most severe, FAIL first."""
    from conformance.plugin.gate import worst

    return worst(codes)


# --------------------------------------------------------------------------- rerun by verdict

RERUN_VERDICTS = {
    "fail": "FAIL", "error": "ERROR", "inconclusive": "INCONCLUSIVE", "pass": "PASS",
    "not-applicable": "NOT APPLICABLE",
}
RERUN_FILE = "rerun.json"


def add_rerun_options(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--rerun", metavar="RUN_DIR",
        help="run again only the cases of an earlier run folder that had the verdicts of "
        "--only, against the same declaration (and faults), into a new run folder",
    )
    run.add_argument(
        "--only", metavar="VERDICTS", default="fail,error,inconclusive",
        help="with --rerun: comma-separated verdicts to rerun "
        f"({', '.join(RERUN_VERDICTS)}; default: fail,error,inconclusive)",
    )


def cmd_run_or_rerun(args: argparse.Namespace) -> int:
    return cmd_rerun(args) if getattr(args, "rerun", None) else cmd_run(args)


def rerun_selection(old: Path, only: str) -> tuple[dict[str, Any], list[str]]:
    """The earlier run's facts and the node ids of its cases with the ``only`` verdicts."""
    wanted = set()
    for word in (w.strip().lower() for w in only.split(",") if w.strip()):
        if word not in RERUN_VERDICTS:
            raise CliError(f"--only: unknown verdict {word!r} (one of "
                           f"{', '.join(RERUN_VERDICTS)})", EXIT_USAGE)
        wanted.add(RERUN_VERDICTS[word])
    verdicts = old / "verdicts.json"
    try:
        data = json.loads(verdicts.read_text(encoding="utf-8"))
        run, cases = data["run"], data["cases"]
        nodeids = [str(c["nodeid"]) for c in cases if c["verdict"] in wanted]
    except OSError as exc:
        raise CliError(f"--rerun {old}: no run folder there ({verdicts}: {exc.strerror})",
                       EXIT_USAGE) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise CliError(f"--rerun {old}: {verdicts} is not a run's verdicts ({exc})",
                       EXIT_USAGE) from None
    return run, nodeids


def rerun_declaration(run: dict[str, Any], dut: str | None, old: Path) -> str:
    """The earlier run's declaration (``--dut`` overrides), checked against its summary."""
    origin = dut or str(run.get("declaration", "")).removesuffix(" (default)")
    if not origin:
        raise CliError(f"--rerun {old}: the run does not say its declaration; give --dut FILE")
    declaration = _load_dut(origin)
    try:
        before = json.loads((old / "declaration.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = {}
    for key, value in declaration.summary().items():
        if key in before and before[key] != value:
            raise CliError(f"--rerun {old}: declaration {origin} is not the one of that run "
                           f"({key}: {before[key]!r} then, {value!r} now)", EXIT_USAGE)
    return origin


def cmd_rerun(args: argparse.Namespace) -> int:
    """``run --rerun RUN_DIR --only fail,inconclusive``: those cases again, a new run folder."""
    from conformance.evidence.runfolder import resolve_latest

    old = Path(args.rerun)
    run, nodeids = rerun_selection(old, args.only)
    if not nodeids:
        print(f"conformance run: nothing to rerun: no {args.only} case in {old}")
        return 0
    warmstart.prestart()  # a fork of a warm interpreter, as `run` starts its runs
    dut = rerun_declaration(run, args.dut, old)
    catalog = find_catalog(args.catalog)
    cases = [_node_path(catalog, n) for n in nodeids]
    faults = args.fault or [str(f) for f in run.get("faults", [])]
    run_name = args.run_name or f"{old.resolve().name}-rerun"
    print(f"conformance run: rerunning {len(nodeids)} case(s) of {old} ({args.only}) "
          f"against {dut}", flush=True)
    proc = warmstart.popen_pytest(
        catalog_args(cases, dut, args.reports, faults, run_name, args.pytest_args))
    try:
        (code,) = wait_through_ctrl_c([proc])
    finally:
        warmstart.stop_zygote()
    folder = resolve_latest(Path(args.reports))
    if folder is not None and folder.resolve() != old.resolve():
        (folder / RERUN_FILE).write_text(json.dumps(
            {"of": str(old.resolve()), "only": args.only, "cases": nodeids}, indent=2) + "\n",
            encoding="utf-8")
        print(f"conformance run: exit status {code}, reports in {folder}\n"
              f"  beside the old one: conformance compare {old} {folder}", flush=True)
    return code


def _node_path(catalog: Path, nodeid: str) -> str:
    """A node id of the earlier run (relative to its rootdir) as one this run can find."""
    path, sep, rest = nodeid.partition("::")
    for base in (catalog.parent, catalog, Path.cwd()):
        if (base / path).is_file():
            return f"{base / path}{sep}{rest}"
    raise CliError(f"--rerun: case {nodeid} is not in the catalog {catalog}", EXIT_USAGE)


# --------------------------------------------------------------------------- lab


def _load_dut(value: str | None, default: str = "omadm") -> Any:
    from conformance.declaration import builtin_declaration, load_declaration

    value = value or f"builtin:{default}"
    if value.startswith("builtin:"):
        protocol = value.removeprefix("builtin:")
        if protocol not in PROTOCOLS:
            raise CliError(f"unknown built-in declaration {value!r}", EXIT_USAGE)
        return builtin_declaration(protocol)
    return load_declaration(value)


def _factory(spec: str | None) -> Callable[..., Any]:
    if not spec:
        from conformance.lab import Lab

        return Lab
    module, _, name = spec.partition(":")
    factory: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return factory


def cmd_lab(args: argparse.Namespace) -> int:
    from conformance.evidence.runfolder import RunFolder

    declaration = _load_dut(args.dut)
    folder = RunFolder.create(Path(args.reports), f"lab-{declaration.device.name}")
    lab = _factory(args.lab_factory)(declaration, folder.path)
    lab.transcript.subscribe(_print_entry)
    stop = threading.Event()
    # Ctrl-C, and SIGTERM from a supervisor, both stop the lab cleanly; SIGINT is installed
    # explicitly because a shell starts background jobs with it ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    try:
        lab.start()
        print(f"lab for {declaration.device.name} ({declaration.protocol}) is up:")
        for key, value in sorted(lab.addresses().items()):
            print(f"  {key}={value}")
        print(f"transcript: {folder.path / 'transcript.jsonl'}")
        print(f"capture (Wireshark): {folder.path / 'capture.pcapng'}")
        print("streaming messages; Ctrl-C stops the lab", flush=True)
        while not stop.wait(3600):  # woken only by Ctrl-C (KeyboardInterrupt)
            pass
    except KeyboardInterrupt:
        print("stopping the lab", flush=True)
    finally:
        lab.stop()
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _print_entry(entry: Any) -> None:
    arrow = {"device->lab": "→ lab", "lab->device": "lab →", "note": "note "}.get(
        entry.direction, entry.direction
    )
    error = f"  !! {entry.error}" if entry.error else ""
    print(f"{entry.seq:5} {entry.protocol:8} {arrow} {entry.summary}{error}", flush=True)


# --------------------------------------------------------------------------- the rest


def cmd_simulate(args: argparse.Namespace) -> int:
    module = _optional_module(f"conformance.simulators.{args.protocol}_device")
    if module is None:
        raise CliError(f"the {args.protocol} reference device is not available in this install")
    result = module.main(list(args.device_args))
    return int(result or 0)


def cmd_check_declaration(args: argparse.Namespace) -> int:
    from conformance.declaration import DeclarationError, load_declaration

    try:
        declaration = load_declaration(args.file)
    except DeclarationError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"{args.file}: valid ({declaration.protocol}, device {declaration.device.name})")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from conformance.declaration import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def cmd_check_csv(args: argparse.Namespace) -> int:
    module = _optional_module("conformance.hostcsv")
    if module is None or not hasattr(module, "main"):
        raise CliError("the CSV checker (conformance.hostcsv) is not available in this install")
    argv = [args.file] + (["--dut", args.dut] if args.dut else [])
    return int(module.main(argv) or 0)


def cmd_faults(args: argparse.Namespace) -> int:
    module = _optional_module(f"conformance.simulators.{args.protocol}_faults")
    registry = getattr(module, "FAULTS", None) if module is not None else None
    if registry is None:
        raise CliError(f"no fault registry for the {args.protocol} reference device")
    faults = registry.values() if isinstance(registry, dict) else registry
    for fault in faults:
        print(f"{fault.name:30} {fault.requirement:18} {fault.description}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    module = _optional_module("conformance.evidence.compare")
    if module is None or not hasattr(module, "main_compare"):
        raise CliError("run comparison (conformance.evidence.compare) is not available")
    return int(module.main_compare(
        Path(args.old), Path(args.new), accept_inconclusive=args.accept_inconclusive
    ))


def cmd_report(args: argparse.Namespace) -> int:
    from conformance.evidence.allure_report import main_report

    return main_report(args.run_dir, Path(args.reports))


def _optional_module(name: str) -> Any:
    """The module, or None when it (not one of its own imports) does not exist."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            return None
        raise


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run_or_rerun,
    "lab": cmd_lab,
    "simulate": cmd_simulate,
    "check-declaration": cmd_check_declaration,
    "schema": cmd_schema,
    "check-csv": cmd_check_csv,
    "faults": cmd_faults,
    "compare": cmd_compare,
    "report": cmd_report,
}


def console_main() -> int:
    """The ``conformance`` command (and ``python -m conformance.cli``): :func:`main` in a
    process that ends with it. What it built stays out of the collector's sight from then on:
    its last pass over all of it, at the interpreter's exit, took ~0.1 s at the end of every
    ``./run suite`` (bench/README.md §4) and freed nothing the system does not. The atexit
    handlers and module teardown still run."""
    code = main()
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(console_main())
