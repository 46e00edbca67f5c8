"""conformance.lab.Lab: start order, merged addresses, stop that never leaves a part running."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import requests

from conformance import lab as lab_module
from conformance.declaration import builtin_declaration
from conformance.lab import Lab, LabStopError

LOG: list[str] = []


class FakePart:
    name = "part"
    fail_start = False
    fail_stop = False

    def __init__(self, loop: Any, declaration: Any, transcript: Any, run_dir: Path) -> None:
        self.transcript = transcript
        LOG.append(f"{self.name} made")

    def start(self) -> None:
        if self.fail_start:
            raise OSError(f"{self.name}: address in use")
        LOG.append(f"{self.name} start")
        self.transcript.note("control", f"{self.name} up, secret ref-client-secret-3954")

    def stop(self) -> None:
        LOG.append(f"{self.name} stop")
        if self.fail_stop:
            raise TimeoutError(f"{self.name} hangs")

    def addresses(self) -> dict[str, str]:
        return {"LAB_HOST": "127.0.0.1", f"LAB_{self.name.upper()}_URL": f"x://{self.name}"}


@pytest.fixture
def parts(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    LOG.clear()
    module = types.ModuleType("fake_lab_parts")
    module.Packages = type("Packages", (FakePart,), {"name": "packages"})  # type: ignore[attr-defined]
    module.OmaDm = type("OmaDm", (FakePart,), {"name": "omadm"})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_lab_parts", module)
    monkeypatch.setattr(lab_module, "_PACKAGES", ("packages", "fake_lab_parts", "Packages"))
    monkeypatch.setattr(
        lab_module, "_BY_PROTOCOL", {"omadm": ("omadm", "fake_lab_parts", "OmaDm")}
    )
    return module


def test_starts_packages_then_protocol_and_merges_addresses(
    parts: types.ModuleType, tmp_path: Path
) -> None:
    with Lab(builtin_declaration("omadm"), tmp_path) as the_lab:
        assert LOG == ["packages made", "packages start", "omadm made", "omadm start"]
        assert the_lab.addresses() == {
            "LAB_HOST": "127.0.0.1",
            "LAB_PACKAGES_URL": "x://packages",
            "LAB_OMADM_URL": "x://omadm",
        }
        assert the_lab.omadm is not None and the_lab.packages is not None
        assert the_lab.lwm2m is None
    assert LOG[-2:] == ["omadm stop", "packages stop"]
    assert not the_lab.loop._thread.is_alive()


def test_transcript_file_is_redacted(parts: types.ModuleType, tmp_path: Path) -> None:
    with Lab(builtin_declaration("omadm"), tmp_path):
        pass
    text = (tmp_path / "transcript.jsonl").read_text()
    assert [json.loads(x)["summary"] for x in text.splitlines()] == [
        "packages up, secret «redacted»",
        "omadm up, secret «redacted»",
    ]
    assert "ref-client-secret-3954" not in text


def test_stop_is_idempotent_and_stops_every_part_even_if_one_fails(
    parts: types.ModuleType, tmp_path: Path
) -> None:
    parts.OmaDm.fail_stop = True
    the_lab = Lab(builtin_declaration("omadm"), tmp_path)
    the_lab.start()
    with pytest.raises(LabStopError, match="omadm: TimeoutError: omadm hangs"):
        the_lab.stop()
    assert LOG[-2:] == ["omadm stop", "packages stop"]
    the_lab.stop()  # again: nothing left to do, no error
    assert LOG[-2:] == ["omadm stop", "packages stop"]


def test_failed_start_stops_what_was_started(parts: types.ModuleType, tmp_path: Path) -> None:
    parts.OmaDm.fail_start = True
    the_lab = Lab(builtin_declaration("omadm"), tmp_path)
    with pytest.raises(OSError, match="address in use"):
        the_lab.start()
    assert LOG == ["packages made", "packages start", "omadm made", "packages stop"]
    assert not the_lab.loop._thread.is_alive()


def test_real_package_server_serves_through_the_lab(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the protocol server is faked: the package server is the real one on the lab loop.
    module = types.ModuleType("fake_protocol")
    module.OmaDm = type("OmaDm", (FakePart,), {"name": "omadm"})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_protocol", module)
    monkeypatch.setattr(
        lab_module, "_BY_PROTOCOL", {"omadm": ("omadm", "fake_protocol", "OmaDm")}
    )
    with Lab(builtin_declaration("omadm"), tmp_path) as the_lab:
        urls = the_lab.packages.publish("fw.bin", b"\x00firmware\xff")
        response = requests.get(urls.http, timeout=10)
        assert response.content == b"\x00firmware\xff"
        assert the_lab.addresses()["LAB_PACKAGE_URL"].startswith("http://127.0.0.1:")
    entries = [json.loads(x) for x in (tmp_path / "transcript.jsonl").read_text().splitlines()]
    assert any(e["protocol"] == "fota" for e in entries)
