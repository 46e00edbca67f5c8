"""One asyncio loop in a background thread, and a synchronous bridge into it.

The lab's servers (aiohttp for OMA-DM, aiocoap for LwM2M, the package server) all run on this
loop; test cases are plain synchronous functions that call :meth:`LabLoop.call` with a timeout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# Generation-0 threshold: the default 700 allocations start a collection every few messages.
GC_THRESHOLD_0 = 20_000
# Generation-1: young collections per middle one (default 10). With hundreds of OMA-DM sessions
# open, each middle collection walks their live state again (12 of them, 70-100 ms of CPU, in
# a run of 800 sessions); at 50, 2. Cyclic garbage that outlived a young collection waits
# longer for a middle one: the lab's peak RSS in that benchmark 139 -> 148 MiB (bench/README.md).
GC_THRESHOLD_1 = 50

_gc_lock = threading.Lock()
_gc_tuned = False



class LabLoop:
    def __init__(self, name: str = "lab-loop") -> None:
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.call_soon(self._ready.set)
        loop.run_forever()
        # Drain what is left so that transports close cleanly.
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        """Run ``coro`` on the lab loop and wait for it from this (non-loop) thread.

        Raises ``TimeoutError`` after ``timeout`` seconds (the coroutine is cancelled).
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("LabLoop.call from the loop thread would deadlock")
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimeoutError(f"no result within {timeout} s") from None

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def submit(self, coro: Awaitable[T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)


def tune_gc() -> bool:
    """Freeze what is alive now and make young and middle collections rarer; once per process.

    A lab calls it once started: a full collection walks every object of the process (175-416
    ms measured under load, issue 19), while datagrams and POSTs wait; frozen objects (modules,
    declaration, catalogs) are out of the collector's sight.

    Returns True the first time (when it acted). Objects frozen here are never collected:
    call it after start-up, when what exists is what the process keeps.
    """
    global _gc_tuned
    with _gc_lock:
        if _gc_tuned:
            return False
        _gc_tuned = True
    gc.collect()  # garbage alive now would otherwise be frozen with the rest
    gc.freeze()
    first, second, third = gc.get_threshold()
    gc.set_threshold(max(GC_THRESHOLD_0, first), max(GC_THRESHOLD_1, second), third)
    return True
