"""FUMO 1.0 on the reference device: Exec Download / Update / DownloadAndUpdate.

The Exec is answered 202 (accepted for asynchronous processing); when the session is over the
work runs in its own thread: download from PkgURL over HTTP(S) (the lab CA verifies the
server), check the image with :func:`conformance.fota.packages.image_info`, walk ``State``
(10 Idle, 30 Download Progressing, 40 Download Complete, 60 Update Progressing, 100 Update
Successful / No Data; 20 Download Failed, 80 Update Failed / No Data) and report the result
in a Generic Alert 1226 of the operation's type with the Exec's Correlator.

Result codes (OMA-TS-DM-FUMO 1.0, "Result Code"): 200 success, 402 corrupted package,
406 download authentication failure, 407 download time-out, 411 malformed or bad URL, 412
download server unavailable, 500 download server error, 503 network error during download.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlparse

import requests

from conformance.errors import ProtocolError
from conformance.fota.packages import image_info
from conformance.simulators.dmtree import DMTree
from conformance.simulators.omadm_faults import Faults
from conformance.simulators.omadm_mo import FUMO_NODE, FUMO_STATE, FumoState
from conformance.simulators.omadm_state import PendingAlert

log = logging.getLogger("omadm-device")

ALERT_PREFIX = "org.openmobilealliance.dm.firmwareupdate."
ALERT_TYPES = {
    "Download": ALERT_PREFIX + "download",
    "Update": ALERT_PREFIX + "update",
    "DownloadAndUpdate": ALERT_PREFIX + "downloadandupdate",
}
MAX_PACKAGE = 64 * 1024 * 1024
BUSY = {FumoState.DOWNLOAD_PROGRESSING, FumoState.UPDATE_PROGRESSING}


class FumoHost(Protocol):
    tree: DMTree
    lock: threading.RLock
    faults: Faults
    request_timeout: float

    def download(self, url: str) -> requests.Response: ...
    def firmware_updated(self, version: str) -> None: ...
    def fumo_finished(self, alert: PendingAlert) -> None: ...
    def persist(self) -> None: ...


@dataclass(frozen=True)
class DownloadFailure(Exception):
    result: str
    reason: str


class FumoEngine:
    def __init__(self, host: FumoHost) -> None:
        self.host = host
        self.history: list[int] = []  # every State value taken, for tests and logs
        self._data: bytes | None = None  # a downloaded package kept for a later Exec Update
        self._threads: list[threading.Thread] = []
        self.on_state: Callable[[int], None] | None = None

    def install(self, tree: DMTree) -> None:
        for op in ALERT_TYPES:
            tree.exec_handlers[f"{FUMO_NODE}/{op}"] = self.exec_handler

    # ------------------------------------------------------------------ Exec

    def exec_handler(self, uri: str, data: str, correlator: str | None) -> str:
        op = uri.rsplit("/", 1)[1]
        if self.state() in BUSY:
            return "500"  # one operation at a time
        if (
            op == "Update"
            and self._data is None
            and not self.host.tree.value(f"{FUMO_NODE}/Update/PkgData")
        ):
            return "404"  # nothing to update with (FUMO: the package must be on the device)
        self.host.tree.jobs.append(lambda: self._launch(op, correlator))
        return "202"

    def start(self, op: str, correlator: str | None) -> threading.Thread:
        thread = threading.Thread(
            target=self._run, args=(op, correlator), name=f"fumo-{op}", daemon=True
        )
        self._threads.append(thread)
        thread.start()
        return thread

    def _launch(self, op: str, correlator: str | None) -> None:
        self.start(op, correlator)

    def join(self, timeout: float) -> None:
        for thread in list(self._threads):
            thread.join(timeout)

    # ------------------------------------------------------------------ the work

    def state(self) -> int:
        with self.host.lock:
            value = self.host.tree.value(FUMO_STATE)
        try:
            return int(value or FumoState.IDLE)
        except (TypeError, ValueError):
            return FumoState.IDLE

    def _set_state(self, state: int) -> None:
        with self.host.lock:
            self.host.tree.set_value(FUMO_STATE, str(state))
            self.host.persist()
        self.history.append(state)
        log.info("FUMO State %d", state)
        if self.on_state is not None:
            self.on_state(state)

    def _run(self, op: str, correlator: str | None) -> None:
        try:
            result = self._operate(op)
        except Exception as exc:  # a FUMO bug must not kill the device, but must show
            log.exception("FUMO %s: internal error", op)
            self._set_state(FumoState.UPDATE_FAILED_NO_DATA)
            result = "409"
            log.warning("FUMO %s: %s", op, exc)
        self.host.fumo_finished(PendingAlert(ALERT_TYPES[op], FUMO_NODE, result, correlator))

    def _operate(self, op: str) -> str:
        if op in ("Download", "DownloadAndUpdate"):
            with self.host.lock:
                url = str(self.host.tree.value(f"{FUMO_NODE}/{op}/PkgURL") or "")
            self._set_state(FumoState.DOWNLOAD_PROGRESSING)
            try:
                self._data = self._download(url)
            except DownloadFailure as failure:
                log.warning(
                    "FUMO download of %r failed (%s): %s", url, failure.result, failure.reason
                )
                self._set_state(FumoState.DOWNLOAD_FAILED)
                return failure.result
            self._set_state(FumoState.DOWNLOAD_COMPLETE)
            if op == "Download":
                return "200"
        data = self._data
        if data is None:
            with self.host.lock:
                stored = self.host.tree.value(f"{FUMO_NODE}/Update/PkgData")
            data = stored if isinstance(stored, bytes) else (stored or "").encode()
        return self._update(data)

    def _update(self, data: bytes) -> str:
        self._set_state(FumoState.UPDATE_PROGRESSING)
        self._data = None
        try:
            info = image_info(data)
        except ProtocolError as exc:
            if "fumo-accepts-corrupt" in self.host.faults:
                log.info("FUMO: broken package accepted (fault): %s", exc)
                self._set_state(FumoState.UPDATE_SUCCESSFUL_NO_DATA)
                return "200"
            log.warning("FUMO: package rejected: %s", exc)
            self._set_state(FumoState.UPDATE_FAILED_NO_DATA)
            return "402"
        if "fumo-version-unchanged" not in self.host.faults:
            self.host.firmware_updated(info.version)
        self._set_state(FumoState.UPDATE_SUCCESSFUL_NO_DATA)
        return "200"

    def _download(self, url: str) -> bytes:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise DownloadFailure("411", "not an http(s) URL")
        try:
            response = self.host.download(url)
        except requests.Timeout as exc:
            raise DownloadFailure("407", str(exc)) from None
        except requests.exceptions.SSLError as exc:
            raise DownloadFailure("406", f"TLS: {exc}") from None
        except requests.exceptions.InvalidURL as exc:
            raise DownloadFailure("411", str(exc)) from None
        except requests.ConnectionError as exc:
            raise DownloadFailure("412", str(exc)) from None
        except requests.RequestException as exc:
            raise DownloadFailure("503", str(exc)) from None
        with response:
            if response.status_code in (401, 403):
                raise DownloadFailure("406", f"HTTP {response.status_code}")
            if response.status_code >= 500:
                raise DownloadFailure("500", f"HTTP {response.status_code}")
            if response.status_code != 200:
                raise DownloadFailure("411", f"HTTP {response.status_code}")
            data = bytearray()
            try:
                for chunk in response.iter_content(16 * 1024):
                    data += chunk
                    if len(data) > MAX_PACKAGE:
                        raise DownloadFailure("501", "package larger than the device's memory")
            except requests.RequestException as exc:
                raise DownloadFailure("503", f"transfer broken: {exc}") from None
        return bytes(data)
