"""CDR-DVM-440 — every node the DDF declares is on the device as declared (guide §3.3.1).

Parametrised at collection over every node of the declared DDF (``ddf_path``). The lab reads
the device's tree in one session (see ``DmDevice.ddf_reading``): a Get on every instance, a
Get ``?prop=Format`` where the Get itself is refused, and a same-value Replace on every leaf
whose access types lack Replace. For each node:

- present: the node exists (Get does not answer 404); a dynamic node (``<x>``) has as many
  instances, listed by its parent, as its Occurrence demands;
- format: the Meta Format the device gives (Results, else the Format property) is the DDF's
  DFFormat (an item without Meta Format is chr);
- access: Get is allowed if and only if the DDF declares Get (200 vs. a refusal), and a
  Replace on a leaf without Replace access is refused.

Interpretation: the lab does not write to nodes the DDF lets it write, so that a correct
device keeps its configuration; Add, Delete, Exec and Copy are not probed per node (the
CDR-DVM-012 command cases probe them on chosen nodes). A node under a dynamic node with no
instance on the device has nothing to check: NOT APPLICABLE. A parent that cannot be listed
leaves its dynamic children INCONCLUSIVE.
"""

from __future__ import annotations

import pytest

from conformance.dut.omadm import (
    OPTIONAL_OCCURRENCES,
    UNREADABLE,
    DdfReading,
    DmDevice,
    ddf_or_inconclusive,
    show,
)
from conformance.plugin.fixtures import CaseEvidence
from conformance.verdicts import DeviceFault, Inconclusive, NotApplicable

pytestmark = pytest.mark.requirement("CDR-DVM-440")


def _reading(dm: DmDevice, ddf_path: str, evidence: CaseEvidence) -> DdfReading:
    """The node as read on the device; the packages that read it join the case's evidence
    (the reading is made once per run, usually before this case began)."""
    if ddf_path == UNREADABLE:
        ddf_or_inconclusive(dm.dut)  # raises with the reason
        raise Inconclusive("the declared DDF describes no node: nothing to compare with the "
                           "device (the DDF document cases judge the DDF)")
    doc = ddf_or_inconclusive(dm.dut)
    reading = dm.ddf_reading(doc)[ddf_path]
    evidence.cite(*dm.exchanges(*reading.targets()))
    if reading.unresolved:
        raise Inconclusive(f"{ddf_path}: {reading.unresolved}")
    return reading


def _instances(reading: DdfReading) -> dict[str, str]:
    """Concrete path -> Get status of the instances that exist; N/A when none is expected."""
    node = reading.node
    present = {p: r.status for p, r in reading.instances.items() if r.status != "404"}
    if not reading.instances and "<x>" in node.path.rsplit("/", 1)[0]:
        raise NotApplicable(f"{node.path}: its dynamic parent has no instance on the device")
    silent = [p for p, status in present.items() if not status]
    if silent:
        raise Inconclusive(f"no Status for Get {', '.join(silent)}")
    return present


def test_node_present(dm: DmDevice, ddf_path: str, evidence: CaseEvidence) -> None:
    """The node (or the instances of a dynamic node) exists on the device."""
    reading = _reading(dm, ddf_path, evidence)
    node = reading.node
    present = _instances(reading)
    optional = node.occurrence in OPTIONAL_OCCURRENCES
    if node.dynamic:
        if not present and not optional:
            raise DeviceFault(f"{ddf_path}: no instance on the device, Occurrence "
                              f"{node.occurrence or 'One'} requires one")
        return
    if not present and not optional:
        answered = show(reading.instances.get(ddf_path)) if reading.instances else (
            "its parent is missing")
        raise DeviceFault(f"{ddf_path} is declared in the DDF but not on the device "
                          f"(Get: {answered})")


def test_node_format(dm: DmDevice, ddf_path: str, evidence: CaseEvidence) -> None:
    """The format the device gives each instance is the DDF's DFFormat."""
    reading = _reading(dm, ddf_path, evidence)
    present = _instances(reading)
    if not present:
        raise NotApplicable(f"{ddf_path} has no instance on the device (Occurrence "
                            f"{reading.node.occurrence})")
    wrong, unknown = [], []
    for path in present:
        seen = reading.formats.get(path)
        if seen is None:
            unknown.append(path)
        elif seen != reading.node.format:
            wrong.append(f"{path} has format {seen}")
    assert not wrong, f"{'; '.join(wrong)}; the DDF says {reading.node.format}"
    if unknown:
        raise Inconclusive(f"format of {', '.join(unknown)} cannot be read: Get refused and "
                           "?prop=Format not answered")


def test_node_access(dm: DmDevice, ddf_path: str, evidence: CaseEvidence) -> None:
    """Get is allowed iff the DDF declares it; Replace is refused where the DDF lacks it."""
    reading = _reading(dm, ddf_path, evidence)
    node = reading.node
    present = _instances(reading)
    if not present:
        raise NotApplicable(f"{ddf_path} has no instance on the device")
    problems = []
    declared = "Get" in node.access
    for path, status in present.items():
        if declared and status != "200":
            problems.append(f"Get {path} answered {status} though the DDF declares Get")
        if not declared and status == "200":
            problems.append(f"Get {path} answered 200 though the DDF declares no Get "
                            f"(access {' '.join(sorted(node.access)) or 'none'})")
    for path, probe in reading.probes.items():
        if probe.status.startswith("2"):
            problems.append(f"Replace {path} answered {probe.status} though the DDF declares "
                            "no Replace")
    assert not problems, "; ".join(problems)
