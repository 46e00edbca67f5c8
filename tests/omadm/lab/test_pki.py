"""The lab PKI keeps its private keys out of the run folder that a lab hands over."""

from __future__ import annotations

import stat
from pathlib import Path

from conformance.tls import LabPki


def test_no_private_key_in_the_run_folder(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    pki = LabPki(run_dir, ["127.0.0.1"])
    pki.server_context()  # the key and certificate load together
    in_run = b"".join(p.read_bytes() for p in run_dir.rglob("*") if p.is_file())
    assert b"PRIVATE KEY" not in in_run
    assert pki.ca_path.parent == run_dir and pki.ca_path.exists()
    assert not pki.key_path.is_relative_to(run_dir)
    assert stat.S_IMODE(pki.key_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(pki.key_path.stat().st_mode) == 0o600


def test_a_second_server_on_the_same_run_reuses_the_ca(tmp_path: Path) -> None:
    first = LabPki(tmp_path, ["127.0.0.1"])
    ca = first.ca_path.read_bytes()
    second = LabPki(tmp_path, ["127.0.0.1", "localhost"])
    assert second.ca_path.read_bytes() == ca
    assert second.key_dir == first.key_dir
