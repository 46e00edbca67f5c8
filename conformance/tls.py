"""The lab's own PKI: a self-signed lab CA and one server certificate for every lab server.

The OMA-DM HTTPS server and the package server share one CA per run folder, so a device (or
a controller) trusts a single file, ``lab-ca.pem``. Both servers construct a :class:`LabPki`
on the same ``run_dir``: the first one creates the CA, the next ones reuse it and only reissue
the server certificate when it does not cover their hosts, so neither invalidates the other.

The private keys never go into the run folder, which a lab hands over as evidence: they live
in a private (0700) folder under the system temp directory, named after the run folder. They
are throw-away: the folder records the process using it (``owner``) and is removed when the lab
stops (:func:`discard_private_dir`) or the process exits; the first lab started in a process
removes the folders of labs that were killed (owner process gone).
"""

from __future__ import annotations

import atexit
import datetime
import hashlib
import ipaddress
import os
import shutil
import ssl
import tempfile
import threading
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_FILE = "lab-ca.pem"
CA_KEY_FILE = "lab-ca.key"
SERVER_CERT_FILE = "lab-server.pem"
SERVER_KEY_FILE = "lab-server.key"
DEFAULT_HOSTS = ("127.0.0.1", "localhost", "::1")

_lock = threading.Lock()  # two lab servers starting in one process share the files
KEY_DIR_PREFIX = "conformance-lab-keys-"
OWNER_FILE = "owner"
# A folder without an owner file (written by an older version) is stale after this long.
UNOWNED_STALE_SECONDS = 3600.0
_used: set[Path] = set()  # key folders this process made or used: removed at exit
_swept = False


def _san_entry(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _key_dir_path(run_dir: Path) -> Path:
    tag = hashlib.sha256(str(Path(run_dir).resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"{KEY_DIR_PREFIX}{tag}"


def private_dir(run_dir: Path) -> Path:
    """The 0700 folder holding the keys of ``run_dir``'s PKI (outside the run folder)."""
    global _swept
    if not _swept:
        _swept = True
        remove_stale_key_dirs()
    folder = _key_dir_path(run_dir)
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{folder}: not a private folder of this user; remove it")
    _write_owner(folder)
    _used.add(folder)
    return folder


def _write_owner(folder: Path) -> None:
    """Record this process as the folder's owner, atomically: another lab's sweep reading a
    half-written (empty) owner file would take the folder for a dead lab's and remove it."""
    owner, pid = folder / OWNER_FILE, str(os.getpid())
    try:
        if owner.read_text() == pid:
            return
    except OSError:
        pass
    tmp = folder / f"{OWNER_FILE}.{pid}.tmp"
    tmp.write_text(pid)
    tmp.replace(owner)


def discard_private_dir(run_dir: Path) -> None:
    """Remove ``run_dir``'s key folder (the lab stopped: its keys are thrown away)."""
    folder = _key_dir_path(run_dir)
    with _lock:
        _used.discard(folder)
        _remove(folder)


def _remove(folder: Path) -> None:
    try:
        if folder.stat().st_uid == os.getuid():
            shutil.rmtree(folder, ignore_errors=True)
    except OSError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale_key_dirs(now: float | None = None) -> list[Path]:
    """Remove this user's key folders whose owner process is gone (a killed lab's)."""
    removed: list[Path] = []
    now = time.time() if now is None else now
    for folder in Path(tempfile.gettempdir()).glob(KEY_DIR_PREFIX + "*"):
        try:
            if folder in _used or folder.stat().st_uid != os.getuid():
                continue
            owner = folder / OWNER_FILE
            text = owner.read_text().strip() if owner.exists() else ""
            if text.isascii() and text.isdigit():
                stale = not _alive(int(text))
            else:  # no owner (yet, or an older version's folder): judged by age alone
                stale = now - folder.stat().st_mtime > UNOWNED_STALE_SECONDS
        except OSError:
            continue
        if stale:
            _remove(folder)
            removed.append(folder)
    return removed


@atexit.register
def _remove_used() -> None:
    for folder in list(_used):
        _remove(folder)
    _used.clear()


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class LabPki:
    """Lab CA + server certificate in ``run_dir`` (created on construction)."""

    def __init__(self, run_dir: Path, hosts: list[str] | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.key_dir = private_dir(self.run_dir)
        wanted = list(DEFAULT_HOSTS) + [h for h in hosts or [] if h]
        self.hosts = list(dict.fromkeys(wanted))
        with _lock:
            ca_key, ca_cert = self._load_or_make_ca()
            self._ensure_server_cert(ca_key, ca_cert)

    @property
    def ca_path(self) -> Path:
        return self.run_dir / CA_FILE

    @property
    def cert_path(self) -> Path:
        return self.run_dir / SERVER_CERT_FILE

    @property
    def key_path(self) -> Path:
        return self.key_dir / SERVER_KEY_FILE

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        with _lock:  # never read a key and a certificate from two different issues
            ctx.load_cert_chain(self.cert_path, self.key_path)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting only the lab CA (for tests and simulators)."""
        ctx = ssl.create_default_context(cafile=str(self.ca_path))
        return ctx

    # ------------------------------------------------------------------ internals

    def _load_or_make_ca(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key_path, cert_path = self.key_dir / CA_KEY_FILE, self.ca_path
        if key_path.exists() and cert_path.exists():
            try:
                key = serialization.load_pem_private_key(key_path.read_bytes(), None)
                cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
                if isinstance(key, ec.EllipticCurvePrivateKey) and _valid_now(cert):
                    return key, cert
            except ValueError:
                pass  # unreadable leftovers: make a fresh CA
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Conformance Lab"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Conformance Lab CA"),
            ]
        )
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        _write_private(key_path, _key_pem(key))
        _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        # A server certificate from an older CA is no longer valid.
        self.cert_path.unlink(missing_ok=True)
        return key, cert

    def _ensure_server_cert(
        self, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate
    ) -> None:
        existing: list[x509.GeneralName] = []
        if self.cert_path.exists() and self.key_path.exists():
            try:
                cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
                san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
                existing = list(san.value)
                if (
                    cert.issuer == ca_cert.subject
                    and _valid_now(cert)
                    and all(_san_entry(h) in existing for h in self.hosts)
                ):
                    return
            except (ValueError, x509.ExtensionNotFound):
                existing = []
        # Keep what the other server's certificate covered: it may still be serving it.
        names = list(dict.fromkeys([*existing, *(_san_entry(h) for h in self.hosts)]))
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Conformance Lab"),
                        x509.NameAttribute(NameOID.COMMON_NAME, self.hosts[-1]),
                    ]
                )
            )
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write_private(self.key_path, _key_pem(key))
        _write_public(self.cert_path, cert.public_bytes(serialization.Encoding.PEM))


def _valid_now(cert: x509.Certificate) -> bool:
    now = datetime.datetime.now(datetime.UTC)
    return cert.not_valid_before_utc <= now < cert.not_valid_after_utc
