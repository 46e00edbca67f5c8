"""The host-identity view of the acceptance report: the host values through the device's life.

For each moment a case reads them (at the start, after a reboot, a factory reset, a FOTA
update, a host update) the values read over the wire stand side by side with what the device
should report then, the declaration and, when the declaration names CSV files, the row of the
first file that has this IMEI; mismatches are marked. The cases record readings through
:class:`HostIdentityLog` (``evidence.host_reading(...)``); :func:`section` makes the report's
JSON section and :func:`render_html` its escaped HTML fragment.

Whatever a device sent is untrusted: values are cut to ``MAX_VALUE`` characters and escaped.
"""

from __future__ import annotations

import csv
import html
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.declaration import Declaration

MOMENTS = ("start", "after reboot", "after factory reset", "after FOTA", "after host update")
FIELDS = ("manufacturer", "model", "software_version", "unique_id", "imeisv")
LABELS = {"manufacturer": "Host manufacturer", "model": "Host model",
          "software_version": "Host software version", "unique_id": "Host unique ID",
          "imeisv": "IMEISV"}
CSV_COLUMNS = {"manufacturer": "host_mfr", "model": "host_model",
               "software_version": "host_sw_ver", "unique_id": "host device unique id"}
MAX_VALUE = 200  # characters of a value kept in the report
MAX_CSV_BYTES = 16 * 1024 * 1024  # a CSV file larger than this is not searched


@dataclass(frozen=True)
class Reading:
    """The host values one case read at one moment (None: the value could not be read)."""

    moment: str
    case: str
    values: dict[str, str | None]
    expected: dict[str, str]  # what the device should report at that moment
    sources: dict[str, str]  # field -> node or resource path it was read from


class HostIdentityLog:
    """The run's host-identity readings; the first reading of each moment is kept."""

    def __init__(self) -> None:
        self._readings: dict[str, Reading] = {}
        self._lock = threading.Lock()

    def record(self, moment: str, case: str, values: Mapping[str, object | None],
               expected: Mapping[str, str], sources: Mapping[str, str]) -> None:
        if moment not in MOMENTS:
            raise ValueError(f"unknown moment {moment!r}; expected one of {', '.join(MOMENTS)}")
        reading = Reading(moment, case, {k: _bounded(v) for k, v in values.items()},
                          {k: _bounded(v) or "" for k, v in expected.items()}, dict(sources))
        with self._lock:
            self._readings.setdefault(moment, reading)

    def readings(self) -> list[Reading]:
        with self._lock:
            return [self._readings[m] for m in MOMENTS if m in self._readings]


def _bounded(value: object | None) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "…"


def declared_values(declaration: Declaration) -> dict[str, str]:
    host = declaration.host
    return {"manufacturer": host.manufacturer, "model": host.model,
            "software_version": host.software_version, "unique_id": host.unique_id,
            "imeisv": declaration.device.imeisv}


def csv_row(declaration: Declaration) -> dict[str, Any] | None:
    """The row for the device's IMEI in the first declared CSV file that has one."""
    for path in declaration.csv.files:
        row = _find_row(Path(path), declaration.device.imei)
        if row is not None:
            return {"file": Path(path).name, "line": row[0],
                    "values": {k: _bounded(v) for k, v in row[1].items()}}
    return None


def _find_row(path: Path, imei: str) -> tuple[int, dict[str, str]] | None:
    try:
        if path.stat().st_size > MAX_CSV_BYTES:
            return None
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError:
        return None
    lines = text.splitlines()
    if not lines:
        return None
    delimiter = "\t" if "\t" in lines[0] else ","
    reader = csv.reader(lines, delimiter=delimiter)
    header = [h.strip().lower().replace("_", " ") for h in next(reader, [])]
    wanted = {f: c.replace("_", " ") for f, c in CSV_COLUMNS.items()}
    if "imei" not in header:
        return None
    for number, fields in _numbered(reader):
        row = dict(zip(header, (f.strip() for f in fields), strict=False))
        if row.get("imei") == imei:
            return number, {f: row.get(col, "") for f, col in wanted.items()}
    return None


def _numbered(reader: Any) -> Iterator[tuple[int, list[str]]]:
    for fields in reader:
        yield reader.line_num, fields


def section(log: HostIdentityLog, declaration: Declaration) -> dict[str, Any]:
    """The report's ``host_identity`` section."""
    declared = declared_values(declaration)
    row = csv_row(declaration)
    moments = []
    for reading in log.readings():
        fields = []
        for name in FIELDS:
            if name not in reading.values:
                continue
            value, expected = reading.values[name], reading.expected.get(name)
            fields.append({"field": name, "read": value, "expected": expected,
                           "source": reading.sources.get(name, ""),
                           # None: the case had no expectation for it (not judged)
                           "ok": None if expected is None else value == expected})
        moments.append({"moment": reading.moment, "case": reading.case, "fields": fields,
                        "ok": all(f["ok"] is not False for f in fields)})
    csv_ok = None
    if row is not None:
        csv_ok = {f: row["values"].get(f) == declared[f] for f in CSV_COLUMNS}
    return {"declared": declared, "csv": row, "csv_matches_declaration": csv_ok,
            "moments": moments}


_CSS = ("table.hostid td.mismatch{background:#ffebee;color:#c62828;font-weight:bold}"
        "table.hostid td.ok{color:#1b5e20}")


def render_html(data: Mapping[str, Any] | None) -> str:
    """The view as an HTML fragment (everything escaped); empty when no case read the values."""
    if not data or not data.get("moments"):
        return ""
    esc = html.escape
    declared = data["declared"]
    row = data.get("csv")
    csv_ok = data.get("csv_matches_declaration") or {}
    moments = data["moments"]
    out = [f"<style>{_CSS}</style><h2 id='host-identity'>Host identity through the device's "
           "life</h2><table class='hostid'><tr><th>Value</th><th>Declared</th>"]
    if row is not None:
        out.append(f"<th>CSV {esc(str(row['file']))} line {esc(str(row['line']))}</th>")
    out.extend(f"<th>{esc(m['moment'])}<br><small>{esc(m['case'])}</small></th>"
               for m in moments)
    out.append("</tr>")
    for name in FIELDS:
        cells = [f"<td>{esc(LABELS[name])}</td><td>{esc(declared.get(name, ''))}</td>"]
        if row is not None:
            value = row["values"].get(name)
            cls = "" if name not in csv_ok else (" class='ok'" if csv_ok[name]
                                                 else " class='mismatch'")
            cells.append(f"<td{cls}>{esc(value) if value is not None else '—'}</td>")
        for moment in moments:
            found = next((f for f in moment["fields"] if f["field"] == name), None)
            if found is None:
                cells.append("<td>—</td>")
                continue
            read = found["read"]
            shown = "(not readable)" if read is None else repr(read)
            title = esc(f"{found['source']}: expected {found['expected']!r}")
            cls = {True: "ok", False: "mismatch", None: "unjudged"}[found["ok"]]
            expected = esc(repr(found["expected"]))
            extra = "" if found["ok"] is not False else f"<br><small>expected {expected}</small>"
            cells.append(f"<td class='{cls}' title='{title}'>{esc(shown)}{extra}</td>")
        out.append(f"<tr>{''.join(cells)}</tr>")
    out.append("</table>")
    return "".join(out)
