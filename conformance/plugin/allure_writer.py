"""allure-pytest's result files, each encoded in one call, and spooled in the run folder.

allure-commons' ``AllureFileLogger`` writes every result and container with ``json.dump``,
which encodes in pure Python chunk by chunk (``json.dumps`` uses the C encoder only for a
one-shot encoding). In a cProfile of the OMA-DM catalog run (1,245 results) that encoding took
0.456 s, with ``json.dumps`` 0.063 s. :func:`encode_results_at_once` replaces, on the loggers
allure-pytest registered, only that step: the same dict, the same options, the same bytes in
the same files, written through ``.tmp`` and ``os.replace`` as allure-commons does.

When the results go to the run folder's own ``allure-results`` (the default),
:func:`spool_results` sends those bytes, and the attachments, to the run's Allure spool
instead of a file each (``conformance/evidence/allure_spool.py`` says why); the run's end
packs the same archive members from it.
"""

from __future__ import annotations

import json
import os
import types
import uuid
from pathlib import Path
from typing import Any

from allure_commons import hookimpl, plugin_manager
from allure_commons.logger import INDENT, AllureFileLogger
from attr import asdict

from conformance.evidence.allure_spool import Spool


def _encoded(item: Any) -> tuple[str, str]:
    """(file name, JSON text) of a result, container or globals item, as allure-commons."""
    indent = INDENT if os.environ.get("ALLURE_INDENT_OUTPUT") else None
    filename = item.file_pattern.format(prefix=uuid.uuid4())
    data = asdict(item, filter=lambda _, v: v or v is False)
    return filename, json.dumps(data, indent=indent, ensure_ascii=False)


def _report_item(self: AllureFileLogger, item: Any) -> None:
    filename, text = _encoded(item)
    tmp_filepath = self._report_dir / f"{filename}.tmp"
    tmp_filepath.write_text(text, encoding="utf8")
    os.replace(tmp_filepath, self._report_dir / filename)


def _file_loggers() -> list[AllureFileLogger]:
    return [p for p in plugin_manager.get_plugins() if isinstance(p, AllureFileLogger)]


def encode_results_at_once() -> int:
    """Give every registered allure file logger the one-call encoding; how many there were."""
    loggers = _file_loggers()
    for logger in loggers:
        logger._report_item = types.MethodType(_report_item, logger)  # type: ignore[method-assign]
    return len(loggers)


class _Spooled:
    """The hook implementations a spooled file logger gets (bound to it)."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool

    def report_item(self, item: Any) -> None:
        filename, text = _encoded(item)
        self.spool.add(filename, text.encode("utf-8"))

    @hookimpl
    def report_attached_file(self, source: Any, file_name: str) -> None:
        self.spool.add(file_name, Path(source).read_bytes())

    @hookimpl
    def report_attached_data(self, body: Any, file_name: str) -> None:
        self.spool.add(file_name, body.encode("utf-8") if isinstance(body, str) else body)


def spool_results(results_dir: Path, spool: Spool) -> int:
    """Send what the file loggers writing into ``results_dir`` would write there to ``spool``
    (results, containers, globals and attachments); how many loggers that was.

    pluggy keeps the methods a plugin had when it was registered, so each logger is registered
    again, under its name (allure-pytest unregisters it by that name at the end)."""
    loggers = [p for p in _file_loggers() if Path(p._report_dir) == results_dir.absolute()]
    for logger in loggers:
        name = plugin_manager.get_name(logger)
        plugin_manager.unregister(logger)
        spooled = _Spooled(spool)
        logger._report_item = spooled.report_item  # type: ignore[method-assign]
        logger.report_attached_file = spooled.report_attached_file  # type: ignore[method-assign]
        logger.report_attached_data = spooled.report_attached_data  # type: ignore[method-assign]
        plugin_manager.register(logger, name=name)
    return len(loggers)

