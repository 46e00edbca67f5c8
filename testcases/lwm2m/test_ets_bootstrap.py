"""ATT-DMIG-3.2 LwM2M client conformance, traced to the OMA LwM2M ETS 1.1 interoperability
tests of the Bootstrap interface (int-0…9) the lab can drive from the server side (TS 1.1 §5.2,
§6.1), when the declaration says ``features.bootstrap``.

The cases but int-6 (a reboot) make the device bootstrap (a factory reset through the
controller: the client asks the lab's bootstrap server, TS 1.1 §5.2) and answer its
Bootstrap-Request with a sequence of their own, then check what the client did on the wire.
A case that provisioned anything but the declared account puts the declared one back (another
factory reset, answered with the usual provisioning), so no verdict depends on case order.

Checks:
- int-1 Client Initiated Bootstrap Full (PSK): the bootstrap server provisions DM credentials
  of its own (a fresh PSK identity and key the lab then accepts): the client registers over
  DTLS with exactly those. Provisioned with an identity and key the lab does not accept, the
  client offers that identity and is not registered (a client that kept its factory key
  would be) within ``timeouts.request``, or before it asks the bootstrap server again.
- int-4 Bootstrap Delete: after Bootstrap-Write of the account, a Bootstrap-Delete of ``/``
  leaves no Server instance and no Security instance but the bootstrap server's own, as
  Bootstrap-Discover shows (TS 1.1 §5.2.7).
- int-6 Bootstrap Sequence: a client holding a usable DM server account registers after a
  reboot without asking the bootstrap server (TS 1.1 §5.2, bootstrap sequence: only when no
  server can be reached); the other half (no account: bootstrap) is int-0's factory reset.
- int-7 Fallback to bootstrap: provisioned with a DM server nothing answers (the lab's
  address, a port it released), the client asks the bootstrap server again within
  ``timeouts.session`` (TS 1.1 §6.2.1, /1/x/16 Bootstrap on Registration Failure, true by
  default), and registers with the declared account it is then given.
- int-8 Bootstrap Read: Bootstrap-Read of /1 answers 2.05 with the Server instance the
  bootstrap server wrote (Short Server ID and lifetime as written).

Interpretation: Bootstrap-Discover and Bootstrap-Read exist from LwM2M 1.1; for a 1.0 client
int-4 and int-8 are NOT APPLICABLE (the lab has no way to see the Delete's effect inside the
bootstrap session). int-1 needs ``lwm2m.security: psk``. int-0 (client-initiated) and int-5
(server-initiated) are in test_bootstrap.py. The ETS tests not driven here, and why, are in
docs/catalog-lwm2m.md (ETS traceability: bootstrap, registration, security).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from conformance.dut.common import require_action
from conformance.dut.lwm2m import Lwm2mDevice, decoded
from conformance.lwm2m.bootstrap import SECURITY_INSTANCE, SERVER_INSTANCE
from conformance.lwm2m.codecs import parse_links
from conformance.lwm2m.lab import BootstrapSession, Registration, Response
from conformance.lwm2m.model import Content, Path
from conformance.lwm2m.server import BootstrapRequest
from conformance.verdicts import DeviceFault, DeviceTimeout, Inconclusive, NotApplicable

pytestmark = [pytest.mark.requirement("ATT-DMIG-3.2"), pytest.mark.applies(feature="bootstrap")]

Steps = Callable[[BootstrapSession], None]


def bootstrap_after_reset(device: Lwm2mDevice, steps: Steps) -> tuple[float, BootstrapRequest]:
    """Factory reset; the lab answers the Bootstrap-Request with ``steps`` (which end with a
    Bootstrap-Finish). A step that failed still leaves the client configured: the declared
    account is written and finished before the failure is raised. Returns the reset's time
    and the Bootstrap-Request."""
    require_action(device.controller, "factory_reset", "make the client bootstrap")
    since = time.time()
    with ThreadPoolExecutor(1) as pool:
        # The reset returns once the device is back, which needs the lab's bootstrap answer.
        reset = pool.submit(device.controller.factory_reset)
        try:
            request = device.lw.wait_bootstrap_request(device.ep, device.timeouts.session,
                                                       newer_than=since)
        except DeviceTimeout:
            reset.result()  # a controller that could not reset: INCONCLUSIVE, not FAIL
            raise DeviceFault(f"no Bootstrap-Request from {device.ep} within "
                              f"{device.timeouts.session} s after a factory reset") from None
        session = device.lw.bootstrap(device.ep)
        try:
            steps(session)
        except BaseException:
            # The step's failure is the verdict; putting the declared account back and the
            # reset's own outcome (it asked, so it did reset) are only the clean-up.
            with contextlib.suppress(Exception):
                if not any(what == "Bootstrap-Finish" for what, _ in session.responses):
                    session.provision(fmt=device.instance_format())
                reset.result()
            raise
        reset.result()
    return since, request


def registered_after(device: Lwm2mDevice, since: float, what: str) -> Registration:
    """The Register that follows a bootstrap; none within ``timeouts.session``: FAIL."""
    try:
        return device.lw.wait_registration(device.ep, newer_than=since)
    except DeviceTimeout:
        raise DeviceFault(f"no Register within {device.timeouts.session} s after "
                          f"{what}") from None


def declared_account(device: Lwm2mDevice) -> list[Content]:
    """The Security and Server instances of the declared DM account (as the lab provisions)."""
    return device.lw.bootstrap_config()


def write_account(device: Lwm2mDevice, session: BootstrapSession,
                  account: list[Content]) -> None:
    for content in account:
        instance = min(content).resource_path
        target = Path(instance.object_id, instance.instance_id)
        written = session.write(target, content, device.instance_format())
        assert written.code == "2.04", f"Bootstrap-Write {target} answered {written.code}"


def with_credentials(account: list[Content], identity: str, key: bytes) -> list[Content]:
    security, *rest = account
    changed = dict(security)
    changed[Path(0, SECURITY_INSTANCE, 3)] = identity.encode()
    changed[Path(0, SECURITY_INSTANCE, 5)] = key
    return [changed, *rest]


def account_steps(device: Lwm2mDevice, account: list[Content],
                  before_finish: Steps | None = None) -> Steps:
    """Bootstrap-Delete /0 and /1, Bootstrap-Write ``account``, (``before_finish``), Finish."""

    def steps(session: BootstrapSession) -> None:
        for target in ("/0", "/1"):
            deleted = session.delete(target)
            assert deleted.code == "2.02", f"Bootstrap-Delete {target} answered {deleted.code}"
        write_account(device, session, account)
        if before_finish is not None:
            before_finish(session)
        finished = session.finish()
        assert finished.code == "2.04", f"Bootstrap-Finish answered {finished.code}"

    return steps


@pytest.fixture
def restore_account(device: Lwm2mDevice) -> Iterator[None]:
    """After a case that provisioned its own account: factory reset, declared account back."""
    yield
    try:
        device.reset_to_factory()
    except (DeviceFault, Inconclusive) as exc:
        device.lab.transcript.note("lwm2m", f"restoring the declared account: {exc}",
                                   device=device.ep)


def need_psk(device: Lwm2mDevice) -> None:
    if device.lwm2m.security != "psk":
        raise NotApplicable(f"the declaration says lwm2m.security: {device.lwm2m.security}; "
                            "the PSK bootstrap applies to a DTLS PSK client only")


def need_1_1(device: Lwm2mDevice, what: str) -> None:
    if device.lwm2m.version == "1.0":
        raise NotApplicable(f"LwM2M 1.0 has no {what} (TS 1.1 §5.2.7)")


def bootstrap_links(session: BootstrapSession) -> list[tuple[Path, dict[str, str | None]]]:
    """Bootstrap-Discover of ``/``: the object and instance links with their parameters."""
    found = session.discover("/")
    assert found.code == "2.05", f"Bootstrap-Discover / answered {found.code}"
    out = []
    for link in parse_links(found.payload.decode("utf-8", "replace")):
        try:
            out.append((Path.parse(link.target), link.params))
        except Exception:  # "</>": the root link with the version, not an object path
            continue
    return out


def accounts(links: list[tuple[Path, dict[str, str | None]]]) -> list[str]:
    """The DM server account instances a Bootstrap-Discover lists: every /1/x, and the /0/x
    that carry a Short Server ID (the bootstrap server's own /0 instance carries none)."""
    return [str(p) for p, params in links if p.depth == 2 and (
        p.object_id == 1 or (p.object_id == 0 and "ssid" in params))]


@pytest.mark.ets("LightweightM2M-1.1-int-1")
def test_bootstrap_full_psk_provisioned_key(device: Lwm2mDevice, registered: Registration,
                                            restore_account: None) -> None:
    """Bootstrap over DTLS PSK, provisioning a fresh PSK: the client registers with it."""
    need_psk(device)
    identity = f"ets-int-1-{secrets.token_hex(4)}"
    key = secrets.token_bytes(16)
    device.lw.add_psk(identity, key, endpoint=device.ep)  # the lab accepts what it provisions
    account = with_credentials(declared_account(device), identity, key)
    since, request = bootstrap_after_reset(device, account_steps(device, account))
    assert request.secure, (
        "the Bootstrap-Request came over plain CoAP; the declaration says DTLS PSK")
    reg = registered_after(device, since, f"a bootstrap that provisioned PSK identity "
                                          f"{identity!r}")
    assert reg.secure, f"{device.ep} registered over plain CoAP after a PSK bootstrap"
    assert reg.psk_identity == identity, (
        f"the client registered with PSK identity {reg.psk_identity!r}, not the provisioned "
        f"{identity!r} (/0/{SECURITY_INSTANCE}/3): it ignores the bootstrap's credentials")


@pytest.mark.ets("LightweightM2M-1.1-int-1")
def test_bootstrap_full_psk_refused_key(device: Lwm2mDevice, registered: Registration,
                                        restore_account: None) -> None:
    """Provisioned with credentials the lab refuses, the client offers them: not registered."""
    need_psk(device)
    identity = f"ets-int-1-unknown-{secrets.token_hex(4)}"  # never given to the lab
    key = secrets.token_bytes(16)
    account = with_credentials(declared_account(device), identity, key)
    since, answered = bootstrap_after_reset(device, account_steps(device, account))
    known = device.lw.wait_psk_lookup(identity, since, device.timeouts.request)
    assert known is not True, f"the lab accepted PSK identity {identity!r} it was never given"
    # A client that connects with other credentials than those provisioned gets registered.
    # The silence ends early when the client gives the refused account up and asks the
    # bootstrap server again (Bootstrap on Registration Failure): it has nothing left to
    # register with, and a Register before that request is still seen.
    try:
        first = device.lw.wait_first_contact(device.ep, device.timeouts.request,
                                             since=answered.time + 1e-6)
    except DeviceTimeout:
        first = None
    reg = (device.lw.wait_event(device.ep, ("register",), since, device.timeouts.request)
           if first == "register" else None)
    if reg is not None:
        raise DeviceFault(
            f"{device.ep} registered (PSK identity {reg.registration.psk_identity!r}) after "
            f"a bootstrap that provisioned identity {identity!r} with a key the lab refuses: "
            "it does not use the bootstrap's credentials")
    if known is None:
        raise DeviceFault(f"no DTLS handshake offering the provisioned PSK identity "
                          f"{identity!r} within {device.timeouts.request} s after "
                          "Bootstrap-Finish")


@pytest.mark.ets("LightweightM2M-1.1-int-4")
def test_bootstrap_delete(device: Lwm2mDevice, registered: Registration) -> None:
    """Bootstrap-Delete / removes the DM account the bootstrap server had written."""
    need_1_1(device, "Bootstrap-Discover to see the Delete's effect")
    seen: dict[str, list[str]] = {}

    def steps(session: BootstrapSession) -> None:
        write_account(device, session, declared_account(device))
        seen["written"] = accounts(bootstrap_links(session))
        deleted = session.delete("/")
        assert deleted.code == "2.02", f"Bootstrap-Delete / answered {deleted.code}"
        seen["deleted"] = accounts(bootstrap_links(session))
        session.provision(fmt=device.instance_format())

    since, _ = bootstrap_after_reset(device, steps)
    written = [f"/0/{SECURITY_INSTANCE}", f"/1/{SERVER_INSTANCE}"]
    missing = [p for p in written if p not in seen["written"]]
    if missing:  # proof that the Discover shows what was written
        raise Inconclusive(f"Bootstrap-Discover / after Bootstrap-Write lists "
                           f"{seen['written'] or 'no account'}, not {', '.join(missing)}: "
                           "the lab cannot see a Delete's effect")
    assert not seen["deleted"], (
        f"after Bootstrap-Delete / (2.02) Bootstrap-Discover still lists "
        f"{', '.join(seen['deleted'])}")
    registered_after(device, since, "the bootstrap")


@pytest.mark.ets("LightweightM2M-1.1-int-6")
def test_bootstrap_sequence(device: Lwm2mDevice, registered: Registration) -> None:
    """A client with a usable account registers after a reboot without bootstrapping."""
    since = time.time()
    with ThreadPoolExecutor(1) as pool:
        reboot = pool.submit(device.controller.reboot)
        try:
            first = device.lw.wait_first_contact(device.ep, device.timeouts.session, since=since)
        except DeviceTimeout:
            reboot.result()  # a controller that could not reboot: INCONCLUSIVE, not FAIL
            raise DeviceFault(f"neither a Register nor a Bootstrap-Request within "
                              f"{device.timeouts.session} s after the reboot") from None
        if first == "bootstrap":  # answer it, so the device comes back for the next case
            device.lw.wait_bootstrap_request(device.ep, device.timeouts.request,
                                             newer_than=since)
            device.provision()
        reboot.result()
    assert first == "register", (
        f"after a reboot {device.ep} sent a Bootstrap-Request although it holds the DM "
        f"server account it registered with ({registered.location}): the TS 1.1 §5.2 sequence "
        "bootstraps only when no server can be reached")


@pytest.mark.ets("LightweightM2M-1.1-int-7")
def test_fallback_to_bootstrap(device: Lwm2mDevice, registered: Registration,
                               restore_account: None) -> None:
    """Given a DM server that cannot be reached, the client asks the bootstrap server again."""
    account = declared_account(device)
    security = dict(account[0])
    uri_path = Path(0, SECURITY_INSTANCE, 0)
    dead = device.lw.refusing_uri(str(security[uri_path]))  # refused while the lab runs
    security[uri_path] = dead
    finished_at: list[float] = []
    steps = account_steps(device, [security, *account[1:]],
                          before_finish=lambda _session: finished_at.append(time.time()))
    since, _ = bootstrap_after_reset(device, steps)
    try:
        device.lw.wait_bootstrap_request(device.ep, device.timeouts.session,
                                         newer_than=finished_at[0])
    except DeviceTimeout:
        raise DeviceFault(f"no new Bootstrap-Request within {device.timeouts.session} s after "
                          f"a bootstrap that gave the unreachable DM server {dead}: the client "
                          "does not fall back to bootstrap") from None
    device.provision()  # the declared account: the client comes back for the next cases
    registered_after(device, since, "the fallback bootstrap")


@pytest.mark.ets("LightweightM2M-1.1-int-8")
def test_bootstrap_read(device: Lwm2mDevice, registered: Registration) -> None:
    """Bootstrap-Read /1 returns the Server instance the bootstrap server wrote."""
    need_1_1(device, "Bootstrap-Read")
    account = declared_account(device)
    fmt = device.instance_format()
    answers: dict[str, Response] = {}

    def bootstrap_read(session: BootstrapSession) -> None:
        answers["read"] = session.read("/1", fmt)

    bootstrap_after_reset(device, account_steps(device, account, before_finish=bootstrap_read))
    read = answers["read"]
    assert read.code == "2.05", f"Bootstrap-Read /1 answered {read.code}, expected 2.05"
    content = decoded(read, "/1", fmt, own_format=False)
    server = account[1]
    for resource in (0, 1):  # Short Server ID, Lifetime
        path = Path(1, SERVER_INSTANCE, resource)
        assert content.get(path) == server[path], (
            f"Bootstrap-Read /1 gives {path} = {content.get(path)!r}; the bootstrap server "
            f"wrote {server[path]!r}")
