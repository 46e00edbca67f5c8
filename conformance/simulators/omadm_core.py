"""The reference OMA-DM device itself: tree, state, sessions, Package 0, FUMO, actions.

:class:`ReferenceDevice` is what ``python -m conformance.simulators.omadm_device`` runs behind
its control channel; tests may also run it in-process (it still talks to the lab over real
HTTP and UDP). Sessions run one at a time on a worker thread, in the order they were asked
for; every Generic Alert still owed is carried by the next session until the lab takes it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from conformance.declaration import Declaration
from conformance.omadm.model import AlertCode, Command, Item, Meta, Replace
from conformance.simulators import omadm_mo as mo
from conformance.simulators.dmtree import DMTree
from conformance.simulators.omadm_faults import Faults
from conformance.simulators.omadm_fumo import FumoEngine
from conformance.simulators.omadm_package0 import Package0Listener, session_id_text
from conformance.simulators.omadm_session import (
    Account,
    DmSession,
    SessionRequest,
    SessionResult,
)
from conformance.simulators.omadm_state import PendingAlert, StateStore
from conformance.simulators.omadm_ui import ScriptedUi, UiError, parse_answer

if TYPE_CHECKING:
    from conformance.omadm.notification import Notification

log = logging.getLogger("omadm-device")

AUTH_NAMES = {"DIGEST": "md5", "HMAC": "hmac", "BASIC": "basic"}
UPDATE_PARAMS = {
    "firmware_version",
    "software_version",
    "host_software_version",
    "host_manufacturer",
    "host_model",
    "host_unique_id",
}
HOST_PARAMS = {"manufacturer", "model", "software_version", "unique_id"}
# The Generic Alert the device sends when asked (send_generic_alert), outside FUMO.
EVENT_ALERT_TYPE = "org.conformance-lab.dm.device-event"
EVENT_ALERT_SOURCE = "./DevDetail/Ext"


class ActionError(ValueError):
    """An action the device cannot do as asked (answered ``ok: false`` on the channel)."""


@dataclass(frozen=True)
class DeviceOptions:
    server_url: str | None = None
    ca: Path | None = None
    state_dir: Path | None = None
    notify_host: str = "127.0.0.1"
    notify_port: int = 0


class ReferenceDevice:
    def __init__(
        self, declaration: Declaration, options: DeviceOptions, faults: Faults | None = None
    ) -> None:
        if declaration.omadm is None:
            raise ActionError("the OMA-DM device needs a declaration with an omadm: section")
        self.declaration = declaration
        self.dm = declaration.omadm
        self.options = options
        self.faults = faults or Faults()
        self.lock = threading.RLock()
        self.encoding: str = self.dm.encoding
        self.max_msg_size = self.dm.max_msg_size
        self.ver_proto = f"DM/{self.dm.dm_version}"
        self.large_objects = declaration.features.large_objects
        self.max_obj_size: int | None = 1024 * 1024 if self.large_objects else None
        self.request_timeout = declaration.timeouts.request
        self.http = requests.Session()
        # Explicit, not from the environment: REQUESTS_CA_BUNDLE would override the lab CA,
        # and a proxy variable must not divert a device that talks to the lab directly.
        self.http.trust_env = False
        self.verify: str | bool = str(options.ca) if options.ca else True
        self.store = StateStore(options.state_dir)
        stored = self.store.load()
        self.session_counter = stored.session_counter
        # Factory resets so far: a session started before the last one was cut by it (a real
        # module reboots), so what it learns afterwards is not kept (store_*_nonce).
        self.resets = 0
        self.pending_alerts: list[PendingAlert] = stored.pending_alerts
        self.fumo = FumoEngine(self)
        self.tree = self._build_tree(stored.values)
        self.results: list[SessionResult] = []
        self.ui = ScriptedUi(declaration.features.user_interaction,
                             stub="ui-stub-answers" in self.faults,
                             goes_on="ui-answer-ignored" in self.faults)
        self.abort_requested = threading.Event()  # abort_session: in the current session
        self._resent: set[str | None] = set()  # fault generic-alert-resent: sent twice
        self.session_listeners: list[Callable[[SessionResult], None]] = []
        self._sessions: queue.Queue[SessionRequest | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="dm-sessions", daemon=True)
        self._listener: Package0Listener | None = None
        self._started = False

    # ------------------------------------------------------------------ life cycle

    def _build_tree(self, values: dict[str, str | bytes] | None) -> DMTree:
        tree = mo.build_tree(self.declaration, self.faults, values)
        self.fumo.install(tree)
        return tree

    def start(self) -> tuple[str, int]:
        """Start the session worker and the Package 0 listener; returns the UDP address."""
        self._listener = Package0Listener(
            self.options.notify_host,
            self.options.notify_port,
            self._on_package0,
            self._package0_credentials,
            check_digest="ignores-package0-digest" not in self.faults,
        )
        self._listener.start()
        self._worker.start()
        self._started = True
        return self._listener.address

    def stop(self, timeout: float = 10) -> None:
        if self._listener is not None:
            self._listener.stop()
        if self._started:
            self._sessions.put(None)
            self._worker.join(timeout)
        self.fumo.join(timeout)
        self.http.close()

    @property
    def notify_address(self) -> tuple[str, int] | None:
        return self._listener.address if self._listener is not None else None

    # ------------------------------------------------------------------ sessions

    def request_session(
        self,
        alert: str = AlertCode.CLIENT_INITIATED,
        session_id: str | None = None,
        reason: str = "trigger",
        extra: list[Command] | None = None,
    ) -> SessionRequest:
        with self.lock:
            if session_id is None:
                self.session_counter += 1
                # Hexadecimal like a Package 0 session id (libdmclient writes both so).
                session_id = format(self.session_counter, "X")
                self.persist()
        request = SessionRequest(alert, session_id, reason, list(extra or []))
        log.info("session %s requested (%s, Alert %s)", session_id, reason, alert)
        self._sessions.put(request)
        return request

    def run_session(self, request: SessionRequest) -> SessionResult:
        """Run one session now, in this thread (the worker uses it; so may tests)."""
        if not self.options.server_url:
            return SessionResult(request.session_id, False, "no --server URL to talk to")
        with self.lock:
            request.alerts = list(self.pending_alerts)
        result = DmSession(self, self.options.server_url, request).run()
        self.results.append(result)
        for listener in list(self.session_listeners):
            listener(result)
        return result

    def _work(self) -> None:
        while True:
            request = self._sessions.get()
            if request is None:
                return
            result = self.run_session(request)
            self._run_jobs()
            if not result.ok and "server authentication" not in result.outcome:
                log.info("session %s: %s", request.session_id, result.outcome)

    def _run_jobs(self) -> None:
        with self.lock:
            jobs, self.tree.jobs = self.tree.jobs, []
        for job in jobs:
            job()

    # ------------------------------------------------------------------ SessionHost

    def devid(self) -> str:
        with self.lock:
            return str(self.tree.value(f"{mo.DEVINFO}/DevId") or "")

    def _account_path(self) -> str:
        for path in (mo.PROD_ACCOUNT, mo.DEV_ACCOUNT):
            if self.tree.value(f"{path}/ServerID") == self.dm.server_id:
                return path
        return mo.PROD_ACCOUNT

    def account(self) -> Account:
        with self.lock:
            acc = self._account_path()
            value = self.tree.value

            def text(rel: str) -> str:
                v = value(f"{acc}/{rel}")
                return v.decode() if isinstance(v, bytes) else str(v or "")

            def nonce(rel: str) -> bytes:
                v = value(f"{acc}/{rel}")
                return v if isinstance(v, bytes) else str(v or "null").encode()

            client, server = mo.CLIENT_AUTH, mo.SERVER_AUTH
            return Account(
                client_auth=AUTH_NAMES.get(text(f"{client}/AAuthType"), "none"),
                client_name=text(f"{client}/AAuthName"),
                client_secret=text(f"{client}/AAuthSecret"),
                client_nonce=nonce(f"{client}/AAuthData"),
                server_auth=AUTH_NAMES.get(text(f"{server}/AAuthType"), "none"),
                server_name=text(f"{server}/AAuthName"),
                server_secret=text(f"{server}/AAuthSecret"),
                server_nonce=nonce(f"{server}/AAuthData"),
            )

    def store_client_nonce(self, nonce: bytes, born: int | None = None) -> None:
        """Keep the client nonce; ``born``: the ``resets`` count the storing session began
        with (None: now). A session the lab's last package had ended can still be storing
        when a factory reset arrives; its nonce must not undo the reset's "null"."""
        self._store_nonce(mo.CLIENT_AUTH, nonce, born)

    def store_server_nonce(self, nonce: bytes, born: int | None = None) -> None:
        self._store_nonce(mo.SERVER_AUTH, nonce, born)

    def _store_nonce(self, side: str, nonce: bytes, born: int | None) -> None:
        with self.lock:
            if born is not None and born != self.resets:
                log.info("a factory reset came during the session: its %s nonce is not kept",
                         side)
                return
            self.tree.set_value(f"{self._account_path()}/{side}/AAuthData", nonce)
            self.persist()

    def alert_delivered(self, alert: PendingAlert) -> None:
        resend = alert.alert_type == EVENT_ALERT_TYPE and "generic-alert-resent" in self.faults
        if resend and alert.correlator not in self._resent:
            self._resent.add(alert.correlator)
            log.info("Generic Alert %s kept despite the lab's 200 (fault)", alert.correlator)
            return
        with self.lock:
            if alert in self.pending_alerts:
                self.pending_alerts.remove(alert)
                self.persist()
        log.info("Generic Alert %s %s delivered", alert.alert_type, alert.result)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
        return self.http.post(
            url, data=body, headers=headers, timeout=self.request_timeout, verify=self.verify
        )

    # ------------------------------------------------------------------ FumoHost

    def download(self, url: str) -> requests.Response:
        return self.http.get(url, timeout=self.request_timeout, stream=True, verify=self.verify)

    def firmware_updated(self, version: str) -> None:
        with self.lock:
            self.tree.set_value(f"{mo.DEVDETAIL}/FwV", version)
            self._set_imeisv(version)
            if "host-values-wiped-by-fota" in self.faults:
                log.info("the new firmware starts without the host values (fault)")
                self._wipe_host()
            self.persist()

    def fumo_finished(self, alert: PendingAlert) -> None:
        if "fumo-no-alert" in self.faults:
            log.info("FUMO finished with %s; no Generic Alert (fault)", alert.result)
            return
        with self.lock:
            self.pending_alerts.append(alert)
            self.persist()
        self.request_session(reason=f"FUMO result {alert.result}")

    def persist(self) -> None:
        with self.lock:
            factory = mo.factory_values(self.declaration, self.faults)
            self.store.save(self.tree, factory, self.session_counter, self.pending_alerts)

    # ------------------------------------------------------------------ Package 0

    def _package0_credentials(self) -> tuple[str, str, bytes]:
        account = self.account()
        return self.dm.server_id, account.server_secret, account.server_nonce

    def _on_package0(self, notice: Notification) -> None:
        if "ignores-package0" in self.faults:
            log.info("Package 0 for session %s ignored (fault)", notice.session_id)
            return
        number = notice.session_id
        if "wrong-package0-session-id" in self.faults:
            number = (number + 1) & 0xFFFF
        self.request_session(
            AlertCode.SERVER_INITIATED, session_id_text(number), reason="Package 0"
        )

    # ------------------------------------------------------------------ actions

    def trigger_session(self, params: dict[str, Any]) -> dict[str, Any]:
        _no_params("trigger_session", params)
        request = self.request_session(reason="trigger_session")
        return {"session_id": request.session_id}

    def sideload_update(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._update("sideload", params)

    def oem_server_update(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._update("OEM DM server", params)

    def _update(self, how: str, params: dict[str, Any]) -> dict[str, Any]:
        _check_params(params, UPDATE_PARAMS, required={"firmware_version"})
        host = {
            "manufacturer": params.get("host_manufacturer"),
            "model": params.get("host_model"),
            "software_version": params.get("host_software_version"),
            "unique_id": params.get("host_unique_id"),
        }
        if "stale-host-values" in self.faults:
            host["software_version"] = None  # the module does not follow the host's update
        with self.lock:
            self.tree.set_value(f"{mo.DEVDETAIL}/FwV", str(params["firmware_version"]))
            self._set_imeisv(str(params["firmware_version"]))
            if params.get("software_version") is not None:
                self.tree.set_value(f"{mo.DEVDETAIL}/SwV", str(params["software_version"]))
            self._set_host({k: v for k, v in host.items() if v is not None})
            self.persist()
            changed = self._devdetail_replace()
        log.info("%s update to %s applied", how, params["firmware_version"])
        if "no-post-update-session" in self.faults:
            log.info("no session after the update (fault)")
            return {}
        request = self.request_session(reason=f"{how} update", extra=[changed])
        return {"session_id": request.session_id}

    def _set_host(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            path = mo.HOST_NODES[key]
            if self.tree.exists(path):
                self.tree.set_value(path, str(value))

    def _host(self) -> dict[str, str]:
        """The host values the module holds now (set_host_values names)."""
        return {key: str(self.tree.value(path) or "") for key, path in mo.HOST_NODES.items()
                if self.tree.exists(path)}

    def _wipe_host(self) -> None:
        """The module loses the host values (a reset that clears them)."""
        self._set_host({key: "" for key in self._host()})

    def _set_imeisv(self, firmware_version: str) -> None:
        """The IMEISV follows the installed software as the declaration says: the FOTA
        package's ``new_imeisv`` with that package's version, else the declared one."""
        package = self.declaration.features.fota_package
        imeisv = self.declaration.device.imeisv
        if package is not None and package.new_imeisv and firmware_version == package.new_version:
            imeisv = package.new_imeisv
        path = f"{mo.DEVDETAIL}/Ext/IMEISV"
        if self.tree.exists(path) and "wrong-imeisv-format" not in self.faults:
            self.tree.set_value(path, imeisv)

    def _devdetail_replace(self) -> Replace:
        paths = [f"{mo.DEVDETAIL}/FwV", f"{mo.DEVDETAIL}/SwV", *mo.HOST_NODES.values()]
        items = [
            Item(source=path, meta=Meta(format="chr"), data=str(self.tree.value(path) or ""))
            for path in paths
            if self.tree.exists(path)
        ]
        return Replace(cmd_id="", items=items)

    def set_host_values(self, params: dict[str, Any]) -> dict[str, Any]:
        """The host writes its identity (guide §2.2): reported at once, and, when it changed,
        in a session the device opens to tell the server (guide §4.4, CDR-DVM-1533)."""
        _check_params(params, HOST_PARAMS, required=HOST_PARAMS)
        with self.lock:
            before = self._host()
            self._set_host(params)
            self.persist()
            changed = self._host() != before
            report = self._devdetail_replace()
        if not changed:
            return {}
        if "set-host-values-not-reported" in self.faults:
            log.info("new host values, no session to report them (fault)")
            return {}
        request = self.request_session(reason="host update", extra=[report])
        return {"session_id": request.session_id}

    def reboot(self, params: dict[str, Any]) -> dict[str, Any]:
        _no_params("reboot", params)
        with self.lock:
            self.persist()
            self.tree = self._build_tree(self.store.load().values)
            if "host-values-lost-on-reboot" in self.faults:
                log.info("the host values do not survive the reboot (fault)")
                self._wipe_host()
                self.persist()
            state = self.fumo.state()
            if state in (mo.FumoState.DOWNLOAD_PROGRESSING, mo.FumoState.UPDATE_PROGRESSING):
                self.tree.set_value(mo.FUMO_STATE, str(mo.FumoState.IDLE))
                self.persist()
        log.info("rebooted")
        return {}

    def factory_reset(self, params: dict[str, Any]) -> dict[str, Any]:
        _no_params("factory_reset", params)
        with self.lock:
            self.resets += 1
            host = self._host()
            self.store.clear()
            self.pending_alerts = []
            self.tree = self._build_tree(None)
            # The host identity is the host's, not a factory value: the module keeps it, or
            # clears it and the host writes it again once it sees the reset (guide §2.2;
            # declaration host_identity.factory_reset).
            lost = "host-values-lost-on-factory-reset" in self.faults
            if lost or self.declaration.host_identity.factory_reset == "host-rewrites":
                self._wipe_host()
            if lost:
                log.info("the host values are lost in the factory reset (fault)")
            else:
                self._set_host(host)  # kept, or written again by the host
            self.persist()
        log.info("factory reset: tree, nonces and firmware back to the declaration's values")
        return {}

    def ui_answer(self, params: dict[str, Any]) -> dict[str, Any]:
        """What the device's user does with the next user-interaction alerts."""
        try:
            self.ui.script(parse_answer(params))
        except UiError as exc:
            raise ActionError(str(exc)) from None
        return {}

    def send_generic_alert(self, params: dict[str, Any]) -> dict[str, Any]:
        """A device event reported as a Generic Alert 1226 in a session of the device's own."""
        _no_params("send_generic_alert", params)
        with self.lock:
            alert = PendingAlert(EVENT_ALERT_TYPE, EVENT_ALERT_SOURCE, "200",
                                 correlator=f"event-{self.session_counter + 1}")
            self.pending_alerts.append(alert)
            self.persist()
        request = self.request_session(reason="device event (Generic Alert)")
        return {"session_id": request.session_id}

    def abort_session(self, params: dict[str, Any]) -> dict[str, Any]:
        """The device aborts the session it is in (Alert 1223) at its next message."""
        _no_params("abort_session", params)
        self.abort_requested.set()
        return {}

    ACTIONS = (
        "trigger_session",
        "sideload_update",
        "oem_server_update",
        "reboot",
        "factory_reset",
        "set_host_values",
        "ui_answer",
        "send_generic_alert",
        "abort_session",
    )

    def act(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        if action not in self.ACTIONS:
            raise ActionError(f"unknown action {action!r}")
        result: dict[str, Any] = getattr(self, action)(params)
        return result


def _no_params(action: str, params: dict[str, Any]) -> None:
    if params:
        raise ActionError(f"{action} takes no parameters (got {', '.join(sorted(params))})")


def _check_params(params: dict[str, Any], allowed: set[str], required: set[str]) -> None:
    unknown = set(params) - allowed
    if unknown:
        raise ActionError(f"unknown parameter(s) {', '.join(sorted(unknown))}")
    missing = required - {k for k, v in params.items() if v is not None}
    if missing:
        raise ActionError(f"missing parameter(s) {', '.join(sorted(missing))}")
    for key, value in params.items():
        if value is not None and not isinstance(value, str | int | float):
            raise ActionError(f"{key}: expected a string")
