"""Helpers for the controller tests: declarations with a given control, a pty modem emulator."""

from __future__ import annotations

import importlib.util
import os
import queue
import select
import threading
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from conformance.controllers import sms
from conformance.declaration import Control, Declaration, builtin_declaration


def declaration_with(
    control: dict[str, Any], protocol: str = "omadm", **update: Any
) -> Declaration:
    """The built-in declaration of ``protocol`` with another control section (no source file)."""
    base = builtin_declaration(protocol)
    parsed = TypeAdapter(Control).validate_python(control)
    return base.model_copy(update={"control": parsed, "source": None, **update})


class ModemEmulator:
    """A modem on a pseudo-terminal: answers AT commands from a table, takes SMS in PDU mode.

    ``responses`` maps a command line to the lines answered (``[]``: no answer at all);
    unknown commands get ERROR. ``urc`` is sent before every answer, as a real modem may
    interleave unsolicited result codes. ``cms_error`` makes every AT+CMGS fail after the PDU.
    """

    def __init__(self, **answers: Any) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self.commands: queue.Queue[str] = queue.Queue()
        self.pdus: list[tuple[int, str]] = []  # (AT+CMGS length, PDU hex)
        self.reset(**answers)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="modem-emulator", daemon=True)
        self._thread.start()

    def reset(
        self,
        responses: dict[str, list[str]] | None = None,
        *,
        echo: bool = True,
        urc: str | None = None,
        cms_error: str | None = None,
    ) -> ModemEmulator:
        """Answer as described from now on, with nothing received yet (also: a shared bench's
        modem, same port, set up anew for each test)."""
        self.responses = responses or {}
        self.echo, self.urc, self.cms_error = echo, urc, cms_error
        self.pdus.clear()
        self.pdu_mode = False
        while not self.commands.empty():
            self.commands.get_nowait()
        return self

    def _send(self, *lines: str) -> None:
        for line in lines:
            os.write(self.master, f"\r\n{line}\r\n".encode())

    def _run(self) -> None:
        buffer = b""
        pending_cmgs: int | None = None
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                continue
            try:
                buffer += os.read(self.master, 4096)
            except OSError:
                return
            while True:
                if pending_cmgs is not None:
                    end = min(
                        (i for i in (buffer.find(b"\x1a"), buffer.find(b"\x1b")) if i >= 0),
                        default=-1,
                    )
                    if end < 0:
                        break
                    pdu, terminator, buffer = (
                        buffer[:end].decode(),
                        buffer[end : end + 1],
                        buffer[end + 1 :],
                    )
                    self._take_pdu(pending_cmgs, pdu, cancelled=terminator == b"\x1b")
                    pending_cmgs = None
                    continue
                end = buffer.find(b"\r")
                if end < 0:
                    break
                line, buffer = buffer[:end].decode().strip(), buffer[end + 1 :].lstrip(b"\n")
                if not line:
                    continue
                self.commands.put(line)
                if self.echo:
                    os.write(self.master, line.encode() + b"\r")
                pending_cmgs = self._answer(line)

    def _answer(self, line: str) -> int | None:
        if self.urc:
            self._send(self.urc)
        if line == "AT+CMGF=0":
            self.pdu_mode = True
            self._send("OK")
        elif line.startswith("AT+CMGS="):
            if not self.pdu_mode:
                self._send("+CMS ERROR: 302")
                return None
            os.write(self.master, b"\r\n> ")
            return int(line.removeprefix("AT+CMGS="))
        elif line in self.responses:
            self._send(*self.responses[line])
        else:
            self._send("ERROR")
        return None

    def _take_pdu(self, length: int, pdu: str, *, cancelled: bool) -> None:
        if cancelled:
            return
        self.pdus.append((length, pdu))
        if self.cms_error:
            self._send(self.cms_error)
            return
        parsed = sms.parse_submit_pdu(pdu)
        if parsed.tpdu_length != length:  # what a real modem checks against AT+CMGS=<length>
            self._send("+CMS ERROR: 304")
            return
        self._send(f"+CMGS: {len(self.pdus)}", "OK")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture
def make_declaration() -> Any:
    """``make_declaration(control, protocol="omadm", **update)``: see :func:`declaration_with`."""
    return declaration_with


@pytest.fixture
def modem_factory() -> Iterator[Any]:
    made: list[ModemEmulator] = []

    def make(**kwargs: Any) -> ModemEmulator:
        modem = ModemEmulator(**kwargs)
        made.append(modem)
        return modem

    yield make
    for modem in made:
        modem.close()


@pytest.fixture(scope="session")
def labgrid_bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A labgrid lab of one bench on loopback: (bench, its modem, its power switch).

    Started once for the tests that ask for it (a few seconds), torn down at the end.
    """
    # With --import-mode=importlib this folder is no package: load the helper by its path.
    spec = importlib.util.spec_from_file_location(
        "conformance_labgrid_lab", Path(__file__).with_name("labgrid_lab.py")
    )
    assert spec is not None and spec.loader is not None
    labgrid_lab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(labgrid_lab)
    modem = ModemEmulator()
    try:
        for lab, switch in labgrid_lab.bench(tmp_path_factory.mktemp("labgrid"), modem.port):
            yield lab, modem, switch
    finally:
        modem.close()


@pytest.fixture
def labgrid_modem(labgrid_bench: Any) -> Any:
    """``labgrid_modem(**kwargs)``: the bench's modem, answering as ``ModemEmulator(**kwargs)``."""
    _, modem, switch = labgrid_bench
    switch.switched()  # what earlier tests did to the power is theirs
    return modem.reset
