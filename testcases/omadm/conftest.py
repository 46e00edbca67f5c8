"""The OMA-DM catalog's shared set-up (the ``dm`` fixture comes from the plugin,
conformance/plugin/devices.py).

- ``ddf_path`` is parametrised at collection over every node the declared DDF describes
  (CDR-DVM-440); a DDF that cannot be read, or describes no node, gives one ``unreadable``
  parameter, which the per-node cases turn into INCONCLUSIVE with the reason (the DDF
  document cases FAIL such a DDF).
- Order: the cases that change the device's versions run last, FUMO (new firmware) and then
  CDR-DVM-1533 (sideload / OEM-server updates), so that every other case sees the declared
  values. The cases do not rely on it for their verdicts: ``dm.baseline`` follows the updates.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.dut.omadm import UNREADABLE, load_ddf
from conformance.plugin.plugin import declaration_or_none

HERE = Path(__file__).parent
LAST = ("test_fumo.py", "test_cdr_dvm_1533.py")  # in this order, after everything else


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "ddf_path" not in metafunc.fixturenames:
        return
    dut = declaration_or_none(metafunc.config)
    doc = load_ddf(dut)[0] if dut is not None and dut.protocol == "omadm" else None
    # Never an empty list: pytest would report "got empty parameter set" as the reason.
    paths = [node.path for node in doc.nodes()] if doc is not None else []
    paths = paths or [UNREADABLE]
    metafunc.parametrize("ddf_path", paths, ids=paths)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    def rank(item: pytest.Item) -> int:
        path = Path(str(item.path))
        if path.parent != HERE or path.name not in LAST:
            return 0
        return 1 + LAST.index(path.name)

    items[:] = sorted(items, key=rank)  # stable: the order within each group is kept
