"""The client side of the LwM2M Registration and Bootstrap interfaces (TS 1.1 Core §6.1, §6.2).

A :class:`Registration` is one registration with one server account: Register
(``POST /rd?ep=&lt=&lwm2m=&b=``, ``&Q`` in queue mode, with the object links), Update
(``POST <location>``, with ``lt``/``b``/links only when they changed), De-register
(``DELETE <location>``), and the timer that sends an Update before the lifetime runs out. All
exchanges go through the device's one aiocoap context, so the server's requests come back over
the same socket or DTLS session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiocoap import CHANGED, CREATED, DELETE, POST, Context, Message

from conformance.lwm2m.model import ContentFormat

log = logging.getLogger("lwm2m-device.registration")

UPDATE_AT = 0.9  # share of the lifetime after which the Update goes out


class RegistrationError(Exception):
    """The server refused or did not answer a registration exchange."""


@dataclass(frozen=True)
class ServerAccount:
    uri: str  # coap://host:port or coaps://host:port
    ssid: int
    lifetime: int
    binding: str
    psk_identity: bytes = b""
    psk_key: bytes = b""

    @property
    def secure(self) -> bool:
        return urlsplit(self.uri).scheme == "coaps"

    @property
    def base(self) -> str:
        return self.uri.rstrip("/")


def add_credentials(context: Context, account: ServerAccount) -> None:
    """Tell aiocoap's tinydtls client transport which PSK to use for the account's URI."""
    if not account.secure:
        return
    context.client_credentials.load_from_dict(
        {
            account.base + "/*": {
                "dtls": {"psk": account.psk_key, "client-identity": account.psk_identity}
            }
        }
    )


async def exchange(context: Context, request: Message, timeout: float) -> Message:
    try:
        return await asyncio.wait_for(context.request(request).response, timeout)
    except TimeoutError:
        raise RegistrationError(f"no answer to {request.code} within {timeout:g} s") from None
    except Exception as exc:  # aiocoap network errors, DTLS alerts, refused sockets
        raise RegistrationError(f"{request.code} failed: {exc!r}") from None


class Registration:
    def __init__(
        self,
        context: Context,
        account: ServerAccount,
        *,
        endpoint: str,
        version: str,
        links: Callable[[], str],
        timeout: float,
        on_lifetime: Callable[[], None],
        register_when_forgotten: bool = True,
        queue: bool = False,
        announce_lifetime: bool = True,
    ) -> None:
        self.context = context
        self.account = account
        self.endpoint = endpoint
        self.version = version
        self._links = links
        self._timeout = timeout
        self._on_lifetime = on_lifetime
        self._register_when_forgotten = register_when_forgotten  # False: fault of int-105
        self._queue = queue  # LwM2M 1.1 queue mode: the Register carries Q (1.0: b=UQ)
        self._announce_lifetime = announce_lifetime  # False: fault lifetime-update-omits-lt
        self.location: tuple[str, ...] | None = None
        self.remote: Any = None  # keeps the DTLS session alive: aiocoap pools it weakly
        self._sent_links = ""
        self._sent_lifetime = account.lifetime
        self._sent_binding = account.binding
        self._timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()

    @property
    def registered(self) -> bool:
        return self.location is not None

    def _schedule(self) -> None:
        self._cancel_timer()
        delay = max(1.0, self.account.lifetime * UPDATE_AT)
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_lifetime)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def register(self) -> None:
        async with self._lock:
            links = self._links()
            query = [
                f"ep={self.endpoint}",
                f"lt={self.account.lifetime}",
                f"lwm2m={self.version}",
                f"b={self.account.binding}",
            ]
            if self._queue and self.version != "1.0":
                query.append("Q")
            request = Message(code=POST, uri=self.account.base + "/rd", payload=links.encode(),
                              content_format=int(ContentFormat.LINK_FORMAT))
            request.opt.uri_query = query
            response = await exchange(self.context, request, self._timeout)
            if response.code != CREATED or not response.opt.location_path:
                raise RegistrationError(f"Register answered {response.code}")
            self.location = tuple(response.opt.location_path)
            self.remote = response.remote
            self._sent_links = links
            self._sent_lifetime = self.account.lifetime
            self._sent_binding = self.account.binding
            log.info("registered at %s as /%s", self.account.uri, "/".join(self.location))
            self._schedule()

    async def update(self) -> None:
        """Registration Update; a server that forgot us (4.04) gets a new Register."""
        if self.location is None:
            await self.register()
            return
        async with self._lock:
            links = self._links()
            # What this Update carries: a write during the exchange goes in the next one.
            lifetime, binding = self.account.lifetime, self.account.binding
            query = []
            if lifetime != self._sent_lifetime:
                if self._announce_lifetime:
                    query.append(f"lt={lifetime}")
                else:
                    log.info("fault lifetime-update-omits-lt: the Update leaves out lt=%d",
                             lifetime)
            if binding != self._sent_binding:
                query.append(f"b={binding}")
            request = Message(code=POST, uri=self.account.base + "/" + "/".join(self.location))
            if query:
                request.opt.uri_query = query
            if links != self._sent_links:
                request.payload = links.encode()
                request.opt.content_format = int(ContentFormat.LINK_FORMAT)
            response = await exchange(self.context, request, self._timeout)
            if response.code == CHANGED:
                self.remote = response.remote
                self._sent_links = links
                self._sent_lifetime = lifetime
                self._sent_binding = binding
                log.info("registration updated (%s)", ", ".join(query) or "no parameters")
                self._schedule()
                return
            if response.code.class_ != 4:
                raise RegistrationError(f"Update answered {response.code}")
            self.location = None
            if not self._register_when_forgotten:
                log.info("fault no-register-after-rejected-update: Update answered %s, not "
                         "registering again", response.code)
                return
            log.info("Update answered %s: registering again", response.code)
        await self.register()

    async def deregister(self) -> None:
        self._cancel_timer()
        async with self._lock:
            if self.location is None:
                return
            request = Message(code=DELETE, uri=self.account.base + "/" + "/".join(self.location))
            self.location = None
            response = await exchange(self.context, request, self._timeout)
            log.info("de-registered: %s", response.code)

    def forget(self) -> None:
        """Drop the registration without telling the server (a reboot does that)."""
        self._cancel_timer()
        self.location = None
        close = getattr(self.remote, "shutdown", None)
        if self.account.secure and callable(close):
            close()  # a rebooted device opens a new DTLS session
        self.remote = None

    def with_account(self, account: ServerAccount) -> None:
        """Lifetime/binding written by the server: the next Update carries them."""
        self.account = account
