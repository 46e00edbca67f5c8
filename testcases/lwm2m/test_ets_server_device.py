"""ATT-DMIG-3.2 LwM2M client conformance: the Server object /1 and the Device object /3, traced
to the OMA LwM2M ETS 1.0.1 tests int-551…566 and int-651…685 (guide §3.2; TS 1.1 E.2, E.4).

Checks, one ETS test per case (the catalog's ETS table says which tests have no case and why):
- int-551 Access Check to the Resources (Server object): Read /1/x carries the mandatory
  readable resources, its Lifetime is the registration's, Short Server ID the lab's account;
  each writable optional resource the device lists (2 Default Minimum Period, 3 Default Maximum
  Period, 5 Disable Timeout) and 6 Notification Storing take a Write (2.04) and read back as
  written; a Write of the read-only 0 Short Server ID (with its own value) is refused with 4.05.
- int-555 Disable: with /1/x/5 Disable Timeout set to DISABLE_TIMEOUT s, Execute /1/x/4 makes
  the client De-register and stay away for the timeout: its first datagram towards the lab
  after the De-register (a DTLS ClientHello or the Register) comes no earlier than the timeout
  (less EARLY_TOLERANCE) after the Execute, and a Register within the session timeout after it.
- int-560 Delayed Report Notification: with /1/x/6 Notification Storing When Disabled or
  Offline true and /1/x/5 STORING_DISABLE_TIMEOUT s, /3/0/13 Current Time (the device changes
  it every second by itself) is observed with pmax=PMAX and the account disabled (Execute
  /1/x/4): no notification while it is away, and after its new Register a notification of a
  value taken while it was away (the device's clock, less its offset read from the Observe
  answer, earlier than the Register by more than CLOCK_SLACK) arrives within NOTIFY_WAIT (the
  wait ends with the first such notification). A relation that ends with the Disable (the TS
  has the client disconnect; how stored notifications then reach the server is open, OMA
  LwM2M issue #572) leaves nothing to judge: INCONCLUSIVE.
- int-556 Update Registration: Execute /1/x/8 brings an Update of the same registration (not a
  new Register).
- int-651 Check Access to the Resources (Device object): the ETS's write set (13 Current Time,
  14 UTC Offset, 15 Timezone, those the device lists) is written as a partial update of /3/0
  in the first declared hierarchical format (TLV where declared, as the ETS asks), read back,
  then written back (replace) with the values from before and read again. And each readable
  resource of /3/0 the device lists reads 2.05 with values of the object model's type and range.
- int-652 Firmware Version: Read /3/0/3 without Accept answers 2.05 in the client's own format
  with the version the device should run now.
- int-655 Reboot: Execute /3/0/4 answers 2.04 and the client registers anew.
- int-656 Factory Reset: Execute /3/0/5 answers 2.04 and the client goes through its initial
  deployment again: a Bootstrap-Request (bootstrap declared; the lab provisions it) and a
  Register.
- int-657 Error Code: /3/0/11 values lie in the object model's range; Execute /3/0/12 Reset
  Error Code answers 2.04 and leaves exactly one Error Code instance, 0 No error.
- int-660 Basic Observation of Device Object resources: Observe /3/0/7 Power Source Voltage and
  /3/0/8 Power Source Current (the ETS int-301 targets) with pmax=PMAX: 2.05 with Observe, then
  notifications.
- int-661 Extended Observation: Observe the instance /3/0 with pmax=PMAX: notifications carry
  the instance's mandatory readable resources.
- int-680 Create on the Device object /3: 4.05, and no second instance appears.
- int-685 Delete /3/0 is test_dm_operations.py's delete-device case (traced there).

Interpretation: optional resources are found by Discover (NOT APPLICABLE when not listed).
int-555, int-560, int-656, int-657, int-661 have no procedure in ETS 1.0.1 ("to fill up"); the
checks above follow the TS text of the resource they exercise. The ETS gives int-556 the scope of
int-104 and int-655 that of int-241: their faults fail both. The Disable Timeout has no range
in the object model; DISABLE_TIMEOUT (twice EARLY_TOLERANCE) tells a client that waits from one
that comes back at once because the return is timed by the client's first datagram after its
De-register (its DTLS ClientHello, or the Register over NoSec), not by the Register a slow
handshake delays; int-560 stays away longer (STORING_DISABLE_TIMEOUT), so that a notification
taken while away is told from the Register's time through a clock of 1 s resolution
(CLOCK_SLACK). Everything a case writes is written back.
"""

from __future__ import annotations

import functools
import time

import pytest

from conformance.dut.lwm2m import Lwm2mDevice, single_value
from conformance.lwm2m.lab import Observation, Registration
from conformance.lwm2m.model import Path, ResourceType, Value
from conformance.lwm2m.objects import ResourceDef
from conformance.lwm2m.operations import Response
from conformance.verdicts import DeviceFault, DeviceTimeout, Inconclusive, NotApplicable

pytestmark = pytest.mark.requirement("ATT-DMIG-3.2")

SERVER, DEVICE = 1, 3
DISABLE_TIMEOUT = 2  # s the client must stay away after Disable (int-555)
STORING_DISABLE_TIMEOUT = 4  # s away in int-560: notifications taken then must be > CLOCK_SLACK old
EARLY_TOLERANCE = 1.0  # s a Register may seem early (timer granularity, the lab's own latency)
PMAX = 1  # s, the observation cases' maximum period
NOTIFY_WAIT = PMAX + 2.0  # s the lab waits for each notification
# s: a Current Time value (1 s resolution; the offset read from one value) is within this of
# the lab's clock, so one older than the Register by more was taken while the client was away
CLOCK_SLACK = 1.5
# int-651's 651-SetOfValues: Current Time, UTC Offset, Timezone
DEVICE_WRITES: dict[int, Value] = {13: 1367491215, 14: "+02:00", 15: "Europe/Paris"}
SERVER_WRITES: dict[int, Value] = {2: 7, 3: 61, 5: 3600}  # int-215's kind of values
INT_TYPES = (ResourceType.INTEGER, ResourceType.UNSIGNED, ResourceType.TIME)


# -- helpers -------------------------------------------------------------------------------------

def listed_resources(device: Lwm2mDevice, base: str) -> set[int]:
    """Resource ids Discover ``base`` lists (INCONCLUSIVE when Discover is refused)."""
    return device.listed_resources(base)


def resource_def(device: Lwm2mDevice, object_id: int, resource_id: int) -> ResourceDef:
    definition = device.lw.registry.get(object_id)
    resource = definition.resource(resource_id) if definition is not None else None
    if resource is None:
        raise Inconclusive(f"the lab's object model has no /{object_id}/x/{resource_id}")
    return resource


def require_listed(listed: set[int], resource: ResourceDef, base: str) -> None:
    """An optional resource the device does not list: NOT APPLICABLE; a mandatory one is judged
    by the mandatory-resources cases."""
    if resource.id in listed:
        return
    if resource.mandatory:
        raise Inconclusive(f"Discover {base} does not list the mandatory {resource.id} "
                           f"{resource.name} (judged by the mandatory-resources cases)")
    raise NotApplicable(f"{base}/{resource.id} {resource.name} is optional and Discover "
                        f"{base} does not list it")


def write_back(device: Lwm2mDevice, path: str, value: Value, fmt: int) -> None:
    """Put a value back once the device is registered (after a case that changed it)."""
    try:
        device.ensure_registered()
        response = device.write(path, value, fmt=fmt)
        if response.code != "2.04":
            device.lab.transcript.note("lwm2m", f"writing back {path}: {response.code}",
                                       device=device.ep)
    except (DeviceFault, Inconclusive) as exc:
        device.lab.transcript.note("lwm2m", f"writing back {path}: {exc}", device=device.ep)


def as_int(value: Value, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise DeviceFault(f"{path} is {value!r}, expected an integer")
    return value


def values_of(content: dict[Path, object], resource_id: int) -> list[object]:
    return [v for p, v in content.items() if p.resource_id == resource_id]


def value_problem(resource: ResourceDef, value: object) -> str | None:
    """Why ``value`` is not a value of ``resource`` (type, then the model's range), or None."""
    if resource.type in INT_TYPES:
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{value!r} is not an integer ({resource.type.value})"
        low, _, high = resource.range.partition("..")
        if low.strip().lstrip("-").isdigit() and high.strip().lstrip("-").isdigit() and not (
                int(low) <= value <= int(high)):
            return f"{value} is outside the object model's range {resource.range}"
        if resource.type is not ResourceType.INTEGER and value < 0:
            return f"{value} is negative ({resource.type.value})"
    elif resource.type is ResourceType.STRING and not isinstance(value, str):
        return f"{value!r} is not a string"
    elif resource.type is ResourceType.BOOLEAN and not isinstance(value, bool):
        return f"{value!r} is not a boolean"
    return None


def observe_with_pmax(device: Lwm2mDevice, attributes: list[str], path: str,
                      fmt: int) -> Observation:
    """Observe ``path`` with pmin=0&pmax=PMAX (``attributes``: the conftest fixture that
    removes them afterwards)."""
    attributes.append(path)
    response = device.write_attributes(path, pmin=0, pmax=PMAX)
    assert response.code == "2.04", (
        f"Write-Attributes {path}?pmin=0&pmax={PMAX} answered {response.code}")
    observation = device.observe(path, fmt=fmt)
    initial = observation.initial
    assert initial.code == "2.05", f"Observe {path} answered {initial.code}, expected 2.05"
    assert initial.observe is not None, f"the answer to Observe {path} has no Observe option"
    return observation


def notifications(observation: Observation, path: str, count: int) -> list[dict[Path, object]]:
    """``count`` notifications, each decoded (one that does not decode: INCONCLUSIVE, the
    format cases judge the encoding)."""
    got = []
    for _ in range(count):
        try:
            note = observation.next(NOTIFY_WAIT)
        except DeviceTimeout:
            raise DeviceFault(f"no notification of {path} within {NOTIFY_WAIT:g} s "
                              f"(pmax={PMAX})") from None
        got.append(Lwm2mDevice.decoded(note, path, note.content_format, own_format=False))
    return got


# -- Server object /1 ----------------------------------------------------------------------------

@pytest.mark.ets("LightweightM2M-1.0-int-551")
def test_server_instance_read(device: Lwm2mDevice, registered: Registration) -> None:
    """Read /1/x: mandatory readable resources; Lifetime and Short Server ID are the account's."""
    base, fmt = device.server_path(), device.instance_format()
    response = device.read(base, fmt=fmt)
    assert response.code == "2.05", (
        f"Read {base} in {device.fmt_name(fmt)} answered {response.code}")
    content = device.decoded(response, base, fmt, own_format=False)
    definition = device.lw.registry.get(SERVER)
    assert definition is not None, "the lab's object model has no Server object"
    missing = [f"{r.id} {r.name}" for r in definition.resources.values()
               if r.mandatory and r.readable and not values_of(content, r.id)]
    assert not missing, f"Read {base} lacks mandatory resource(s) {', '.join(missing)}"
    wrong = [f"{r.id} {r.name}: {problem}" for r in definition.resources.values()
             for v in values_of(content, r.id) if (problem := value_problem(r, v))]
    assert not wrong, f"Read {base}: {'; '.join(wrong)}"
    lifetime = values_of(content, 1)[0]
    current = device.ensure_registered().lifetime
    assert lifetime == current, (
        f"{base}/1 Lifetime is {lifetime}, the registration's lifetime is {current}")
    ssid = device.short_server_id()
    if ssid is not None:
        assert values_of(content, 0)[0] == ssid, (
            f"{base}/0 Short Server ID is {values_of(content, 0)[0]}, the account's is {ssid}")


@pytest.mark.ets("LightweightM2M-1.0-int-551")
@pytest.mark.parametrize("resource_id", [2, 3, 5, 6])
def test_server_resource_written(device: Lwm2mDevice, registered: Registration,
                                 resource_id: int) -> None:
    """A writable resource of /1/x takes a Write and reads back as written; then put back."""
    resource = resource_def(device, SERVER, resource_id)
    base = device.server_path()
    require_listed(listed_resources(device, base), resource, base)
    path, fmt = device.server_path(resource_id), device.value_format()
    before = device.read_value(path)
    new = (not before) if resource.type is ResourceType.BOOLEAN else SERVER_WRITES[resource_id]
    if new == before:
        new = as_int(new, path) + 1
    try:
        written = device.write(path, new, fmt=fmt)
        assert written.code == "2.04", (
            f"Write {path} {resource.name} = {new!r} answered {written.code}, expected 2.04")
        after = device.read_value(path)
        assert after == new, f"{path} {resource.name} reads {after!r} after writing {new!r}"
    finally:
        write_back(device, path, before, fmt)


@pytest.mark.ets("LightweightM2M-1.0-int-551")
def test_server_short_id_read_only(device: Lwm2mDevice, registered: Registration) -> None:
    """A Write of /1/x/0 Short Server ID (read-only; with its own value) is refused: 4.05."""
    path, fmt = device.server_path(0), device.value_format()
    ssid = device.read_value(path)
    response = device.write(path, ssid, fmt=fmt)
    assert response.code == "4.05", (
        f"Write {path} Short Server ID (read-only) answered {response.code}, expected 4.05")
    after = device.read_value(path)
    assert after == ssid, f"{path} Short Server ID went from {ssid!r} to {after!r}"


def execute_disable(device: Lwm2mDevice) -> tuple[float, float]:
    """Execute /1/x/4 Disable: 2.04, then a De-register. Returns when the Execute was sent
    and when the De-register came (the lab's clock)."""
    disable = device.server_path(4)
    since = time.time()
    executed = device.execute(disable)
    assert executed.code == "2.04", f"Execute {disable} Disable answered {executed.code}"
    ended = device.lw.wait_event(device.ep, ("deregister",), since, device.timeouts.request)
    if ended is None:
        raise DeviceFault(f"no De-register within {device.timeouts.request} s after Execute "
                          f"{disable} Disable")
    return since, ended.time


@pytest.mark.ets("LightweightM2M-1.0-int-555")
def test_disable_stays_away_for_timeout(device: Lwm2mDevice, registered: Registration,
                                        request: pytest.FixtureRequest) -> None:
    """Execute /1/x/4 Disable: De-register, no Register before /1/x/5 Disable Timeout is over,
    a Register after it."""
    base = device.server_path()
    listed = listed_resources(device, base)
    for resource_id in (4, 5):
        require_listed(listed, resource_def(device, SERVER, resource_id), base)
    fmt = device.value_format()
    timeout_path = device.server_path(5)
    original = device.read_value(timeout_path)
    written = device.write(timeout_path, DISABLE_TIMEOUT, fmt=fmt)
    assert written.code == "2.04", f"Write {timeout_path} Disable Timeout answered {written.code}"
    request.addfinalizer(lambda: write_back(device, timeout_path, original, fmt))
    mark = device.lab.transcript.mark()
    since, left = execute_disable(device)
    back = device.lw.wait_event(device.ep, ("register",), since,
                                DISABLE_TIMEOUT + device.timeouts.session)
    if back is None:
        raise DeviceFault(f"no Register within {DISABLE_TIMEOUT + device.timeouts.session} s "
                          f"after Execute {base}/4 Disable with a {DISABLE_TIMEOUT} s timeout")
    # Judged by the device's first datagram towards the lab after its De-register (a DTLS
    # ClientHello or the Register), so that a slow handshake cannot hide an early return.
    reached = device.first_attempt(back.registration.peer, mark, left) or back.time
    away = reached - since
    assert away >= DISABLE_TIMEOUT - EARLY_TOLERANCE, (
        f"the client came back {away:.1f} s after Execute {base}/4 Disable (its first "
        f"datagram after the De-register), before the {DISABLE_TIMEOUT} s Disable Timeout "
        f"({timeout_path}) was over")


@pytest.mark.ets("LightweightM2M-1.0-int-560")
def test_notifications_stored_while_disabled(device: Lwm2mDevice, registered: Registration,
                                             attributes: list[str],
                                             request: pytest.FixtureRequest) -> None:
    """/1/x/6 true, Disable: notifications of /3/0/13 taken while away arrive after the new
    Register, none while away."""
    base = device.server_path()
    listed = listed_resources(device, base)
    for resource_id in (4, 5, 6):
        require_listed(listed, resource_def(device, SERVER, resource_id), base)
    clock = f"/{DEVICE}/0/13"
    require_listed(listed_resources(device, f"/{DEVICE}/0"), resource_def(device, DEVICE, 13),
                   f"/{DEVICE}/0")
    fmt = device.value_format()
    for resource_id, value in ((6, True), (5, STORING_DISABLE_TIMEOUT)):
        path = device.server_path(resource_id)
        original = device.read_value(path)
        written = device.write(path, value, fmt=fmt)
        assert written.code == "2.04", f"Write {path} = {value!r} answered {written.code}"
        request.addfinalizer(functools.partial(write_back, device, path, original, fmt))
    observation = observe_with_pmax(device, attributes, clock, fmt)
    offset = clock_value(observation.initial, clock, fmt) - time.time()
    try:
        since, left = execute_disable(device)
        taken_after = stored_notifications(device, observation, clock, fmt, offset, since, left)
    finally:
        try:
            device.ensure_registered()
            observation.cancel("get")
        except (DeviceFault, DeviceTimeout, Inconclusive) as exc:  # the verdict stands
            device.lab.transcript.note("lwm2m", f"cancelling the observation of {clock}: {exc}",
                                       device=device.ep)
    away_from, back_at, taken = taken_after
    if not taken:  # not even the pmax ones: the relation ended with the Disable
        raise Inconclusive(
            f"no notification of {clock} (pmax={PMAX}) within {NOTIFY_WAIT:g} s of the new "
            "Register: the observation did not outlive the Disable (whose connection ends, TS "
            "resource 4; OMA LwM2M issue #572 asks how stored notifications reach the server "
            "then), so there is no relation to judge stored notifications on")
    stored = [t for t in taken if stored_while_away(t, away_from, back_at)]
    if not stored and back_at - away_from < STORING_DISABLE_TIMEOUT - EARLY_TOLERANCE:
        raise Inconclusive(
            f"{device.ep} registered again {back_at - away_from:.1f} s after its De-register, "
            f"before the {STORING_DISABLE_TIMEOUT} s Disable Timeout ran out (judged by "
            "test_disable_stays_away_for_timeout, int-555): too short an absence to show "
            "whether notifications taken while away are stored")
    assert stored, (
        f"no notification of {clock} taken while the account was disabled arrived within "
        f"{NOTIFY_WAIT:g} s of the new Register ({base}/6 Notification Storing = true); the "
        f"notifications after it carried times {[round(t - back_at, 1) for t in taken]} s "
        "from the Register")


def stored_while_away(taken: float, left: float, back: float) -> bool:
    """A notification's time (lab clock) shows it was taken between the De-register and the
    Register, given the device clock's resolution."""
    return left - CLOCK_SLACK <= taken < back - CLOCK_SLACK


def clock_value(response: Response, path: str, fmt: int) -> int:
    """The Current Time an Observe answer or a notification carries."""
    content = Lwm2mDevice.decoded(response, path, response.content_format or fmt,
                                  own_format=False)
    found = values_of(content, 13)
    if not found:
        raise DeviceFault(f"a notification of {path} Current Time carries no value")
    return as_int(found[0], path)  # type: ignore[arg-type]


def stored_notifications(device: Lwm2mDevice, observation: Observation, path: str, fmt: int,
                         offset: float, since: float,
                         left: float) -> tuple[float, float, list[float]]:
    """Wait for the Register after the Disable, taking each notification as it arrives: one
    while the client is away is a FAIL. Returns when the client left and came back (the lab's
    clock) and when each notification after it was taken (the device's clock less ``offset``),
    until the first taken while away arrives, or for NOTIFY_WAIT after the Register."""
    limit = since + STORING_DISABLE_TIMEOUT + device.timeouts.session
    back: float | None = None
    taken: list[float] = []
    while True:
        now = time.time()
        if back is None:
            event = device.lw.wait_event(device.ep, ("register",), since, 0.1)
            back = event.time if event is not None else None
            if back is None and now > limit:
                raise DeviceFault(f"no Register within {limit - since:.0f} s after Execute "
                                  f"{device.server_path(4)} Disable with a "
                                  f"{STORING_DISABLE_TIMEOUT} s timeout")
        if back is not None and any(stored_while_away(t, left, back) for t in taken):
            return left, back, taken  # what the case waits for: nothing more to learn
        end = limit if back is None else back + NOTIFY_WAIT
        if now >= end:
            return left, back if back is not None else now, taken
        try:
            note = observation.next(min(0.5, end - now))
        except DeviceTimeout:
            continue
        arrived = time.time() - (time.monotonic() - note.received)  # when the lab got it
        if back is None:  # the Register this notification may have followed
            event = device.lw.wait_event(device.ep, ("register",), since, 0.05)
            back = event.time if event is not None else None
        if back is None and arrived > left + CLOCK_SLACK:
            raise DeviceFault(f"a notification of {path} arrived {arrived - left:.1f} s "
                              "after the De-register, while the account was disabled")
        if back is not None or arrived > left:
            taken.append(clock_value(note, path, fmt) - offset)


@pytest.mark.ets("LightweightM2M-1.0-int-556")
def test_update_trigger_renews_registration(device: Lwm2mDevice,
                                            registered: Registration) -> None:
    """Execute /1/x/8: an Update of the same registration, not a new Register."""
    before = device.ensure_registered()
    update = device.trigger_update()
    assert update.registration.location == before.location, (
        f"the Update after Execute {device.server_path(8)} went to "
        f"{update.registration.location}, the registration is {before.location}")


# -- Device object /3 ----------------------------------------------------------------------------

@pytest.mark.ets("LightweightM2M-1.0-int-651")
def test_device_writable_resources(device: Lwm2mDevice, registered: Registration) -> None:
    """ETS 651: partial update of /3/0 with 13/14/15, Read; replace with the old values, Read."""
    base = f"/{DEVICE}/0"
    listed = listed_resources(device, base)
    chosen = {rid: v for rid, v in DEVICE_WRITES.items() if rid in listed}
    if not chosen:
        raise NotApplicable(f"Discover {base} lists none of the writable optional resources "
                            "13 Current Time, 14 UTC Offset, 15 Timezone")
    fmt, value_fmt = device.instance_format(), device.value_format()
    before = {rid: device.read_value(f"{base}/{rid}") for rid in chosen}
    read_at = time.time()
    restored = False
    try:
        written = device.write(base, {f"{base}/{r}": v for r, v in chosen.items()}, fmt=fmt,
                               partial=True)
        written_at = time.time()
        assert written.code == "2.04", (
            f"Write (partial update) {base} in {device.fmt_name(fmt)} answered {written.code}")
        check_device_values(device, base, fmt, chosen, written_at)
        old = dict(before)
        if 13 in old:  # the clock ran on meanwhile
            old[13] = as_int(old[13], f"{base}/13") + round(time.time() - read_at)
        replaced = device.write(base, {f"{base}/{r}": v for r, v in old.items()}, fmt=fmt)
        restored = replaced.code == "2.04"
        assert restored, f"Write (replace) {base} with the old values answered {replaced.code}"
        check_device_values(device, base, fmt, old, time.time())
    finally:
        if not restored:
            for rid, value in before.items():
                if rid == 13 and isinstance(value, int):
                    value += round(time.time() - read_at)
                write_back(device, f"{base}/{rid}", value, value_fmt)


def check_device_values(device: Lwm2mDevice, base: str, fmt: int, expected: dict[int, Value],
                        written_at: float) -> None:
    """Read ``base``: each expected value (Current Time: as written, running on since)."""
    response = device.read(base, fmt=fmt)
    assert response.code == "2.05", f"Read {base} answered {response.code}"
    content = device.decoded(response, base, fmt, own_format=False)
    for rid, value in expected.items():
        got = values_of(content, rid)
        assert got, f"Read {base} does not carry {base}/{rid} after it was written"
        if rid == 13:
            ran, want = time.time() - written_at, as_int(value, f"{base}/13")
            assert isinstance(got[0], int) and want - 2 <= got[0] <= want + ran + 2, (
                f"{base}/13 Current Time reads {got[0]!r} after {want} was written")
        else:
            assert got[0] == value, f"{base}/{rid} reads {got[0]!r} after {value!r} was written"


# 4, 5, 12 are executable; 22 ExtDevInfo only links to other objects (nothing to judge alone)
READABLE = [r for r in range(22) if r not in (4, 5, 12)]


@pytest.mark.ets("LightweightM2M-1.0-int-651")
@pytest.mark.parametrize("resource_id", READABLE)
def test_device_resource_read(device: Lwm2mDevice, registered: Registration,
                              resource_id: int) -> None:
    """Read /3/0/<r> (listed by Discover): 2.05, values of the model's type and range."""
    resource = resource_def(device, DEVICE, resource_id)
    base = f"/{DEVICE}/0"
    require_listed(listed_resources(device, base), resource, base)
    path = f"{base}/{resource_id}"
    fmt = device.instance_format() if resource.multiple else device.value_format()
    response = device.read(path, fmt=fmt)
    assert response.code == "2.05", f"Read {path} {resource.name} answered {response.code}"
    found = values_of(device.decoded(response, path, fmt, own_format=False), resource_id)
    assert found, f"Read {path} {resource.name} carried no value"
    wrong = [p for v in found if (p := value_problem(resource, v))]
    assert not wrong, f"{path} {resource.name}: {'; '.join(wrong)}"
    if resource_id == 16:  # the registration's binding is one the device says it supports
        binding = (device.ensure_registered().binding or "U").replace("Q", "")
        missing = [b for b in binding if b not in str(found[0])]
        assert not missing, (f"{path} Supported Binding and Modes is {found[0]!r}, the client "
                             f"registered with b={binding}")


@pytest.mark.ets("LightweightM2M-1.0-int-652")
def test_firmware_version_in_own_format(device: Lwm2mDevice, registered: Registration) -> None:
    """Read /3/0/3 without Accept: 2.05 in the client's format, the version it should run."""
    path = f"/{DEVICE}/0/3"
    response = device.read(path)
    assert response.code == "2.05", (
        f"Read {path} Firmware Version without Accept answered {response.code}, expected 2.05")
    value = single_value(response, path, response.content_format, own_format=True)
    expected = device.baseline.firmware_version
    assert value == expected, f"{path} Firmware Version is {value!r}, expected {expected!r}"


@pytest.mark.ets("LightweightM2M-1.0-int-655")
def test_reboot_execute(device: Lwm2mDevice, registered: Registration) -> None:
    """Execute /3/0/4 Reboot: 2.04, then a new Register."""
    device.execute_reboot()


@pytest.mark.ets("LightweightM2M-1.0-int-656")
def test_factory_reset_execute(device: Lwm2mDevice, registered: Registration) -> None:
    """Execute /3/0/5 Factory Reset: 2.04, then the initial deployment: bootstrap, Register."""
    base = f"/{DEVICE}/0"
    require_listed(listed_resources(device, base), resource_def(device, DEVICE, 5), base)
    since = time.time()
    executed = device.execute(f"{base}/5")
    assert executed.code == "2.04", f"Execute {base}/5 Factory Reset answered {executed.code}"
    if device.dut.features.bootstrap:
        try:
            device.lw.wait_bootstrap_request(device.ep, device.timeouts.session)
        except DeviceTimeout:
            anew = device.lw.wait_event(device.ep, ("register",), since, 0.1)
            raise DeviceFault(
                f"no Bootstrap-Request within {device.timeouts.session} s after Execute "
                f"{base}/5 Factory Reset (features.bootstrap)"
                + ("; the client registered again with the account it had" if anew else "")
            ) from None
        device.provision()
    try:
        device.lw.wait_registration(device.ep, newer_than=since)
    except DeviceTimeout:
        raise DeviceFault(f"no Register within {device.timeouts.session} s after Execute "
                          f"{base}/5 Factory Reset") from None


def error_codes(device: Lwm2mDevice, path: str, fmt: int) -> list[object]:
    response = device.read(path, fmt=fmt)
    assert response.code == "2.05", f"Read {path} Error Code answered {response.code}"
    return values_of(device.decoded(response, path, fmt, own_format=False), 11)


@pytest.mark.ets("LightweightM2M-1.0-int-657")
def test_reset_error_code(device: Lwm2mDevice, registered: Registration) -> None:
    """Error codes in range; Execute /3/0/12: exactly one Error Code instance, 0 No error."""
    base = f"/{DEVICE}/0"
    require_listed(listed_resources(device, base), resource_def(device, DEVICE, 12), base)
    path, fmt = f"{base}/11", device.instance_format()
    error_code = resource_def(device, DEVICE, 11)
    wrong = [p for v in error_codes(device, path, fmt) if (p := value_problem(error_code, v))]
    assert not wrong, f"{path} Error Code: {'; '.join(wrong)}"
    executed = device.execute(f"{base}/12")
    assert executed.code == "2.04", f"Execute {base}/12 Reset Error Code answered {executed.code}"
    after = error_codes(device, path, fmt)
    assert after == [0], (f"{path} Error Code is {after} after Execute {base}/12 Reset Error "
                          "Code, expected one instance 0 No error")


@pytest.mark.ets("LightweightM2M-1.0-int-660")
@pytest.mark.parametrize("resource_id", [7, 8], ids=["voltage", "current"])
def test_observe_power_source(device: Lwm2mDevice, registered: Registration,
                              attributes: list[str], resource_id: int) -> None:
    """Observe /3/0/7 or /3/0/8 (multiple resources) with pmax: notifications of its values."""
    resource = resource_def(device, DEVICE, resource_id)
    base = f"/{DEVICE}/0"
    require_listed(listed_resources(device, base), resource, base)
    path = f"{base}/{resource_id}"
    observation = observe_with_pmax(device, attributes, path, device.instance_format())
    try:
        for content in notifications(observation, path, 2):
            assert values_of(content, resource_id), (
                f"a notification of {path} {resource.name} carries no value of it")
    finally:
        observation.cancel("get")


@pytest.mark.ets("LightweightM2M-1.0-int-661")
def test_observe_device_instance(device: Lwm2mDevice, registered: Registration,
                                 attributes: list[str]) -> None:
    """Observe /3/0 with pmax: notifications carry its mandatory readable resources."""
    base = f"/{DEVICE}/0"
    definition = device.lw.registry.get(DEVICE)
    assert definition is not None, "the lab's object model has no Device object"
    mandatory = [r for r in definition.resources.values() if r.mandatory and r.readable]
    observation = observe_with_pmax(device, attributes, base, device.instance_format())
    try:
        for content in notifications(observation, base, 2):
            missing = [f"{r.id} {r.name}" for r in mandatory if not values_of(content, r.id)]
            assert not missing, (f"a notification of {base} lacks mandatory resource(s) "
                                 f"{', '.join(missing)}")
    finally:
        observation.cancel("get")


@pytest.mark.ets("LightweightM2M-1.0-int-680")
def test_create_device_instance_refused(device: Lwm2mDevice, registered: Registration) -> None:
    """Create on /3 (single-instance, mandatory): 4.05, and /3 keeps its one instance."""
    before = device.instances(DEVICE)
    new = max(before, default=0) + 1
    content: dict[Path, Value | None] = {Path(DEVICE, new, 15): "Etc/UTC"}
    try:
        response = device.create(f"/{DEVICE}", content, fmt=device.instance_format())
        after = device.instances(DEVICE)
    finally:
        cold_start_unless_answering(device, f"/{DEVICE}", "Create /3")
    assert response.code == "4.05", (
        f"Create on /{DEVICE} (single-instance Device object) answered {response.code}, "
        "expected 4.05")
    assert after == before, f"/{DEVICE} instances went from {before} to {after} after a Create"


def cold_start_unless_answering(device: Lwm2mDevice, path: str, request: str) -> None:
    """A client that no longer answers Discover ``path`` after ``request`` (it crashed, or lost
    the object) is cold-started through the controller, so that later cases, whatever their
    order, do not judge what this case left behind."""
    try:
        if device.discover(path).code == "2.05":
            return
    except (DeviceFault, Inconclusive):
        pass
    device.cold_start(f"{device.ep} does not answer Discover {path} after {request}")
