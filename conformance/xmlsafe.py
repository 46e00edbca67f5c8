"""The one way the suite parses XML from outside: hardened lxml, errors as ProtocolError.

Devices and vendor files are untrusted. The parser never resolves entities, never touches the
network, refuses any DOCTYPE that declares entities (billion laughs, XXE) and bounds size and
nesting depth, so an attack is refused quickly with a finding instead of eating the lab.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from lxml import etree

from conformance.errors import ProtocolError

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
# Characters XML 1.0 cannot carry (§2.2), NUL included: lxml refuses them as element text.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_chars(text: str) -> str:
    """``text`` without the characters XML cannot hold (for values echoed from bad input)."""
    return _NOT_XML_CHAR.sub("", text)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=True,
        remove_comments=True,
        remove_pis=True,
    )


def parse(
    data: bytes, *, protocol: str, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> etree._Element:
    """Parse untrusted XML; raise :class:`ProtocolError` naming the problem and the line."""
    if len(data) > max_bytes:
        raise ProtocolError(protocol, f"document of {len(data)} bytes exceeds {max_bytes}")
    # An external DOCTYPE (real DM clients send one) is harmless as it is never loaded; an
    # internal subset is where entity bombs live, so it is refused before lxml sees it. The
    # whole document is searched: comments or blanks may push the DOCTYPE past any prefix.
    upper = data.upper()
    start = upper.find(b"<!DOCTYPE")
    doctype = upper[start : start + 2048] if start >= 0 else b""
    if b"<!ENTITY" in upper or b"[" in doctype.split(b">", 1)[0]:
        raise ProtocolError(protocol, "DOCTYPE internal subset refused", where="prolog")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line = getattr(exc, "lineno", None)
        raise ProtocolError(
            protocol, f"not well-formed XML: {exc.msg}", where=f"line {line}"
        ) from None
    except (ValueError, TypeError) as exc:  # e.g. an encoding declaration lxml rejects
        raise ProtocolError(protocol, f"unreadable XML: {exc}") from None
    if root is None:
        raise ProtocolError(protocol, "empty document")
    # Also there for a bare external DOCTYPE: only declarations in it are refused (ones the
    # search above cannot see, e.g. in a UTF-16 document). lxml-stubs lacks these methods.
    subset: Any = root.getroottree().docinfo.internalDTD
    if subset is not None and (
        next(subset.iterentities(), None) is not None or next(subset.iterelements(), None)
    ):
        raise ProtocolError(protocol, "DOCTYPE internal subset refused", where="prolog")
    _check_depth(root, protocol, max_depth)
    return root


@functools.lru_cache(maxsize=8)
def _deeper_than(max_depth: int) -> etree.XPath:
    """The first element below ``max_depth`` levels (the root is level 1), found in C."""
    return etree.XPath("(" + "/*" * (max_depth + 1) + ")[1]")


def _check_depth(root: etree._Element, protocol: str, max_depth: int) -> None:
    # In C, not a Python walk of every element: this runs on every message the lab receives.
    found: Any = _deeper_than(max_depth)(root)
    if found:
        where = f"line {found[0].sourceline}"
        raise ProtocolError(protocol, f"nesting deeper than {max_depth} levels", where=where)
    entity: Any = next(root.iter(etree.Entity), None)  # never resolved; a reference is refused
    if entity is not None:
        where = f"line {entity.sourceline}"
        raise ProtocolError(protocol, f"entity reference {entity.text} refused", where=where)


def local_name(element: etree._Element) -> str:
    """Tag without namespace (DM clients differ in how they declare namespaces)."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]
