"""How a Package 0 (DM notification) reaches the device: a small channel interface.

A channel only transports bytes; :meth:`OmaDmLab.notify` builds the notification and records
each delivery in the transcript (protocol ``package0``). ``deliver`` is synchronous and
returns once the bytes left the lab (a datagram sent, the command finished); it raises
:class:`DeliveryFailed` (INCONCLUSIVE: the lab could not reach the device, which says
nothing about the device) when that is impossible. The SMS channel (WAP Push through a
modem) is built by the device controllers on the same interface.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from conformance.verdicts import Inconclusive


class DeliveryFailed(Inconclusive):
    """The lab could not hand the Package 0 to its channel."""


@runtime_checkable
class Package0Channel(Protocol):
    """``deliver`` is all a channel needs; a ``describe() -> str`` labels the transcript."""

    def deliver(self, data: bytes) -> None: ...


def describe(channel: Package0Channel) -> str:
    label = getattr(channel, "describe", None)
    return str(label()) if callable(label) else type(channel).__name__


class UdpChannel:
    """One datagram to the device's Package 0 listener (simulators, IP-connected devices)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = int(port)

    @classmethod
    def parse(cls, address: str) -> UdpChannel:
        """From ``host:port`` (``[v6]:port`` for IPv6)."""
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"expected host:port, got {address!r}")
        return cls(host.strip("[]") or "127.0.0.1", int(port))

    def deliver(self, data: bytes) -> None:
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
            family, _, _, _, addr = infos[0]
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.sendto(data, addr)
        except OSError as exc:
            raise DeliveryFailed(f"Package 0 to udp {self.describe()}: {exc}") from None

    def describe(self) -> str:
        return f"udp {self.host}:{self.port}"


class ShellChannel:
    """A shell command that gets the bytes: hex in ``$PKG0_HEX``, a file in ``$PKG0_FILE``."""

    def __init__(
        self, command: str, env: Mapping[str, str] | None = None, timeout: float = 60
    ) -> None:
        self.command = command
        self.env = dict(env or {})
        self.timeout = timeout
        self.last_output = ""

    def deliver(self, data: bytes) -> None:
        with tempfile.TemporaryDirectory(prefix="pkg0-") as tmp:
            path = Path(tmp) / "package0.bin"
            path.write_bytes(data)
            env = {**os.environ, **self.env, "PKG0_HEX": data.hex(), "PKG0_FILE": str(path)}
            try:
                done = subprocess.run(
                    self.command,
                    shell=True,
                    env=env,
                    capture_output=True,
                    timeout=self.timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise DeliveryFailed(
                    f"Package 0 command did not finish within {self.timeout:g} s"
                ) from None
            except OSError as exc:
                raise DeliveryFailed(f"Package 0 command could not start: {exc}") from None
        self.last_output = (done.stdout + done.stderr).decode("utf-8", "replace")[-2000:]
        if done.returncode != 0:
            raise DeliveryFailed(
                f"Package 0 command exited with {done.returncode}: {self.last_output.strip()}"
            )

    def describe(self) -> str:
        return f"shell {self.command!r}"
