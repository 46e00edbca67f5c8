"""The factory DM accounts as the lab uses them, built once from the declaration.

:class:`DmAccount` is the only holder of the raw OMA-DM secrets in the lab: the server checks
the client's credentials and makes its own from it, the Package 0 digest is made from it, and
the evidence redactor learns every form of its secrets from it (:meth:`DmAccount.redactions`).
The "wrong secret" the lab uses to test a client's server check is made here and nowhere else.

Redaction by node *meaning* (:func:`secret_values`): a value carried for an AAuthSecret or
AAuthData node, declared or not, is a secret whatever account it belongs to.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from conformance.declaration import AuthType, DmAccountCredentials, OmaDm
from conformance.omadm import auth
from conformance.omadm.model import Atomic, Command, ItemCommand, Results, Sequence, SyncML

WRONG_SECRET_SUFFIX = "-not-the-server-secret"  # a wrong secret that still looks like one
REQUIREMENTS = {"production": "CDR-DVM-3954", "development": "CDR-DVM-3955"}
SECRET_NODES = ("AAuthSecret", "AAuthData")
# The factory AAuthData (guide §1.7) is public: masking "null" would mask every "null".
PUBLIC_VALUES = {"null", "bnVsbA=="}


@dataclass(frozen=True)
class DmAccount:
    """One factory account: what the client uses towards the lab and demands from it."""

    role: str  # production | development
    client_auth: AuthType
    client_name: str
    server_auth: AuthType
    server_id: str
    client_secret: str = field(repr=False)
    server_secret: str = field(repr=False)

    @property
    def requirement(self) -> str:
        return REQUIREMENTS.get(self.role, self.role)

    def lab_secret(self, *, wrong: bool = False) -> str:
        """The server secret the lab proves itself with, or a right-looking wrong one."""
        return self.server_secret + WRONG_SECRET_SUFFIX if wrong else self.server_secret

    def redactions(self) -> list[str]:
        """Every form of this account's secrets that may reach the wire or a report.

        A basic credential is base64 of "name:secret": the secret's own base64 does not cover
        it, so the whole credential is a secret too (the lab's wrong one as well).
        """
        return [
            self.client_secret,
            self.server_secret,
            auth.basic_credential(self.client_name, self.client_secret),
            auth.basic_credential(self.server_id, self.lab_secret()),
            auth.basic_credential(self.server_id, self.lab_secret(wrong=True)),
        ]


@dataclass(frozen=True)
class DmAccounts:
    """Both factory accounts; the first is the one the lab assumes until a digest says."""

    accounts: tuple[DmAccount, ...]

    @classmethod
    def of(cls, dm: OmaDm) -> DmAccounts:
        factory = dm.factory_accounts()
        pairs: tuple[tuple[str, DmAccountCredentials], ...] = (
            ("production", factory.production),
            ("development", factory.development),
        )
        return cls(tuple(
            DmAccount(
                role=role,
                client_auth=creds.client_auth,
                client_name=creds.client_name,
                server_auth=creds.server_auth,
                server_id=dm.server_id,
                client_secret=creds.client_secret.get_secret_value(),
                server_secret=creds.server_secret.get_secret_value(),
            )
            for role, creds in pairs
        ))

    @property
    def primary(self) -> DmAccount:
        return self.accounts[0]

    def __iter__(self) -> Iterator[DmAccount]:
        return iter(self.accounts)

    def for_requirement(self, requirement: str) -> DmAccount:
        return next((a for a in self.accounts if a.requirement == requirement), self.primary)

    def redactions(self) -> list[str]:
        return [value for account in self.accounts for value in account.redactions()]


def is_secret_node(uri: str | None) -> bool:
    """Whether ``uri`` names the value of an AAuthSecret or AAuthData node (any account).

    A property query (``…/AAuthSecret?prop=Format``) names the node's format, not its value.
    """
    if not uri or "?" in uri:
        return False
    return uri.rstrip("/").rsplit("/", 1)[-1] in SECRET_NODES


def secret_values(msg: SyncML) -> Iterator[str | bytes]:
    """The values a message carries for secret nodes (Results, Replace, Add … at any depth)."""
    yield from _values(msg.body)


def _values(commands: Iterable[Command]) -> Iterator[str | bytes]:
    for cmd in commands:
        if isinstance(cmd, Atomic | Sequence):
            yield from _values(cmd.commands)
        elif isinstance(cmd, ItemCommand | Results):
            for item in cmd.items:
                named = item.source or item.target
                if not named and isinstance(cmd, Results):
                    named = next(iter(cmd.source_refs or cmd.target_refs), None)
                data = item.data
                text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
                if data and text and is_secret_node(named) and text.strip() not in PUBLIC_VALUES:
                    yield data
