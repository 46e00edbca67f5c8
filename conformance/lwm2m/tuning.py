"""Socket tuning so that the LwM2M lab absorbs datagram bursts (issue 19).

Why: UDP has no flow control. While the lab's loop is busy (a burst of registrations, or a
pause of the cyclic garbage collector over every object of the process: 175-416 ms measured),
datagrams wait in the socket's receive buffer; the default buffer (net.core.rmem_default,
208 KiB: a few hundred small datagrams) overflows and the kernel drops the rest, which a
device then sees as 2-3 s CoAP retransmission delays.

- :func:`size_receive_buffer`: every lab UDP socket asks for ``RECEIVE_BUFFER`` bytes
  (SO_RCVBUFFORCE where the process may, else SO_RCVBUF, which the kernel caps at
  net.core.rmem_max) and reports what the kernel granted.
- The collector's share (pauses of a full collection) is ``conformance.runtime.tune_gc``,
  which both labs call once started.
"""

from __future__ import annotations

import socket

# About one second of 4,000 small datagrams/s (each costs ~1 KiB of buffer in the kernel).
RECEIVE_BUFFER = 4 << 20

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
