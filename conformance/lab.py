"""The Lab: everything the declaration needs, started on one :class:`LabLoop`.

One Lab per run: it owns the loop thread, the transcript (``run_dir/transcript.jsonl``, with
the declaration's secrets registered for redaction before the first message), the firmware
package server, and the OMA-DM or LwM2M server facade. The servers are imported lazily so that
a lab of one protocol never imports the other's stack.
"""

from __future__ import annotations

import errno
import importlib
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from conformance.declaration import Declaration
from conformance.evidence.capture import RunCapture
from conformance.evidence.redact import Redactor
from conformance.evidence.transcript import Transcript
from conformance.labports import PortInUse, taken_ports
from conformance.runtime import LabLoop

if TYPE_CHECKING:  # the facades' modules are imported lazily: a lab of one protocol never
    # imports the other's stack
    from conformance.fota.server import PackageServer
    from conformance.lwm2m.lab import Lwm2mLab
    from conformance.omadm.lab import OmaDmLab

TRANSCRIPT_FILE = "transcript.jsonl"


class LabPart(Protocol):
    """What every server facade offers (architecture.md, "Lab servers")."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def addresses(self) -> dict[str, str]: ...


class LabStopError(RuntimeError):
    """One or more parts failed to stop; every other part was still stopped."""

    def __init__(self, problems: list[tuple[str, BaseException]]) -> None:
        self.problems = problems
        text = "; ".join(f"{name}: {type(exc).__name__}: {exc}" for name, exc in problems)
        super().__init__(f"lab shutdown problems: {text}")


# (attribute, module, class): what Lab.start() builds, in start order.
_PACKAGES = ("packages", "conformance.fota.server", "PackageServer")
_BY_PROTOCOL = {
    "omadm": ("omadm", "conformance.omadm.lab", "OmaDmLab"),
    "lwm2m": ("lwm2m", "conformance.lwm2m.lab", "Lwm2mLab"),
}


class Lab:
    def __init__(self, declaration: Declaration, run_dir: Path | str) -> None:
        self.declaration = declaration
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        redactor = Redactor()
        for secret in declaration.secrets():
            redactor.add(secret)
        self.transcript = Transcript(redactor, self.run_dir / TRANSCRIPT_FILE)
        # capture.pcapng (and capture-decrypted.pcapng) written as messages come
        self.capture = RunCapture(self.run_dir)
        self.transcript.subscribe(self.capture.on_entry)
        self.transcript.subscribe_datagrams(self.capture.on_datagram)
        self.loop = LabLoop()
        self.packages: PackageServer | None = None
        self.omadm: OmaDmLab | None = None
        self.lwm2m: Lwm2mLab | None = None
        self._started: list[tuple[str, LabPart]] = []
        self._closed = False

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Start the package server and the protocol server; on failure, undo and re-raise."""
        if self._closed:
            raise RuntimeError("this Lab was stopped; make a new one")
        if self._started:
            return
        specs = [_PACKAGES]
        if self.declaration.protocol in _BY_PROTOCOL:
            specs.append(_BY_PROTOCOL[self.declaration.protocol])
        try:
            for attribute, module, cls in specs:
                part = self._make(module, cls)
                setattr(self, attribute, part)
                part.start()
                self._started.append((attribute, part))
                self.capture.set_lab_addresses(self.addresses())
        except BaseException as exc:
            try:
                self.stop()
            except LabStopError:
                pass  # the start failure is the one worth reporting
            if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
                # One line naming the declared port, not the event loop's bind traceback.
                taken = taken_ports(self.declaration)
                raise PortInUse(taken or [f"a lab port is already in use: {exc}"]) from None
            raise

    def _make(self, module: str, cls: str) -> LabPart:
        factory = getattr(importlib.import_module(module), cls)
        part: LabPart = factory(self.loop, self.declaration, self.transcript, self.run_dir)
        return part

    def stop(self) -> None:
        """Stop every part (newest first), the loop and the transcript. Idempotent.

        A part that fails to stop does not keep the others running; the failures are raised
        together afterwards as :class:`LabStopError`.
        """
        if self._closed:
            return
        self._closed = True
        problems: list[tuple[str, BaseException]] = []
        for name, part in reversed(self._started):
            try:
                part.stop()
            except Exception as exc:
                problems.append((name, exc))
        self._started.clear()
        self.loop.stop()
        self.transcript.close()
        self.capture.close()
        from conformance.tls import discard_private_dir

        discard_private_dir(self.run_dir)  # the throw-away CA keys of this run
        if problems:
            raise LabStopError(problems)

    def addresses(self) -> dict[str, str]:
        """The merged environment a controller hands to the device (LAB_HOST, LAB_…_URL …)."""
        merged: dict[str, str] = {}
        for _, part in self._started:
            merged.update(part.addresses())
        return merged

    def __enter__(self) -> Lab:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
