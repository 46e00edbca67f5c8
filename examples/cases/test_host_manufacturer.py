"""A worked example of a requirement case (docs/plugin.md, "Writing a new requirement case")."""

import pytest

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.lwm2m.lab import Registration
from conformance.plugin.fixtures import CaseEvidence

HOST_MANUFACTURER = "/10241/0/5905"


@pytest.mark.requirement("ATT-DMIG-3.2.2")
def test_host_manufacturer_is_declared(
    device: Lwm2mDevice, registered: Registration, evidence: CaseEvidence
) -> None:
    """The module reports the host's manufacturer as submitted to PTCRB."""
    declared = device.dut.host.manufacturer
    value = device.read_value(HOST_MANUFACTURER)  # a refusal or a bad payload is judged here
    evidence.expect("Host Device Manufacturer", declared, value)
    assert value == declared, f"{HOST_MANUFACTURER} is {value!r}, expected {declared!r}"
