"""The per-account OMA-DM declaration (CDR-DVM-3954/3955) and the single form it extends."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.declaration import DeclarationError, parse_declaration
from conformance.omadm.account import DmAccounts

MINIMAL = (Path(__file__).parent / "files" / "good-omadm-minimal.yaml").read_text()
SINGLE = """omadm:
  client_name: "357099060399038"
  client_secret: ${CONFORMANCE_TEST_CLIENT_SECRET}
  server_secret: ${CONFORMANCE_TEST_SERVER_SECRET}"""
ACCOUNTS = """omadm:
  accounts:
    production:
      client_auth: hmac
      client_name: prod-client
      client_secret: prod-client-secret
      server_auth: md5
      server_secret: prod-server-secret
    development:
      client_name: dev-client
      client_secret: dev-client-secret
      server_secret: dev-server-secret"""


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFORMANCE_TEST_CLIENT_SECRET", "client-s3cret-value")
    monkeypatch.setenv("CONFORMANCE_TEST_SERVER_SECRET", "server-s3cret-value")


def _omadm(section: str) -> str:
    assert SINGLE in MINIMAL
    return MINIMAL.replace(SINGLE, section)


def test_each_account_its_own_credentials_and_types_each_way() -> None:
    dut = parse_declaration(_omadm(ACCOUNTS), "dut.yaml")
    assert dut.omadm is not None
    prod, dev = DmAccounts.of(dut.omadm)
    assert (prod.requirement, prod.client_auth, prod.server_auth) == ("CDR-DVM-3954", "hmac", "md5")
    assert (dev.requirement, dev.client_auth, dev.server_auth) == ("CDR-DVM-3955", "md5", "md5")
    assert (prod.client_name, dev.client_secret) == ("prod-client", "dev-client-secret")
    assert "dev-server-secret" in dut.secrets() and "prod-client-secret" not in repr(prod)
    assert dev.lab_secret(wrong=True) != dev.server_secret


def test_the_single_form_applies_to_both_accounts() -> None:
    dut = parse_declaration(MINIMAL, "dut.yaml")
    assert dut.omadm is not None
    prod, dev = DmAccounts.of(dut.omadm)
    assert prod.client_secret == dev.client_secret == "client-s3cret-value"
    assert prod.client_auth == prod.server_auth == dev.server_auth == "md5"


def test_both_forms_at_once_name_the_field_and_line() -> None:
    text = _omadm(ACCOUNTS + "\n  auth: hmac")
    with pytest.raises(DeclarationError) as caught:
        parse_declaration(text, "dut.yaml")
    assert caught.value.problems == [
        ("omadm.accounts", 17, "give either accounts or auth, not both")]


def test_an_account_without_its_secret_names_the_field_and_line() -> None:
    text = _omadm(ACCOUNTS.replace("      server_secret: dev-server-secret", ""))
    with pytest.raises(DeclarationError) as caught:
        parse_declaration(text, "dut.yaml")
    assert [(f, m) for f, _, m in caught.value.problems] == [
        ("omadm.accounts.development.server_secret", "required field is missing")]


def test_neither_form_names_the_missing_field() -> None:
    text = _omadm("omadm:\n  client_name: x\n  server_secret: y")
    with pytest.raises(DeclarationError) as caught:
        parse_declaration(text, "dut.yaml")
    assert [(f, m) for f, _, m in caught.value.problems] == [
        ("omadm.client_secret", "required (or give accounts: production/development)")]
