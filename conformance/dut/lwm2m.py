"""The LwM2M device under test as the catalog cases drive it: online and registered.

:class:`Lwm2mDevice` brings the device up once (bootstrap when it asks for it, then its
registration), re-registers it when an earlier case left it unregistered, and reads values with
the verdict rules of the catalog: a refusal is the device's, a payload that does not decode is
judged by the content-format cases. It decides nothing on transcript text: registrations,
updates and bootstrap requests come from the lab's typed events.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from conformance.controllers.base import Controller
from conformance.declaration import Declaration
from conformance.dut.common import Baseline, HarnessError, facade
from conformance.dut.liveness import ask_alive
from conformance.evidence.transcript import Entry
from conformance.fota.server import PackageServer
from conformance.lab import Lab
from conformance.lwm2m.bootstrap import SHORT_SERVER_ID as LAB_SHORT_SERVER_ID
from conformance.lwm2m.codecs import parse_links
from conformance.lwm2m.lab import (
    HeldRead,
    Lwm2mLab,
    Observation,
    Registration,
    Response,
    SendReport,
    UpdateReport,
)
from conformance.lwm2m.model import Content, ContentFormat, Path, ResourceType, Value
from conformance.lwm2m.queuemode import asleep_for, awake_window
from conformance.verdicts import DeviceFault, DeviceTimeout, Inconclusive, NotApplicable

R = TypeVar("R")
SERVER, DEVICE, FIRMWARE = 1, 3, 5
IDLE, DOWNLOADING, DOWNLOADED = 0, 1, 2

VALUE_FORMATS = ("text", "tlv", "lwm2m-json", "senml-json", "senml-cbor")
INSTANCE_FORMATS = ("tlv", "lwm2m-json", "senml-json", "senml-cbor")
# s after a lifetime's announcement: an Update later than this was sent on the device's own
# account, not one already on its way (lifetime_renewal)
STRAY_WINDOW = 1.0
# Executes of /1/x/8 in a trigger case, each followed by its Update (trigger_update)
UPDATE_TRIGGERS = 2


def fmt_name(fmt: int | None) -> str:
    return ContentFormat.describe(None if fmt is None else int(fmt))


class Lwm2mDevice:
    """The LwM2M device as the cases see it: its endpoint, the lab facade, the controller."""

    def __init__(self, lab: Lab, controller: Controller, dut: Declaration) -> None:
        if dut.lwm2m is None:
            raise HarnessError("an LwM2M device needs the declaration's lwm2m section")
        self.lab = lab
        self.lw: Lwm2mLab = facade(lab.lwm2m, "LwM2M")
        self.packages: PackageServer = facade(lab.packages, "firmware package")
        self.controller = controller
        self.dut = dut
        self.lwm2m = dut.lwm2m
        self.ep = dut.lwm2m.endpoint
        self.timeouts = dut.timeouts
        self.baseline = Baseline.declared(dut)
        self._answered_at = 0.0  # wall clock of the device's last answer to the lab
        self._server_instance: tuple[str, int] | None = None  # (registration location, iid)

    # -- coming online ---------------------------------------------------------------------

    def bring_up(self) -> Registration:
        """First contact: bootstrap when the device asks for it, then its registration."""
        if self.lw.registration(self.ep) is not None:
            return self.ensure_registered()
        if self.dut.features.bootstrap and self._first_contact() == "bootstrap":
            self.lw.wait_bootstrap_request(self.ep, self.timeouts.request)
            try:
                self.provision()
            except DeviceTimeout as exc:  # silence mid-bootstrap: a client retries, so do we
                self.lab.transcript.note(
                    "lwm2m", f"bring-up bootstrap of {self.ep} failed ({exc}); waiting for "
                    "its next Bootstrap-Request")
                self.lw.wait_bootstrap_request(self.ep, 2 * self.timeouts.session)
                self.provision()
        return self.lw.wait_registration(self.ep)

    def _first_contact(self, since: float = 0.0) -> str:
        """``bootstrap`` or ``register``, whichever the device sends first (lab events; at or
        after ``since``, wall clock)."""
        try:
            return self.lw.wait_first_contact(self.ep, self.timeouts.session, since=since)
        except DeviceTimeout:
            raise DeviceTimeout(
                f"{self.ep} sent neither a Bootstrap-Request nor a Register within "
                f"{self.timeouts.session} s (timeouts.session)"
            ) from None

    def provision(self) -> list[tuple[str, Response]]:
        """The client-initiated bootstrap the lab answers; every step must succeed."""
        session = self.lw.bootstrap(self.ep)
        session.provision()
        steps = session.responses
        refused = [f"{what} -> {r.code}" for what, r in steps if not r.ok]
        if refused:
            raise BootstrapRefused(", ".join(refused), steps)
        return steps

    def ensure_registered(self) -> Registration:
        """The current registration; a device an earlier case left unregistered is rebooted."""
        reg = self.lw.registration(self.ep)
        if reg is not None:
            return reg
        self.lab.transcript.note("lwm2m", f"{self.ep} is not registered: rebooting it")
        back = self.reboot()
        if back is None:
            raise DeviceTimeout(f"{self.ep} did not register again within "
                                f"{self.timeouts.session} s of the reboot (timeouts.session)")
        return back

    def come_back(self, since: float) -> Registration | None:
        """After a reboot or a reset: a Register newer than ``since``; None when none came
        within ``timeouts.session``. When bootstrap is declared the device may first ask for
        it: one that kept its account registers straight away, one that bootstraps at every
        start (Zephyr's client does) or lost its account sends a Bootstrap-Request, which the
        lab answers. Whichever comes first is taken: waiting for the one that does not come
        would cost the whole timeout, or judge the device on an unanswered request."""
        try:
            if self.dut.features.bootstrap and self._first_contact(since) == "bootstrap":
                self.lw.wait_bootstrap_request(self.ep, self.timeouts.request, newer_than=since)
                try:
                    self.provision()
                except DeviceTimeout:
                    pass  # a bootstrap left unfinished: the Register (or its absence) tells
            return self.lw.wait_registration(self.ep, newer_than=since)
        except DeviceTimeout:
            return None

    def reset_to_factory(self) -> Registration | None:
        """Factory reset through the controller, and the device back (:meth:`come_back`). A
        controller that cannot reset: INCONCLUSIVE."""
        return self._act_and_come_back("factory_reset", self.controller.factory_reset)

    def reboot(self) -> Registration | None:
        """Reboot through the controller, and the device back (:meth:`come_back`; None: no
        Register within ``timeouts.session``). A controller that cannot reboot: INCONCLUSIVE."""
        return self._act_and_come_back("reboot", self.controller.reboot)

    def _act_and_come_back(self, name: str, act: Callable[[], object]) -> Registration | None:
        """The controller's action ``name`` and :meth:`come_back` side by side: the action may
        return only once the device is back (a simulator's, a scripted bench's), which may
        need the lab's answer to a Bootstrap-Request."""
        since = time.time()
        if name not in self.controller.capabilities():
            act()  # it cannot: it says why (INCONCLUSIVE)
            return self.come_back(since)
        with ThreadPoolExecutor(1) as pool:
            done = pool.submit(act)
            back = self.come_back(since)
            done.result()
        return back

    # -- waiting for the device to talk to the lab ----------------------------------------

    def wait_update_since(self, since: float, timeout: float) -> UpdateReport | None:
        """An Update the lab received at or after ``since`` (with what it carried itself);
        None when none came in time."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                update = self.lw.next_update(self.ep, remaining)
            except DeviceTimeout:
                return None
            if update.time >= since:
                return update

    def trigger_update(self) -> UpdateReport:
        """Execute /1/x/8 Registration Update Trigger ``UPDATE_TRIGGERS`` times, each followed
        by an Update within ``timeouts.request`` (TS 1.1 E.2: each execution MUST bring one);
        the last Update. More than once, so that an Update the client sent on its own account
        (a lifetime renewal, an object change) is not taken for the trigger's. A missing
        Update, or a new Register instead, is a DeviceFault."""
        trigger = self.server_path(8)
        update: UpdateReport | None = None
        for attempt in range(1, UPDATE_TRIGGERS + 1):
            since = time.time()
            executed = self.execute(trigger)
            if executed.code != "2.04":
                raise DeviceFault(f"Execute {trigger} answered {executed.code}, expected 2.04")
            update = self.wait_update_since(since, self.timeouts.request)
            if update is None:
                anew = self.lw.wait_event(self.ep, ("register",), since, 0.1)
                raise DeviceFault(
                    f"no Update within {self.timeouts.request} s after Execute {trigger} "
                    "Registration Update Trigger"
                    + (f" (Execute {attempt} of {UPDATE_TRIGGERS}: the Update after the first "
                       "was not the trigger's)" if attempt > 1 else "")
                    + (f"; the client sent a new Register ({anew.registration.location}) "
                       "instead" if anew is not None else ""))
        assert update is not None
        return update

    def restart_renewal(self, before: str) -> Registration | None:
        """One Execute /1/x/8 and the Update it brings (or a new Register: int-104 judges
        which), just ``before`` a wait for an Update that must answer something else. A client
        times its lifetime renewal from its last Update or Register, so none is due for a
        while after this one; an Update already on its way (an earlier case's change
        reported) has arrived by then too. An Update in the wait is then the client's answer,
        not a renewal, unless the client renews more often than the wait lasts. The
        registration as it then was; None, noted in the transcript, when the client brought
        neither: the trigger cases judge that, and the wait goes on without this guard.

        Not for a queue-mode client that sleeps now: the Execute would wait for its next
        contact, up to a lifetime, when the update about to come wakes it anyway (the wait
        goes on unguarded, noted)."""
        trigger = "/1/x/8"
        reg = self.lw.registration(self.ep)
        quiet = asleep_for(reg) if reg is not None else None
        if quiet is not None:
            self._unguarded(before, "no Execute of /1/x/8: the client sleeps in queue mode "
                            f"(quiet {quiet:.0f} s)")
            return None
        since = time.time()
        try:
            trigger = self.server_path(8)
            executed = self.execute(trigger)
        except (DeviceFault, Inconclusive) as exc:
            why = str(exc)
        else:
            if executed.code == "2.04":
                report = self.wait_report_since(since, self.timeouts.request)
                if report is not None:
                    return report
                why = (f"neither an Update nor a Register within {self.timeouts.request} s "
                       "(a late one would come in that wait)")
            else:
                why = f"answered {executed.code}"
        self._unguarded(before, f"Execute {trigger} Registration Update Trigger: {why}")
        return None

    def _unguarded(self, before: str, why: str) -> None:
        """restart_renewal could not: the transcript says so, and why."""
        self.lab.transcript.note("lwm2m", f"before {before}: {why}; a lifetime renewal in that "
                                 "wait cannot be told from the answer", device=self.ep)

    def announce_lifetime(self, seconds: int) -> UpdateReport:
        """Write /1/x/1 Lifetime := ``seconds``; the client must tell the server in an Update
        carrying that ``lt`` (TS 1.1 §6.2.2) within ``timeouts.request``. That Update."""
        lifetime = self.server_path(1)
        since = time.time()
        written = self.write(lifetime, seconds, fmt=self.value_format())
        assert written.code == "2.04", (
            f"Write {lifetime} Lifetime answered {written.code}, expected 2.04")
        return self.expect_lifetime_update(since, seconds,
                                           f"the lifetime {lifetime} was set to {seconds} s")

    def lifetime_renewal(self, announced: UpdateReport, lifetime: int) -> UpdateReport:
        """The Update that renews a registration whose ``lifetime`` ``announced`` set: the
        first the lab got ``STRAY_WINDOW`` s or more after it, each Update until then within
        ``lifetime`` s of the one before (TS 1.1 §6.2.2: every Update renews). A DeviceFault
        when the registration would run out first.

        Updates already on their way when the lifetime was written (an earlier case's changes
        reported) arrive within milliseconds of it. Taken as the renewal, one of them would
        pass a device that never renews; passed over, a client that renews early (at once,
        then every lifetime) would be failed: so each renews, and the wait goes on from it."""
        last = announced
        while last.time < announced.time + STRAY_WINDOW:
            # At least a moment: an Update already in the lab is taken even by a late thread
            # (its gap is judged by the lab's stamps, not by when this thread woke up).
            left = max(0.1, last.time + lifetime + 1 - time.time())
            update = self.wait_update_since(last.time, left)
            if update is None:
                raise DeviceFault(f"no Update within the {lifetime} s lifetime after the one "
                                  f"{last.time - announced.time:.3f} s after the lifetime was "
                                  "announced")
            gap = update.time - last.time
            if gap > lifetime:
                raise DeviceFault(f"an Update came {gap:.1f} s after the one before it, after "
                                  f"the {lifetime} s lifetime had run out")
            last = update
        return last

    def wait_report_since(self, since: float, timeout: float) -> Registration | None:
        """A Register or an Update of the device at or after ``since`` (it told the server);
        the registration as it is then, or None when neither came within ``timeout`` s."""
        return self.lw.wait_report(self.ep, since, timeout)

    # -- requests, under the rule of silence -------------------------------------------------

    def _ask(self, what: str, send: Callable[[], R]) -> R:
        """``send()``; silence after proof of life is asked once more, then a FAIL."""
        result = ask_alive(what, send, self._proof_of_life, self.lab.transcript, self.ep)
        self._answered_at = time.time()
        return result

    def _proof_of_life(self, since: float) -> str | None:
        """Why the lab knows the device was alive when a request sent at ``since`` went
        unanswered, or None when the lab cannot show it. Its registration must be live, and
        either it talked to the lab within ``timeouts.request`` before (a moment, not a
        lifetime) or it answers a CoAP ping now.

        The ping makes the verdict the device's own: with the first proof alone, a request
        the device never answers FAILed after a case it answered and stayed INCONCLUSIVE
        after one it left silent, so verdicts moved with the case order."""
        reg = self.lw.registration(self.ep)
        if reg is None:
            return None
        last = max(self._answered_at, reg.registered_at, reg.updated_at)
        gap = since - last
        if gap <= self.timeouts.request:
            return (f"{self.ep} is registered ({reg.location}) and answered the lab "
                    f"{max(gap, 0.0):.1f} s before")
        pinged = self.lw.ping(self.ep)
        if pinged is None:
            self.lab.transcript.note("lwm2m", f"{self.ep} did not answer a CoAP ping either "
                                     f"(within {self.timeouts.request} s)", device=self.ep)
            return None
        return (f"{self.ep} is registered ({reg.location}) and answered the lab's CoAP ping "
                f"right after the silence ({pinged})")

    def read(self, path: Path | str, fmt: int | None = None) -> Response:
        return self._ask(f"Read {path}", lambda: self.lw.read(self.ep, path, fmt=fmt))

    def write(self, path: Path | str, value: Content | Value | dict[str, Value],
              fmt: int = ContentFormat.TLV, *, partial: bool = False,
              timeout: float | None = None) -> Response:
        what = f"Write{' (partial update)' if partial else ''} {path}"
        return self._ask(what, lambda: self.lw.write(self.ep, path, value, fmt=fmt,
                                                     partial=partial, timeout=timeout))

    def write_raw(self, path: Path | str, payload: bytes, fmt: int | None, *,
                  partial: bool = False) -> Response:
        return self._ask(f"Write {path}", lambda: self.lw.write_raw(
            self.ep, path, payload, fmt, partial=partial))

    def execute(self, path: Path | str, args: str | None = None) -> Response:
        return self._ask(f"Execute {path}", lambda: self.lw.execute(self.ep, path, args))

    def delete(self, path: Path | str) -> Response:
        return self._ask(f"Delete {path}", lambda: self.lw.delete(self.ep, path))

    def discover(self, path: Path | str) -> Response:
        return self._ask(f"Discover {path}", lambda: self.lw.discover(self.ep, path))

    def write_attributes(self, path: Path | str, **attrs: float | int | None) -> Response:
        query = "&".join(k if v is None else f"{k}={v}" for k, v in attrs.items())
        return self._ask(f"Write-Attributes {path}?{query}",
                         lambda: self.lw.write_attributes(self.ep, path, **attrs))

    def create(self, path: Path | str, content: Mapping[Path, Value | None] | Mapping[str, Value],
               fmt: int = ContentFormat.TLV) -> Response:
        """Create (POST on the object): the new instance's id is in ``response.location``."""
        typed: Content = {Path.parse(k) if isinstance(k, str) else k: v
                          for k, v in content.items()}
        return self._ask(f"Create {path}", lambda: self.lw.create(self.ep, path, typed, fmt=fmt))

    def read_composite(self, paths: Sequence[str | None], fmt: int,
                       accept: int | None = None) -> Response:
        """Read-Composite (FETCH, TS 1.1 §5.4.3) of ``paths`` (None: the root)."""
        shown = ", ".join(p or "/" for p in paths)
        return self._ask(f"Read-Composite {shown}", lambda: self.lw.read_composite(
            self.ep, list(paths), fmt, accept))

    def write_composite(self, content: dict[str, Value], fmt: int) -> Response:
        """Write-Composite (iPATCH, TS 1.1 §5.4.4) of resource values in several objects."""
        shown = ", ".join(content)
        return self._ask(f"Write-Composite {shown}",
                         lambda: self.lw.write_composite(self.ep, content, fmt))

    def expect_lifetime_update(self, since: float, lifetime: int, what: str) -> UpdateReport:
        """The first Update carrying ``lt=lifetime`` after ``what`` (TS 1.1 §6.2.2), else a
        FAIL. Updates without that lt are passed over: one sent meanwhile for another reason
        (objects or host values changed) carries none, and an earlier case's write-back may
        still be on its way with its own. Each Update is taken once, in the order the lab got
        it (``next_update``): one that came a moment after another is not skipped."""
        deadline = time.time() + self.timeouts.request
        seen: list[str] = []
        while (left := deadline - time.time()) > 0:
            update = self.wait_update_since(since, left)
            if update is None:
                break
            if update.carried.lifetime == lifetime:
                return update
            seen.append(f"lt={update.carried.lifetime}" if update.carried.lifetime is not None
                        else "no lt")
        raise DeviceFault(f"no Update carrying lt={lifetime} within {self.timeouts.request} s "
                          f"after {what}" + (f" (Updates seen: {', '.join(seen)})" if seen else ""))

    def listed_resources(self, base: str) -> set[int]:
        """Resource ids Discover ``base`` lists; a refused Discover leaves the lab unable to
        tell which optional resources exist (INCONCLUSIVE: the Discover cases judge it)."""
        response = self.discover(base)
        if response.code != "2.05":
            raise Inconclusive(f"Discover {base} answered {response.code}: which optional "
                               "resources the device has is unknown (judged by the Discover "
                               "cases)")
        target = Path.parse(base)
        return {p.resource_id for p in discovered_paths(response)
                if target.contains(p) and p.resource_id is not None}

    def execute_reboot(self) -> None:
        """Execute /3/0/4 Reboot: 2.04, then a new Register within ``timeouts.session``;
        either missing is a DeviceFault (ETS int-241 and int-655)."""
        since = time.time()
        executed = self.execute("/3/0/4")
        if executed.code != "2.04":
            raise DeviceFault(f"Execute /3/0/4 Reboot answered {executed.code}, expected 2.04")
        if self.come_back(since) is None:
            raise DeviceFault(f"no new Register within {self.timeouts.session} s "
                              "(timeouts.session) after Execute /3/0/4 Reboot")

    def require_format(self, name: str) -> ContentFormat:
        """A content format the declaration lists (``features.content_formats``), else NOT
        APPLICABLE: a client need not offer every format."""
        declared = self.dut.features.content_formats
        if name not in declared:
            raise NotApplicable(f"features.content_formats ({', '.join(declared) or 'none'}) "
                                f"does not list {name}")
        return ContentFormat.by_name(name)

    def require_version(self, version: str, what: str) -> None:
        """NOT APPLICABLE for a client of an older LwM2M version than ``what`` needs."""
        if self.lwm2m.version < version:
            raise NotApplicable(f"{what} is LwM2M {version}; the declared client is "
                                f"{self.lwm2m.version}")

    def creatable_object(self, object_id: int) -> None:
        """NOT APPLICABLE unless the registration announces ``object_id`` (a multiple-instance
        object the lab's object model knows, whose instances a server may create)."""
        reg = self.ensure_registered()
        definition = self.lw.registry.get(object_id)
        if object_id not in reg.objects or definition is None or not definition.multiple:
            raise NotApplicable(f"the registration announces no /{object_id} "
                                f"({_links_text(reg)}): no creatable object to use")

    @contextmanager
    def created_instance(self, object_id: int, values: dict[int, Value | dict[int, Value]],
                         *, judged_by: str) -> Iterator[int]:
        """A new instance of ``object_id`` holding ``values`` (resource id -> value or
        {instance: value}), deleted afterwards. A Create that fails or loses values is
        INCONCLUSIVE here (``judged_by`` names the case that judges Create)."""
        taken = set(self.instances(object_id))
        iid = next(i for i in range(65535) if i not in taken)
        content: Content = {}
        for rid, value in values.items():
            if isinstance(value, dict):
                content.update({Path(object_id, iid, rid, n): v for n, v in value.items()})
            else:
                content[Path(object_id, iid, rid)] = value
        created = self.create(f"/{object_id}", content, fmt=self.instance_format())
        if created.code != "2.01":
            raise Inconclusive(f"Create /{object_id} answered {created.code}: the lab has no "
                               f"instance to work on ({judged_by} judges Create)")
        try:
            back = self.read(f"/{object_id}/{iid}", fmt=self.instance_format())
            got = (back.content or {}) if back.code == "2.05" else {}
            missing = [str(p) for p, v in content.items() if got.get(p) != v]
            if missing:
                raise Inconclusive(f"the instance /{object_id}/{iid} created lacks "
                                   f"{', '.join(missing)} ({judged_by} judges Create)")
            yield iid
        finally:
            self.delete(f"/{object_id}/{iid}")

    def observe_with_periods(self, path: str, pmin: int, pmax: int,
                             fmt: int | None = None) -> Observation:
        """Write-Attributes pmin/pmax on ``path`` then Observe it; either refused is a
        DeviceFault (the caller removes the attributes: :meth:`remove_attributes`)."""
        answered = self.write_attributes(path, pmin=pmin, pmax=pmax)
        if answered.code != "2.04":
            raise DeviceFault(f"Write-Attributes {path}?pmin={pmin}&pmax={pmax} answered "
                              f"{answered.code}, expected 2.04")
        observation = self.observe(path, fmt=fmt)
        if observation.initial.code != "2.05":
            raise DeviceFault(f"Observe {path} answered {observation.initial.code}, expected "
                              "2.05")
        return observation

    def remove_attributes(self, path: Path | str) -> None:
        """Clear pmin/pmax a case set on ``path`` (its clean-up, whatever its verdict: a
        refusal is noted, the case has its verdict already)."""
        try:
            self.write_attributes(path, pmin=None, pmax=None)
        except (DeviceFault, Inconclusive) as exc:
            self.lab.transcript.note("lwm2m", f"removing the attributes of {path}: {exc}",
                                     device=self.ep)

    def observe(self, path: Path | str, fmt: int | None = None) -> Observation:
        return self._kept(self._ask(f"Observe {path}",
                                    lambda: self.lw.observe(self.ep, path, fmt=fmt)))

    def observe_composite(self, paths: list[str], fmt: int) -> Observation:
        return self._kept(self._ask(f"Observe-Composite {' '.join(paths)}",
                                    lambda: self.lw.observe_composite(self.ep, list(paths), fmt)))

    def _kept(self, observation: Observation) -> Observation:
        observation.on_get_cancel = self._after_get_cancel
        return observation

    def _after_get_cancel(self, answer: Response) -> None:
        """A GET (or FETCH) cancel answered as a notification (RFC 7641 §3.6: it is processed
        as a plain request) leaves the device believing the lab observes, in a state the lab
        cannot end: seen with lwm2m-node-lib, whose old observation then cancelled every later
        one of the resource. The device is cold-started, so that later cases do not inherit
        it (the cancel case judges the answer)."""
        if answer.observe is not None:
            self.cold_start(f"{self.ep} answered the cancel (Observe=1) as a notification "
                            f"(Observe={answer.observe}): an observation the lab cannot end")

    def cold_start(self, why: str) -> None:
        """Restart the device through the controller (``reboot``) and wait for it to register
        again, because of ``why`` — what a case left that later cases must not inherit. Each
        step that cannot be done is noted in the transcript; the case keeps its verdict."""
        self.lab.transcript.note("lwm2m", f"{why}: cold-starting it", device=self.ep)
        try:
            back = self.reboot()
        except Inconclusive as exc:
            self.lab.transcript.note("lwm2m", f"cold start: {exc}", device=self.ep)
            return
        if back is None:
            self.lab.transcript.note("lwm2m", f"no Register after the cold start ({why})",
                                     device=self.ep)

    # -- LwM2M 1.1 Information Reporting: what the declaration must offer -------------------

    def senml_format(self, what: str) -> ContentFormat:
        """A declared SenML format (CBOR first) for a 1.1 composite operation or Send; NOT
        APPLICABLE for a 1.0 client or one that declares neither."""
        if self.lwm2m.version == "1.0":
            raise NotApplicable(f"{what} is LwM2M 1.1; lwm2m.version declares 1.0")
        declared = self.dut.features.content_formats
        name = next((f for f in ("senml-cbor", "senml-json") if f in declared), None)
        if name is None:
            raise NotApplicable(f"{what} carries SenML; features.content_formats "
                                f"({', '.join(declared)}) declares neither SenML format")
        return ContentFormat.by_name(name)

    def wait_send(self, since: float, timeout: float) -> SendReport | None:
        """The device's first Send (``POST /dp``) the lab accepted at or after ``since``."""
        return self.lw.wait_send(self.ep, since, timeout)

    def first_attempt(self, peer: str, mark: int, after: float) -> float | None:
        """When the device first reached for the lab from ``peer`` after ``after`` (wall
        clock), from the transcript entries after ``mark``: its first datagram — a DTLS
        ClientHello or a CoAP message — not the Register that a handshake on a slow link
        delays. None when the transcript shows none."""
        for entry in self.lab.transcript.since(mark):
            if entry.peer != peer or entry.time <= after:
                continue
            if entry.direction == "device->lab" or (
                    entry.direction == "note" and entry.summary.startswith("DTLS ClientHello")):
                return entry.time
        return None

    # -- queue mode ---------------------------------------------------------------------------

    def require_queue_mode(self, reg: Registration) -> None:
        """NOT APPLICABLE unless the device runs in queue mode: declared (``lwm2m.queue_mode``,
        a 1.0 binding with Q) or shown by its registration."""
        if not (self.lwm2m.queued or reg.queue):
            raise NotApplicable(
                f"the device does not run in queue mode: lwm2m.queue_mode is false, the "
                f"declared binding is {self.lwm2m.binding} and its Register carried no Q "
                f"(b={reg.binding})")

    def read_held_until_update(self, path: str) -> HeldRead:
        """A Read of ``path`` held by the lab as for a sleeping queue-mode client and sent once
        the lab has answered the device's next Update. That Update is asked for with the
        trigger_session action where the controller has it; otherwise it is the device's own,
        due before its registration's lifetime ends. DeviceTimeout: no Update came."""
        reg = self.ensure_registered()
        triggered = "trigger_session" in self.controller.capabilities()
        wait = self.timeouts.request if triggered else (
            reg.updated_at + reg.lifetime - time.time() + self.timeouts.request)
        since = time.time()
        held = self.lw.read_after_next_update(self.ep, path, since, wait)
        try:
            if triggered:
                self.controller.trigger_session()
            return held.result(timeout=wait + 2 * self.timeouts.request + 5)
        finally:
            held.cancel()  # a case ending early leaves no Read waiting for a later Update

    def wake_deaf_device(self) -> None:
        """A device that stopped listening before its window ended is made reachable for the
        next cases: rebooted through the controller (it registers, and listens, anew)."""
        self.reboot_for_later_cases("is not listening", "later cases may find it silent")

    def reboot_for_later_cases(self, state: str, otherwise: str) -> None:
        """An earlier case left the device in a state later cases must not start from (a case
        has its verdict already): rebooted through the controller, it registers anew."""
        if "reboot" not in self.controller.capabilities():
            self.lab.transcript.note("lwm2m", f"{self.ep} {state} and the controller cannot "
                                     f"reboot it: {otherwise}")
            return
        self.lab.transcript.note("lwm2m", f"{self.ep} {state}: rebooting it for later cases")
        self.reboot()  # None: the next case's registered fixture reboots it again

    def restore_lifetime(self, lifetime: int) -> None:
        """After a case that changed /1/x/1: ``lifetime`` written back, and the registration
        running on it again. A device that does not announce it (no Update with that lt=) is
        rebooted: the next case would otherwise start from a registration whose lifetime is
        not /1/x/1's, and its verdict would depend on which case ran before it."""
        reg = self.lw.registration(self.ep)
        if reg is None:
            return  # the next case's `registered` fixture reboots it
        try:
            target = self.server_path(1)
        except Inconclusive:
            return  # no /1 instance announced: no case could have changed its lifetime
        since = time.time()
        try:
            self.write(target, lifetime, fmt=self.value_format())
            if reg.lifetime != lifetime:
                self.expect_lifetime_update(since, lifetime, f"restoring {target} = {lifetime}")
        except (DeviceFault, Inconclusive) as exc:
            self.reboot_for_later_cases(
                f"kept a lifetime other than {target} = {lifetime} ({exc})",
                "later cases may start from that registration")

    def listening_window(self, reg: Registration) -> float:
        """Seconds a queue-mode client of this version must listen after its last message."""
        return awake_window(reg.lwm2m)

    # -- instances and resources found, never assumed -------------------------------------

    def short_server_id(self) -> int | None:
        """The Short Server ID of the lab's account: the declared one, else the one the lab's
        bootstrap writes when it provisions the device; None when neither is known."""
        declared = self.lwm2m.short_server_id
        if declared is not None:
            return declared
        return LAB_SHORT_SERVER_ID if self.dut.features.bootstrap else None

    def server_instance(self) -> int:
        """The Server object (/1) instance of the lab's account, found by its Short Server ID
        (/1/x/0) among the registration's /1 instances; the only one when no SSID is known."""
        reg = self.ensure_registered()
        cached = self._server_instance
        if cached is not None and cached[0] == reg.location:
            return cached[1]
        listed = sorted(i for i in reg.objects.get(SERVER, []) if i is not None)
        if not listed:
            raise Inconclusive(f"the registration's object links list no /1 instance "
                               f"({_links_text(reg)}): judged by the object-links case")
        ssid = self.short_server_id()
        if ssid is None:
            if len(listed) > 1:
                raise Inconclusive(
                    f"the registration lists Server instances {_instances_text(listed)} and "
                    "no Short Server ID is known: declare lwm2m.short_server_id")
            found = listed[0]
        else:
            seen = {iid: self.read_value(f"/1/{iid}/0") for iid in listed}
            match = [iid for iid, value in seen.items() if value == ssid]
            if not match:
                shown = ", ".join(f"/1/{i}/0={v!r}" for i, v in seen.items())
                raise DeviceFault(f"no Server instance of the registration has Short Server ID "
                                  f"{ssid} ({shown}): the account the device registered with "
                                  "is not in its Server object")
            found = match[0]
        if found != 0:
            self.lab.transcript.note(
                "lwm2m", f"{self.ep}: the lab's Server instance is /1/{found} (SSID "
                f"{ssid if ssid is not None else 'unknown'})", device=self.ep)
        self._server_instance = (reg.location, found)
        return found

    def server_path(self, resource_id: int | None = None) -> str:
        """``/1/<x>`` or ``/1/<x>/<r>`` for the lab's own Server object instance."""
        base = f"/{SERVER}/{self.server_instance()}"
        return base if resource_id is None else f"{base}/{resource_id}"

    def instance_of(self, object_id: int) -> int:
        """The instance of ``object_id`` the cases address: 0 for a single-instance object
        (the object model says so), else the first instance in the registration links."""
        definition = self.lw.registry.get(object_id)
        if definition is not None and not definition.multiple:
            return 0
        reg = self.ensure_registered()
        listed = sorted(i for i in reg.objects.get(object_id, []) if i is not None)
        if not listed:
            raise NotApplicable(f"the registration lists no instance of /{object_id}")
        return listed[0]

    def observable_resource(self) -> str:
        """A readable single resource of the Device object that Discover lists, to observe:
        mandatory before optional, values that do not change on their own before those that
        do (a clock would notify on change and hide pmax). NOT APPLICABLE when none is."""
        base = f"/{DEVICE}/{self.instance_of(DEVICE)}"
        response = self.discover(base)
        if response.code != "2.05":
            raise Inconclusive(f"Discover {base} answered {response.code}: the lab cannot "
                               "choose a resource to observe (the Device object cases judge it)")
        listed = {p.resource_id for p in discovered_paths(response)
                  if p.resource_id is not None and p.resource_instance_id is None}
        definition = self.lw.registry.get(DEVICE)
        candidates = [r for r in (definition.resources.values() if definition else [])
                      if r.id in listed and r.readable and not r.multiple]
        if not candidates:
            raise NotApplicable(f"Discover {base} lists no readable single resource to observe")
        best = min(candidates, key=lambda r: (r.type is ResourceType.TIME, not r.mandatory, r.id))
        return f"{base}/{best.id}"

    def notification_within(self, token: str, quiet: float) -> Entry | None:
        """A notification of the relation ``token`` (hex) that reaches the lab within ``quiet``
        s from now, else None: after a cancel, silence is what the case expects. Decided on
        the message's CoAP Token and Observe options, never on transcript wording."""
        found: list[Entry] = []
        event = threading.Event()
        mark = self.lab.transcript.mark()

        def listener(entry: Entry) -> None:
            if (not event.is_set() and entry.seq > mark and entry.direction == "device->lab"
                    and entry.headers.get("Token") == token and "Observe" in entry.headers):
                found.append(entry)
                event.set()

        self.lab.transcript.subscribe(listener)
        try:
            event.wait(quiet)
        finally:
            self.lab.transcript.unsubscribe(listener)
        return found[0] if found else None

    def _entries_around(self, moments: list[float], before: float, after: float) -> list[Entry]:
        """The transcript entries timed within [t - before, t + after] of any moment, in
        order: read from the first window on, not the whole run (bench/README.md section 4)."""
        found: dict[int, Entry] = {}
        for t in sorted(set(moments)):
            for entry in self.lab.transcript.since_time(t - before):
                if entry.time > t + after:
                    break
                found[entry.seq] = entry
        return [found[seq] for seq in sorted(found)]

    def registration_messages(self, reg: Registration) -> list[Entry]:
        """The transcript entries of the Register and of the last Update behind ``reg`` (the
        request, the lab's answer and its note): cases that judge a registration made before
        they began cite them as their evidence."""
        margin = 2 * self.timeouts.request  # a Register may take retransmissions to arrive
        moments = [reg.registered_at, reg.updated_at]
        targets = {"/rd", f"/{reg.location}"}
        cited: list[Entry] = []
        for entry in self._entries_around(moments, margin, 1):
            if entry.protocol != "lwm2m":
                continue
            request = (entry.direction == "device->lab" and entry.peer == reg.peer
                       and entry.headers.get("Uri-Path") in targets)
            answer = entry.session == reg.location and entry.direction != "device->lab" and (
                entry.direction == "note" or entry.headers.get("Token") in tokens(cited))
            if request or answer:
                cited.append(entry)
        return cited

    # -- reading values -----------------------------------------------------------------------

    def value_format(self) -> ContentFormat:
        """The simplest declared format for single values (text when offered)."""
        return self.value_formats()[0]

    def value_formats(self) -> list[ContentFormat]:
        """The declared formats for single values, simplest first (TLV when none is)."""
        declared = self.dut.features.content_formats
        return [ContentFormat.by_name(name) for name in VALUE_FORMATS
                if name in declared] or [ContentFormat.TLV]

    def instance_format(self) -> ContentFormat:
        """The first declared format that carries a whole instance (TLV when none is)."""
        declared = self.dut.features.content_formats
        name = next((f for f in INSTANCE_FORMATS if f in declared), "tlv")
        return ContentFormat.by_name(name)

    def firmware_reset(self, *, judged_by: str | None = None) -> None:
        """Write an empty /5/0/1 Package URI, the TS's way back to State 0 Idle (E.6).

        A device that refuses the Write or stays in State 1 or 2 breaks E.6: a FAIL where the
        case judges it (``judged_by`` None), else INCONCLUSIVE naming the case that does."""
        written = self.write("/5/0/1", "", fmt=self.value_format())
        state = self.read_int("/5/0/3") if written.code == "2.04" else None
        if written.code == "2.04" and state == IDLE:
            return
        problem = (f"Write /5/0/1 with an empty Package URI answered {written.code}"
                   if state is None else
                   f"/5/0/3 State is {state} after an empty Package URI was written to "
                   "/5/0/1")
        if judged_by is None:
            raise DeviceFault(problem + ", expected State 0 Idle (TS 1.1 E.6)")
        raise Inconclusive(problem + f": the lab cannot start from State 0 ({judged_by} "
                           "judges the reset)")

    def read_value(self, path: str, fmt: int | None = None, *, own_format: bool = False) -> Value:
        """One resource's value. A refusal is a DeviceFault; a payload that does not decode is
        a DeviceFault when the case judges content formats (``own_format``), else INCONCLUSIVE
        (the ATT-DMIG-3.2 format cases judge the encoding). Without ``fmt`` the case needs
        only the value, in the lab's choice of format: one that does not decode is then read
        again in the other declared formats, and INCONCLUSIVE only when none decodes."""
        any_format = fmt is None
        fmt = self.value_format() if fmt is None else fmt
        response = self.read(path, fmt=fmt)
        if response.code != "2.05":
            raise DeviceFault(f"Read {path} in {fmt_name(fmt)} answered {response.code}, "
                              "expected 2.05 Content")
        if own_format or not any_format or (response.content is not None
                                             and response.decode_error is None):
            return single_value(response, path, fmt, own_format=own_format)
        for other in self.value_formats():
            if other == fmt:
                continue
            try:
                again = self.read(path, fmt=other)
            except (DeviceFault, Inconclusive):
                continue  # the lab's extra try: its failure is no verdict of this case
            if (again.code == "2.05" and again.decode_error is None
                    and again.content is not None and Path.parse(path) in again.content):
                self.lab.transcript.note(
                    "lwm2m", f"Read {path} in {fmt_name(fmt)} did not decode "
                    f"({response.decode_error or 'no payload'}): the value read in "
                    f"{fmt_name(other)} instead (the ATT-DMIG-3.2 format cases judge the "
                    "encoding)", device=self.ep)
                return single_value(again, path, other, own_format=False)
        return single_value(response, path, fmt, own_format=False)  # INCONCLUSIVE, as it is

    @staticmethod
    def discovered_paths(response: Response) -> list[Path]:
        return discovered_paths(response)

    @staticmethod
    def decoded(response: Response, path: str, fmt: int | None, *,
                own_format: bool) -> dict[Path, Any]:
        return decoded(response, path, fmt, own_format=own_format)

    @staticmethod
    def fmt_name(fmt: int | None) -> str:
        return fmt_name(fmt)

    def read_int(self, path: str, fmt: int | None = None) -> int:
        """An integer resource (State, Update Result …); anything else is a DeviceFault."""
        value = self.read_value(path, fmt)
        if not isinstance(value, int) or isinstance(value, bool):
            raise DeviceFault(f"{path} is {value!r}, expected an integer")
        return value

    def present_instances(self, object_id: int, name: str) -> list[int]:
        """The instances of an object the device must have: absent (Discover refused) or
        without instance is a DeviceFault."""
        response = self.discover(f"/{object_id}")
        if response.code != "2.05":
            raise DeviceFault(f"/{object_id} {name} is absent: Discover /{object_id} answered "
                              f"{response.code}, expected 2.05")
        found = self.instances(object_id)
        if not found:
            raise DeviceFault(f"/{object_id} has no instance (Discover /{object_id} lists none)")
        return found

    def instances(self, object_id: int) -> list[int]:
        """Instance ids of an object, by Discover (link-format needs no value codec)."""
        response = self.discover(f"/{object_id}")
        if response.code != "2.05":
            raise DeviceFault(f"Discover /{object_id} answered {response.code}, expected 2.05")
        return sorted({
            p.instance_id for p in discovered_paths(response)
            if p.object_id == object_id and p.instance_id is not None
        })


class BootstrapRefused(Inconclusive):
    """Bring-up could not bootstrap the device (the bootstrap cases judge it)."""

    def __init__(self, what: str, steps: list[tuple[str, Response]]) -> None:
        super().__init__(f"bootstrap steps refused: {what}")
        self.steps = steps


def decoded(response: Response, path: str, fmt: int | None, *, own_format: bool) -> dict[Path, Any]:
    """The decoded content, or the right verdict when it does not decode."""
    if response.content is not None and response.decode_error is None:
        return response.content
    reason = response.decode_error or "no payload"
    message = (f"Read {path} in {fmt_name(fmt)}: the {fmt_name(response.content_format)} "
               f"payload does not decode: {reason}")
    if own_format:
        raise DeviceFault(message)
    raise Inconclusive(message + " (the encoding is judged by the ATT-DMIG-3.2 format cases)")


def single_value(response: Response, path: str, fmt: int | None, *, own_format: bool) -> Value:
    content = decoded(response, path, fmt, own_format=own_format)
    target = Path.parse(path)
    if target not in content:
        raise DeviceFault(f"Read {path} in {fmt_name(fmt)} carried {sorted(map(str, content))}, "
                          f"not {path}")
    value = content[target]
    assert value is not None, f"{path} came back without a value"
    return value


def discovered_paths(response: Response) -> list[Path]:
    text = response.payload.decode("utf-8", "replace")
    out = []
    for link in parse_links(text):
        try:
            out.append(Path.parse(link.target))
        except Exception:  # "</>" and other non-LwM2M targets are not object paths
            continue
    return out


def tokens(entries: list[Entry]) -> set[str]:
    return {e.headers["Token"] for e in entries if "Token" in e.headers}


def _links_text(reg: Registration) -> str:
    return ", ".join(map(str, reg.links)) or "none"


def _instances_text(instances: list[int]) -> str:
    return ", ".join(f"/1/{i}" for i in instances)
