"""CoRE Link Format (content format 40, RFC 6690) as LwM2M uses it: registration object links
and Discover answers.

Parsing is tolerant of what real clients send (whitespace, empty entries and trailing commas,
no ``</>;rt="oma.lwm2m"`` link, an alternate root path such as ``</lwm2m>``) and keeps each
parameter value as written, quotes included, so the lab can record ``ver="1.1"`` against
``ver=1.1``. :meth:`Link.value` gives the unquoted value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from conformance.errors import ProtocolError
from conformance.lwm2m.codecs._values import path_key
from conformance.lwm2m.model import Content, Path
from conformance.lwm2m.objects import ObjectRegistry

PROTOCOL = "link-format"

_SEPARATORS = re.compile(r"[\s,]*")
_TARGET = re.compile(r"<([^<>]*)>")
# Possessive quantifiers throughout: with the lazy value and the blanks around it free to
# trade characters, a value of n blanks before a stray quote took O(n³) backtracking (2000
# blanks: 37 s on the lab's loop). The value keeps trailing blanks here; callers strip them.
_PARAM = re.compile(
    r"\s*+;\s*+([^\s=;,\"<>]++)\s*+(?:=\s*+(\"(?:[^\"\\]|\\.)*+\"|[^;,\"]*+))?\s*+(?=[;,]|$)"
)
_ESCAPE = re.compile(r"\\(.)")


@dataclass
class Link:
    target: str
    params: dict[str, str | None] = field(default_factory=dict)

    def quoted(self, name: str) -> bool:
        raw = self.params.get(name)
        return raw is not None and len(raw) >= 2 and raw[0] == raw[-1] == '"'

    def value(self, name: str) -> str | None:
        """The parameter's value without quotes; None when absent or without a value."""
        raw = self.params.get(name)
        if raw is None:
            return None
        if self.quoted(name):
            return _ESCAPE.sub(r"\1", raw[1:-1])
        return raw

    def values(self, name: str) -> list[str]:
        """A space-separated value as a list (``ct="60 110 112"``, ``rt="a b"``)."""
        return (self.value(name) or "").split()

    def __str__(self) -> str:
        params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params.items())
        return f"<{self.target}>{params}"


def parse_links(text: str) -> list[Link]:
    """Parse a link-format document; raise ProtocolError with the character offset."""
    links: list[Link] = []
    pos = _skip_separators(text, 0)
    while pos < len(text):
        target = _TARGET.match(text, pos)
        if target is None:
            got = text[pos:pos + 20]
            raise ProtocolError(PROTOCOL, f"expected '<' starting a link, got {got!r}",
                                where=f"char {pos}")
        link = Link(target.group(1).strip())
        pos = target.end()
        while (param := _PARAM.match(text, pos)) is not None:
            name, raw = param.group(1), param.group(2)
            link.params.setdefault(name, raw.strip() if raw is not None else None)
            pos = param.end()
        after = _skip_separators(text, pos)
        if after < len(text) and "," not in text[pos:after]:
            raise ProtocolError(PROTOCOL, f"unexpected {text[pos:pos + 20]!r} after a link",
                                where=f"char {pos}")
        links.append(link)
        pos = after
    return links


def _skip_separators(text: str, pos: int) -> int:
    """Past whitespace and commas (empty entries, trailing commas are tolerated)."""
    match = _SEPARATORS.match(text, pos)
    return match.end() if match else pos


def format_links(links: Iterable[Link]) -> str:
    return ",".join(str(link) for link in links)


def root_link(links: Iterable[Link]) -> Link | None:
    """The ``rt="oma.lwm2m"`` link, if the client sent one (it is optional)."""
    for link in links:
        if "oma.lwm2m" in link.values("rt"):
            return link
    return None


def object_links(links: list[Link]) -> dict[int, list[int | None]]:
    """Object id -> instances the registration announces (None: the object without instance).

    Targets under an alternate root path (``</lwm2m>;rt="oma.lwm2m",</lwm2m/1/0>``) are taken
    relative to it; links that are not LwM2M object/instance paths are ignored.
    """
    root = root_link(links)
    prefix = root.target.rstrip("/") if root is not None else ""
    found: dict[int, list[int | None]] = {}
    for link in links:
        if link is root:
            continue
        target = link.target
        if prefix and target.startswith(prefix + "/"):
            target = target[len(prefix):]
        try:
            path = Path.parse(target)
        except ProtocolError:
            continue
        if path.depth > 2:
            continue
        instances = found.setdefault(path.object_id, [])
        if path.instance_id not in instances:
            instances.append(path.instance_id)
    return found


def discover_links(path: Path, registry: ObjectRegistry, present: Content,
                   attributes: dict[Path, dict[str, str]] | None = None) -> str:
    """A Discover answer (TS 1.1 §6.3.4) for ``path`` from what the client has.

    ``present`` holds the client's content: resource and resource-instance paths, an empty
    instance as its instance path; a resource path mapped to None counts as present without a
    value (how executable resources are listed). Multiple resources get ``dim``. Attributes set
    by Write-Attributes are appended to the link they belong to.
    """
    attributes = attributes or {}
    below = [p for p in present if path.contains(p)]
    if path.depth >= 2 and not below:
        raise ProtocolError(PROTOCOL, f"{path} is not present")
    nodes: set[Path] = {path}
    instance_counts: dict[Path, int] = {}
    for p in below:
        if p.instance_id is not None:
            nodes.add(Path(p.object_id, p.instance_id))
        if p.resource_id is not None:
            nodes.add(p.resource_path)
        if p.resource_instance_id is not None:
            instance_counts[p.resource_path] = instance_counts.get(p.resource_path, 0) + 1
            if path.depth >= 3:  # instances are listed only when a resource is discovered
                nodes.add(p)
    out: list[Link] = []
    for node in sorted((n for n in nodes if path.contains(n)), key=path_key):
        params: dict[str, str | None] = {}
        definition = registry.resource(node) if node.depth == 3 else None
        if node.depth == 3 and (node in instance_counts or (definition and definition.multiple)):
            params["dim"] = str(instance_counts.get(node, 0))
        for name, value in attributes.get(node, {}).items():
            params[name] = value if value != "" else None
        out.append(Link(str(node), params))
    return format_links(out)
