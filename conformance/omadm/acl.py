"""OMA DM ACL values (DM TND 1.2 §7.7.1.5): parse, check, and decide what they grant.

An ACL travels as a string such as ``Add=*&Get=ATTLabA+other&Replace=ATTLabA``: entries
``<command>=<server ids>`` joined by ``&``, ids joined by ``+``, ``*`` granting every server.
The empty string is a valid ACL: the node inherits its parent's. Pure: strings in, values out.
"""

from __future__ import annotations

COMMANDS = ("Add", "Delete", "Exec", "Get", "Replace")  # Copy has no ACL right (TND 7.7.1.5)
WILDCARD = "*"
MAX_LENGTH = 4096  # an ACL longer than this is refused unread: no device needs one
_FORBIDDEN_IN_ID = frozenset("=&*+ \t\r\n")

Acl = dict[str, frozenset[str]]


def parse(text: str) -> Acl | None:
    """The ACL's grants by command, ``{}`` for the empty ACL; None when it breaks the grammar."""
    if len(text) > MAX_LENGTH:
        return None
    if text == "":
        return {}
    grants: dict[str, set[str]] = {}
    for entry in text.split("&"):
        command, sep, ids = entry.partition("=")
        if not sep or command not in COMMANDS:
            return None
        names = ids.split("+")
        for name in names:
            if name != WILDCARD and (not name or _FORBIDDEN_IN_ID & set(name)):
                return None
        grants.setdefault(command, set()).update(names)
    return {command: frozenset(ids) for command, ids in grants.items()}


def format_acl(grants: Acl) -> str:
    """The canonical string of ``grants`` (commands and ids in a fixed order)."""
    return "&".join(
        f"{command}={'+'.join(sorted(grants[command]))}" for command in COMMANDS
        if grants.get(command)
    )


def grants(acl: Acl, command: str, server_id: str) -> bool:
    """Whether ``acl`` lets the server ``server_id`` run ``command``."""
    ids = acl.get(command, frozenset())
    return WILDCARD in ids or server_id in ids


def same(a: str, b: str) -> bool:
    """Two ACL strings grant the same (entry and id order free); False if either is invalid."""
    left, right = parse(a), parse(b)
    return left is not None and right is not None and left == right
