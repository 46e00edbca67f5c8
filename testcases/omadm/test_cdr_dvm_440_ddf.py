"""CDR-DVM-440 — the submitted DDF as a document (guide §3.3.1; OMA DM DDF 1.2).

The vendor submits the Device Description Framework; the declaration names it
(``omadm.ddf``). The lab checks, without talking to the device:

- it is there and well-formed XML (hardened parser), a ``MgmtTree``;
- it is valid against the DDF 1.2 structure (``conformance.omadm.ddf.validate``: VerDTD 1.2,
  DFProperties with AccessType, DFFormat and DFType on every node, …);
- it describes DevInfo, DevDetail and the DM account object (by DDFName
  ``urn:oma:mo:oma-dm-devinfo:1.0`` / ``…-devdetail:1.0`` / ``…-dmacc:1.0``, or by the
  standard paths ./DevInfo, ./DevDetail, ./DMAcc);
- its MgmtTree Man and Mod are the declared manufacturer and model (it is this device's DDF).

The per-node comparison with the device is in test_cdr_dvm_440_tree.py.
"""

from __future__ import annotations

import pytest

from conformance.declaration import Declaration
from conformance.dut.omadm import load_ddf
from conformance.omadm import ddf as ddfmod
from conformance.verdicts import DeviceFault

pytestmark = pytest.mark.requirement("CDR-DVM-440")

OBJECTS = {
    "DevInfo": ("urn:oma:mo:oma-dm-devinfo:1.0", "./DevInfo"),
    "DevDetail": ("urn:oma:mo:oma-dm-devdetail:1.0", "./DevDetail"),
    "DMAcc": ("urn:oma:mo:oma-dm-dmacc:1.0", "./DMAcc"),
}


def _doc(dut: Declaration) -> ddfmod.Ddf:
    doc, problem = load_ddf(dut)
    if doc is None:
        raise DeviceFault(problem or "no DDF")
    return doc


def test_ddf_well_formed(dut: Declaration) -> None:
    """The declared DDF is there and is a well-formed MgmtTree document."""
    _doc(dut)


def test_ddf_valid(dut: Declaration) -> None:
    """The DDF follows the DDF 1.2 structure."""
    findings = ddfmod.validate(_doc(dut))
    shown = "; ".join(findings[:10]) + (f" (and {len(findings) - 10} more)"
                                       if len(findings) > 10 else "")
    assert not findings, f"the DDF is not valid DDF 1.2: {shown}"


@pytest.mark.parametrize("name", list(OBJECTS))
def test_ddf_describes(dut: Declaration, name: str) -> None:
    """The DDF describes DevInfo, DevDetail and the DM account object."""
    urn, path = OBJECTS[name]
    nodes = _doc(dut).nodes()
    assert any(n.ddf_name == urn or n.path == path for n in nodes), (
        f"the DDF does not describe {name} (no node {path}, no DDFName {urn})")


@pytest.mark.parametrize("field", ["Man", "Mod"])
def test_ddf_is_this_device(dut: Declaration, field: str) -> None:
    """The DDF's MgmtTree Man/Mod are the declared manufacturer/model."""
    doc = _doc(dut)
    value = doc.man if field == "Man" else doc.mod
    expected = dut.device.manufacturer if field == "Man" else dut.device.model
    assert value == expected, f"the DDF's MgmtTree {field} is {value!r}, declared {expected!r}"
