"""The requirement catalog: every requirement the suite certifies, whether or not a case covers it.

Test cases point here with ``@pytest.mark.requirement("CDR-DVM-4532")``; the acceptance report
lists every entry, so an uncovered requirement is visible rather than silently missing.
Source: AT&T IoT "Device Management Implementation Guide" v2.3 (section numbers are its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    section: str  # the guide's section
    protocol: Literal["omadm", "lwm2m", "csv"]
    applies_when: str  # in words, for the report; the cases encode it
    host_identity: bool = False  # ODIS/DHIR: the guide §1.5 exceptions may make it N/A
    fota: bool = False  # applies only when FOTA is declared


CATALOG: tuple[Requirement, ...] = (
    Requirement("CDR-DVM-012", "OMA DM 1.2 or 1.3 support", "3.3.1", "omadm",
                "every OMA-DM client"),
    Requirement("CDR-DVM-440", "Device Description Framework submission", "3.3.1", "omadm",
                "every OMA-DM client"),
    Requirement("CDR-DVM-3954", "First factory DM account (iotprod)", "1.7", "omadm",
                "every OMA-DM client"),
    Requirement("CDR-DVM-3955", "Second factory DM account (iotdev)", "1.7", "omadm",
                "every OMA-DM client"),
    Requirement("CDR-DVM-4532", "Host device reporting in DevDetail/Ext", "3.3.2", "omadm",
                "modules and integrated devices with ODIS/DHIR", host_identity=True),
    Requirement("CDR-DVM-1533", "Device-initiated session after a non-FOTA update", "4.4",
                "omadm", "every OMA-DM client", host_identity=True),
    Requirement("ATT-DMIG-4.2", "FOTA with the FUMO management object", "4.2", "omadm",
                "OMA-DM clients that declare FOTA", fota=True),
    Requirement("ATT-DMIG-3.2.2", "HostDeviceInfo object 10241", "3.2.2", "lwm2m",
                "LwM2M clients with ODIS/DHIR", host_identity=True),
    Requirement("ATT-DMIG-3.2", "LwM2M client conformance", "3.2", "lwm2m",
                "every LwM2M client"),
    Requirement("ATT-DMIG-4.3", "FOTA with Firmware Update object 5", "4.3", "lwm2m",
                "LwM2M clients that declare FOTA", fota=True),
    Requirement("ATT-DMIG-4.4", "Post-update reporting over LwM2M", "4.4", "lwm2m",
                "every LwM2M client", host_identity=True),
    Requirement("ATT-DMIG-1.5-CSV", "Host identity data file (manual alternative)", "1.5",
                "csv", "devices without ODIS/DHIR that submit the CSV file"),
)

BY_ID: dict[str, Requirement] = {r.id: r for r in CATALOG}


def requirement(req_id: str) -> Requirement:
    try:
        return BY_ID[req_id]
    except KeyError:
        raise KeyError(f"unknown requirement {req_id!r}; known: {', '.join(BY_ID)}") from None
