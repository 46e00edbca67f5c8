"""The reference OMA-DM device as a process: ``python -m conformance.simulators.omadm_device``.

A real OMA-DM 1.2 client over HTTP(S) (see :mod:`omadm_core`), driven through the control
channel of docs/architecture.md: one ``{"event": "ready", "notify": "host:port", "pid": …}``
line on stdout when it is up, then one JSON command a line on stdin
(``{"id": 1, "action": "trigger_session", "params": {}}``), each answered on stdout with
``{"id": 1, "ok": true}`` or ``{"id": 1, "ok": false, "error": "…"}``. ``quit`` (or the end of
stdin) stops the device. Logs go to stderr only.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import IO, Any

from conformance.declaration import (
    Declaration,
    DeclarationError,
    builtin_declaration,
    load_declaration,
)
from conformance.errors import ConfigurationError
from conformance.simulators import control
from conformance.simulators.omadm_core import ActionError, DeviceOptions, ReferenceDevice
from conformance.simulators.omadm_faults import Faults, describe

log = logging.getLogger("omadm-device")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.simulators.omadm_device",
        description="Reference OMA-DM 1.2 device (client) with fault injection.",
    )
    parser.add_argument("--dut", type=Path, help="device declaration (default: built-in)")
    parser.add_argument("--server", help="the lab's OMA-DM URL, http(s)://host:port/…")
    parser.add_argument("--ca", type=Path, help="CA certificate that verifies the lab (TLS)")
    parser.add_argument("--state-dir", type=Path, help="where the device keeps its state")
    parser.add_argument(
        "--fault", action="append", default=[], metavar="NAME", help="inject a fault"
    )
    parser.add_argument("--list-faults", action="store_true", help="print the fault registry")
    parser.add_argument(
        "--notify",
        default=None,
        metavar="HOST:PORT",
        help="Package 0 UDP address (default: the declaration's, else 127.0.0.1:0)",
    )
    parser.add_argument("--log-level", default="INFO", help="stderr log level")
    return parser.parse_args(argv)


def _notify_address(arg: str | None, declaration: Declaration) -> tuple[str, int]:
    text = arg
    if text is None and declaration.omadm is not None:
        text = declaration.omadm.notification.address
    if not text:
        return "127.0.0.1", 0
    host, _, port = text.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise ConfigurationError(f"notify address {text!r}: expected host:port") from None


class ControlChannel:
    """JSON lines in, JSON lines out; one answer per command, in order."""

    def __init__(self, device: ReferenceDevice, out: IO[str]) -> None:
        self.device = device
        self.out = out
        self._lock = threading.Lock()

    def emit(self, payload: dict[str, Any]) -> None:
        with self._lock:
            self.out.write(json.dumps(payload) + "\n")
            self.out.flush()

    def handle(self, line: str) -> bool:
        """Process one command line; False when the device should stop."""
        command = control.parse(line)
        if command is None:
            return True
        if not isinstance(command, control.Command):
            self.emit(command)
            return True
        ident, action, params = command.ident, command.action, command.params
        if action == "quit":
            self.emit(control.answer(ident))
            return False
        try:
            extra = self.device.act(action, params)
        except ActionError as exc:
            self.emit(control.answer(ident, False, str(exc)))
            return True
        except Exception as exc:  # the channel must keep answering whatever happens
            log.exception("action %s failed", action)
            self.emit(control.answer(ident, False, f"internal error: {exc}"))
            return True
        done = control.answer(ident)
        if extra:
            done["result"] = extra
            if "session_id" in extra:
                done["detail"] = f"session {extra['session_id']} queued"
        self.emit(done)
        return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list_faults:
        print(describe())
        return 0
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s omadm-device %(levelname)s %(message)s",
    )
    try:
        declaration = load_declaration(args.dut) if args.dut else builtin_declaration("omadm")
        faults = Faults(args.fault)
        host, port = _notify_address(args.notify, declaration)
    except (DeclarationError, ConfigurationError) as exc:
        print(f"omadm-device: {exc}", file=sys.stderr)
        return 2
    if declaration.protocol != "omadm" or declaration.omadm is None:
        print("omadm-device: the declaration is not an OMA-DM one", file=sys.stderr)
        return 2
    options = DeviceOptions(
        server_url=args.server or os.environ.get("LAB_OMADM_URL"),
        ca=args.ca,
        state_dir=args.state_dir,
        notify_host=host,
        notify_port=port,
    )
    device = ReferenceDevice(declaration, options, faults)
    try:
        notify_host, notify_port = device.start()
    except OSError as exc:
        print(f"omadm-device: cannot open the Package 0 port: {exc}", file=sys.stderr)
        device.stop()
        return 2
    log.info("up: server %s, faults %s", options.server_url, list(faults) or "none")
    channel = ControlChannel(device, sys.stdout)
    channel.emit({"event": "ready", "notify": f"{notify_host}:{notify_port}", "pid": os.getpid()})
    try:
        for line in sys.stdin:
            if not channel.handle(line):
                break
    except KeyboardInterrupt:
        pass
    finally:
        device.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
