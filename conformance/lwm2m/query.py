"""Registration / Update / Bootstrap-Request query parameters (LwM2M TS 1.1 §6.2, §5.2.7).

Strict about what would make a registration meaningless (no endpoint name, a lifetime that is
not a positive integer, a binding with unknown letters, a parameter given twice): those raise
:class:`ProtocolError` and the server answers 4.00 with the reason. Tolerant, but recording,
about what real clients do that the TS does not quite say (``b=`` absent, quoted values,
unknown parameters): each such thing becomes a *deviation* string in the registration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from conformance.errors import ProtocolError

PROTOCOL = "lwm2m-registration"
DEFAULT_LIFETIME = 86400  # TS 1.1: the Lifetime default when lt is absent
SUPPORTED_VERSIONS = ("1.0", "1.1", "1.2")
_BINDING_LETTERS = set("UQSTNMH")
_KNOWN = {"ep", "lt", "lwm2m", "b", "sms", "Q", "ep_type", "et", "d", "pct", "aid"}
_MSISDN = re.compile(r"^\+?[0-9]{1,20}$")
_VERSION = re.compile(r"\d+\.\d+")


class UnsupportedVersion(ProtocolError):
    """A well-formed ``lwm2m=`` version the lab does not serve (TS 1.1: 4.12)."""


@dataclass
class RegistrationQuery:
    endpoint: str | None = None
    lifetime: int | None = None
    lwm2m: str | None = None
    binding: str | None = None
    sms: str | None = None
    queue: bool = False
    extra: dict[str, str | None] = field(default_factory=dict)
    deviations: list[str] = field(default_factory=list)
    raw: str = ""


def _unquote(name: str, value: str, deviations: list[str]) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        deviations.append(f'{name}= value quoted ({value}); accepted as {value[1:-1]}')
        return value[1:-1]
    return value


def parse_query(options: list[str] | tuple[str, ...], *, update: bool = False) -> RegistrationQuery:
    """Parse Uri-Query options of a Register (``update=False``) or an Update request."""
    q = RegistrationQuery(raw="&".join(options))
    seen: set[str] = set()
    for option in options:
        name, eq, value = option.partition("=")
        if name in seen:
            raise ProtocolError(PROTOCOL, f"query parameter {name!r} given twice", where=option)
        seen.add(name)
        if name == "Q":
            if eq and value:
                raise ProtocolError(PROTOCOL, "Q takes no value", where=option)
            q.queue = True
            continue
        if not eq:
            if name in _KNOWN:
                raise ProtocolError(PROTOCOL, f"{name}= has no value", where=option)
            q.extra[name] = None
            q.deviations.append(f"unknown query parameter {name!r} ignored")
            continue
        value = _unquote(name, value, q.deviations)
        if name == "ep":
            if update:
                raise ProtocolError(PROTOCOL, "ep= is not allowed in an Update", where=option)
            if not value:
                raise ProtocolError(PROTOCOL, "ep= is empty", where=option)
            q.endpoint = value
        elif name == "lt":
            # isascii: str.isdigit() is also true for "²", which int() refuses
            # and the length: int() refuses more than 4300 digits (ValueError)
            if not (value.isascii() and value.isdigit() and len(value) <= 10) or not (
                0 < int(value) <= 0xFFFFFFFF
            ):
                raise ProtocolError(
                    PROTOCOL, f"lt= must be a positive integer, got {value!r}", where=option
                )
            q.lifetime = int(value)
        elif name == "lwm2m":
            if update:
                raise ProtocolError(PROTOCOL, "lwm2m= is not allowed in an Update", where=option)
            if not _VERSION.fullmatch(value):
                raise ProtocolError(PROTOCOL, f"lwm2m= is not a version: {value!r}", where=option)
            if value not in SUPPORTED_VERSIONS:
                raise UnsupportedVersion(
                    PROTOCOL, f"LwM2M version {value} is not supported", where=option
                )
            q.lwm2m = value
        elif name == "b":
            if not value or not set(value) <= _BINDING_LETTERS:
                raise ProtocolError(PROTOCOL, f"b= is not a binding: {value!r}", where=option)
            q.binding = value
        elif name == "sms":
            if not _MSISDN.match(value):
                raise ProtocolError(PROTOCOL, f"sms= is not an MSISDN: {value!r}", where=option)
            q.sms = value
        else:
            q.extra[name] = value
            if name not in _KNOWN:
                q.deviations.append(f"unknown query parameter {name!r} ignored")
    if not update:
        if q.endpoint is None:
            raise ProtocolError(PROTOCOL, "ep= (endpoint client name) is missing")
        if q.lwm2m is None:
            q.deviations.append("lwm2m= absent: LwM2M 1.0 assumed")
        if q.binding is None:
            q.deviations.append("b= absent: binding U assumed (LwM2M 1.1+ default)")
        if q.lifetime is None:
            q.deviations.append(f"lt= absent: lifetime {DEFAULT_LIFETIME} s assumed")
        if q.queue and q.lwm2m == "1.0":
            q.deviations.append("Q with lwm2m=1.0 (queue mode is b=UQ in 1.0)")
    return q


def parse_bootstrap_query(options: list[str] | tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """``ep`` (and the rest, e.g. ``pct``) of a Bootstrap-Request ``POST /bs?ep=…``."""
    params: dict[str, str] = {}
    for option in options:
        name, _, value = option.partition("=")
        if name in params:
            raise ProtocolError(PROTOCOL, f"query parameter {name!r} given twice", where=option)
        params[name] = value
    endpoint = params.get("ep")
    if not endpoint:
        raise ProtocolError(PROTOCOL, "Bootstrap-Request without ep=")
    return endpoint, params
