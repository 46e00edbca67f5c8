"""ATT-DMIG-3.2 LwM2M client conformance: Information Reporting to the OMA ETS
(ETS 1.0 int-301; ETS 1.1 int-304…311; TS 1.1 §5.1.2 attributes, §6.4).

Checks:
- Change attributes (ETS 1.0 int-301, conditional notifications): with st, gt or lt on a
  numeric resource, a change that does not meet the attribute is not notified, one that
  does is (with its value). The resource is /1/x/5 Disable Timeout of the lab's own Server
  instance (writable, integer, read by nothing until a Disable); pmin 1, pmax 60 so that no
  periodic notification falls inside the case.
- Observe of an object instance and of an object (ETS 1.0 int-301): 2.05 with an Observe
  option, then a notification within pmax.
- Observe-Composite (1.1 int-304): FETCH / with Observe 0 and a SenML path list: 2.05 with
  the values under every path and an Observe option; a notification within pmax (set on one
  path) carrying every path again. Cancel (1.1 int-305): the FETCH with Observe 1 answers 2.05
  and no notification of the relation follows for two pmax periods. Modification (1.1
  int-310): pmax written on /3 while the relation runs makes notifications come every pmax.
- Observe-Composite and Create/Delete (1.1 int-308, 309): a relation on two Portfolio /16
  instances the case created (pmin 1, pmax 2); after Create of the one that was absent a
  notification carries its values, after Delete of one nothing of it remains.
- Send (1.1 int-306, 311): the controller's ``send`` action makes the device POST /dp; the lab
  accepts SenML JSON/CBOR (2.04) and the values must match what a Read gives; a Send of
  resources carries those resources only. Muting Send (1.1 int-307): with /1/x/23 true no Send
  reaches the lab (the device may refuse the action) within three times what an unmuted Send
  took (1-3 s), with it false again one does.

Interpretation: notifications are judged as they arrive on the wire (the transcript keeps
them); silence is waited for only where the attribute semantics say none may come. Every case
removes the attributes it wrote and puts back the values it changed (/1/x/5, /1/x/23; a /1/x/23
that was absent is put back as true, which the TS treats alike) and deletes the /16
instances it created. Without /16 in the registration the int-308/309 cases are NOT
APPLICABLE; without the declaration's ``send`` action the Send cases are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from conformance.dut.common import require_action
from conformance.dut.lwm2m import Lwm2mDevice
from conformance.lwm2m.lab import Observation, Registration, Response, SendReport
from conformance.lwm2m.model import Content, Path, Value
from conformance.verdicts import DeviceFault, DeviceTimeout, Inconclusive, NotApplicable

pytestmark = pytest.mark.requirement("ATT-DMIG-3.2")

TOLERANCE = 0.75  # seconds a notification may come later than its period says
PMIN, QUIET_PMAX = 1, 60  # the shortest pmin the TS allows; a pmax no case waits for
BASE = 100  # /1/x/5 value the change-attribute cases start from
MUTE_SEND, DISABLE_TIMEOUT, TS_DISABLE_TIMEOUT = 23, 5, 86400
MUTED_QUIET_MIN, MUTED_QUIET_MAX = 1.0, 3.0  # s a muted Send is waited for (int-307)

Restore = Callable[[], object]


@pytest.fixture
def undo(device: Lwm2mDevice) -> Iterator[list[tuple[str, Restore]]]:
    """What a case changed, undone afterwards in reverse order, whatever its verdict."""
    steps: list[tuple[str, Restore]] = []
    yield steps
    for what, step in reversed(steps):
        try:
            step()
        except (DeviceFault, Inconclusive) as exc:  # the case has its verdict already
            device.lab.transcript.note("lwm2m", f"restoring {what}: {exc}", device=device.ep)


def set_attributes(device: Lwm2mDevice, undo: list[tuple[str, Restore]], path: str,
                   **attrs: float | int) -> None:
    names = dict.fromkeys(attrs)
    undo.append((f"the attributes of {path}",
                 lambda: device.write_attributes(path, **names)))
    response = device.write_attributes(path, **attrs)
    query = "&".join(f"{k}={v}" for k, v in attrs.items())
    assert response.code == "2.04", f"Write-Attributes {path}?{query} answered {response.code}"


def started(observation: Observation, what: str) -> None:
    initial = observation.initial
    assert initial.code == "2.05", f"{what} answered {initial.code}, expected 2.05"
    assert initial.observe is not None, f"the answer to {what} has no Observe option"


def notified(observation: Observation, what: str, timeout: float) -> tuple[Response, float]:
    try:
        note = observation.next(timeout)
    except DeviceTimeout:
        raise DeviceFault(f"no notification of {what} within {timeout:g} s") from None
    return note, note.received  # when the lab received it


def content_of(response: Response, what: str, *, own_format: bool = True) -> Content:
    """The decoded values; a payload that does not decode is the case's FAIL when the format
    is part of what it judges (composite SenML), else INCONCLUSIVE (the format cases judge
    TLV, text …)."""
    if response.content is None:
        problem = (f"{what}: the {response.code} payload does not decode: "
                   f"{response.decode_error or 'no payload'}")
        if own_format:
            raise DeviceFault(problem)
        raise Inconclusive(problem + " (the encoding is judged by the ATT-DMIG-3.2 format cases)")
    return response.content


def missing_paths(content: Content, paths: list[str]) -> list[str]:
    return [p for p in paths if not any(Path.parse(p).contains(k) for k in content)]


# --------------------------------------------------------------------------- ETS 1.0 int-301


@pytest.fixture
def numeric(device: Lwm2mDevice, registered: Registration,
            undo: list[tuple[str, Restore]]) -> str:
    """/1/x/5 Disable Timeout set to BASE; put back afterwards."""
    path = device.server_path(DISABLE_TIMEOUT)
    fmt = device.value_format()
    read = device.read(path, fmt=fmt)
    original: Value = TS_DISABLE_TIMEOUT
    if read.code == "2.05":
        original = device.read_value(path)
    written = device.write(path, BASE, fmt=fmt)
    if written.code in ("4.04", "4.05"):
        raise NotApplicable(f"{path} Disable Timeout is not writable here ({written.code}): "
                            "the lab has no numeric resource of its own to change")
    assert written.code == "2.04", f"Write {path}={BASE} answered {written.code}"
    undo.append((path, lambda: device.write(path, original, fmt=fmt)))
    return path


@pytest.mark.ets("LightweightM2M-1.0-int-301")
@pytest.mark.parametrize(("attribute", "threshold", "unmet", "met"), [
    pytest.param("st", 10, 105, 120, id="step"),
    pytest.param("gt", 150, 120, 200, id="greater-than"),
    pytest.param("lt", 50, 80, 20, id="less-than"),
])
def test_change_attribute(device: Lwm2mDevice, numeric: str, undo: list[tuple[str, Restore]],
                          attribute: str, threshold: int, unmet: int, met: int) -> None:
    """A change that does not meet st/gt/lt is not notified; one that does is."""
    fmt = device.value_format()
    set_attributes(device, undo, numeric, pmin=PMIN, pmax=QUIET_PMAX,
                   **{attribute: threshold})
    observation = device.observe(numeric, fmt=fmt)
    undo.append((f"the observation of {numeric}", lambda: observation.cancel("get")))
    started(observation, f"Observe {numeric}")
    rule = f"{attribute}={threshold} from {BASE}"
    written = device.write(numeric, unmet, fmt=fmt)
    assert written.code == "2.04", f"Write {numeric}={unmet} answered {written.code}"
    try:  # a notification of it is due pmin after the Observe answer, which came before
        early = observation.next(PMIN + TOLERANCE)
    except DeviceTimeout:
        early = None
    assert early is None, (
        f"{numeric} notified after a change to {unmet}, which does not meet {rule} "
        f"(TS 1.1 §5.1.2): {early.content if early else ''}")
    written = device.write(numeric, met, fmt=fmt)
    assert written.code == "2.04", f"Write {numeric}={met} answered {written.code}"
    note, _ = notified(observation, f"{numeric} after a change to {met} ({rule})",
                       PMIN + TOLERANCE + 1)
    value = content_of(note, f"notification of {numeric}", own_format=False).get(
        Path.parse(numeric))
    assert value == met, f"the notification of {numeric} carries {value!r}, expected {met}"


@pytest.mark.ets("LightweightM2M-1.0-int-301")
@pytest.mark.parametrize("level", ["instance", "object"])
def test_observe_instance_or_object(device: Lwm2mDevice, registered: Registration,
                                    undo: list[tuple[str, Restore]], level: str) -> None:
    """Observe of a whole instance (/1/x) or object (/1): observed, notified within pmax."""
    instance = device.server_path()  # INCONCLUSIVE without the lab's /1 instance, both levels
    path = instance if level == "instance" else instance.rsplit("/", 1)[0]
    pmax = 1
    set_attributes(device, undo, path, pmax=pmax)
    observation = device.observe(path, fmt=device.instance_format())
    undo.append((f"the observation of {path}", lambda: observation.cancel("get")))
    started(observation, f"Observe {path}")
    note, _ = notified(observation, path, pmax + TOLERANCE + 1)
    values = content_of(note, f"notification of {path}", own_format=False)
    assert values and all(Path.parse(path).contains(k) for k in values), (
        f"the notification of {path} carries {sorted(map(str, values))}")


# --------------------------------------------------------------------------- Observe-Composite


@pytest.fixture
def composite_paths(device: Lwm2mDevice, registered: Registration) -> list[str]:
    """The lab's lifetime /1/x/1 and a stable Device resource (chosen from Discover)."""
    device.senml_format("Observe-Composite")  # NOT APPLICABLE on a 1.0 client before /1
    return [device.server_path(1), device.observable_resource()]


@pytest.mark.ets("LightweightM2M-1.1-int-304")
def test_observe_composite(device: Lwm2mDevice, composite_paths: list[str],
                           undo: list[tuple[str, Restore]]) -> None:
    """Observe-Composite answers every path with an Observe option; notifications (pmax on
    the first path) carry every path again, no sooner than pmin."""
    fmt = device.senml_format("Observe-Composite")
    pmax = 2
    set_attributes(device, undo, composite_paths[0], pmin=PMIN, pmax=pmax)
    observation = device.observe_composite(composite_paths, fmt)
    undo.append(("the composite observation", lambda: observation.cancel("get")))
    started(observation, "Observe-Composite")
    begun = observation.initial.received
    what = f"Observe-Composite {' '.join(composite_paths)}"
    missing = missing_paths(content_of(observation.initial, what), composite_paths)
    assert not missing, f"the answer to {what} has no value under {', '.join(missing)}"
    note, arrived = notified(observation, what, pmax + TOLERANCE + 1)
    missing = missing_paths(content_of(note, f"notification of {what}"), composite_paths)
    assert not missing, f"the notification of {what} has no value under {', '.join(missing)}"
    assert arrived - begun >= PMIN - 0.5, (
        f"notification of {what} {arrived - begun:.2f} s after the answer, pmin is {PMIN} s")


@pytest.mark.ets("LightweightM2M-1.1-int-305")
def test_cancel_observe_composite(device: Lwm2mDevice, composite_paths: list[str],
                                  undo: list[tuple[str, Restore]]) -> None:
    """After the cancelling FETCH (Observe 1, same token) no notification of it comes."""
    fmt = device.senml_format("Observe-Composite")
    pmax = 1
    set_attributes(device, undo, composite_paths[0], pmax=pmax)
    observation = device.observe_composite(composite_paths, fmt)
    started(observation, "Observe-Composite")
    notified(observation, "Observe-Composite", pmax + TOLERANCE + 1)  # the relation is live
    answer = observation.cancel("get")
    assert answer.code == "2.05", f"the cancelling FETCH (Observe 1) answered {answer.code}"
    assert answer.observe is None, (  # a plain answer, not a notification (RFC 7641 §3.6)
        f"the cancelling FETCH was answered as a notification (Observe={answer.observe})")
    late = device.notification_within(observation.token, 2 * pmax)
    assert late is None, (f"notification of the cancelled Observe-Composite: {late.summary} "
                          f"(token {observation.token})")


@pytest.mark.ets("LightweightM2M-1.1-int-310")
def test_observe_composite_attribute_change(device: Lwm2mDevice, registered: Registration,
                                            undo: list[tuple[str, Restore]]) -> None:
    """pmax written on /3 while an Observe-Composite of /1/x/1 and /3/0 runs: notifications
    then come at least every pmax."""
    fmt = device.senml_format("Observe-Composite")
    paths = [device.server_path(1), f"/3/{device.instance_of(3)}"]
    observation = device.observe_composite(paths, fmt)
    undo.append(("the composite observation", lambda: observation.cancel("get")))
    started(observation, "Observe-Composite")
    pmax = 1
    set_attributes(device, undo, "/3", pmax=pmax)
    written = time.monotonic()
    what = f"Observe-Composite {' '.join(paths)} after pmax={pmax} on /3"
    _, first = notified(observation, what, pmax + TOLERANCE + 1)
    _, second = notified(observation, what, pmax + TOLERANCE + 1)
    assert first - written <= pmax + TOLERANCE and second - first <= pmax + TOLERANCE, (
        f"notifications of {what} came {first - written:.2f} s and {second - first:.2f} s "
        "apart")


# ------------------------------------------------------- Observe-Composite and Create/Delete

PORTFOLIO = 16  # the creatable object of the DM cases (test_ets_dm.py)
CREATE_CASE = "test_create_object_instance (int-270)"
Identity = dict[int, Value | dict[int, Value]]
IDENTITY_A: Identity = {0: {0: "aa", 1: "bb"}}  # Portfolio /16/x/0 Identity instances
IDENTITY_B: Identity = {0: {0: "11", 1: "22"}}


def identity_values(iid: int, values: Identity) -> Content:
    return {Path(PORTFOLIO, iid, rid, n): v for rid, by_instance in values.items()
            if isinstance(by_instance, dict) for n, v in by_instance.items()}


@contextmanager
def composite_on_instances(device: Lwm2mDevice, fmt: int, paths: list[str]
                           ) -> Iterator[Observation]:
    """pmin 1 / pmax 2 on the first (existing) instance, then Observe-Composite ``paths``;
    afterwards the relation is cancelled and the attributes removed, before the instances
    go (a cancel refused is noted: the case has its verdict already)."""
    answered = device.write_attributes(paths[0], pmin=PMIN, pmax=2)
    assert answered.code == "2.04", (
        f"Write-Attributes {paths[0]}?pmin={PMIN}&pmax=2 answered {answered.code}")
    observation: Observation | None = None
    try:
        observation = device.observe_composite(paths, fmt)
        yield observation
    finally:
        if observation is not None:
            try:
                observation.cancel("get")
            except (DeviceFault, Inconclusive) as exc:
                device.lab.transcript.note("lwm2m", f"cancelling the composite observation: "
                                           f"{exc}", device=device.ep)
        device.remove_attributes(paths[0])


def reflecting(observation: Observation, what: str, timeout: float,
               shows: Callable[[Content], bool]) -> Content:
    """The first notification within ``timeout`` whose values ``shows`` accepts, else the
    last one seen (the FAIL's evidence); none at all is a FAIL of its own. Notifications
    already on the way before the change are read and passed over."""
    deadline = time.monotonic() + timeout
    last: Content | None = None
    while (left := deadline - time.monotonic()) > 0:
        try:
            note = observation.next(left)
        except DeviceTimeout:
            break
        last = content_of(note, f"notification of {what}")
        if shows(last):
            return last
    if last is None:
        raise DeviceFault(f"no notification of {what} within {timeout:g} s")
    return last


def under(content: Content, path: str) -> dict[str, Value | None]:
    return {str(p): v for p, v in content.items() if Path.parse(path).contains(p)}


@pytest.mark.ets("LightweightM2M-1.1-int-308")
def test_observe_composite_create_instance(device: Lwm2mDevice,
                                           registered: Registration) -> None:
    """Observe-Composite of /16/a (created) and /16/b (absent); Create /16/b: a notification
    (pmin 1, pmax 2) carries /16/a and the new /16/b with its values (both deleted after)."""
    fmt = device.senml_format("Observe-Composite")
    device.creatable_object(PORTFOLIO)
    with device.created_instance(PORTFOLIO, IDENTITY_A, judged_by=CREATE_CASE) as a:
        b = next(i for i in range(65535) if i not in device.instances(PORTFOLIO))
        paths = [f"/{PORTFOLIO}/{a}", f"/{PORTFOLIO}/{b}"]
        what = f"Observe-Composite {' '.join(paths)}"
        with composite_on_instances(device, fmt, paths) as observation:
            started(observation, what)
            initial = content_of(observation.initial, what)
            assert under(initial, paths[0]) and not under(initial, paths[1]), (
                f"the answer to {what} carries {sorted(map(str, initial))}, expected "
                f"{paths[0]} only")
            with device.created_instance(PORTFOLIO, IDENTITY_B, judged_by=CREATE_CASE) as got:
                if got != b:
                    raise Inconclusive(f"Create /{PORTFOLIO} made /{PORTFOLIO}/{got}, the lab "
                                       f"observes /{PORTFOLIO}/{b}")
                expected = identity_values(b, IDENTITY_B)

                def shows_new(content: Content) -> bool:
                    return all(content.get(p) == v for p, v in expected.items())

                content = reflecting(observation, f"{what} after Create {paths[1]}",
                                     2 + TOLERANCE + 1, shows_new)
                assert shows_new(content), (
                    f"the notifications of {what} after Create {paths[1]} do not carry the "
                    f"new instance's values: last one {sorted(map(str, content))}")
                assert under(content, paths[0]), (
                    f"the notification of {what} after Create {paths[1]} lost {paths[0]}")


@pytest.mark.ets("LightweightM2M-1.1-int-309")
def test_observe_composite_delete_instance(device: Lwm2mDevice,
                                           registered: Registration) -> None:
    """Observe-Composite of /16/a and /16/b (both created); Delete /16/b: a notification
    (pmin 1, pmax 2) carries /16/a and nothing of /16/b (/16/a deleted after)."""
    fmt = device.senml_format("Observe-Composite")
    device.creatable_object(PORTFOLIO)
    with (device.created_instance(PORTFOLIO, IDENTITY_A, judged_by=CREATE_CASE) as a,
          device.created_instance(PORTFOLIO, IDENTITY_B, judged_by=CREATE_CASE) as b):
        paths = [f"/{PORTFOLIO}/{a}", f"/{PORTFOLIO}/{b}"]
        what = f"Observe-Composite {' '.join(paths)}"
        with composite_on_instances(device, fmt, paths) as observation:
            started(observation, what)
            missing = missing_paths(content_of(observation.initial, what), paths)
            assert not missing, f"the answer to {what} has no value under {', '.join(missing)}"
            deleted = device.delete(paths[1])
            if deleted.code != "2.02":
                raise Inconclusive(f"Delete {paths[1]} answered {deleted.code} "
                                   "(test_delete_object_instance, int-290, judges Delete)")

            def shows_gone(content: Content) -> bool:
                return bool(under(content, paths[0])) and not under(content, paths[1])

            content = reflecting(observation, f"{what} after Delete {paths[1]}",
                                 2 + TOLERANCE + 1, shows_gone)
            assert not under(content, paths[1]), (
                f"the notifications of {what} after Delete {paths[1]} still carry "
                f"{', '.join(sorted(under(content, paths[1])))}")
            assert under(content, paths[0]), (
                f"the notification of {what} after Delete {paths[1]} lost {paths[0]}")


# --------------------------------------------------------------------------- Send


@pytest.fixture
def sending(device: Lwm2mDevice, registered: Registration,
            undo: list[tuple[str, Restore]]) -> str:
    """A device that can be made to Send, with /1/x/23 Mute Send false (put back after)."""
    device.senml_format("Send")
    require_action(device.controller, "send", "make the device Send")
    mute = device.server_path(MUTE_SEND)
    fmt = device.value_format()
    read = device.read(mute, fmt=fmt)
    original: Value = device.read_value(mute) if read.code == "2.05" else True
    undo.append((mute, lambda: device.write(mute, original, fmt=fmt)))
    written = device.write(mute, False, fmt=fmt)
    assert written.code == "2.04", f"Write {mute}=false (Send on) answered {written.code}"
    return mute


def send(device: Lwm2mDevice, paths: list[str]) -> SendReport:
    since = time.time()
    device.controller.send(paths)
    report = device.wait_send(since, device.timeouts.request)
    if report is None:
        raise DeviceFault(f"no Send (POST /dp) reached the lab within "
                          f"{device.timeouts.request} s after the send action ({' '.join(paths)})")
    return report


def same_as_read(device: Lwm2mDevice, report: SendReport, paths: list[str]) -> None:
    for path in paths:
        sent = report.content.get(Path.parse(path))
        read = device.read_value(path)
        assert sent == read, f"the Send carries {path}={sent!r}, a Read gives {read!r}"


@pytest.mark.ets("LightweightM2M-1.1-int-306")
def test_send_objects(device: Lwm2mDevice, sending: str) -> None:
    """Send of /1 and /3: accepted by the lab (2.04), both objects' values as a Read gives."""
    report = send(device, ["/1", "/3"])
    missing = missing_paths(report.content, ["/1", "/3"])
    assert not missing, f"the Send of /1 /3 carries no value of {', '.join(missing)}"
    same_as_read(device, report, [device.server_path(0), device.observable_resource()])


@pytest.mark.ets("LightweightM2M-1.1-int-311")
def test_send_resources(device: Lwm2mDevice, sending: str) -> None:
    """Send of /1/x/1 and /3/0/11: those resources, nothing else, values as a Read gives."""
    paths = [device.server_path(1), f"/3/{device.instance_of(3)}/11"]
    report = send(device, paths)
    missing = missing_paths(report.content, paths)
    assert not missing, f"the Send carries no value of {', '.join(missing)}"
    extra = sorted(str(k) for k in report.content
                   if not any(Path.parse(p).contains(k) for p in paths))
    assert not extra, f"the Send of {' '.join(paths)} also carries {', '.join(extra)}"
    same_as_read(device, report, paths[:1])


@pytest.mark.ets("LightweightM2M-1.1-int-307")
def test_muting_send(device: Lwm2mDevice, sending: str) -> None:
    """/1/x/23 Mute Send true: no Send reaches the lab; false again: the Send comes. The
    quiet window is three times what an unmuted Send took here (at least MUTED_QUIET_MIN s,
    at most MUTED_QUIET_MAX s or timeouts.request): a muted Send would travel as fast."""
    fmt = device.value_format()
    paths = [device.server_path(1)]
    since = time.time()
    took = send(device, paths).time - since
    written = device.write(sending, True, fmt=fmt)
    assert written.code == "2.04", f"Write {sending}=true (mute) answered {written.code}"
    since = time.time()
    try:
        device.controller.send(paths)
    except Inconclusive as exc:  # a muted client may refuse the action itself
        device.lab.transcript.note("lwm2m", f"send refused while muted: {exc}", device=device.ep)
    quiet = min(device.timeouts.request, MUTED_QUIET_MAX, max(MUTED_QUIET_MIN, 3 * took))
    report = device.wait_send(since, quiet)
    assert report is None, (f"a Send reached the lab although {sending} Mute Send is true: "
                            f"{', '.join(map(str, report.content))}")
    written = device.write(sending, False, fmt=fmt)
    assert written.code == "2.04", f"Write {sending}=false (unmute) answered {written.code}"
    send(device, paths)
