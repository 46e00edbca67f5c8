"""Bootstrap (TS 1.1 §5.2): the configuration the lab writes, and the session that writes it.

The configuration comes from the declaration: one Security instance for the lab's DM server
(URI with the scheme and port of the declared security mode, security mode, PSK identity and
key as bytes, short server id) and one Server instance (short server id, lifetime, binding).
"""

from __future__ import annotations

from aiocoap import Code

from conformance.declaration import Declaration
from conformance.lwm2m.model import Content, ContentFormat, Path, Value
from conformance.lwm2m.operations import Requester, Response, encode_content, perform

SHORT_SERVER_ID = 1  # unless the declaration gives lwm2m.short_server_id
SECURITY_INSTANCE = 1  # instance 0 is customarily the bootstrap server's own account
SERVER_INSTANCE = 0
MODE_PSK = 0
MODE_NOSEC = 3


def dm_server_config(declaration: Declaration, dm_uri: str, dm_dtls_uri: str) -> list[Content]:
    """Security and Server object instances for the lab's DM server, per the declaration."""
    lw = declaration.lwm2m
    assert lw is not None, "an LwM2M declaration has an lwm2m section"
    psk = lw.security == "psk"
    ssid = lw.short_server_id or SHORT_SERVER_ID
    security: dict[Path, Value | None] = {
        Path(0, SECURITY_INSTANCE, 0): dm_dtls_uri if psk else dm_uri,
        Path(0, SECURITY_INSTANCE, 1): False,
        Path(0, SECURITY_INSTANCE, 2): MODE_PSK if psk else MODE_NOSEC,
        Path(0, SECURITY_INSTANCE, 3): (lw.psk_identity or "").encode() if psk else b"",
        Path(0, SECURITY_INSTANCE, 4): b"",
        Path(0, SECURITY_INSTANCE, 5): (
            bytes.fromhex(lw.psk_key.get_secret_value()) if psk and lw.psk_key else b""
        ),
        Path(0, SECURITY_INSTANCE, 10): ssid,
    }
    server: dict[Path, Value | None] = {
        Path(1, SERVER_INSTANCE, 0): ssid,
        Path(1, SERVER_INSTANCE, 1): lw.lifetime,
        Path(1, SERVER_INSTANCE, 6): True,
        Path(1, SERVER_INSTANCE, 7): lw.binding,
    }
    return [security, server]


class BootstrapSessionCore:
    """Bootstrap-Write / Delete / Discover / Finish towards one client (async side)."""

    def __init__(self, requester: Requester, endpoint: str, server_initiated: bool) -> None:
        self.requester = requester
        self.endpoint = endpoint
        self.server_initiated = server_initiated
        self.responses: list[tuple[str, Response]] = []

    async def write(
        self, path: Path | str, content: Content | Value, fmt: int = ContentFormat.TLV
    ) -> Response:
        target = Path.parse(path) if isinstance(path, str) else path
        payload = encode_content(fmt, target, content, self.requester.registry)
        msg = self.requester.message(Code.PUT, target, payload=payload, content_format=int(fmt))
        return self._keep(f"Bootstrap-Write {target}", await perform(self.requester, msg, target))

    async def delete(self, path: Path | str = "/") -> Response:
        msg = self.requester.message(Code.DELETE, str(path))
        target = Path.parse(path) if isinstance(path, str) and path != "/" else Path(0)
        return self._keep(f"Bootstrap-Delete {path}", await perform(self.requester, msg, target))

    async def discover(self, path: Path | str = "/") -> Response:
        msg = self.requester.message(Code.GET, str(path), accept=int(ContentFormat.LINK_FORMAT))
        target = Path(0)
        return self._keep(f"Bootstrap-Discover {path}", await perform(self.requester, msg, target))

    async def read(self, path: Path | str, fmt: int) -> Response:
        """Bootstrap-Read (TS 1.1 §5.2.7: /1 and /2 only)."""
        target = Path.parse(path) if isinstance(path, str) else path
        msg = self.requester.message(Code.GET, target, accept=int(fmt))
        return self._keep(f"Bootstrap-Read {target}", await perform(self.requester, msg, target))

    async def finish(self) -> Response:
        msg = self.requester.message(Code.POST, "bs")
        return self._keep("Bootstrap-Finish", await perform(self.requester, msg, Path(0)))

    def _keep(self, what: str, response: Response) -> Response:
        self.responses.append((what, response))
        return response
