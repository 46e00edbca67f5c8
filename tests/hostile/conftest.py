"""Fixtures of the hostile-device tests: the OMA-DM lab tests' scripted device and fixtures
(tests/omadm/lab/conftest.py, loaded by path and re-exported, so that there is one scripted
device in the project), plus raw-socket helpers."""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest

from conformance.evidence.transcript import Entry, Transcript


def _load(name: str, relative: str) -> ModuleType:
    """A file of tests/ loaded once by path as module ``name`` (importlib mode has no package
    names); test modules then find it in ``sys.modules``."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / relative)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while it loads
        spec.loader.exec_module(module)
    return sys.modules[name]


_load("conformance_fuzz_campaign", "fuzz/campaign.py")  # its hostile builders
_load("conformance_tests_lwm2m_lab_conftest", "lwm2m/lab/conftest.py")  # the fake LwM2M device
_lab = _load("conformance_tests_omadm_lab_conftest", "omadm/lab/conftest.py")
ScriptedDevice = _lab.ScriptedDevice
DeviceThread = _lab.DeviceThread
fast = _lab.fast
# Fixtures, re-exported under their own names.
loop = _lab.loop
declaration = _lab.declaration
transcript = _lab.transcript
omadm_lab = _lab.omadm_lab
scripted = _lab.scripted
in_thread = _lab.in_thread
make_lab = _lab.make_lab


def connect(url: str, timeout: float = 10) -> socket.socket:
    """A raw TCP connection to the host and port of ``url`` (loopback)."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    return sock


def read_response(sock: socket.socket, limit: int = 1 << 20) -> bytes:
    """Everything the server sends until it closes or a full response with a body arrived."""
    data = b""
    while len(data) < limit:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = next(
                (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                 if line.lower().startswith(b"content-length:")),
                None,
            )
            if length is not None and len(body) >= length:
                break
    return data


class Tools:
    """Helpers the hostile tests share (a fixture: test modules cannot import a conftest)."""

    connect = staticmethod(connect)
    read_response = staticmethod(read_response)
    ScriptedDevice = ScriptedDevice
    fast = staticmethod(fast)

    def __init__(
        self, transcript: Transcript, scripted: Callable[..., Any], in_thread: Callable[..., Any]
    ) -> None:
        self.transcript = transcript
        self.scripted = scripted
        self.in_thread = in_thread

    def wait_entry(self, predicate: Callable[[Entry], bool], timeout: float = 10) -> Entry:
        """The first transcript entry matching ``predicate``, waiting for it as it is written."""
        found: list[Entry] = []
        arrived = threading.Event()

        def listen(entry: Entry) -> None:
            if not arrived.is_set() and predicate(entry):
                found.append(entry)
                arrived.set()

        self.transcript.subscribe(listen)
        for entry in self.transcript:  # already there before we listened
            if predicate(entry):
                return entry
        if not arrived.wait(timeout):
            raise AssertionError(f"no matching transcript entry within {timeout} s")
        return found[0]

    def good_session(self, lab: Any, session_id: str = "77", **kw: Any) -> Any:
        """A well-behaved device's whole session: proves the lab still serves after abuse."""
        lab.expect_session()
        dev = self.scripted(lab, session_id=session_id, **kw)
        worker = self.in_thread(dev.run)
        session = lab.wait_session(timeout=10)
        assert session.session_id == session_id
        assert session.get("./DevInfo/Man").status == "200"
        session.close()
        worker.result()
        return session


@pytest.fixture
def started() -> Iterator[Callable[[Any], Any]]:
    """``started(server)``: ``server.start()`` now, ``server.stop()`` when the test ends."""
    parts: list[Any] = []

    def start(part: Any) -> Any:
        part.start()
        parts.append(part)
        return part

    yield start
    for part in reversed(parts):
        part.stop()


@pytest.fixture
def tools(
    transcript: Transcript, scripted: Callable[..., Any], in_thread: Callable[..., Any]
) -> Tools:
    return Tools(transcript, scripted, in_thread)
