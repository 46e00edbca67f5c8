"""The reference device keeps a bootstrapped account across restarts (ETS int-6), never a key."""

from __future__ import annotations

from pathlib import Path

from conformance.simulators.lwm2m_state import (
    ACCOUNT_FILE,
    KeptAccount,
    forget_account,
    load_account,
    save_account,
)

ACCOUNT = KeptAccount("coaps://127.0.0.1:5684", 1, 300, "U")


def test_account_round_trip_and_forget(tmp_path: Path) -> None:
    assert load_account(tmp_path) is None
    save_account(tmp_path, ACCOUNT)
    assert load_account(tmp_path) == ACCOUNT
    forget_account(tmp_path)
    assert load_account(tmp_path) is None
    forget_account(tmp_path)  # nothing kept: still fine


def test_unreadable_account_is_ignored(tmp_path: Path) -> None:
    (tmp_path / ACCOUNT_FILE).write_text('{"uri": "coap://x"}', encoding="utf-8")
    assert load_account(tmp_path) is None
    (tmp_path / ACCOUNT_FILE).write_text("not json", encoding="utf-8")
    assert load_account(tmp_path) is None


def test_no_state_folder_keeps_nothing() -> None:
    save_account(None, ACCOUNT)
    assert load_account(None) is None
