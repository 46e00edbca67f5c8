"""The one exception type every decoder and protocol layer raises for bad input.

A device under test is not trusted: whatever bytes it sends, a decoder either returns a value
or raises :class:`ProtocolError` (or a subclass) naming what was wrong and where. Nothing else
may escape a decoder; the fuzz tests hold every codec to that.
"""

from __future__ import annotations


class ProtocolError(ValueError):
    """Malformed or non-conforming protocol data.

    ``protocol``: which codec/layer (``syncml-xml``, ``wbxml``, ``tlv``, ``coap`` …).
    ``where``: the offending field, element path or byte offset, in words a lab engineer reads.
    ``data``: a short excerpt of the offending bytes, for the transcript.
    """

    def __init__(
        self, protocol: str, message: str, *, where: str | None = None, data: bytes | None = None
    ) -> None:
        self.protocol = protocol
        self.message = message
        self.where = where
        self.data = data[:64] if data is not None else None
        text = f"{protocol}: {message}"
        if where:
            text += f" (at {where})"
        super().__init__(text)


class ConfigurationError(ValueError):
    """The lab's own configuration (declaration, command line) is wrong: never a device fault."""
