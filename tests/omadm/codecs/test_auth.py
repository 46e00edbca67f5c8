"""Authentication values against the formulas computed here directly with hashlib/base64.

Formulas: OMA-TS-DM_Security-V1_2 (auth-md5, HMAC); the same construction is in libdmclient
(intel/libdmclient dmcore/src/credentials.c, prv_get_digest_md5: B64(MD5(B64(MD5(name:secret))
":" nonce))). No published numeric test vector was found, so the expected values below are
derived from the formula independently of the module under test.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.errors import ProtocolError
from conformance.omadm import auth, xmlcodec


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()


def reference_md5(name: str, secret: str, nonce: bytes) -> str:
    return b64(md5(b64(md5(f"{name}:{secret}".encode())) + b":" + nonce)).decode()


def reference_hmac(name: str, secret: str, nonce: bytes, body: bytes) -> str:
    inner = b64(md5(f"{name}:{secret}".encode()))
    return b64(md5(inner + b":" + nonce + b":" + b64(md5(body)))).decode()


def test_null_nonce() -> None:
    assert auth.NULL_NONCE == b"null"
    assert base64.b64encode(auth.NULL_NONCE) == b"bnVsbA=="
    assert auth.nonce_from_b64("bnVsbA==") == auth.NULL_NONCE


def test_fixed_vectors() -> None:
    # Worked by hand from the formula (hashlib/base64 only, see reference_* above).
    step1 = b64(md5(b"att-client:s3cr3t"))
    expected = b64(md5(step1 + b":null")).decode()
    assert auth.md5_digest("att-client", "s3cr3t", b"null") == expected
    assert expected == "1unO55HQyWfPauPcyUJsRQ=="  # the Cred of corpus/01 and corpus/08
    assert auth.basic_credential("att-client", "s3cr3t") == "YXR0LWNsaWVudDpzM2NyM3Q="
    body = b"<SyncML/>"
    mac = b64(md5(step1 + b":null:" + b64(md5(body)))).decode()
    assert auth.hmac_mac("att-client", "s3cr3t", b"null", body) == mac


def test_corpus_credentials_verify(corpus: dict[str, bytes]) -> None:
    client = xmlcodec.decode(corpus["01-pkg1-alert1201-md5"]).header.cred
    server = xmlcodec.decode(corpus["03-pkg2-status212-chal-get-replace-exec"]).header.cred
    assert client is not None and server is not None
    assert auth.verify_md5("att-client", "s3cr3t", auth.NULL_NONCE, client.data)
    assert auth.verify_md5("ATTLabA", "srv-secret", auth.NULL_NONCE, server.data)
    assert not auth.verify_md5("att-client", "wrong", auth.NULL_NONCE, client.data)
    basic = xmlcodec.decode(corpus["12-no-namespace-syncml11-style"]).header.cred
    assert basic is not None and basic.data == auth.basic_credential("att-client", "s3cr3t")


names = st.text(min_size=0, max_size=20).filter(lambda s: '"' not in s and "\x00" not in s)


@given(names, st.text(max_size=20), st.binary(max_size=24))
def test_md5_digest_matches_formula(name: str, secret: str, nonce: bytes) -> None:
    digest = auth.md5_digest(name, secret, nonce)
    assert digest == reference_md5(name, secret, nonce)
    assert auth.verify_md5(name, secret, nonce, digest)
    assert not auth.verify_md5(name, secret + "x", nonce, digest)
    assert not auth.verify_md5(name, secret, nonce + b"x", digest)


@given(names, st.text(max_size=20), st.binary(max_size=24), st.binary(max_size=200))
def test_hmac_matches_formula_both_ways(name: str, secret: str, nonce: bytes, body: bytes) -> None:
    mac = auth.hmac_mac(name, secret, nonce, body)
    assert mac == reference_hmac(name, secret, nonce, body)
    header = auth.parse_hmac_header(auth.hmac_header(name or "u", secret, nonce, body))
    assert header.algorithm == "MD5" and header.username == (name or "u")
    assert auth.verify_hmac(name, secret, nonce, body, mac)
    assert not auth.verify_hmac(name, secret, nonce, body + b" ", mac)


def test_hmac_header_format() -> None:
    value = auth.hmac_header("dev", "pw", b"n", b"body")
    mac = reference_hmac("dev", "pw", b"n", b"body")
    assert value == f'algorithm=MD5, username="dev", mac={mac}'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('algorithm=MD5, username="dev", mac=abc==', ("MD5", "dev", "abc==")),
        ('username="dev",mac=abc==', ("MD5", "dev", "abc==")),  # algorithm defaults to MD5
        ('  Algorithm=MD5 ,Username=dev , MAC="abc=="  ', ("MD5", "dev", "abc==")),
        ('algorithm=MD5, username="a, b", mac=x', ("MD5", "a, b", "x")),
    ],
)
def test_parse_hmac_header_variants(value: str, expected: tuple[str, str, str]) -> None:
    parsed = auth.parse_hmac_header(value)
    assert (parsed.algorithm, parsed.username, parsed.mac) == expected


@pytest.mark.parametrize(
    "value",
    ["", "garbage", 'username="dev"', "mac=abc", 'username="dev", mac=a, mac=b',
     'username="unterminated, mac=x', "username=dev; mac=x"],
)
def test_parse_hmac_header_garbage(value: str) -> None:
    with pytest.raises(ProtocolError):
        auth.parse_hmac_header(value)


@given(st.text(max_size=80))
def test_parse_hmac_header_only_protocol_errors(value: str) -> None:
    try:
        auth.parse_hmac_header(value)
    except ProtocolError:
        pass


def test_nonces() -> None:
    first, second = auth.new_nonce(), auth.new_nonce()
    assert len(first) == 16 and first != second
    assert auth.nonce_from_b64(auth.nonce_to_b64(first)) == first
    for bad in ("not base64!", "abc", "ñ"):
        with pytest.raises(ProtocolError):
            auth.nonce_from_b64(bad)


def test_corpus_chal_nonce_decodes(corpus_file: Path) -> None:
    msg = xmlcodec.decode(corpus_file.read_bytes())
    for status in msg.statuses():
        if status.chal is not None and status.chal.meta.next_nonce:
            assert len(auth.nonce_from_b64(status.chal.meta.next_nonce)) > 0


def test_hmac_over_a_corpus_message(corpus: dict[str, bytes]) -> None:
    """The mac covers the exact body bytes: one changed byte breaks it."""
    body = corpus["10-hmac-authenticated"]
    nonce = auth.nonce_from_b64("3q2+7w==")
    header = auth.parse_hmac_header(auth.hmac_header("ATTLabA", "srv-secret", nonce, body))
    assert header.mac == reference_hmac("ATTLabA", "srv-secret", nonce, body)
    assert auth.verify_hmac("ATTLabA", "srv-secret", nonce, body, header.mac)
    assert not auth.verify_hmac("ATTLabA", "srv-secret", nonce, body.replace(b"401", b"212"),
                                header.mac)
