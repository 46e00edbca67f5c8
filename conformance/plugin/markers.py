"""Markers: traceability (``requirement``) and applicability (``applies``, §1.5 exceptions).

- ``@pytest.mark.requirement("CDR-DVM-4532")``: the case's requirement; an id that is not in
  :data:`conformance.requirements.CATALOG` is a collection error.
- ``@pytest.mark.applies(protocol="lwm2m")``: a case of the other protocol is deselected (it is
  not "not applicable": the device simply speaks the other protocol).
- ``@pytest.mark.applies(feature="fota")``: the feature is not declared → NOT APPLICABLE.
- A requirement claimed in ``declaration.exceptions`` → NOT APPLICABLE with the claimed reason;
  so is a FOTA requirement when FOTA is not declared.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from pathlib import Path

import pytest

from conformance.declaration import Declaration
from conformance.plugin.state import case_state, get_run, is_case, requirement_of
from conformance.requirements import BY_ID
from conformance.simulators.faultscope import ets_matches
from conformance.verdicts import NotApplicable

# One ETS test per marker: an LwM2M interop test id, or an OMA-ETS-DM test case id.
ETS_ID = re.compile(r"LightweightM2M-1\.[0-2]-int-[0-9]{1,4}"
                    r"|(?:DeviceManagement|OMA-ETS-DM|DM)-[A-Za-z0-9_.-]{1,60}")
FEATURES = ("fota", "bootstrap", "wbxml", "large_objects", "host_identity_reporting",
            "oem_dm_server", "user_interaction")
PROTOCOLS = ("omadm", "lwm2m")


def register_markers(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requirement(id): the requirement this case certifies (an id of "
        "conformance.requirements.CATALOG)",
    )
    config.addinivalue_line(
        "markers",
        "applies(protocol=None, feature=None): run only for that protocol (else deselected) / "
        f"only when the declaration has the feature ({', '.join(FEATURES)}; else NOT APPLICABLE)",
    )
    config.addinivalue_line(
        "markers",
        "ets(id): the OMA Enabler Test Specification test the case corresponds to "
        "(LightweightM2M-1.x-int-NNN, or an OMA-ETS-DM test)",
    )


def marker_problems(item: pytest.Item) -> list[str]:
    """What is wrong with the item's conformance markers, in words for a collection error."""
    problems = []
    for marker in item.iter_markers("requirement"):
        if len(marker.args) != 1 or marker.kwargs:
            problems.append(f"{item.nodeid}: requirement() takes exactly one requirement id")
        elif marker.args[0] not in BY_ID:
            problems.append(
                f"{item.nodeid}: unknown requirement {marker.args[0]!r} "
                f"(known: {', '.join(BY_ID)})"
            )
    for marker in item.iter_markers("ets"):
        if len(marker.args) != 1 or marker.kwargs or not ETS_ID.fullmatch(str(marker.args[0])):
            problems.append(f"{item.nodeid}: ets() takes exactly one ETS test id "
                            f"(LightweightM2M-1.x-int-NNN or OMA-ETS-DM-…), got {marker.args!r}")
    for marker in item.iter_markers("applies"):
        unknown = set(marker.kwargs) - {"protocol", "feature"}
        if marker.args or unknown:
            problems.append(f"{item.nodeid}: applies() takes only protocol= and feature=")
        protocol = marker.kwargs.get("protocol")
        if protocol is not None and protocol not in PROTOCOLS:
            problems.append(f"{item.nodeid}: applies(protocol={protocol!r}): use omadm or lwm2m")
        feature = marker.kwargs.get("feature")
        if feature is not None and feature not in FEATURES:
            problems.append(
                f"{item.nodeid}: applies(feature={feature!r}): use one of {', '.join(FEATURES)}"
            )
    return problems


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    # Checked here, per module, so a bad marker is an ordinary collection error for its file.
    report = yield
    if report.outcome != "passed":
        return report
    problems = [p for node in report.result if isinstance(node, pytest.Item)
                for p in marker_problems(node)]
    if problems:
        report.outcome = "failed"
        report.longrepr = "\n".join(problems)
        report.result = []
    return report


def case_protocol(item: pytest.Item) -> str | None:
    """omadm/lwm2m when the case belongs to one protocol; None for both (e.g. the CSV file)."""
    for marker in item.iter_markers("applies"):
        if marker.kwargs.get("protocol"):
            return str(marker.kwargs["protocol"])
    req = requirement_of(item)
    if req is not None and req in BY_ID:
        protocol = BY_ID[req].protocol
        return protocol if protocol in PROTOCOLS else None
    parts = Path(str(item.path)).parts
    return next((p for p in PROTOCOLS if p in parts), None)


def ets_selected(item: pytest.Item, wanted: list[str]) -> bool:
    """``--ets``: the case carries an ETS id that ends with one of ``wanted`` ("int-301")."""
    return ets_matches(case_state(item).ets, tuple(wanted))


def not_applicable_reason(item: pytest.Item, declaration: Declaration) -> str | None:
    req = requirement_of(item)
    if req is not None:
        claim = declaration.exception_for(req)
        if claim is not None:
            return f"{req}: exception '{claim.exception}' claimed: {claim.reason}"
        if req in BY_ID and BY_ID[req].fota and not declaration.features.fota:
            return f"{req} applies only when FOTA is declared (features.fota is false)"
    for marker in item.iter_markers("applies"):
        feature = marker.kwargs.get("feature")
        if feature and not getattr(declaration.features, feature):
            return f"the declaration does not declare {feature} (features.{feature} is false)"
    return None


def configured_timeout(config: pytest.Config) -> float:
    """pytest-timeout's own setting (``timeout`` in pyproject.toml, or ``-o timeout=…``): the
    floor of a case's guard; 0 when the plugin is not there to have one."""
    try:
        return float(config.getini("timeout") or 0)
    except (ValueError, TypeError):  # no such ini option: pytest-timeout not loaded
        return 0.0


def case_timeout(declaration: Declaration, floor: float = 0.0) -> float:
    """pytest-timeout's guard for one case of a catalog run: past every wait the declaration
    allows a case, so that it stops only a harness that hangs, never a slow device's verdict.

    A case may wait out each declared bound in turn, and a few requests or sessions at that
    (three times their sum); a request to a sleeping queue-mode device waits until the device
    is heard again, up to its lifetime (two such). The project's fixed 120 s made a device
    declared with a longer FOTA bound, or a queue-mode device that sleeps between Updates, an
    ERROR of the lab instead of a verdict. Never below ``floor``, pytest-timeout's own
    setting (:func:`configured_timeout`)."""
    t = declaration.timeouts
    guard = 3 * (t.request + t.session + t.post_update_window + t.fota)
    if declaration.lwm2m is not None and declaration.lwm2m.queued:
        guard += 2 * declaration.lwm2m.lifetime
    return max(floor, guard)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    run = get_run(config)
    if run is None or not run.active:
        # A plain run (the project's own tests): no declaration decides what applies.
        return
    keep: list[pytest.Item] = []
    other: list[pytest.Item] = []
    unwanted: list[pytest.Item] = []  # not traced to a --ets test asked for
    wanted_ets: list[str] = config.getoption("--ets") or []
    guard = case_timeout(run.declaration, configured_timeout(config))
    for item in items:
        if not is_case(item):
            keep.append(item)
            continue
        if wanted_ets and not ets_selected(item, wanted_ets):
            unwanted.append(item)
            continue
        protocol = case_protocol(item)
        if protocol is not None and protocol != run.declaration.protocol:
            other.append(item)
            continue
        case_state(item).not_applicable = not_applicable_reason(item, run.declaration)
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(guard))
        keep.append(item)
    if other:
        run.deselected_other_protocol = len(other)
    if other or unwanted:
        config.hook.pytest_deselected(items=other + unwanted)
        items[:] = keep


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before any fixture: an N/A case never starts the lab or touches the device.
    if not is_case(item):
        return
    state = case_state(item)
    run = get_run(item.config)
    if run is not None:
        # No lab yet: if this case's fixtures start it, the start-up entries are its own.
        state.transcript_start = run.lab.transcript.mark() if run.lab is not None else 0
        capture = getattr(run.lab, "capture", None)
        state.capture_start = capture.mark() if capture is not None else None
    if state.not_applicable:
        raise NotApplicable(state.not_applicable)
