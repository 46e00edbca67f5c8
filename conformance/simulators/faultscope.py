"""Which cases a fault-matrix row runs a fault against.

A fault is meant to break one behaviour, judged by a few cases: its ETS cases (``Fault.ets``)
or the cases named by its pytest ``-k`` expression (``Fault.cases``). CI runs each fault
against those cases only, so that the matrix grows by a few seconds per fault rather than a
whole catalog run; ``MATRIX_SCOPE=catalog`` runs every fault against the whole catalog, which
also shows that it fails nothing else (the nightly, slower proof).
"""

from __future__ import annotations

import os
from typing import Protocol


class Scoped(Protocol):
    @property
    def ets(self) -> tuple[str, ...]: ...

    @property
    def cases(self) -> str: ...


def whole_catalog() -> bool:
    return os.environ.get("MATRIX_SCOPE", "") == "catalog"


def scope_args(fault: Scoped) -> list[str]:
    """The ``conformance run`` arguments that select the fault's cases (none: all)."""
    if whole_catalog():
        return []
    if fault.ets:
        return [arg for ets in fault.ets for arg in ("--ets", ets)]
    if fault.cases:
        return ["-k", fault.cases]
    return []


def ets_matches(case_ets: list[str], fault_ets: tuple[str, ...]) -> bool:
    """A case traced to one of the fault's ETS tests (an id or its tail, as ``--ets``)."""
    return any(e == w or e.endswith("-" + w.lstrip("-")) for e in case_ets for w in fault_ets)
