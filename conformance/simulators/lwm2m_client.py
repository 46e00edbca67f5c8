"""The reference LwM2M device: objects, registration, bootstrap, FOTA and the lab's actions.

:class:`Lwm2mDevice` wires the parts together on one aiocoap context: the object store and its
hooks (/1/0/8 Update trigger, /3/0/4 Reboot, /5 firmware machine …), the CoAP site serving
the servers' requests, the registration with the current server account, and the actions the
control channel asks for. Faults are looked up where the behaviour they change lives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path as FsPath
from typing import Any, ClassVar
from urllib.parse import urlsplit

from aiocoap import POST, Code, Context, Message

from conformance.declaration import Declaration
from conformance.fota.packages import UPDATE_FAILURE_MARK, ImageInfo
from conformance.lwm2m.codecs import composite as senml_composite
from conformance.lwm2m.model import ContentFormat, Path, Value
from conformance.lwm2m.objects import ObjectRegistry
from conformance.simulators import lwm2m_composite as composite
from conformance.simulators import lwm2m_objects as objs
from conformance.simulators.lwm2m_download import Downloader
from conformance.simulators.lwm2m_faults import Faults
from conformance.simulators.lwm2m_firmware import FirmwareUpdate
from conformance.simulators.lwm2m_queue import AWAKE_1_0, AWAKE_1_1, QueueRadio
from conformance.simulators.lwm2m_registration import (
    UPDATE_AT,
    Registration,
    RegistrationError,
    ServerAccount,
    add_credentials,
    exchange,
)
from conformance.simulators.lwm2m_site import MAX_BODY, DeviceSite
from conformance.simulators.lwm2m_state import (
    DeviceState,
    KeptAccount,
    forget_account,
    load_account,
    save_account,
)
from conformance.simulators.lwm2m_store import ObjectStore, OperationError, Role

log = logging.getLogger("lwm2m-device")

SERVER_SSID = 1
RETRY_FIRST, RETRY_MAX = 1.0, 30.0  # registration retry back-off, seconds
FALLBACK_AFTER = 2  # failed registrations in a row before bootstrapping again


@dataclass(frozen=True)
class DeviceOptions:
    server: str | None
    bootstrap: str | None
    state_dir: FsPath | None
    storage_size: int = 1024 * 1024
    update_time: float = 0.5  # seconds in state 3 Updating ("flashing")
    ca_file: str | None = None
    bind: tuple[str, int] = ("::", 0)
    host_instances: int = 1  # instances of /10241
    server_instance: int = 0  # instance id of the factory Server object instance (/1/x)


class Lwm2mDevice:
    def __init__(self, declaration: Declaration, faults: Faults, options: DeviceOptions) -> None:
        if declaration.lwm2m is None:
            raise ValueError("the declaration has no lwm2m section")
        self.declaration = declaration
        self.lwm2m = declaration.lwm2m
        self.faults = faults
        self.options = options
        self.state = DeviceState.load(declaration, options.state_dir)
        registry = ObjectRegistry.builtin()
        if self.lwm2m.object_ddfs:
            registry.add_files(self.lwm2m.object_ddfs)
        self.store = ObjectStore(registry)
        self.formats = [ContentFormat.by_name(n) for n in declaration.features.content_formats]
        self.timeout = declaration.timeouts.request
        self.context: Context | None = None
        self.site: DeviceSite | None = None
        self.registration: Registration | None = None
        self.firmware: FirmwareUpdate | None = None
        self._time_offset = 0
        self._bootstrap_remote: Any = None
        self._bootstrap_finished: asyncio.Event | None = None
        self._connect_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._disabled: asyncio.Task[Any] | None = None  # a Disable waiting out its timeout
        # Loop time of the last Update Trigger honoured (faults update-trigger-once, renewal-at-*)
        self._triggered_update_at: float | None = None
        self._retrying: asyncio.Task[Any] | None = None  # registering after a bootstrap
        self.registered = asyncio.Event()
        self.radio: QueueRadio | None = None  # queue mode: the receiver that sleeps

    # ------------------------------------------------------------------ set-up

    def default_format(self) -> ContentFormat:
        """TS 1.0 clients default to TLV; from 1.1 SenML CBOR when offered (TS 1.1 §7.1)."""
        order = [ContentFormat.TLV] if self.lwm2m.version == "1.0" else [
            ContentFormat.SENML_CBOR, ContentFormat.TLV]
        order += [ContentFormat.SENML_JSON, ContentFormat.LWM2M_JSON, ContentFormat.TEXT]
        return next((f for f in order if f in self.formats), ContentFormat.TEXT)

    async def start(self) -> None:
        self.site = DeviceSite(
            self.store,
            formats=self.formats,
            default_format=self.default_format(),
            faults=self.faults,
            role_of=self._role_of,
            bootstrap_finish=self._bootstrap_finish,
            default_periods=self._default_periods,
        )
        self.context = await Context.create_server_context(
            self.site, bind=self.options.bind, transports=["udp6", "tinydtls"]
        )
        if self.lwm2m.queued:
            awake = AWAKE_1_0 if self.lwm2m.version == "1.0" else AWAKE_1_1
            self.radio = QueueRadio(awake, lambda remote: self._role_of(remote) is Role.SERVER)
            self.radio.install(self.context)
        self.site.context = self.context
        self.site.on_block1_start = self._block1_started
        self.site.block1_limit = self._block1_limit
        self.site.on_block1_refused = self._block1_refused
        self._build_objects()
        self._connect_task = self._spawn(self._connect(), "connect")

    def local_address(self) -> str:
        """host:port of the plain-UDP endpoint (DTLS sessions get their own sockets)."""
        assert self.context is not None
        for interface in self.context.request_interfaces:
            transport = getattr(interface.token_interface.message_interface, "transport", None)
            if transport is not None:
                host, port = transport.get_extra_info("socket").getsockname()[:2]
                host = "127.0.0.1" if host in ("::", "0.0.0.0") else host
                return f"{host}:{port}"
        return ""

    def _build_objects(self) -> None:
        store = self.store
        objs.populate(store, self.declaration, self.state, self.faults,
                      host_instances=self.options.host_instances)
        self._install_accounts()
        firmware = FirmwareUpdate(
            protocols=list(self.declaration.features.fota_protocols),
            storage_size=self.options.storage_size,
            faults=self.faults,
            fetch=self._downloader().fetch,
            install=self._install_firmware,
            restart=self._after_firmware_update,
            changed=self._firmware_changed,
        )
        self.firmware = firmware
        if self.declaration.features.fota:
            store.set_instance(objs.FIRMWARE, 0, {
                0: None, 1: "", 2: None, 3: 0, 5: 0, 6: "", 7: "",
                8: dict(firmware.protocol_support), 9: firmware.delivery_method, 10: None,
            })
            # /5/0/0 is write-only: no value, but it must be present for Write and Discover
        hooks = store.hooks
        hooks.execute[(objs.SERVER, 8)] = self._exec_update_trigger
        if self.options.bootstrap:
            hooks.execute[(objs.SERVER, 9)] = self._exec_bootstrap_trigger
        hooks.execute[(objs.SERVER, 4)] = self._exec_disable
        store.defaults[objs.SERVER] = objs.server_defaults()
        hooks.write[(objs.SERVER, 1)] = self._write_server_param
        hooks.write[(objs.SERVER, 7)] = self._write_server_param
        hooks.execute[(objs.DEVICE, 4)] = self._exec_reboot
        hooks.execute[(objs.DEVICE, 5)] = self._exec_factory_reset
        hooks.execute[(objs.DEVICE, 12)] = self._exec_reset_error_code
        hooks.dynamic[(objs.DEVICE, 13)] = lambda _iid: int(time.time()) + self._time_offset
        hooks.write[(objs.DEVICE, 13)] = self._write_time
        hooks.write[(objs.FIRMWARE, 0)] = lambda _iid, value: firmware.write_package(
            value if isinstance(value, bytes) else str(value).encode())
        hooks.write[(objs.FIRMWARE, 1)] = lambda _iid, value: firmware.write_uri(str(value))
        hooks.execute[(objs.FIRMWARE, 2)] = lambda _iid, _args: firmware.execute_update()
        hooks.execute[(objs.FIRMWARE, 10)] = lambda _iid, _args: firmware.cancel()

    def _install_accounts(self) -> None:
        """/0 and /1 for the --server account (and the --bootstrap account, if any)."""
        store = self.store
        store.add_object(objs.SECURITY)
        store.add_object(objs.SERVER)
        bootstrap = self.options.bootstrap
        identity, key = self._declared_psk()
        if bootstrap:
            store.set_instance(objs.SECURITY, 0, objs.security_instance(
                bootstrap, bootstrap=True, ssid=0, identity=identity, key=key))
        # The DM account: the one a bootstrap gave before a restart, else the --server one.
        account = load_account(self.options.state_dir) if bootstrap else None
        if account is None and self.options.server and not bootstrap:
            account = KeptAccount(self.options.server, self.lwm2m.short_server_id or SERVER_SSID,
                                  self.lwm2m.lifetime, self.lwm2m.binding)
        if account is not None:
            store.set_instance(objs.SECURITY, 1, objs.security_instance(
                account.uri, bootstrap=False, ssid=account.ssid, identity=identity, key=key))
            store.set_instance(objs.SERVER, self.options.server_instance, objs.server_instance(
                ssid=account.ssid, lifetime=account.lifetime, binding=account.binding,
                bootstrap_trigger=bool(bootstrap)))

    def _declared_psk(self) -> tuple[bytes, bytes]:
        if self.lwm2m.psk_identity and self.lwm2m.psk_key is not None:
            return self.lwm2m.psk_identity.encode(), bytes.fromhex(
                self.lwm2m.psk_key.get_secret_value())
        return b"", b""

    def _downloader(self) -> Downloader:
        assert self.context is not None
        return Downloader(self.context, timeout=self.declaration.timeouts.fota,
                          ca_file=self.options.ca_file)

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(self._logged(coro, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _later(self, coro: Awaitable[Any], name: str) -> None:
        """Run after the current request was answered (Execute answers 2.04 first)."""
        self._spawn(coro, name)

    @staticmethod
    async def _logged(coro: Awaitable[Any], name: str) -> Any:
        try:
            return await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s failed: %s", name, exc)
            return None

    # ------------------------------------------------------------------ accounts

    def _server_account(self) -> ServerAccount | None:
        """The DM server account from /0 and /1 (as --server or a bootstrap server wrote it)."""
        for iid in self.store.instance_ids(objs.SECURITY):
            sec = self.store.instance(objs.SECURITY, iid)
            if sec.get(1) is True or not isinstance(sec.get(0), str):
                continue
            ssid = sec.get(10)
            server = next(
                (self.store.instance(objs.SERVER, s) for s in self.store.instance_ids(objs.SERVER)
                 if self.store.instance(objs.SERVER, s).get(0) == ssid), {})
            identity, key = sec.get(3, b""), sec.get(5, b"")
            if "keeps-factory-psk" in self.faults and self.options.bootstrap:
                log.info("fault keeps-factory-psk: ignoring the provisioned PSK")
                identity, key = self._declared_psk()
            lifetime = server.get(1, self.lwm2m.lifetime)
            binding = server.get(7, self.lwm2m.binding)
            return ServerAccount(
                uri=str(sec[0]),
                ssid=int(ssid) if isinstance(ssid, int) else SERVER_SSID,
                lifetime=int(lifetime) if isinstance(lifetime, int) else self.lwm2m.lifetime,
                binding=str(binding),
                psk_identity=identity if isinstance(identity, bytes) else str(identity).encode(),
                psk_key=key if isinstance(key, bytes) else b"",
            )
        return None

    def links(self) -> str:
        """Registration payload: root link, then objects (with ver) and instances, not /0."""
        out = ['</>;rt="oma.lwm2m"']
        for oid in self.store.object_ids():
            if oid == objs.SECURITY:
                continue
            if oid == objs.HOST and "host-object-not-in-links" in self.faults:
                continue
            definition = self.store.registry.get(oid)
            version = definition.version if definition is not None else "1.0"
            instances = self.store.instance_ids(oid)
            if version != "1.0" or not instances:
                out.append(f"</{oid}>" + (f";ver={version}" if version != "1.0" else ""))
            out.extend(f"</{oid}/{iid}>" for iid in instances)
        return ",".join(out)

    def _role_of(self, remote: Any) -> Role:
        """Bootstrap operations come from the bootstrap server only: the peer of our own
        Bootstrap-Request, or the address of a bootstrap account (server-initiated bootstrap)."""
        if self._bootstrap_remote is not None and remote == self._bootstrap_remote:
            return Role.BOOTSTRAP
        hostinfo = getattr(remote, "hostinfo", None)
        if hostinfo is not None and hostinfo in self._bootstrap_hostinfos():
            return Role.BOOTSTRAP
        return Role.SERVER

    def _bootstrap_hostinfos(self) -> set[str]:
        found = set()
        for iid in self.store.instance_ids(objs.SECURITY):
            sec = self.store.instance(objs.SECURITY, iid)
            uri = sec.get(0)
            if sec.get(1) is True and isinstance(uri, str):
                parts = urlsplit(uri)
                host = parts.hostname or ""
                host = f"[{host}]" if ":" in host else host
                default = 5684 if parts.scheme == "coaps" else 5683
                found.add(f"{host}:{parts.port or default}")
        return found

    def _default_periods(self) -> tuple[int, int]:
        account = self.registration.account if self.registration else None
        for iid in self.store.instance_ids(objs.SERVER):
            inst = self.store.instance(objs.SERVER, iid)
            if account is None or inst.get(0) == account.ssid:
                pmin, pmax = inst.get(2, 0), inst.get(3, 0)
                return (pmin if isinstance(pmin, int) else 0, pmax if isinstance(pmax, int) else 0)
        return 0, 0

    # ------------------------------------------------------------------ connecting

    async def _connect(self) -> None:
        """Bootstrap if asked to, then register; retry with back-off while the lab is away."""
        delay = RETRY_FIRST
        while True:
            try:
                if self.options.bootstrap and self._server_account() is None:
                    await self._bootstrap()
                await self._register()
                return
            except RegistrationError as exc:
                log.warning("%s; retrying in %g s", exc, delay)
            await asyncio.sleep(delay)  # back-off timer between attempts
            delay = min(RETRY_MAX, delay * 2)

    async def _register(self) -> None:
        account = self._server_account()
        if account is None:
            raise RegistrationError("no LwM2M server account (give --server or --bootstrap)")
        assert self.context is not None
        add_credentials(self.context, account)
        if self.registration is not None:
            self.registration.forget()
        self.registration = Registration(
            self.context, account, endpoint=self.lwm2m.endpoint, version=self.lwm2m.version,
            links=self.links, timeout=self.timeout, on_lifetime=self._lifetime_due,
            register_when_forgotten="no-register-after-rejected-update" not in self.faults,
            queue=self.lwm2m.queued and "queue-mode-not-announced" not in self.faults,
            announce_lifetime="lifetime-update-omits-lt" not in self.faults,
        )
        await self.registration.register()
        self.registered.set()

    async def _bootstrap(self) -> None:
        assert self.context is not None and self.options.bootstrap
        identity, key = self._declared_psk()
        account = ServerAccount(self.options.bootstrap, 0, 0, "U", identity, key)
        add_credentials(self.context, account)
        self._bootstrap_finished = asyncio.Event()
        request = Message(code=POST, uri=account.base + "/bs")
        request.opt.uri_query = [f"ep={self.lwm2m.endpoint}"]
        response = await exchange(self.context, request, self.timeout)
        if response.code != Code.CHANGED:
            raise RegistrationError(f"Bootstrap-Request answered {response.code}")
        self._bootstrap_remote = response.remote
        log.info("bootstrap requested; waiting for Bootstrap-Finish")
        try:
            await asyncio.wait_for(self._bootstrap_finished.wait(),
                                   self.declaration.timeouts.session)
        except TimeoutError:
            raise RegistrationError("no Bootstrap-Finish in time") from None
        finally:
            self._bootstrap_remote = None

    def _bootstrap_finish(self) -> None:
        account = self._server_account()
        if account is None:
            # TS 1.1 §5.2.7.6: an unusable configuration is refused with 4.06
            raise OperationError(Code.NOT_ACCEPTABLE, "no LwM2M server account was written")
        if (account.psk_identity, account.psk_key) == self._declared_psk():
            save_account(self.options.state_dir, KeptAccount(
                account.uri, account.ssid, account.lifetime, account.binding))
        else:  # other credentials are not written to the state folder: bootstrap again
            forget_account(self.options.state_dir)
        if self._bootstrap_finished is not None and not self._bootstrap_finished.is_set():
            self._bootstrap_finished.set()  # a client-initiated bootstrap goes on to register
        else:
            # Server-initiated bootstrap: register with what the bootstrap server wrote.
            self._later(self._reregister(), "register after bootstrap")

    async def request_bootstrap(self) -> None:
        """Server-initiated bootstrap (/1/x/9) and factory reset: forget the account, bootstrap."""
        if not self.options.bootstrap:
            raise OperationError(Code.METHOD_NOT_ALLOWED, "no bootstrap server known")
        self._stop_retrying()
        if self.registration is not None:
            self.registration.forget()
            self.registration = None
        for iid in self.store.instance_ids(objs.SECURITY):
            if self.store.instance(objs.SECURITY, iid).get(1) is not True:
                self.store.delete(Path(objs.SECURITY, iid), Role.BOOTSTRAP)
        self.store.delete(Path(objs.SERVER), Role.BOOTSTRAP)
        forget_account(self.options.state_dir)
        await self._bootstrap()
        try:
            await self._register()
        except RegistrationError as exc:
            # The configuration was accepted; the server refusing it (say, a key it does not
            # know) is retried in the background, as a booted device keeps trying.
            log.warning("%s after the bootstrap; retrying in the background", exc)
            self._retrying = self._spawn(self._register_with_retry(), "register after bootstrap")

    def _stop_retrying(self) -> None:
        if self._retrying is not None and self._retrying is not asyncio.current_task():
            self._retrying.cancel()
            self._retrying = None

    # ------------------------------------------------------------------ registration updates

    def _lifetime_due(self) -> None:
        if "no-registration-update" in self.faults:
            log.info("fault no-registration-update: letting the lifetime run out")
            return
        self._spawn(self.update_registration(), "lifetime update")

    async def update_registration(self) -> None:
        if self.registration is None:
            raise RegistrationError("not registered")
        await self.registration.update()

    def _exec_update_trigger(self, _iid: int, _args: bytes) -> None:
        if "ignores-update-trigger" in self.faults or "no-registration-update" in self.faults:
            log.info("fault: ignoring the Registration Update Trigger")
            return
        if "update-trigger-registers-anew" in self.faults:
            log.info("fault update-trigger-registers-anew: a new Register, not an Update")
            self._later(self._reregister(), "triggered re-register")
            return
        if "update-trigger-once" in self.faults and self._triggered_update_at is not None:
            log.info("fault update-trigger-once: no Update for this Registration Update Trigger")
            return
        self._triggered_update_at = asyncio.get_running_loop().time()
        self._later(self.update_registration(), "triggered update")

    def _exec_disable(self, iid: int, _args: bytes) -> None:
        """/1/x/4 Disable: de-register, stay away for the Disable Timeout /1/x/5, come back."""
        timeout = self.store.get(Path(objs.SERVER, iid, 5))
        seconds = timeout if isinstance(timeout, int) and timeout >= 0 else 86400
        if "disable-timeout-ignored" in self.faults:
            log.info("fault disable-timeout-ignored: coming back at once, not after %s s", seconds)
            seconds = 0
        if self._disabled is not None:
            self._disabled.cancel()
        self._disabled = self._spawn(self._disable(iid, seconds), "disable")

    async def _disable(self, iid: int, seconds: int) -> None:
        """Away for ``seconds``; notifications meanwhile are stored when /1/x/6 Notification
        Storing When Disabled or Offline is true (the default), and go out after the new
        Register."""
        if self.site is not None:
            self.site.hold_notifications(lambda: self._stores_notifications(iid))
        session = None
        try:
            if self.registration is not None:
                if "disable-without-deregister" in self.faults:
                    log.info("fault disable-without-deregister: going quiet, no De-register")
                else:
                    await self.registration.deregister()
                # The DTLS session outlives the Disable (the new Register reuses it), so that
                # the stored notifications reach the server on the relations they belong to.
                session, self.registration.remote = self.registration.remote, None
            self.registered.clear()
            await asyncio.sleep(seconds)  # the Disable Timeout is a timer, not a poll
            self._disabled = None
            await self._register_with_retry()
        finally:
            if self.site is not None:
                self.site.release_held()
            del session

    def _stores_notifications(self, iid: int) -> bool:
        if "disabled-notifications-dropped" in self.faults:
            log.info("fault disabled-notifications-dropped: not storing a notification")
            return False
        return self.store.get(Path(objs.SERVER, iid, 6)) is not False

    def _exec_bootstrap_trigger(self, _iid: int, _args: bytes) -> None:
        if not self.options.bootstrap:
            raise OperationError(Code.METHOD_NOT_ALLOWED, "no bootstrap server known")
        if "ignores-bootstrap-trigger" in self.faults:
            log.info("fault ignores-bootstrap-trigger: not asking the bootstrap server")
            return
        self._later(self.request_bootstrap(), "bootstrap request")

    def _write_server_param(self, iid: int, value: Value) -> None:
        """Lifetime (/1/x/1) or binding (/1/x/7) written: tell the server in an Update."""
        registration = self.registration
        if registration is None or self.store.instance(objs.SERVER, iid).get(0) != (
            registration.account.ssid
        ):
            return
        loop = asyncio.get_running_loop()

        def apply() -> None:  # after the store kept the value
            account = self._server_account()
            if account is not None and self.registration is registration:
                longer = account.lifetime > registration.account.lifetime
                registration.with_account(replace(account))
                if longer and "lifetime-increase-not-announced" in self.faults:
                    log.info("fault lifetime-increase-not-announced: no Update for it")
                    return
                if "no-registration-update" not in self.faults:
                    self._spawn(registration.update(), "parameter update")

        loop.call_soon(apply)

    def _write_time(self, _iid: int, value: Value) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise OperationError(Code.BAD_REQUEST, "Current Time is an integer")
        if "current-time-write-ignored" in self.faults:
            log.info("fault current-time-write-ignored: the clock keeps its time")
            return
        self._time_offset = value - int(time.time())

    def _exec_reboot(self, _iid: int, _args: bytes) -> None:
        if "reboot-execute-ignored" in self.faults:
            log.info("fault reboot-execute-ignored: not rebooting")
            return
        self._later(self.reboot(), "reboot")

    def _exec_factory_reset(self, _iid: int, _args: bytes) -> None:
        if "factory-reset-execute-reboots-only" in self.faults:
            log.info("fault factory-reset-execute-reboots-only: rebooting instead")
            self._later(self.reboot(), "reboot instead of factory reset")
            return
        self._later(self.factory_reset(), "factory reset")

    def _exec_reset_error_code(self, _iid: int, _args: bytes) -> None:
        """/3/0/12: one Error Code instance, 0 No error (TS 1.1 E.4)."""
        if "error-code-not-reset" in self.faults:
            log.info("fault error-code-not-reset: keeping the error codes")
            return
        self.store.set(Path(objs.DEVICE, 0, 11), {0: 0})

    # ------------------------------------------------------------------ firmware

    def _block1_started(self, path: Path) -> None:
        firmware = self.firmware
        if path == Path(objs.FIRMWARE, 0, 0) and firmware is not None and (
            objs.FIRMWARE in self.store.object_ids()
        ):
            firmware.push_started()

    def _block1_limit(self, path: Path | None) -> int:
        """A pushed image (/5/0/0) takes at most the firmware storage."""
        if path == Path(objs.FIRMWARE, 0, 0) and self.firmware is not None:
            return self.firmware.storage_size
        return MAX_BODY

    def _block1_refused(self, path: Path) -> None:
        if path == Path(objs.FIRMWARE, 0, 0) and self.firmware is not None:
            self.firmware.push_refused()

    def _firmware_changed(self, resource_id: int, value: object) -> None:
        if objs.FIRMWARE in self.store.object_ids() and self.store.instance_ids(objs.FIRMWARE):
            assert isinstance(value, int | str)
            self.store.set(Path(objs.FIRMWARE, 0, resource_id), value)

    async def _install_firmware(self, info: ImageInfo | None, image: bytes) -> None:
        await asyncio.sleep(self.options.update_time)  # the time flashing takes
        if info is not None and info.version.endswith(UPDATE_FAILURE_MARK):
            raise RuntimeError(f"image {info.version} does not boot: update failed")
        over_http = self.firmware is not None and self.firmware.delivered_by in ("http", "https")
        if over_http and "fota-http-version-unchanged" in self.faults:
            log.info("fault fota-http-version-unchanged: keeping the old firmware version")
            info = None
        if self.options.state_dir is not None:
            self.options.state_dir.mkdir(parents=True, exist_ok=True)
            (self.options.state_dir / "firmware.bin").write_bytes(image)
        if info is not None and "fota-version-unchanged" not in self.faults:
            self.state.firmware_version = info.version
            self.state.save(self.options.state_dir)
            self.store.set(Path(objs.DEVICE, 0, 3), info.version)
        if "host-values-wiped-by-fota" in self.faults:
            log.info("fault host-values-wiped-by-fota: the new firmware starts without them")
            self._wipe_host()
        log.info("firmware installed: now %s", self.state.firmware_version)

    async def _after_firmware_update(self) -> None:
        if "fota-no-reregistration" in self.faults:
            log.info("fault fota-no-reregistration: staying silent after the update")
            return
        if "renewal-at-fota" in self.faults:
            self._renewal_instead("renewal-at-fota", "the firmware update")
            return
        await self._reregister()

    async def _reregister(self) -> None:
        """What booting does: a fresh Register (new DTLS session), no De-register first."""
        if self._disabled is not None and self._disabled is not asyncio.current_task():
            self._disabled.cancel()
            self._disabled = None
        if self.registration is not None:
            self.registration.forget()
        self._stop_retrying()
        self.registered.clear()
        await self._register_with_retry()

    async def _register_with_retry(self) -> None:
        """Register, retrying with back-off; after FALLBACK_AFTER failures in a row a client
        that knows a bootstrap server asks it again (TS 1.1 §6.2.1, Bootstrap on
        Registration Failure /1/x/16 true by default)."""
        delay = RETRY_FIRST
        failures = 0
        while True:
            try:
                await self._register()
                return
            except RegistrationError as exc:
                failures += 1
                log.warning("%s; retrying in %g s", exc, delay)
            if (failures >= FALLBACK_AFTER and self.options.bootstrap
                    and "no-bootstrap-fallback" not in self.faults):
                log.warning("%d registrations failed: falling back to bootstrap", failures)
                try:
                    await self.request_bootstrap()
                    return
                except RegistrationError as exc:
                    log.warning("bootstrap fallback failed: %s", exc)
                failures = 0
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX, delay * 2)

    # ------------------------------------------------------------------ actions

    async def trigger_session(self, _params: dict[str, Any]) -> None:
        if "no-registration-update" in self.faults:
            log.info("fault no-registration-update: not updating on trigger_session")
            return
        await self._wait_registered()
        if self.radio is not None and "queue-mode-sleeps-after-update" in self.faults:
            log.info("fault queue-mode-sleeps-after-update: receiver off once it is answered")
            self.radio.off_after_next_response()
        await self.update_registration()

    async def sideload_update(self, params: dict[str, Any]) -> None:
        """A non-FOTA update (sideload/USB or OEM server): new values, then an Update."""
        version = params.get("firmware_version")
        if version is not None and not isinstance(version, str):
            raise ValueError("firmware_version must be a string")
        if version:
            self.state.firmware_version = version
            self.store.set(Path(objs.DEVICE, 0, 3), version)
        self._set_host(params, prefix="host_",
                       keep_software_version="stale-host-values" in self.faults)
        self.state.save(self.options.state_dir)
        if "no-post-update-update" in self.faults:
            log.info("fault no-post-update-update: not telling the server")
            return
        if "renewal-at-update" in self.faults:
            self._renewal_instead("renewal-at-update", "the sideload")
            return
        await self._update_when_registered()

    def _renewal_instead(self, fault: str, what: str) -> None:
        """Faults renewal-at-update and renewal-at-fota: the server is not told of ``what``,
        but the lifetime renewal falls due at that moment, as it may on any client whose
        renewal timer is near its end; unless an Update the server triggered (/1/x/8)
        restarted the timer less than a renewal period (``UPDATE_AT`` of the lifetime) ago."""
        now = asyncio.get_running_loop().time()
        at = self._triggered_update_at
        period = UPDATE_AT * self.registration.account.lifetime if self.registration else 0.0
        if at is not None and now - at < period:
            log.info("fault %s: not telling the server of %s (the renewal timer was restarted "
                     "by a triggered Update %.1f s ago)", fault, what, now - at)
            return
        log.info("fault %s: not telling the server of %s; the lifetime renewal is due now",
                 fault, what)
        self._spawn(self._update_when_registered(), "lifetime update")

    async def set_host_values(self, params: dict[str, Any]) -> None:
        """The host writes its identity (guide §2.2): new values are reported at once, and
        the server is told in a registration Update (ATT-DMIG-4.4)."""
        before = self.state.host_values()
        self._set_host(params, prefix="")
        self._set_host(params, prefix="host_")
        self.state.save(self.options.state_dir)
        if self.state.host_values() == before:
            return
        if "set-host-values-not-reported" in self.faults:
            log.info("fault set-host-values-not-reported: not telling the server")
            return
        if "renewal-at-update" in self.faults:
            self._renewal_instead("renewal-at-update", "the new host values")
            return
        # The host's write is done once the module holds the values (an AT command answers OK
        # then); telling the server is the module's own business, in the background.
        self._spawn(self._update_when_registered(), "host-values-update")

    async def _update_when_registered(self) -> None:
        await self._wait_registered()
        await self.update_registration()

    def _wipe_host(self) -> dict[str, str]:
        """The module loses the host values (a reset that clears them); returns what they were."""
        kept = self.state.host_values()
        self._set_host({name: "" for name in kept}, prefix="")
        self.state.save(self.options.state_dir)
        return kept

    def _host_rewrites(self, values: dict[str, str]) -> None:
        """The host, seeing the module back from a factory reset, writes its identity again."""
        if "host-values-lost-on-factory-reset" in self.faults:
            log.info("fault host-values-lost-on-factory-reset: the host's rewrite is lost")
            return
        self._set_host(values, prefix="")
        self.state.save(self.options.state_dir)

    def _set_host(self, params: dict[str, Any], *, prefix: str,
                  keep_software_version: bool = False) -> None:
        for name in ("manufacturer", "model", "software_version", "unique_id"):
            value = params.get(prefix + name)
            if value is None:
                continue
            if not isinstance(value, str):
                raise ValueError(f"{prefix + name} must be a string")
            if name == "software_version" and keep_software_version:
                log.info("fault stale-host-values: keeping the old host software version")
                continue
            setattr(self.state, "host_" + name, value)
        objs.refresh_host(self.store, self.state, self.faults)

    async def send(self, params: dict[str, Any]) -> None:
        """LwM2M 1.1 Send (TS 1.1 §6.4.6): POST /dp with the values of ``params["paths"]``
        (space-separated) in SenML; refused while the account's /1/x/23 Mute Send is true or
        absent (TS 1.1 Server object)."""
        text = params.get("paths")
        if not isinstance(text, str) or not text.split():
            raise ValueError("send needs paths (space-separated LwM2M paths)")
        paths = [Path.parse(p) for p in text.split()[:16]]
        if self.lwm2m.version == "1.0":
            raise OperationError(Code.NOT_IMPLEMENTED, "Send is LwM2M 1.1; this client is 1.0")
        await self._wait_registered()
        registration = self.registration
        if registration is None:
            raise RegistrationError("not registered")
        if self._send_muted(registration.account.ssid):
            if "ignores-mute-send" not in self.faults:
                raise OperationError(Code.FORBIDDEN, "Send is muted (/1/x/23 Mute Send)")
            log.info("fault ignores-mute-send: sending although Send is muted")
        if "send-drops-objects" in self.faults:
            log.info("fault send-drops-objects: leaving out whole objects")
            paths = [p for p in paths if p.depth > 1]
        if "send-whole-instance" in self.faults:
            log.info("fault send-whole-instance: sending whole instances")
            paths = [Path(p.object_id, p.instance_id) if p.depth > 2 else p for p in paths]
        fmt = composite.send_format(self.formats)
        content = composite.read_paths(self.store, paths, Role.SERVER)
        request = Message(code=POST, uri=registration.account.base + "/dp",
                          payload=senml_composite.encode(fmt, content, self.store.registry),
                          content_format=int(fmt))
        assert self.context is not None
        response = await exchange(self.context, request, self.timeout)
        if response.code != Code.CHANGED:
            raise RegistrationError(f"Send answered {response.code}")

    def _send_muted(self, ssid: int) -> bool:
        for iid in self.store.instance_ids(objs.SERVER):
            inst = self.store.instance(objs.SERVER, iid)
            if inst.get(0) == ssid:
                return inst.get(23) is not False
        return True

    async def reboot(self, _params: dict[str, Any] | None = None) -> None:
        """Reboot: observations and downloads are lost, then a fresh Register."""
        self._drop_volatile()
        if "reboot-stays-offline" in self.faults:
            log.info("fault reboot-stays-offline: not registering again after the reboot")
            if self.registration is not None:
                self.registration.forget()
            self._stop_retrying()
            self.registered.clear()
            return
        if "host-values-lost-on-reboot" in self.faults:
            log.info("fault host-values-lost-on-reboot: the host values do not survive")
            self._wipe_host()
        if "bootstraps-with-account" in self.faults and self.options.bootstrap:
            log.info("fault bootstraps-with-account: bootstrapping although an account is held")
            await self.request_bootstrap()
            return
        await self._reregister()

    async def factory_reset(self, _params: dict[str, Any] | None = None) -> None:
        """Back to factory configuration: De-register first (TS 1.1 §6.2.3: a client that no
        longer needs the server de-registers), then bootstrap again if a bootstrap server is
        known, else register with the factory account."""
        await self._deregister_for_reset()
        self._drop_volatile()
        self._time_offset = 0
        if self.site is not None:
            self.site.attributes.clear()
        # The host identity: kept by the module, or cleared and written again by the host
        # (declaration host_identity.factory_reset, guide §2.2).
        clears = (self.declaration.host_identity.factory_reset == "host-rewrites"
                  or "host-values-lost-on-factory-reset" in self.faults)
        host = self._wipe_host() if clears else None
        if self.options.bootstrap:
            self.registered.clear()
            await self.request_bootstrap()
            self.registered.set()
        else:
            await self._reregister()
        if host is not None:
            self._host_rewrites(host)

    async def _deregister_for_reset(self) -> None:
        if "no-deregister-on-factory-reset" in self.faults:
            log.info("fault no-deregister-on-factory-reset: forgetting the registration silently")
            return
        if self._disabled is not None:
            self._disabled.cancel()
            self._disabled = None
        if self.registration is not None and self.registration.registered:
            try:
                await self.registration.deregister()
            except RegistrationError as exc:
                log.warning("de-registration before the factory reset failed: %s", exc)
        self.registered.clear()

    def _drop_volatile(self) -> None:
        if self.site is not None:
            self.site.drop_observations()
        if self.firmware is not None:
            self.firmware.reboot()

    async def _wait_registered(self) -> None:
        try:
            await asyncio.wait_for(self.registered.wait(), self.declaration.timeouts.session)
        except TimeoutError:
            raise RegistrationError("not registered") from None

    async def quit(self, _params: dict[str, Any] | None = None) -> None:
        """De-register (best effort, bounded), then release everything."""
        if self.registration is not None:  # waits for a Register in flight, then undoes it
            try:
                await self.registration.deregister()
            except RegistrationError as exc:
                log.warning("de-registration failed: %s", exc)
        await self.stop()

    async def stop(self) -> None:
        if self._connect_task is not None:
            self._connect_task.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self.site is not None:
            self.site.drop_observations()
            self.site.stop()
        if self.firmware is not None:
            self.firmware.shutdown()
        if self.registration is not None:
            self.registration.forget()
        if self.context is not None:
            context, self.context = self.context, None
            await context.shutdown()

    ACTIONS: ClassVar[dict[str, str]] = {
        "trigger_session": "trigger_session",
        "sideload_update": "sideload_update",
        "oem_server_update": "sideload_update",
        "reboot": "reboot",
        "factory_reset": "factory_reset",
        "set_host_values": "set_host_values",
        "send": "send",
        "quit": "quit",
    }

    def action(self, name: str) -> Callable[[dict[str, Any]], Awaitable[None]] | None:
        method = self.ACTIONS.get(name)
        return getattr(self, method) if method else None

