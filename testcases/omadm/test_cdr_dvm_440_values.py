"""CDR-DVM-440 — DevInfo and DevDetail hold the device's real values (guide §3.3.1).

"Device manufacturers shall ensure that the DevDetail, DevInfo and DM Account objects reflect
the actual properties and information in use in the device": each value, read with Get in the
shared session, equals the declaration (the DM account values are CDR-DVM-3954/3955's).

| node | declaration |
|---|---|
| ./DevInfo/DevId | ``IMEI:`` + device.imei |
| ./DevInfo/Man, Mod | device.manufacturer, device.model |
| ./DevInfo/DmV | omadm.dm_version (``1.2`` also matches ``1.2.x``) |
| ./DevDetail/FwV | device.firmware_version (as the catalog's own updates left it) |
| ./DevDetail/SwV, HwV | device.software_version, device.hardware_version |
| ./DevDetail/DevTyp, OEM | device.device_type, device.oem |

Interpretation: a value the declaration leaves empty (SwV, HwV, OEM are optional there) is NOT
APPLICABLE rather than compared with "".
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.dut.omadm import DmDevice, show
from conformance.verdicts import NotApplicable

pytestmark = pytest.mark.requirement("CDR-DVM-440")

EXPECTED: dict[str, Callable[[DmDevice], str]] = {
    "./DevInfo/DevId": lambda d: f"IMEI:{d.dut.device.imei}",
    "./DevInfo/Man": lambda d: d.dut.device.manufacturer,
    "./DevInfo/Mod": lambda d: d.dut.device.model,
    "./DevInfo/DmV": lambda d: d.dut.omadm.dm_version if d.dut.omadm else "",
    "./DevDetail/FwV": lambda d: d.baseline.firmware_version,
    "./DevDetail/SwV": lambda d: d.dut.device.software_version,
    "./DevDetail/HwV": lambda d: d.dut.device.hardware_version,
    "./DevDetail/DevTyp": lambda d: d.dut.device.device_type,
    "./DevDetail/OEM": lambda d: d.dut.device.oem,
}


@pytest.mark.parametrize("uri", list(EXPECTED))
def test_value_is_declared(dm: DmDevice, uri: str) -> None:
    """The node's value equals the declaration."""
    expected = EXPECTED[uri](dm)
    if not expected:
        raise NotApplicable(f"the declaration gives no value for {uri}")
    result = dm.read([uri])[uri]
    assert result.status == "200" and result.data is not None, (
        f"Get {uri} answered {show(result)}, expected 200 with {expected!r}")
    value = result.data
    if uri.endswith("/DmV") and value.startswith(expected + "."):
        return
    assert value == expected, f"{uri} is {value!r}, declared {expected!r}"
