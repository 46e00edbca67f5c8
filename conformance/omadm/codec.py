"""One entry point for the server and the device: content type -> codec, and labels.

``application/vnd.syncml.dm+xml`` / ``+wbxml`` are the DM content types; the data-sync ones
(``application/vnd.syncml+xml`` / ``+wbxml``) that some clients send are mapped too, so that
the message is still read and the catalog can flag the content type itself.
"""

from __future__ import annotations

from typing import Literal

from conformance.errors import ProtocolError
from conformance.omadm import wbxml, xmlcodec
from conformance.omadm.model import (
    CT_DM_WBXML,
    CT_DM_XML,
    Alert,
    Atomic,
    Command,
    ItemCommand,
    Results,
    Sequence,
    Status,
    SyncML,
)

Encoding = Literal["xml", "wbxml"]
_ENCODINGS: dict[str, Encoding] = {
    CT_DM_XML: "xml",
    CT_DM_WBXML: "wbxml",
    "application/vnd.syncml+xml": "xml",
    "application/vnd.syncml+wbxml": "wbxml",
}


def encoding_of(content_type: str) -> Encoding | None:
    """``xml``/``wbxml`` for a SyncML content type (parameters ignored), else ``None``."""
    media = content_type.split(";", 1)[0].strip().lower()
    return _ENCODINGS.get(media)


def content_type_of(encoding: str) -> str:
    """The DM content type of an encoding."""
    if encoding == "xml":
        return CT_DM_XML
    if encoding == "wbxml":
        return CT_DM_WBXML
    raise ValueError(f"unknown SyncML encoding {encoding!r}")


def decode(data: bytes, encoding: str, *, max_text: int = wbxml.MAX_TEXT) -> SyncML:
    """Decode a message; bad input raises :class:`ProtocolError`.

    ``max_text`` bounds the decoded text: WBXML string-table references can expand a small
    message, XML text never exceeds the bytes it comes from (entities are refused).
    """
    if encoding == "xml":
        _xml_within(data, max_text)
        return xmlcodec.decode(data)
    if encoding == "wbxml":
        return wbxml.decode(data, max_text=max_text)
    raise ProtocolError("syncml", f"unknown encoding {encoding!r}")


def _xml_within(data: bytes, max_text: int) -> None:
    # The text of an XML document is never longer than the document (no entity expansion).
    if len(data) > max_text:
        raise ProtocolError(
            xmlcodec.PROTOCOL,
            f"message of {len(data)} bytes exceeds the decoded-size bound of {max_text} bytes",
        )


def encode(msg: SyncML, encoding: str) -> bytes:
    if encoding == "xml":
        return xmlcodec.encode(msg)
    if encoding == "wbxml":
        return wbxml.encode(msg)
    raise ValueError(f"unknown SyncML encoding {encoding!r}")


def size_bound(msg: SyncML, encoding: str) -> int | None:
    """An upper bound of ``len(encode(msg, encoding))``, cheaper than encoding (XML only)."""
    if encoding == "xml":
        return xmlcodec.model_size_bound(msg)
    return None


def decode_shown(
    data: bytes, encoding: str, *, max_text: int = wbxml.MAX_TEXT
) -> tuple[SyncML, str]:
    """:func:`decode` and :func:`pretty` of the same bytes, parsed once (the lab's hot path)."""
    if encoding == "xml":
        _xml_within(data, max_text)
        return xmlcodec.decode_shown(data)
    if encoding != "wbxml":
        raise ValueError(f"unknown SyncML encoding {encoding!r}")
    msg, root = wbxml.decode_with_tree(data, max_text=max_text)  # decoded once for both
    try:  # the model is taken: the XML form may now replace binary text by hex
        return msg, xmlcodec.pretty(wbxml.tree_xml(root, binary="hex"))
    except Exception as exc:  # as pretty(): a transcript shows something whatever the bytes
        return msg, xmlcodec.fallback_repr(data, exc)


def encode_shown(msg: SyncML, encoding: str) -> tuple[bytes, str]:
    """:func:`encode` and the :func:`pretty` text of its bytes, from one element tree."""
    tree = xmlcodec.to_tree(msg)
    if encoding == "xml":
        return xmlcodec.tree_to_xml_shown(tree)  # one lxml element for both
    if encoding == "wbxml":
        data = wbxml.encode_tree(tree)
    else:
        raise ValueError(f"unknown SyncML encoding {encoding!r}")
    try:
        return data, xmlcodec.pretty_tree(tree)
    except Exception:  # binary data has no XML text: pretty() shows it as hex
        return data, pretty(data, encoding)


def pretty(data: bytes, encoding: str, *, max_text: int = wbxml.MAX_TEXT) -> str:
    """Indented XML of a message for transcripts (WBXML shown as XML); never raises.

    A WBXML message whose text would expand past ``max_text`` is shown as its bytes (hex),
    never as the expanded text.
    """
    try:
        if encoding == "wbxml":
            return xmlcodec.pretty(wbxml.wbxml_to_xml(data, binary="hex", max_text=max_text))
        return xmlcodec.pretty(data)
    except Exception as exc:  # a transcript must show something whatever the bytes are
        return xmlcodec.fallback_repr(data, exc)


def _label(cmd: Command) -> str:
    if isinstance(cmd, Alert):
        return f"Alert {cmd.data}".rstrip()
    if isinstance(cmd, Status):
        return f"Status {cmd.data}".rstrip()
    if isinstance(cmd, Atomic | Sequence):
        inner = ", ".join(_label(c) for c in cmd.commands)
        return f"{cmd.name}[{inner}]"
    if isinstance(cmd, ItemCommand | Results):
        return f"{cmd.name}({len(cmd.items)})" if len(cmd.items) != 1 else cmd.name
    return cmd.name


def summary(msg: SyncML) -> str:
    """One-line label of a message's commands, e.g. ``Alert 1201, Replace(5), Final``.

    Runs of Status are folded (``Status 200×3``) so ladder-diagram labels stay short.
    """
    labels: list[str] = []
    counts: list[int] = []
    for cmd in msg.body:
        label = _label(cmd)
        if labels and labels[-1] == label and isinstance(cmd, Status):
            counts[-1] += 1
        else:
            labels.append(label)
            counts.append(1)
    parts = [f"{lab}×{n}" if n > 1 else lab for lab, n in zip(labels, counts, strict=True)]
    if msg.final:
        parts.append("Final")
    return ", ".join(parts) if parts else "(empty)"
