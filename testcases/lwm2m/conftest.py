"""The LwM2M catalog's shared set-up (the ``device`` and ``registered`` fixtures come from the
plugin, conformance/plugin/devices.py).

``pytest_generate_tests`` parametrises ``fmt`` (formats that carry one resource value) and
``instance_fmt`` (formats that carry a whole instance) over the content formats the declaration
lists. Opaque carries only Opaque resources (TS 1.1 §7.4.2), so it is left out of both; a
declaration with no format of a kind gets one NOT APPLICABLE case saying so.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conformance.dut.lwm2m import INSTANCE_FORMATS, VALUE_FORMATS, Lwm2mDevice
from conformance.lwm2m.model import ContentFormat
from conformance.plugin.plugin import declaration_or_none
from conformance.verdicts import DeviceFault, Inconclusive

# OMA ETS interop tests "Querying basic information in <format>" (secondary reference)
ETS_READ = {"text": "LightweightM2M-1.0-int-201", "tlv": "LightweightM2M-1.0-int-203",
            "lwm2m-json": "LightweightM2M-1.0-int-204"}
KINDS = {"fmt": "a single resource value", "instance_fmt": "a whole object instance"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    dut = declaration_or_none(metafunc.config)
    declared = list(dut.features.content_formats) if dut is not None else []
    for name, allowed in (("fmt", VALUE_FORMATS), ("instance_fmt", INSTANCE_FORMATS)):
        if name in metafunc.fixturenames:
            chosen = [f for f in declared if f in allowed]
            params = [
                pytest.param(ContentFormat.by_name(f), id=f, marks=[pytest.mark.ets(ETS_READ[f])])
                if name == "fmt" and f in ETS_READ else pytest.param(ContentFormat.by_name(f), id=f)
                for f in chosen
            ]
            if not params:  # NOT APPLICABLE with the reason, not pytest's "empty parameter set"
                reason = (f"features.content_formats ({', '.join(declared) or 'none'}) declares "
                          f"no format that carries {KINDS[name]} ({', '.join(allowed)})")
                params = [pytest.param(None, id="no-format", marks=pytest.mark.skip(reason=reason))]
            metafunc.parametrize(name, params)


@pytest.fixture
def restore_lifetime(device: Lwm2mDevice) -> Iterator[None]:
    """Put /1/x/1 back to the declared lifetime after a case that changed it, the registration
    running on it again (or the device rebooted)."""
    yield
    device.restore_lifetime(device.lwm2m.lifetime)


@pytest.fixture
def attributes(device: Lwm2mDevice) -> Iterator[list[str]]:
    """Paths whose pmin/pmax a case set; removed afterwards, whatever the verdict (a case's
    attributes must not change another's notifications)."""
    paths: list[str] = []
    yield paths
    for path in paths:
        try:
            device.write_attributes(path, pmin=None, pmax=None)
        except (DeviceFault, Inconclusive) as exc:  # the case has its verdict already
            device.lab.transcript.note("lwm2m", f"removing the attributes of {path}: {exc}",
                                       device=device.ep)
