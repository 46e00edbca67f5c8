"""The host identity through the device's life, as both protocols' cases check it (issue 20).

Guide §2.2: the host writes its identity into the module at power-up, after a host software
update and after a factory reset when the module does not keep it; CDR-DVM-4532 and object
10241 (ATT-DMIG-3.2.2) require the module to report it at all times. What the device should
report *now* is the declared host (``host.*``) with the host software version the catalog's
own updates left (``baseline``); a host update by the lab writes :func:`updated` values and
puts these back afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from conformance.controllers.base import Controller
from conformance.declaration import Declaration
from conformance.dut.common import Baseline
from conformance.evidence.transcript import Transcript
from conformance.verdicts import DeviceFault, Inconclusive

T = TypeVar("T")

FIELDS = ("manufacturer", "model", "software_version", "unique_id")
HOST_UPDATE_SUFFIX = "R2"  # what the lab's host update appends to each value


def expected_host(dut: Declaration, baseline: Baseline) -> dict[str, str]:
    host = dut.host
    return {"manufacturer": host.manufacturer, "model": host.model,
            "software_version": baseline.host_software_version, "unique_id": host.unique_id}


def expected_imeisv(dut: Declaration, firmware_version: str) -> str:
    """The IMEISV the module should report running ``firmware_version``: the FOTA package's
    declared ``new_imeisv`` with that package's version (PTCRB: the software change needs a
    new SVN), else ``device.imeisv``."""
    package = dut.features.fota_package
    if package is not None and package.new_imeisv and firmware_version == package.new_version:
        return package.new_imeisv
    return dut.device.imeisv


def updated(values: dict[str, str]) -> dict[str, str]:
    """New host values for a host update: every value changes (the unique ID stays
    alphanumeric), so that each one is seen to follow the host."""
    return {"manufacturer": f"{values['manufacturer']} {HOST_UPDATE_SUFFIX}",
            "model": f"{values['model']}-{HOST_UPDATE_SUFFIX}",
            "software_version": f"{values['software_version']}.{HOST_UPDATE_SUFFIX}",
            "unique_id": f"{values['unique_id']}{HOST_UPDATE_SUFFIX}"}


def mismatches(read: dict[str, object | None], expected: dict[str, str],
               where: dict[str, str]) -> list[str]:
    """"<path> is 'x', expected 'y'" for every value that differs (None: not readable)."""
    return [f"{where.get(name, name)} is {read.get(name)!r}, expected {value!r}"
            for name, value in expected.items() if read.get(name) != value]


def write_host(controller: Controller, values: dict[str, str]) -> None:
    controller.set_host_values(values["manufacturer"], values["model"],
                               values["software_version"], values["unique_id"])


def restore_host(controller: Controller, values: dict[str, str], transcript: Transcript,
                 protocol: str) -> bool:
    """The host writes ``values`` back (the end of a case); False when the controller cannot
    (noted in the transcript: later cases then see what the device holds)."""
    try:
        write_host(controller, values)
    except Inconclusive as exc:
        transcript.note(protocol, f"the host values could not be written back: {exc}")
        return False
    return True


def start_reading(read: Callable[[], T], problems: Callable[[T], list[str]],
                  host_differs: Callable[[T], bool], host_writes: Callable[[], object],
                  record: Callable[[T], None], judged_by: str) -> T:
    """The values before a case acts: recorded, and what the device should report now.

    When an earlier case left other host values, the host writes its own first, as at
    power-up (guide §2.2). Values that cannot be read, or are still wrong, make the case
    INCONCLUSIVE: ``judged_by`` judges them, this case judges what its action changes."""
    def again() -> T:
        try:
            return read()
        except DeviceFault as exc:
            raise Inconclusive(f"before the case: {exc} (judged by {judged_by})") from None

    start = again()
    record(start)
    if host_differs(start):
        host_writes()
        start = again()
    wrong = problems(start)
    if wrong:
        raise Inconclusive("before the case: " + "; ".join(wrong) + f" (judged by {judged_by})")
    return start
