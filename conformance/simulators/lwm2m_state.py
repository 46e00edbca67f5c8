"""What the reference LwM2M device keeps across restarts: firmware version, host identity,
and the DM server account a bootstrap gave it.

Starts from the declaration; updates (FOTA, sideload, host writes) change it and, with
``--state-dir``, are saved to ``state.json`` there, so a restarted device reports the firmware
it was updated to, as a real one does. A bootstrapped account is kept in ``account.json`` so
that a restarted device registers with it instead of bootstrapping again (ETS int-6) — only
when its credentials are the declared ones, which are then not written: no key reaches the
state folder (it sits in the run's evidence).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from conformance.declaration import Declaration

log = logging.getLogger("lwm2m-device.state")

STATE_FILE = "state.json"
ACCOUNT_FILE = "account.json"


@dataclass(frozen=True)
class KeptAccount:
    """A bootstrapped DM server account, the declared credentials implied."""

    uri: str
    ssid: int
    lifetime: int
    binding: str


def save_account(state_dir: Path | None, account: KeptAccount) -> None:
    if state_dir is None:
        return
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / (ACCOUNT_FILE + ".tmp")
    tmp.write_text(json.dumps(asdict(account)), encoding="utf-8")
    os.replace(tmp, state_dir / ACCOUNT_FILE)


def load_account(state_dir: Path | None) -> KeptAccount | None:
    if state_dir is None:
        return None
    path = state_dir / ACCOUNT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        account = KeptAccount(str(data["uri"]), int(data["ssid"]), int(data["lifetime"]),
                              str(data["binding"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return None
    return account


def forget_account(state_dir: Path | None) -> None:
    if state_dir is not None:
        (state_dir / ACCOUNT_FILE).unlink(missing_ok=True)


@dataclass
class DeviceState:
    firmware_version: str
    host_manufacturer: str
    host_model: str
    host_software_version: str
    host_unique_id: str

    @classmethod
    def from_declaration(cls, declaration: Declaration) -> DeviceState:
        return cls(
            firmware_version=declaration.device.firmware_version,
            host_manufacturer=declaration.host.manufacturer,
            host_model=declaration.host.model,
            host_software_version=declaration.host.software_version,
            host_unique_id=declaration.host.unique_id,
        )

    def host_values(self) -> dict[str, str]:
        """The host identity as the host writes it (set_host_values names)."""
        return {"manufacturer": self.host_manufacturer, "model": self.host_model,
                "software_version": self.host_software_version,
                "unique_id": self.host_unique_id}

    @classmethod
    def load(cls, declaration: Declaration, state_dir: Path | None) -> DeviceState:
        state = cls.from_declaration(declaration)
        if state_dir is None:
            return state
        path = state_dir / STATE_FILE
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return state
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", path, exc)
            return state
        known = {f.name for f in fields(cls)}
        for key, value in saved.items() if isinstance(saved, dict) else ():
            if key in known and isinstance(value, str):
                setattr(state, key, value)
        return state

    def save(self, state_dir: Path | None) -> None:
        if state_dir is None:
            return
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        os.replace(tmp, state_dir / STATE_FILE)  # atomic: a killed device never half-writes
