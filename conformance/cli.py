"""The ``conformance`` command: run the suite, start the lab, run a reference device, check files.

Every error is one clear message on stderr and a non-zero exit status; ``--debug`` shows the
traceback instead. ``run`` starts pytest in a child process (one per declaration), so each run
has a fresh lab, its own run folder and its own exit status.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from conformance.declaration import DeclarationError, json_schema, load_declaration

CATALOG_ENV = "CONFORMANCE_CATALOG"
PROTOCOLS = ("omadm", "lwm2m")
# What `conformance run` judges without --dut: each built-in declaration, with the catalog
# folder of its cases ("": all; the CSV host device supplies a file, it has no other case).
BUILTIN_RUNS = {"omadm": "", "lwm2m": "", "csv-host-device": "csv"}
EXIT_USAGE = 2
NO_TESTS = 5  # pytest's "no tests collected"


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
        description="Run the catalog with pytest. Without --dut it runs the built-in OMA-DM "
        "and LwM2M reference devices one after the other, each in its own run folder. Other "
        "arguments go to pytest (-k, -x, -v …). Exit status: the acceptance verdict: 0 every "
        "applicable requirement PASSes, 1 a FAIL, 10 INCONCLUSIVE (0 with "
        "--accept-inconclusive), 11 ERROR (the suite broke).",
    )
    run.add_argument("--dut", metavar="FILE", help="device declaration (or builtin:omadm|lwm2m)")
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
    cmd = [sys.executable, "-m", "pytest", str(catalog), "--dut", dut, "--reports", reports]
    # labgrid's own pytest plugin (installed with it) would read LG_ENV and restyle the logs;
    # the suite drives labgrid benches through its controller instead.
    cmd += ["-p", "no:labgrid"]
    for fault in faults:
        cmd += ["--fault", fault]
    if run_name:
        cmd += ["--run-name", run_name]
    return cmd + pytest_args


def case_order_args(order: str) -> list[str]:
    from conformance.plugin.order import order_args

    return order_args(order)


def cmd_run(args: argparse.Namespace) -> int:
    from conformance.evidence.runfolder import resolve_latest

    catalog = find_catalog(args.catalog)
    try:
        order_args = case_order_args(args.order)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if args.dut and not args.dut.startswith("builtin:"):
        load_declaration(args.dut)  # a bad declaration fails here, in one message
    duts = [args.dut] if args.dut else [f"builtin:{name}" for name in BUILTIN_RUNS]
    codes: list[int] = []
    for dut in duts:
        run_name = args.run_name
        if run_name and len(duts) > 1:
            run_name = f"{run_name}-{dut.removeprefix('builtin:')}"
        cases = catalog / BUILTIN_RUNS.get(dut.removeprefix("builtin:"), "")
        if not cases.is_dir():
            print(f"conformance run: {dut}: the catalog has no {cases.name}/ folder", flush=True)
            continue
        print(f"conformance run: {dut} (catalog {catalog})", flush=True)
        cmd = pytest_command(cases, dut, args.reports, args.fault, run_name,
                             [*order_args, *args.pytest_args])
        code = subprocess.call(cmd)
        codes.append(code)
        folder = resolve_latest(Path(args.reports))
        if code == NO_TESTS:
            print(f"conformance run: {dut}: no case of the catalog applies", flush=True)
        elif folder is not None:
            print(f"conformance run: {dut}: exit status {code}, reports in {folder}", flush=True)
    return overall_status(codes)


def overall_status(codes: list[int]) -> int:
    """The runs' combined acceptance status (plugin/gate.py): the most severe, FAIL first."""
    from conformance.plugin.gate import worst

    return worst(codes)


# --------------------------------------------------------------------------- lab


def _load_dut(value: str | None, default: str = "omadm") -> Any:
    from conformance.declaration import builtin_declaration

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
    try:
        declaration = load_declaration(args.file)
    except DeclarationError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"{args.file}: valid ({declaration.protocol}, device {declaration.device.name})")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
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
    "run": cmd_run,
    "lab": cmd_lab,
    "simulate": cmd_simulate,
    "check-declaration": cmd_check_declaration,
    "schema": cmd_schema,
    "check-csv": cmd_check_csv,
    "faults": cmd_faults,
    "compare": cmd_compare,
    "report": cmd_report,
}


if __name__ == "__main__":
    sys.exit(main())
