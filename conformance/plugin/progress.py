"""Progress on long waits (post-update windows, FOTA downloads), shown by the terminal reporter.

Catalog cases call ``progress("waiting for the post-update session", seconds_left=42)`` before
and during a long wait, or wrap a blocking call in ``with waiting("FOTA download", 120): …``,
which repeats the line every few seconds until the block ends. Outside a pytest run the lines
go to stderr.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# The plugin installs a writer that suspends output capturing and writes to the terminal.
_writer: Callable[[str], None] | None = None
_lock = threading.Lock()


def install(writer: Callable[[str], None] | None) -> Callable[[str], None] | None:
    """Set the writer; returns the previous one (nested pytest runs restore it)."""
    global _writer
    with _lock:
        previous, _writer = _writer, writer
    return previous


def format_progress(message: str, seconds_left: float | None) -> str:
    if seconds_left is None:
        return f"… {message}"
    return f"… {message} ({max(0, round(seconds_left))} s left)"


def progress(message: str, seconds_left: float | None = None) -> None:
    """Show one progress line now."""
    line = format_progress(message, seconds_left)
    with _lock:
        writer = _writer
        if writer is not None:
            writer(line)
            return
    print(line, file=sys.stderr, flush=True)


@contextmanager
def waiting(message: str, seconds: float, every: float = 5.0) -> Iterator[None]:
    """Show ``message`` with a countdown every ``every`` seconds while the block runs."""
    deadline = time.monotonic() + seconds
    done = threading.Event()

    def tick() -> None:
        # Event.wait is the timer: the ticker ends as soon as the block is over.
        while not done.wait(every):
            progress(message, deadline - time.monotonic())

    progress(message, seconds)
    ticker = threading.Thread(target=tick, name="progress", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join(timeout=every + 1)
