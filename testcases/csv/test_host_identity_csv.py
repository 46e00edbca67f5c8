"""ATT-DMIG-1.5-CSV — the host identity data file of the manual alternative (guide §1.5).

Applies to every file the declaration lists under ``csv.files``. Interpretation: the file must
have the guide's header, five fields a line (tab or comma separated, as the guide's sample),
15-digit IMEIs with a valid Luhn check digit, no IMEI twice, an alphanumeric host unique ID,
and the manufacturer, model, software version and host device unique ID certified for the
device (the declaration's ``host`` values). Every problem is reported with its (physical) line
number; any problem is a FAIL.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.declaration import Declaration
from conformance.hostcsv import check_file
from conformance.plugin.plugin import declaration_of
from conformance.verdicts import DeviceFault, NotApplicable

MAX_SHOWN = 50


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One case per CSV file the declaration lists (one N/A case when it lists none)."""
    if "csv_file" in metafunc.fixturenames:
        files = list(declaration_of(metafunc.config).csv.files)
        metafunc.parametrize("csv_file", files or [None], ids=[p.name for p in files] or ["none"])


@pytest.mark.requirement("ATT-DMIG-1.5-CSV")
def test_host_identity_csv(dut: Declaration, csv_file: Path | None) -> None:
    if csv_file is None:
        raise NotApplicable("the declaration lists no host identity CSV file (csv.files)")
    findings = check_file(csv_file, dut.host)
    if findings:
        shown = "\n".join(f"  {f}" for f in findings[:MAX_SHOWN])
        more = f"\n  … {len(findings) - MAX_SHOWN} more" if len(findings) > MAX_SHOWN else ""
        raise DeviceFault(f"{csv_file.name}: {len(findings)} findings\n{shown}{more}")
