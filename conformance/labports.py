"""The lab's fixed ports: which a declaration asks for, and which another program holds.

A declaration may fix the lab's ports (a real device is configured with them). When one is
taken, the run must say so in one line naming the field and the port, before anything starts,
rather than end every case in a bind traceback.
"""

from __future__ import annotations

import errno
import socket

from conformance.declaration import Declaration

# (field of the ``lab`` section, transport, the protocol that uses it; None: every run)
PORT_FIELDS: tuple[tuple[str, str, str | None], ...] = (
    ("omadm_port", "tcp", "omadm"),
    ("lwm2m_port", "udp", "lwm2m"),
    ("lwm2m_dtls_port", "udp", "lwm2m"),
    ("bootstrap_port", "udp", "lwm2m"),
    ("package_port", "tcp", None),
)


class PortInUse(OSError):
    """A fixed lab port is held by another program (one line, naming the field)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(errno.EADDRINUSE, "; ".join(problems))
        self.problems = problems

    def __str__(self) -> str:
        return "; ".join(self.problems)


def fixed_ports(declaration: Declaration) -> list[tuple[str, int, str]]:
    """(field, port, transport) for every non-zero lab port this declaration's run binds."""
    lab = declaration.lab
    return [
        (name, getattr(lab, name), transport)
        for name, transport, protocol in PORT_FIELDS
        if getattr(lab, name) and protocol in (None, declaration.protocol)
    ]


def taken_ports(declaration: Declaration) -> list[str]:
    """One message per fixed port that cannot be bound now (empty: all free)."""
    host = declaration.lab.host
    problems = []
    for name, port, transport in fixed_ports(declaration):
        kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
        try:
            family, _, _, _, address = socket.getaddrinfo(host, port, type=kind)[0]
            with socket.socket(family, kind) as probe:
                if transport == "tcp":  # as the servers do: TIME_WAIT leftovers are no conflict
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
        except OSError as exc:
            why = (
                "is already in use"
                if exc.errno == errno.EADDRINUSE
                else f"cannot be bound: {exc.strerror}"
            )
            problems.append(f"lab.{name} {port} ({transport} on {host}) {why}")
    return problems


def clashing_ports(declarations: list[Declaration]) -> list[str]:
    """Fixed ports two declarations of one run both ask for (they run side by side)."""
    seen: dict[tuple[str, int, str], str] = {}
    problems = []
    for declaration in declarations:
        for name, port, transport in fixed_ports(declaration):
            key = (declaration.lab.host, port, transport)
            owner = seen.setdefault(key, declaration.device.name)
            if owner != declaration.device.name:
                problems.append(
                    f"lab.{name} {port} ({transport}) of {declaration.device.name} is also "
                    f"a fixed port of {owner}; devices of one run need their own ports"
                )
    return problems
