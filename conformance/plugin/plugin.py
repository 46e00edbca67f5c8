"""The conformance pytest plugin (registered by the ``pytest11`` entry point).

Options ``--dut``, ``--reports``, ``--fault``, ``--run-name``; fixtures ``dut``, ``lab``,
``controller``, ``run_dir``, ``evidence``; markers ``requirement`` and ``applies``; the verdict
model on pytest outcomes; the run folder. See docs/plugin.md.

It is loaded in every pytest run of this environment, so it stays out of the way of the
project's own tests: the verdict model applies only to certification cases (a ``requirement``
marker, or a file under ``testcases/``), and a run folder is made only for a conformance run
(``--dut``/``--reports``/``--run-name`` given, or ``testcases/`` named on the command line).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from conformance.declaration import Declaration
from conformance.plugin import hookspecs, progress
from conformance.plugin.devices import device, dm, registered
from conformance.plugin.fixtures import (
    controller,
    dut,
    evidence,
    lab,
    pytest_conformance_make_controller,
    pytest_conformance_make_lab,
    run_dir,
)
from conformance.plugin.markers import (
    pytest_collection_modifyitems,
    pytest_make_collect_report,
    pytest_runtest_setup,
    register_markers,
)
from conformance.plugin.options import guess_protocol, names_catalog, pytest_addoption
from conformance.plugin.outcomes import (
    pytest_report_teststatus,
    pytest_runtest_makereport,
    pytest_runtest_makereport_without_traceback,
)
from conformance.plugin.reporting import RunReporter, setup_reports
from conformance.plugin.state import RUN_KEY, ConformanceRun
from conformance.plugin.summary import pytest_terminal_summary

__all__ = [
    "controller",
    "declaration_of",
    "declaration_or_none",
    "device",
    "dm",
    "dut",
    "evidence",
    "lab",
    "pytest_addhooks",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_conformance_make_controller",
    "pytest_conformance_make_lab",
    "pytest_make_collect_report",
    "pytest_report_teststatus",
    "pytest_runtest_makereport",
    "pytest_runtest_makereport_without_traceback",
    "pytest_runtest_setup",
    "pytest_terminal_summary",
    "pytest_unconfigure",
    "registered",
    "run_dir",
]

_PREVIOUS_WRITER = pytest.StashKey[Callable[[str], None] | None]()
_PREVIOUS_SIGTERM = pytest.StashKey[Any]()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # tryfirst: junitxml and pytest-html read their output paths in their own pytest_configure.
    register_markers(config)
    dut_option: str | None = config.getoption("dut")
    reports: str | None = config.getoption("reports")
    run_name: str | None = config.getoption("run_name")
    args = [str(a) for a in config.args]
    protocol, certain = guess_protocol(args)
    run = ConformanceRun(
        dut_option=dut_option,
        default_protocol=protocol,
        protocol_certain=certain or dut_option is not None,
        active=bool(dut_option or reports or run_name) or names_catalog(args),
        reports=config.invocation_params.dir / (reports or "reports"),
        run_name=run_name,
        faults=list(config.getoption("fault") or []),
    )
    config.stash[RUN_KEY] = run
    if run.active and not hasattr(config, "workerinput"):
        setup_reports(config, run)
        _on_sigterm_stop_like_ctrl_c(config, run)
    config.pluginmanager.register(RunReporter(run), "conformance-run-reporter")
    config.stash[_PREVIOUS_WRITER] = progress.install(_terminal_writer(config))


def declaration_of(config: pytest.Config) -> Declaration:
    """The run's declaration, also at collection time (e.g. in ``pytest_generate_tests``)."""
    run = config.stash[RUN_KEY]
    return run.declaration


def declaration_or_none(config: pytest.Config) -> Declaration | None:
    """The run's declaration for parametrising at collection; None when there is none to use
    (the plugin reports an unusable declaration itself, once, not per module)."""
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        return None
    try:
        return run.declaration
    except Exception:
        return None


def pytest_unconfigure(config: pytest.Config) -> None:
    progress.install(config.stash.get(_PREVIOUS_WRITER, None))
    if _PREVIOUS_SIGTERM in config.stash:
        signal.signal(signal.SIGTERM, config.stash[_PREVIOUS_SIGTERM])


def _on_sigterm_stop_like_ctrl_c(config: pytest.Config, run: ConformanceRun) -> None:
    """SIGTERM (CI timeout, `kill`) ends the run as Ctrl-C does: the lab stops and the run
    folder gets its reports, with a partial acceptance report (complete: false)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, frame: Any) -> None:
        run.interrupted = "terminated (SIGTERM)"
        raise KeyboardInterrupt("SIGTERM")

    config.stash[_PREVIOUS_SIGTERM] = signal.signal(signal.SIGTERM, stop)


def _terminal_writer(config: pytest.Config) -> Callable[[str], None]:
    def write(line: str) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        capture = config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            print(line, file=sys.stderr, flush=True)
        elif capture is None:
            reporter.write_line(line, cyan=True)
        else:
            with capture.global_and_fixture_disabled():  # past output capturing, to the tty
                reporter.write_line(line, cyan=True)

    return write
