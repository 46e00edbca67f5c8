"""The ``labgrid`` controller: a bench of a labgrid lab, acquired for the run.

``start`` connects to the labgrid coordinator, acquires the declared place (so no other run
can use the bench meanwhile), and opens the place's serial port through labgrid's
``SerialDriver`` (the exporter serves it with ser2net, RFC 2217 or raw TCP). Actions are the
AT dialogue of :class:`~conformance.controllers.at.AtController`; those named in
``control.power_cycle`` end with a power cycle through the place's power driver (a network
PDU, a USB hub port … or, with ``control.env``, any driver the lab's environment file names,
such as ``ExternalPowerDriver``). ``stop`` closes the port and releases the place, also when
``start`` fails half-way and when the run is interrupted.

So a lab of N benches runs N devices from N machines with nothing but ``conformance run`` and
one declaration per bench (docs/lab-setup.md).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from conformance.controllers.at import READ_SLICE, AtController, AtError, AtTimeout
from conformance.controllers.base import ActionResult
from conformance.declaration import LabgridControl
from conformance.errors import ConfigurationError
from conformance.verdicts import Inconclusive

CONNECT_TIMEOUT = 15.0  # seconds to reach the coordinator and learn its places
RPC_TIMEOUT = 15.0  # seconds one acquire/release request may take
BOOT_PROBE_INTERVAL = 2.0  # seconds one ready probe waits before the next is sent

_RUNNING: LabgridController | None = None  # the one bench this process drives (see _open_port)

# The exported power resources and the driver for each, as `labgrid-client power` picks them.
POWER_DRIVERS = {
    "NetworkPowerPort": "NetworkPowerDriver",
    "PDUDaemonPort": "PDUDaemonDriver",
    "NetworkUSBPowerPort": "USBPowerDriver",
    "NetworkSiSPMPowerPort": "SiSPMPowerDriver",
    "TasmotaPowerPort": "TasmotaPowerDriver",
    "NetworkYKUSHPowerPort": "YKUSHPowerDriver",
}


class LabgridController(AtController):
    kind = "labgrid"
    control_type = LabgridControl
    control: LabgridControl

    # What a started controller holds; each is set on the instance, these are the defaults.
    _session: Any = None  # labgrid.remote.client.ClientSession
    _acquired = False
    _target: Any = None  # labgrid.Target
    _power: Any = None  # a labgrid PowerProtocol driver, found on first use

    def capabilities(self) -> set[str]:
        return set(self.control.commands) | set(self.control.power_cycle)

    def describe(self) -> str:
        return f"labgrid place {self.control.place} at {self.control.coordinator}"

    # ------------------------------------------------------------------ lifecycle

    def _open_port(self) -> Any:
        global _RUNNING
        if _RUNNING is not None and _RUNNING is not self:
            # labgrid keeps one coordinator session and one event loop per process.
            raise ConfigurationError(
                f"control.place {self.control.place}: this process already drives "
                f"{_RUNNING.describe()}; run each labgrid bench in its own conformance run"
            )
        _RUNNING = self
        try:
            self._connect()
            self._acquire()
            self._target = self._make_target()
            return self._serial_port()
        except BaseException:
            try:
                self._release_all()  # an error or Ctrl-C half-way never leaves the bench taken
            except Exception as exc:  # the first error is the one to report
                self._record("note", f"{self.describe()} not released: {exc}")
            raise

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self._release_all()

    def _connect(self) -> None:
        try:
            from labgrid.remote.client import ClientSession
            from labgrid.util.proxy import proxymanager
        except ImportError:
            raise ConfigurationError(
                "control.type: labgrid needs the labgrid package (pip install labgrid)"
            ) from None
        loop = asyncio.new_event_loop()
        # labgrid's gRPC channel and its resource manager use the thread's current loop.
        asyncio.set_event_loop(loop)
        address = proxymanager.get_grpc_address(self.control.coordinator, default_port=20408)
        session = ClientSession(address, loop)
        self._session = session
        try:
            loop.run_until_complete(asyncio.wait_for(session.start(), CONNECT_TIMEOUT))
        except Exception as exc:
            reason = "no answer" if isinstance(exc, TimeoutError) else _reason(exc)
            raise Inconclusive(
                f"cannot reach the labgrid coordinator {self.control.coordinator}: {reason}"
            ) from None

    def _acquire(self) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        session, name = self._session, self.control.place
        place = session.places.get(name)
        if place is None:
            known = ", ".join(sorted(session.places)) or "none"
            raise Inconclusive(
                f"control.place: no place {name} at the labgrid coordinator "
                f"{self.control.coordinator} (places: {known})"
            )
        if place.acquired:
            raise Inconclusive(
                f"labgrid place {name} is in use by {place.acquired}; the run needs the bench "
                f"to itself (labgrid-client -p {name} release, once that run is over)"
            )
        # Set first: an acquire whose answer is lost may still have taken the place, and the
        # release names this run as the holder, so it never frees a place someone else holds.
        self._acquired = True
        self._rpc(session.stub.AcquirePlace(pb.AcquirePlaceRequest(placename=name)), "acquire")
        self._record("note", f"{self.describe()} acquired as {place_owner(session)}")
        self._say(f"labgrid: acquired place {name}")

    def _make_target(self) -> Any:
        from labgrid import Environment, Target
        from labgrid.remote.client import find_role_by_place
        from labgrid.resource.remote import RemotePlace, RemotePlaceManager

        manager = RemotePlaceManager.get()  # one per process: point it at this run's session
        manager.session = self._session
        manager.loop = self._session.loop
        env_file = self.control.env
        if env_file is None:
            target = Target(self.control.place)
            RemotePlace(target, name=self.control.place)
            return target
        try:
            env = Environment(config_file=str(env_file))
            role = find_role_by_place(env.config.get_targets(), self.control.place)
            target = env.get_target(role) if role is not None else None
        except Exception as exc:
            raise ConfigurationError(f"control.env: {env_file}: {_reason(exc)}") from None
        if target is None:
            raise ConfigurationError(
                f"control.env: {env_file} has no target with RemotePlace {self.control.place}"
            )
        return target

    def _serial_port(self) -> Any:
        from labgrid.driver import SerialDriver
        from labgrid.exceptions import NoDriverFoundError

        target, wanted = self._target, self.control.serial
        try:
            try:
                driver = target.get_driver("SerialDriver", name=wanted)
            except NoDriverFoundError:
                if wanted:
                    target.set_binding_map({"port": wanted})
                driver = SerialDriver(target, name=wanted)
                target.activate(driver)
        except Exception as exc:
            serial_name = f"serial port {wanted}" if wanted else "serial port"
            raise Inconclusive(
                f"{self.describe()}: cannot open its {serial_name}: {_reason(exc)}"
            ) from None
        port = driver.serial
        port.timeout = READ_SLICE
        self._record("note", f"{self.describe()}: AT port {port.port}")
        return port

    def _release_all(self) -> None:
        global _RUNNING
        if _RUNNING is self:
            _RUNNING = None
        session, self._session = self._session, None
        target, self._target = self._target, None
        self._power = None
        if session is None:
            return
        try:
            if target is not None:
                try:
                    target.cleanup()  # deactivates the drivers: the serial port closes
                finally:
                    _forget_target(target)
        finally:
            try:
                if self._acquired:
                    self._acquired = False
                    from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

                    request = pb.ReleasePlaceRequest(
                        placename=self.control.place, fromuser=place_owner(session)
                    )
                    self._rpc_on(session, session.stub.ReleasePlace(request), "release")
                    self._record("note", f"{self.describe()} released")
            finally:
                _close_session(session)

    def _rpc(self, call: Any, what: str) -> None:
        self._rpc_on(self._session, call, what)

    def _rpc_on(self, session: Any, call: Any, what: str) -> None:
        async def call_and_sync() -> None:
            await call
            await session.sync_with_coordinator()

        try:
            session.loop.run_until_complete(asyncio.wait_for(call_and_sync(), RPC_TIMEOUT))
        except Exception as exc:
            raise Inconclusive(f"cannot {what} {self.describe()}: {_reason(exc)}") from None

    # ------------------------------------------------------------------ actions

    def _perform(self, action: str, params: dict[str, str]) -> ActionResult:
        started = time.time()
        dialogue = self.run_commands(action, params)
        if action in self.control.power_cycle:
            dialogue += self.power_cycle()
        return self._result(action, started, dialogue[-1] if dialogue else "", tuple(dialogue))

    def power_cycle(self) -> list[str]:
        """Power off, wait ``power_off`` seconds, power on, wait for the module; the dialogue."""
        driver = self._power_driver()
        if hasattr(driver, "delay"):
            driver.delay = float(self.control.power_off)
        with self._lock:  # no AT dialogue while the module is off
            try:
                driver.cycle()
            except Exception as exc:
                raise Inconclusive(
                    f"power cycle of {self.describe()} failed: {_reason(exc)}"
                ) from None
            self._buffer.clear()  # what the module said while it went down is no answer
            line = f"power cycled by {type(driver).__name__} ({self.control.power_off:g} s off)"
            self._record("note", line)
            return [line, *self._await_boot()]

    def _await_boot(self) -> list[str]:
        """Probe until the module's AT interpreter answers, OK or error: it is up again."""
        probe = self.control.ready_probe
        if not probe:
            return []
        deadline = time.monotonic() + self.control.boot_timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                return self.command(probe, timeout=min(BOOT_PROBE_INTERVAL, left))
            except AtError as exc:
                return [f"> {probe}", f"< {exc.response}"]
            except AtTimeout:
                continue  # still booting: ask again
        raise Inconclusive(
            f"{self.describe()}: no answer to {probe} within {self.control.boot_timeout:g} s "
            "of powering the module on"
        )

    def _power_driver(self) -> Any:
        if self._power is not None:
            return self._power
        if self._target is None:
            raise Inconclusive("labgrid controller not started")
        from labgrid.exceptions import NoDriverFoundError
        from labgrid.factory import target_factory

        target = self._target
        try:
            self._power = target.get_driver("PowerProtocol")
            return self._power
        except NoDriverFoundError:
            pass
        for resource in target.resources:
            driver_name = POWER_DRIVERS.get(type(resource).__name__)
            if driver_name is None:
                continue
            try:
                driver = target_factory.class_from_string(driver_name)(target, name=None)
                target.activate(driver)
            except Exception as exc:
                raise Inconclusive(
                    f"{self.describe()}: cannot drive its power switch: {_reason(exc)}"
                ) from None
            self._power = driver
            return driver
        raise Inconclusive(
            f"{self.describe()} has no power switch (a NetworkPowerPort or the like in its "
            "exporter config, or a power driver in control.env)"
        )


def place_owner(session: Any) -> str:
    """The name labgrid records as the place's owner: host/user."""
    return f"{session.gethostname()}/{session.getuser()}"


def _close_session(session: Any) -> None:
    loop = session.loop
    try:
        loop.run_until_complete(asyncio.wait_for(session.stop(), RPC_TIMEOUT))
        loop.run_until_complete(asyncio.wait_for(session.close(), RPC_TIMEOUT))
    except Exception:
        pass  # the coordinator went away: nothing is left to tell it
    finally:
        loop.close()
        asyncio.set_event_loop(None)


def _forget_target(target: Any) -> None:
    """Drop the target's remote resources from labgrid's per-process manager."""
    from labgrid.resource.remote import RemotePlaceManager

    manager = RemotePlaceManager.get()
    manager.resources = [r for r in manager.resources if r.target is not target]
    manager.unmanaged_resources = [r for r in manager.unmanaged_resources if r.target is not target]
    manager.session = None
    manager.loop = None


def _reason(exc: BaseException) -> str:
    """One line for an exception from labgrid or gRPC (their messages can span lines)."""
    details = getattr(exc, "details", None)
    text = details() if callable(details) else str(exc)
    text = " ".join(str(text).split()) or type(exc).__name__
    return text[:300]
