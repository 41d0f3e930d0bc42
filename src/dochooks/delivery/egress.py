"""Where deliveries connect. Every address is vetted against the target policy when the
connection is made, and the connection goes to exactly the address vetted: a name that
resolves to a public address at configuration and to 169.254.169.254 later (DNS
rebinding) is refused then. Optionally every delivery leaves from one source address or
through one proxy, so receivers can allowlist a fixed egress IP."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult

from dochooks.errors import ConfigError, DochooksError
from dochooks.settings import Settings
from dochooks.webhooks.url_safety import Resolver, TargetPolicy, resolve

DNS_TTL_SECONDS = 10.0  # how long a vetted (or refused) name is trusted before it is resolved again


class TargetRefused(OSError):
    """The delivery's host is not one the policy permits, or does not resolve."""


@dataclass(frozen=True)
class Egress:
    policy: TargetPolicy
    source_address: str | None = None
    proxy: str | None = None
    ca_file: str | None = None

    def tls(self) -> ssl.SSLContext | bool:
        """How deliveries verify https receivers: the system's CAs, plus the operator's."""
        if not self.ca_file:
            return True
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=self.ca_file)
        return context

    @classmethod
    def from_settings(cls, settings: Settings) -> Egress:
        source = settings.egress_source_address
        if source:
            try:
                ipaddress.ip_address(source)
            except ValueError as exc:
                raise ConfigError(f"DOCHOOKS_EGRESS_SOURCE_ADDRESS: {source!r} is not an IP address") from exc
        proxy = settings.egress_proxy
        if proxy:
            parts = urlsplit(proxy)
            if parts.scheme != "http" or not parts.hostname:
                raise ConfigError(f"DOCHOOKS_EGRESS_PROXY: {proxy!r} is not an http://HOST:PORT proxy URL")
        ca_file = settings.delivery_ca_file
        if ca_file:
            try:
                ssl.create_default_context().load_verify_locations(cafile=ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"DOCHOOKS_DELIVERY_CA_FILE: cannot load {ca_file!r}: {exc}") from exc
        return cls(TargetPolicy.from_settings(settings), source or None, proxy or None, ca_file or None)


class VettingResolver(AbstractResolver):
    """aiohttp's resolver for deliveries: resolves a name, refuses it unless every address
    is permitted, and hands the connector only the addresses it vetted. Results (refusals
    too) are kept for DNS_TTL_SECONDS, and a name being resolved is resolved once."""

    def __init__(
        self, policy: TargetPolicy, *, trusted: frozenset[str] = frozenset(), lookup: Resolver = resolve
    ) -> None:
        self._policy = policy
        self._trusted = trusted  # the proxy's own host: the operator's, so never vetted
        self._lookup = lookup
        self._cache: dict[str, tuple[float, asyncio.Future[list[str]]]] = {}

    async def addresses(self, host: str) -> list[str]:
        """The host's vetted addresses; TargetRefused if any is not permitted."""
        now = time.monotonic()
        cached = self._cache.get(host)
        if cached is None or cached[0] < now:
            future = asyncio.get_running_loop().create_future()
            self._cache[host] = (now + DNS_TTL_SECONDS, future)
            try:
                future.set_result(await asyncio.to_thread(self._vetted, host))
            except TargetRefused as exc:
                future.set_exception(exc)
            except BaseException:  # cancelled or broken: the next caller resolves again
                del self._cache[host]
                future.cancel()
                raise
        else:
            future = cached[1]
        return list(await asyncio.shield(future))

    def _vetted(self, host: str) -> list[str]:
        try:
            found = self._lookup(host)
            return found if host in self._trusted else self._policy.vet(host, found)
        except DochooksError as exc:
            raise TargetRefused(f"refused: {exc.detail}") from None

    def check_address(self, address: str) -> None:
        """Vet a host given as an IP address (aiohttp connects to those without resolving)."""
        try:
            self._policy.vet(address, [address])
        except DochooksError as exc:
            raise TargetRefused(f"refused: {exc.detail}") from None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for address in await self.addresses(host)
        ]

    async def close(self) -> None:
        self._cache.clear()
