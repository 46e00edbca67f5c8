"""Warm starts (conformance/warmstart.py): a catalog run forked from the zygote is the same
pytest run as a new interpreter's, waited for, interrupted and killed the same way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance import warmstart

pytestmark = pytest.mark.timeout(120)

# What a run sees of its process: the facts a warm run must share with a new interpreter.
FACTS_TEST = '''
import gc, json, os, sys

def test_facts():
    import conformance.dut.lwm2m as dut
    facts = {
        "cwd": os.getcwd(), "path0": sys.path[0], "argv": sys.argv[1:],
        "env": os.environ.get("WARM_PROBE"), "absent": "WARM_ABSENT" in os.environ,
        "bytecode": sys.dont_write_bytecode,
        "sigint": signal_name(),
        # A module the zygote imported is each run's own copy: nothing an earlier run did to
        # it shows here.
        "left_by_an_earlier_run": getattr(dut, "_warm_probe", None),
    }
    dut._warm_probe = "set"
    with open(os.environ["WARM_FACTS"], "w") as out:
        json.dump({**facts, "zygote_copy": our_package_is_the_zygotes(),
                   "frozen": gc.get_freeze_count() > 0}, out)

def our_package_is_the_zygotes():
    # A fork runs below the zygote's _run_child frame: whether that frame's module is the
    # conformance.zygote this run has says whether the run kept the zygote's import of our
    # package. None: not a fork.
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code.co_name == "_run_child":
            zygote = sys.modules.get("conformance.zygote")
            return zygote is not None and frame.f_globals is vars(zygote)
        frame = frame.f_back
    return None

def signal_name():
    import signal
    handler = signal.getsignal(signal.SIGINT)
    return getattr(handler, "__name__", str(handler))

def test_fails():
    seen = 1
    assert seen == 2
'''

WAITS_TEST = '''
import time

def test_waits():
    print("READY", flush=True)
    time.sleep(300)  # interrupted by the test: the run must stop on SIGINT
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "test_facts.py").write_text(FACTS_TEST, encoding="utf-8")
    (tmp_path / "test_waits.py").write_text(WAITS_TEST, encoding="utf-8")
    return tmp_path


@pytest.fixture
def zygote() -> Iterator[warmstart.Zygote]:
    """A zygote of the test's own: the worker's shared one may be serving other tests' runs."""
    own = warmstart.Zygote.spawn()
    yield own
    own.close()


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(PYTHONDONTWRITEBYTECODE="", **extra)
    return env


def test_a_warm_run_sees_what_a_new_interpreter_sees(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["-q", "-p", "no:cacheprovider", "-p", "no:randomly", "test_facts.py"]
    new = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=project, timeout=60,
                         env=child_env(WARM_PROBE="probe", WARM_FACTS=str(project / "new")),
                         capture_output=True, text=True, check=False)
    env = child_env(WARM_PROBE="probe", WARM_FACTS=str(project / "warm"))
    # In the zygote's environment, not in the run's: the run's own environment must win.
    monkeypatch.setenv("WARM_ABSENT", "the zygote has it")
    zygote = warmstart.Zygote.spawn()
    try:
        runs = [warmstart.run_pytest(args, env=env, cwd=str(project), timeout=60,
                                     zygote=zygote) for _ in range(2)]
    finally:
        zygote.close()
    warm = json.loads((project / "warm").read_text(encoding="utf-8"))
    cold = json.loads((project / "new").read_text(encoding="utf-8"))
    # Our package: the zygote's import in a fork (not imported again), its own in a new one.
    assert cold.pop("zygote_copy") is None and warm.pop("zygote_copy") is True
    # ...and the zygote froze what it imported: out of the fork's collector's sight.
    assert cold.pop("frozen") is False and warm.pop("frozen") is True
    assert warm == cold
    assert warm["env"] == "probe" and warm["absent"] is False
    assert warm["left_by_an_earlier_run"] is None  # the second run: the first left nothing
    for code, output in runs:
        assert code == new.returncode == 1
        # pytest's own assert rewriting of the test module: the failing assert shows its values.
        assert "assert 1 == 2" in output and "assert 1 == 2" in new.stdout
        assert "PytestAssertRewriteWarning" not in output


def test_output_comes_through_a_pipe_line_by_line_and_sigint_stops_the_run(
        project: Path, zygote: warmstart.Zygote) -> None:
    run = warmstart.popen_pytest(["-q", "-s", "-p", "no:cacheprovider", "test_waits.py"],
                                 cwd=str(project), stdout=subprocess.PIPE, zygote=zygote)
    assert isinstance(run, warmstart.WarmRun) and run.stdout is not None
    for line in run.stdout:
        if b"READY" in line:
            break
    else:
        pytest.fail("the run ended before it printed READY")
    os.kill(run.pid, signal.SIGINT)  # what Ctrl-C sends the runs of `conformance run`
    rest = run.stdout.read().decode()
    assert run.wait(timeout=60) == pytest.ExitCode.INTERRUPTED
    assert "KeyboardInterrupt" in rest


def test_a_timeout_kills_the_run(project: Path, zygote: warmstart.Zygote) -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        warmstart.run_pytest(["-q", "-p", "no:cacheprovider", "test_waits.py"],
                             cwd=str(project), timeout=1, zygote=zygote)
    # The killed run was reaped: the zygote still forks the next one.
    code, _ = warmstart.run_pytest(["-q", "-p", "no:cacheprovider", "test_facts.py", "-k",
                                    "fails"], cwd=str(project), timeout=60, zygote=zygote)
    assert code == 1


def test_a_killed_run_reports_its_signal(project: Path, zygote: warmstart.Zygote) -> None:
    run = warmstart.popen_pytest(["-q", "-s", "-p", "no:cacheprovider", "test_waits.py"],
                                 cwd=str(project), stdout=subprocess.PIPE, zygote=zygote)
    assert run.stdout is not None
    run.stdout.readline()
    run.kill()
    assert run.wait(timeout=30) == -signal.SIGKILL
    assert run.poll() == -signal.SIGKILL


def test_a_gone_zygote_falls_back_to_a_new_interpreter(
        project: Path, zygote: warmstart.Zygote, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    assert zygote._proc is not None
    zygote._proc.kill()
    zygote._proc.wait()
    monkeypatch.setattr(warmstart, "_zygote", zygote)  # as if this process's own had died
    monkeypatch.setattr(warmstart, "_zygote_failed", False)
    monkeypatch.setenv(warmstart.WARM_ENV, "1")
    code, output = warmstart.run_pytest(["-q", "-p", "no:cacheprovider", "test_facts.py", "-k",
                                         "fails"], cwd=str(project), timeout=60)
    assert code == 1 and "assert 1 == 2" in output
    assert "warm start unavailable" in capfd.readouterr().err
    assert warmstart._zygote_failed  # the next runs go straight to new interpreters


def test_closing_the_zygote_waits_for_it(zygote: warmstart.Zygote) -> None:
    code, _ = warmstart.run_pytest(["--version"], timeout=60, zygote=zygote)
    assert code == 0
    zygote.close()
    assert zygote._proc is not None
    assert zygote._proc.returncode == 0  # it left on its own once told, and was waited for

ECHO_DEVICE = '''
import sys
for line in sys.stdin:
    print(line.strip().upper(), flush=True)
print("bye", file=sys.stderr, flush=True)
sys.exit(3)
'''

DEVICE_TEST = '''
import os, sys
from conformance import warmstart

def test_the_device_is_a_fork_of_the_zygote(tmp_path):
    log = open(tmp_path / "device.log", "w")
    run = warmstart.fork_module([sys.executable, "-m", "echo_device"], stderr=log.fileno())
    assert run is not None, "no warm fork for the device"
    stat = open(f"/proc/{run.pid}/stat").read().rsplit(")", 1)[1].split()
    assert int(stat[1]) == os.getppid()  # forked by the zygote, as this run was
    assert os.getpgid(run.pid) == run.pid  # a session of its own, as start_new_session=True
    run.stdin.write("hello\\n")
    run.stdin.flush()
    assert run.stdout.readline() == "HELLO\\n"
    run.stdin.close()
    assert run.wait(30) == 3
    log.close()
    assert (tmp_path / "device.log").read_text() == "bye\\n"
'''


def test_a_pytest_fork_forks_its_device_from_the_same_zygote(
        project: Path, zygote: warmstart.Zygote) -> None:
    (project / "echo_device.py").write_text(ECHO_DEVICE, encoding="utf-8")
    (project / "test_device.py").write_text(DEVICE_TEST, encoding="utf-8")
    code, output = warmstart.run_pytest(["-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                                         "test_device.py"], cwd=str(project), timeout=60,
                                        zygote=zygote)
    assert code == 0, output


def test_outside_a_fork_a_device_is_started_by_its_caller(
        monkeypatch: pytest.MonkeyPatch) -> None:
    command = [sys.executable, "-m", "echo_device"]
    monkeypatch.delenv("CONFORMANCE_ZYGOTE", raising=False)
    monkeypatch.setattr(warmstart, "_inherited_looked", False)
    assert warmstart.fork_module(command, stderr=2) is None
    # A variable inherited by a program the fork started names a descriptor it does not have.
    monkeypatch.setattr(warmstart, "_inherited_looked", False)
    monkeypatch.setenv("CONFORMANCE_ZYGOTE", f"0:{os.getpid()}")
    assert warmstart.fork_module(command, stderr=2) is None
    assert warmstart.fork_module(["/bin/echo", "-m", "x"], stderr=2) is None
