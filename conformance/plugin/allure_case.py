"""The case's Allure result (allure-pytest): labels, link, parameters, status, steps, attachments.

allure-pytest writes the result; this fills it in at the end of the case, while allure-pytest
still holds it open: epic = protocol, feature = requirement id, story = case, severity, a link
to the requirement (``--allure-link-pattern requirement:https://…/{}`` overrides the default,
the run's acceptance.html row), device/firmware parameters, one step per message, the case's
text and ladder SVG as attachments, and links to what is kept once in the run folder (the
case's capture, the declaration summary): the messages themselves are not copied into
Allure. The status follows the verdict (FAIL failed, ERROR broken, INCONCLUSIVE and NOT
APPLICABLE skipped), which ``categories.json`` sorts apart. No-op without allure-pytest.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.evidence.casefiles import EvidenceFile
from conformance.evidence.transcript import Entry
from conformance.plugin.state import CaseState, ConformanceRun
from conformance.requirements import BY_ID, Requirement
from conformance.verdicts import Verdict

PROTOCOL_NAMES = {"omadm": "OMA-DM", "lwm2m": "LwM2M", "csv": "Host identity CSV"}
STATUS = {
    Verdict.PASS: "passed",
    Verdict.FAIL: "failed",
    Verdict.ERROR: "broken",
    Verdict.INCONCLUSIVE: "skipped",
    Verdict.NOT_APPLICABLE: "skipped",
}
LINK_TYPE = "requirement"
ARROWS = {"device->lab": "DEVICE → LAB", "lab->device": "LAB → DEVICE", "note": "LAB NOTE"}
ATTACHED_KINDS = {"ladder": "ladder.svg", "case": "case.txt"}
LINKED_KINDS = {"capture": "capture.pcapng", "capture-decrypted": "capture-decrypted.pcapng"}
RUN_FOLDER = ".."  # from <run>/allure-report/ (the rendered report) to the run folder


def current_result(config: pytest.Config) -> Any:
    """allure-pytest's open TestResult of the running case (None without allure)."""
    listener = config.pluginmanager.get_plugin("allure_listener")
    return listener.allure_logger.get_test(None) if listener is not None else None


def severity(req: Requirement | None) -> str:
    if req is None:
        return "normal"
    if req.protocol == "csv":
        return "minor"
    return "normal" if req.fota or req.host_identity else "critical"


def annotate(
    item: pytest.Item,
    state: CaseState,
    run: ConformanceRun,
    entries: list[Entry],
    files: list[EvidenceFile],
) -> None:
    result = current_result(item.config)
    if result is None or state.verdict is None:
        return
    from allure_commons.model2 import Label, Link, Parameter, StatusDetails

    req = BY_ID.get(state.requirement or "")
    protocol = req.protocol if req else run.declaration.protocol
    have = {label.name for label in result.labels}
    for name, value in (
        ("epic", PROTOCOL_NAMES.get(protocol, protocol)),
        ("feature", state.requirement or "(no requirement)"),
        ("story", item.name),
        ("severity", severity(req)),
    ):
        if name not in have:
            result.labels.append(Label(name=name, value=value))
    result.labels.append(Label(name="tag", value=state.verdict.value))
    if req is not None:
        result.links.append(Link(type=LINK_TYPE, url=_link(item.config, req.id), name=_title(req)))
        if not result.description:
            result.description = f"{_title(req)}. Applies to: {req.applies_when}."
    decl = run.declaration
    names = {p.name for p in result.parameters}
    for name, value in (("device", decl.device.name), ("firmware", decl.device.firmware_version),
                        ("protocol", decl.protocol)):
        if name not in names:
            result.parameters.append(Parameter(name=name, value=repr(value), excluded=True))
    result.status = STATUS[state.verdict]
    if state.verdict is Verdict.PASS:
        result.statusDetails = None
    else:
        result.statusDetails = StatusDetails(
            message=f"{state.verdict.value}: {state.message}", trace=state.detail or None
        )
    result.steps.extend(_step(e, state) for e in entries)
    for f in files:
        if f.kind in ATTACHED_KINDS:
            _attach(result, f.path.read_bytes(), ATTACHED_KINDS[f.kind], _type(f.kind))
        elif f.kind in LINKED_KINDS:
            url = f"{RUN_FOLDER}/{f.path.parent.name}/{f.path.name}"
            result.links.append(Link(type="capture", url=url, name=LINKED_KINDS[f.kind]))
    if files and run.run_folder is not None:
        result.links.append(Link(type="declaration", url=f"{RUN_FOLDER}/declaration.json",
                                 name="declaration (summary, no secrets)"))


def _title(req: Requirement) -> str:
    return f"{req.id}: {req.title} (guide §{req.section})"


def _link(config: pytest.Config, req_id: str) -> str:
    patterns = dict(getattr(config.option, "allure_link_pattern", None) or [])
    if LINK_TYPE in patterns:
        return str(patterns[LINK_TYPE]).format(req_id)
    return f"../acceptance.html#{req_id}"  # from <run>/allure-report/ to the run's report


def _type(kind: str) -> str:
    return "SVG" if kind == "ladder" else "TEXT"


def _step(entry: Entry, state: CaseState) -> Any:
    from allure_commons.model2 import TestStepResult

    failed = entry.error is not None or entry.seq in state.highlight
    when = int(entry.time * 1000)
    step = TestStepResult(
        name=f"#{entry.seq} {ARROWS[entry.direction]} [{entry.protocol}] {entry.summary}",
        status="failed" if failed else "passed",
        start=when,
        stop=when,
    )
    return step  # the message itself: line #seq of transcript.jsonl, and the case's capture


def _attach(target: Any, body: bytes, name: str, kind: str) -> None:
    """An attachment file in the results folder, listed on ``target`` (the test or a step)."""
    from allure_commons import plugin_manager
    from allure_commons.model2 import ATTACHMENT_PATTERN, Attachment
    from allure_commons.types import AttachmentType
    from allure_commons.utils import uuid4

    mime, ext = getattr(AttachmentType, kind).value
    file_name = ATTACHMENT_PATTERN.format(prefix=uuid4(), ext=ext)
    plugin_manager.hook.report_attached_data(body=body, file_name=file_name)
    target.attachments.append(Attachment(name=name, source=file_name, type=mime))
