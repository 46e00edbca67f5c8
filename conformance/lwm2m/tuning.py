"""Socket and collector tuning so that the LwM2M lab absorbs datagram bursts (issue 19).

Why: UDP has no flow control. While the lab's loop is busy (a burst of registrations, or a
pause of the cyclic garbage collector over every object of the process: 175-416 ms measured),
datagrams wait in the socket's receive buffer; the default buffer (net.core.rmem_default,
208 KiB: a few hundred small datagrams) overflows and the kernel drops the rest, which a
device then sees as 2-3 s CoAP retransmission delays.

- :func:`size_receive_buffer`: every lab UDP socket asks for ``RECEIVE_BUFFER`` bytes
  (SO_RCVBUFFORCE where the process may, else SO_RCVBUF, which the kernel caps at
  net.core.rmem_max) and reports what the kernel granted.
- :func:`tune_gc`: once per process, after the lab has started, the objects alive then
  (modules, declaration, catalogs) are frozen out of the collector's sight (``gc.freeze``) and
  the young-generation threshold is raised, so collections are rarer and shorter.
"""

from __future__ import annotations

import gc
import socket
import threading

# About one second of 4,000 small datagrams/s (each costs ~1 KiB of buffer in the kernel).
RECEIVE_BUFFER = 4 << 20
# Generation-0 threshold: the default 700 allocations start a collection every few messages.
GC_THRESHOLD_0 = 20_000

_gc_lock = threading.Lock()
_gc_tuned = False


def size_receive_buffer(sock: socket.socket, wanted: int = RECEIVE_BUFFER) -> int:
    """Ask for ``wanted`` bytes of receive buffer; return what the kernel granted.

    The figure is getsockopt's: Linux reports twice the bytes asked for (its bookkeeping
    overhead), capped by net.core.rmem_max unless SO_RCVBUFFORCE was allowed (CAP_NET_ADMIN).
    """
    for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, wanted)
            break
        except OSError:  # not permitted: the capped option next
            continue
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def tune_gc() -> bool:
    """Freeze what is alive now and make young collections rarer; once per process.

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
    _first, second, third = gc.get_threshold()
    gc.set_threshold(max(GC_THRESHOLD_0, gc.get_threshold()[0]), second, third)
    return True
