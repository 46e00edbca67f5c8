"""The reference LwM2M device as a process: ``python -m conformance.simulators.lwm2m_device``.

Command line and control channel are the common ones of docs/architecture.md ("Reference
devices"): ``--dut``, ``--server coap(s)://host:port``, ``--bootstrap URL``, ``--fault NAME``
(repeatable), ``--list-faults``, ``--state-dir``; plus ``--storage-size`` (bytes of firmware
storage, for Update Result 2), ``--ca`` (CA file for https package URIs; default
``$LAB_CA_FILE``), ``--update-time``, ``--bind``, ``--host-instances`` and
``--server-instance`` (the id of the factory Server object instance, /1/0 by default; Anjay's
demo client uses /1/1). Once the CoAP endpoint is up the device prints
``{"event": "ready", …}`` on stdout, then answers each JSON-line command of stdin by id.
Logs go to stderr only; stdout carries nothing but the control channel.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from conformance.declaration import DeclarationError, builtin_declaration, load_declaration
from conformance.errors import ConfigurationError
from conformance.simulators import control
from conformance.simulators.lwm2m_client import DeviceOptions, Lwm2mDevice
from conformance.simulators.lwm2m_faults import Faults, registry_lines

log = logging.getLogger("lwm2m-device")

MAX_COMMAND = 64 * 1024  # bytes of one control line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.simulators.lwm2m_device",
        description="The reference LwM2M 1.1 device of the conformance suite.",
    )
    parser.add_argument("--dut", type=Path, help="device declaration (default: built-in)")
    parser.add_argument("--server", help="LwM2M server, coap://host:port or coaps://host:port")
    parser.add_argument("--bootstrap", help="bootstrap server URI (the device bootstraps first)")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME",
                        help="inject a fault (repeatable); see --list-faults")
    parser.add_argument("--list-faults", action="store_true", help="print the fault registry")
    parser.add_argument("--state-dir", type=Path, help="where firmware and values persist")
    parser.add_argument("--storage-size", type=int, default=1024 * 1024, metavar="BYTES",
                        help="firmware storage; a bigger image gives Update Result 2")
    parser.add_argument("--ca", default=os.environ.get("LAB_CA_FILE"),
                        help="CA certificate file for https package URIs")
    parser.add_argument("--update-time", type=float, default=0.5, metavar="SECONDS",
                        help="time spent in State 3 Updating")
    parser.add_argument("--bind", default="::", help="local address of the CoAP endpoint")
    parser.add_argument("--host-instances", type=int, default=1, metavar="N",
                        help="instances of the HostDeviceInfo object 10241")
    parser.add_argument("--server-instance", type=int, default=0, metavar="ID",
                        help="instance id of the factory Server object instance (/1/<ID>)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser.parse_args(argv)


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def run(args: argparse.Namespace) -> int:
    declaration = load_declaration(args.dut) if args.dut else builtin_declaration("lwm2m")
    if declaration.protocol != "lwm2m" or declaration.lwm2m is None:
        raise ConfigurationError(f"{declaration.source}: not an LwM2M declaration")
    faults = Faults(args.fault)
    if not 0 <= args.server_instance <= 65534:
        raise ConfigurationError(f"--server-instance {args.server_instance}: not 0…65534")
    if not args.server and not args.bootstrap:
        raise ConfigurationError("give --server and/or --bootstrap")
    options = DeviceOptions(
        server=args.server,
        bootstrap=args.bootstrap,
        state_dir=args.state_dir,
        storage_size=args.storage_size,
        update_time=args.update_time,
        ca_file=args.ca,
        bind=(args.bind, 0),
        host_instances=max(1, args.host_instances),
        server_instance=args.server_instance,
    )
    device = Lwm2mDevice(declaration, faults, options)
    await device.start()
    emit({
        "event": "ready",
        "protocol": "lwm2m",
        "endpoint": declaration.lwm2m.endpoint,
        "address": device.local_address(),
        "pid": os.getpid(),
        "faults": list(faults),
    })
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    control = asyncio.create_task(serve_control(device, stopping))
    await stopping.wait()
    control.cancel()
    try:
        await asyncio.wait_for(device.quit(), declaration.timeouts.request)
    except TimeoutError:
        await device.stop()
    return 0


async def serve_control(device: Lwm2mDevice, stopping: asyncio.Event) -> None:
    """Read JSON-line commands from stdin; each runs as its own task and is answered by id."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_COMMAND)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    running: set[asyncio.Task[None]] = set()
    while True:
        try:
            line = await reader.readline()
        except ValueError:  # longer than MAX_COMMAND: drop what is buffered, go on
            log.warning("control line too long; ignored")
            continue
        if not line:  # EOF: the controller is gone, so is the device's reason to live
            break
        command = control.parse(line.decode("utf-8", "replace"))
        if command is None:
            continue
        if not isinstance(command, control.Command):
            log.warning("control line refused: %s", command["error"])
            emit(command)
            continue
        if command.action == "quit":
            # Answer once de-registered (bounded by the request timeout), then leave.
            try:
                await asyncio.wait_for(device.quit(), device.timeout)
            except TimeoutError:
                log.warning("de-registration did not finish in time")
            emit(control.answer(command.ident))
            stopping.set()
            return
        task = loop.create_task(perform(device, command))
        running.add(task)
        task.add_done_callback(running.discard)
    stopping.set()


async def perform(device: Lwm2mDevice, command: control.Command) -> None:
    action = device.action(command.action)
    if action is None:
        emit(control.answer(command.ident, False, f"unknown action {command.action!r}"))
        return
    try:
        await action(command.params)
    except Exception as exc:  # an action that fails is an answer, never a crash
        log.warning("action %s failed: %s", command.action, exc)
        emit(control.answer(command.ident, False, str(exc) or type(exc).__name__))
        return
    emit(control.answer(command.ident))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # aiocoap sets SO_REUSEPORT on its UDP socket; with port 0 Linux may then hand this device
    # a port another reuse-port socket (the lab's) already has. A device owns its port.
    os.environ.setdefault("AIOCOAP_REUSE_PORT", "0")
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if not args.verbose:
        logging.getLogger("coap").setLevel(logging.WARNING)
        logging.getLogger("coap-server").setLevel(logging.WARNING)
    if args.list_faults:
        print("\n".join(registry_lines()))
        return 0
    try:
        return asyncio.run(run(args))
    except (ConfigurationError, DeclarationError) as exc:
        print(f"lwm2m_device: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
