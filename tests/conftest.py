"""Order of the suite's own tests (the root conftest also serves catalog runs: not there),
acceptance.pdf skipped in the plugin runs they make (one headless Chromium per run, seconds
each; tests/plugin/test_reports_in_browser.py renders and checks it), and background runs.

Background runs: a run that mostly waits on protocol timers (a whole catalog against a
reference device, the interop clients) and that some tests only read. A test names the runs
it reads with ``@pytest.mark.background(name, ...)``; its module says how to make one with
``background_run(name) -> (seconds, run)``, where ``run(folder)`` leaves in ``folder`` what the
readers need and ``seconds`` (its measured length) puts the longest first. When collection
ends, one process of the session (the first pytest-xdist worker to claim them) starts the
runs the selected tests read, BACKGROUND_RUNS at a time in threads, while every worker goes on
with the other tests; the readers run last, on any worker, each waiting for its runs
(``background`` fixture). A run is made once however many tests, on however many workers,
read it: a worker blocked on a run that waits would leave its core idle.
"""

from __future__ import annotations

import fcntl
import os
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("CONFORMANCE_PDF", "0")

settings.register_profile(
    "ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("long", max_examples=100_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Runs at once: each mostly waits (a whole LwM2M catalog: ~7 s CPU in 80 s), so four leave
# the cores to the other tests; the timing cases' tolerances allow for it.
BACKGROUND_RUNS = int(os.environ.get("BACKGROUND_RUNS", "4"))
# Seconds a reader waits for its run, the queue included.
BACKGROUND_LIMIT = float(os.environ.get("BACKGROUND_LIMIT", "800"))
Run = Callable[[Path], None]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "background(*names): reads these background runs (tests/conftest.py)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first (stable otherwise): pytest-xdist hands out work in this order, so
    the long ones start at once instead of leaving one worker busy at the end. The readers of
    background runs last, when their runs are done."""
    items.sort(key=lambda item: (any(m.args for m in item.iter_markers("background")),
                                 item.get_closest_marker("slow") is None))


def _key(item: pytest.Item, name: str) -> str:
    return f"{item.path.stem}.{name}"


def _shared_folder(config: pytest.Config) -> Path:
    """A folder all workers of this session share: the parent of each worker's basetemp."""
    factory: pytest.TempPathFactory = getattr(config, "_tmp_path_factory")  # noqa: B009
    basetemp = factory.getbasetemp()
    return (basetemp.parent if hasattr(config, "workerinput") else basetemp) / "background"


class Background:
    """The background runs this process started (if it claimed them); see the docstring."""

    def __init__(self) -> None:
        self.pool: ThreadPoolExecutor | None = None

    def start(self, folder: Path, runs: dict[str, tuple[float, Run]]) -> None:
        try:
            folder.mkdir()  # the claim: exactly one process of the session makes it
        except FileExistsError:
            return
        self.pool = ThreadPoolExecutor(BACKGROUND_RUNS, thread_name_prefix="background")
        for key, (_, run) in sorted(runs.items(), key=lambda kv: -kv[1][0]):
            (folder / key).mkdir()
            # Held until the run is done: readers wait on it (a shared lock), in any process.
            lock = os.open(folder / key / "lock", os.O_CREAT | os.O_RDWR, 0o600)
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.pool.submit(self._run, run, folder / key, lock)

    @staticmethod
    def _run(run: Run, folder: Path, lock: int) -> None:
        try:
            run(folder)
        except BaseException:  # the reader reports it
            (folder / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
        finally:
            (folder / "done").touch()
            os.close(lock)

    def stop(self, interrupted: bool) -> None:
        """Wait for every run, also those not started yet: readers on other workers need
        them, even when this worker's own tests are done (or it got none)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=interrupted)


def wait_for(folder: Path, timeout: float) -> Path:
    """``folder`` once its run is done; the test fails if it broke or outlasts ``timeout``."""
    lock_path = folder / "lock"
    if not lock_path.is_file():
        pytest.fail(f"background run {folder.name} was never started ({folder})")
    lock = os.open(lock_path, os.O_RDONLY)
    done = threading.Event()

    def take() -> None:  # blocks until the run's process lets its exclusive lock go
        fcntl.flock(lock, fcntl.LOCK_SH)
        done.set()

    threading.Thread(target=take, name=f"wait-{folder.name}", daemon=True).start()
    if not done.wait(timeout):
        pytest.fail(f"background run {folder.name} not done after {timeout:.0f} s ({folder})")
    os.close(lock)
    if not (folder / "done").is_file():  # the lock went with the process that held it
        pytest.fail(f"background run {folder.name}: its worker ended before the run ({folder})")
    error = folder / "error.txt"
    if error.is_file():
        pytest.fail(f"background run {folder.name} broke:\n{error.read_text(encoding='utf-8')}")
    return folder


_BACKGROUND = pytest.StashKey[Background]()


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reports the collection: claim first
def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    runs: dict[str, tuple[float, Run]] = {}
    for item in session.items:
        for mark in item.iter_markers("background"):
            for name in mark.args:
                make = getattr(getattr(item, "module", None), "background_run", None)
                if make is None:
                    raise pytest.UsageError(f"{item.nodeid} reads background run {name!r} but "
                                            "its module has no background_run(name)")
                runs.setdefault(_key(item, name), make(name))
    if runs:
        background = Background()
        session.config.stash[_BACKGROUND] = background
        background.start(_shared_folder(session.config), runs)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    background = session.config.stash.get(_BACKGROUND, None)
    if background is not None:
        background.stop(interrupted=exitstatus == pytest.ExitCode.INTERRUPTED)


@pytest.fixture
def background(request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """``background(name)``: the folder of a background run this test reads, once done."""
    marked = {name for mark in request.node.iter_markers("background") for name in mark.args}

    def wait(name: str) -> Path:
        assert name in marked, f"{request.node.nodeid} reads {name!r} without marking it"
        return wait_for(_shared_folder(request.config) / _key(request.node, name),
                        BACKGROUND_LIMIT)

    return wait


@pytest.fixture(autouse=True)
def _inner_runs_in_file_order(request: pytest.FixtureRequest) -> None:
    """pytester's inner runs have no project ini: keep pytest-randomly (installed for the
    order-independence runs) out of them, so their cases run in file order as written."""
    if "pytester" in request.fixturenames:
        pytester: pytest.Pytester = request.getfixturevalue("pytester")
        pytester.makeini("[pytest]\naddopts = -p no:randomly\n")
