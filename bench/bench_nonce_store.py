"""Benchmark: the cost of keeping OMA-DM nonces durable, per message, by storage scheme.

What one handled message costs the lab's nonce persistence, with D devices already known:

- ``json-file``: the previous scheme, the whole JSON file (all devices, indent 2, sorted keys)
  rewritten through a temporary file on every change (about two changes per message);
- ``file-per-device``: one small JSON file per device, rewritten (tmp + rename) once per
  message that changed it;
- ``sqlite-wal``: the lab's ``NonceStore`` (SQLite, WAL, synchronous=NORMAL): the changes
  of a message marked dirty, one ``flush`` (one transaction) per message;
- ``memory``: ``NonceStore(None)``, the floor.

Run: .venv/bin/python bench/bench_nonce_store.py [--devices 1,100,1000]
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import _common
from _common import per_call, table

from conformance.omadm.nonces import NonceStore


def json_file(folder: Path, devices: int) -> Callable[[], None]:
    state = {f"IMEI:{i:06d}": {"client": "bnVsbA==", "client_pending": None,
                               "client_spent": None, "server": "bnVsbA=="}
             for i in range(devices)}
    path = folder / "nonces.json"
    counter = [0]

    def save() -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
        tmp.replace(path)

    def message() -> None:  # offer + confirm: two saves, as the old store did
        counter[0] += 1
        entry = state[f"IMEI:{counter[0] % devices:06d}"]
        entry["client_pending"] = base64.b64encode(counter[0].to_bytes(8, "big")).decode()
        save()
        entry["client"] = entry["client_pending"]
        save()

    return message


def file_per_device(folder: Path, devices: int) -> Callable[[], None]:
    counter = [0]
    for i in range(devices):
        (folder / f"{i:06d}.json").write_text("{}")

    def message() -> None:
        counter[0] += 1
        path = folder / f"{counter[0] % devices:06d}.json"
        nonce = base64.b64encode(counter[0].to_bytes(8, "big")).decode()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"client": nonce, "client_pending": nonce,
                                   "client_spent": None, "server": "bnVsbA=="}))
        tmp.replace(path)

    return message


def store_scheme(path: Path | None, devices: int) -> tuple[Callable[[], None], NonceStore]:
    store = NonceStore(path)
    for i in range(devices):
        store.set_server(f"IMEI:{i:06d}", b"null")
    store.flush()
    counter = [0]

    def message() -> None:
        counter[0] += 1
        device = f"IMEI:{counter[0] % devices:06d}"
        nonce = counter[0].to_bytes(8, "big")
        store.offer_client(device, nonce)
        store.confirm_client(device, nonce)
        store.flush()

    return message, store


def main() -> int:
    p = _common.parser(__doc__ or "")
    p.add_argument("--devices", default="1,100,1000")
    args = p.parse_args()
    levels = [1, 10] if args.smoke else [int(x) for x in args.devices.split(",")]
    _common.header("bench_nonce_store: nonce persistence per message")
    rows: list[list[object]] = []
    for devices in levels:
        row: list[object] = [devices]
        for scheme in ("json-file", "file-per-device", "sqlite-wal", "memory"):
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                store = None
                if scheme == "json-file":
                    message = json_file(folder, devices)
                elif scheme == "file-per-device":
                    message = file_per_device(folder, devices)
                else:
                    path = folder / "n.sqlite" if scheme == "sqlite-wal" else None
                    message, store = store_scheme(path, devices)
                seconds = per_call(message, min_time=0.05 if args.smoke else 0.3)
                if store is not None:
                    store.close()
                row.append(seconds * 1e6)
        rows.append(row)
    print("   µs per message (best of 5 batches; a message changes the nonces twice)")
    table(rows, ["devices known", "json-file (before)", "file-per-device", "sqlite-wal (now)",
                 "memory"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
