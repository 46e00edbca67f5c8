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
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from conformance.declaration import Declaration, ShellControl
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
    """A shell command that gets the bytes: hex in ``$PKG0_HEX``, a file in ``$PKG0_FILE``.

    It runs exactly like a control command (conformance.controllers.processes): ``bash -c``,
    in ``cwd`` (the declaration's folder), with the environment given (the control commands'
    one, see :func:`shell_package0_channel`), its output appended to ``log_path``.
    """

    def __init__(
        self,
        command: str,
        env: Mapping[str, str] | None = None,
        timeout: float = 60,
        *,
        cwd: Path | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.command = command
        self.env = dict(env or {})
        self.timeout = timeout
        self.cwd = cwd
        self.log_path = log_path
        self.last_output = ""

    def deliver(self, data: bytes) -> None:
        from conformance.controllers.processes import run_bounded

        with tempfile.TemporaryDirectory(prefix="pkg0-") as tmp:
            path = Path(tmp) / "package0.bin"
            path.write_bytes(data)
            env = {**os.environ, **self.env, "PKG0_HEX": data.hex(), "PKG0_FILE": str(path)}
            log = self.log_path or Path(tmp) / "package0.log"
            try:
                outcome = run_bounded(self.command, env, self.timeout, self.cwd, log, "package0")
            except OSError as exc:
                raise DeliveryFailed(f"Package 0 command could not start: {exc}") from None
        self.last_output = outcome.output[-2000:]
        if outcome.status is None:
            raise DeliveryFailed(f"Package 0 command did not finish within {self.timeout:g} s")
        if outcome.status != 0:
            raise DeliveryFailed(
                f"Package 0 command exited with {outcome.status}: {self.last_output.strip()}"
            )

    def describe(self) -> str:
        return f"shell {self.command!r}"


def shell_package0_channel(
    declaration: Declaration, lab_addresses: Mapping[str, str], run_dir: Path
) -> ShellChannel:
    """``notification.channel: shell`` as a control command: same shell, folder, environment."""
    from conformance.controllers.processes import command_environment, declaration_dir
    from conformance.controllers.shell import CONTROL_LOG

    assert declaration.omadm is not None and declaration.omadm.notification.command
    control = declaration.control
    return ShellChannel(
        declaration.omadm.notification.command,
        command_environment(declaration, lab_addresses, "package0", {}, run_dir),
        control.timeout if isinstance(control, ShellControl) else 60,
        cwd=declaration_dir(declaration),
        log_path=run_dir / CONTROL_LOG,
    )
