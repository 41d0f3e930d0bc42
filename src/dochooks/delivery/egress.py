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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from aiohttp import encode_basic_auth
from aiohttp.abc import AbstractResolver, ResolveResult
from pyreqwest.client import ClientBuilder

from dochooks.errors import ConfigError, DochooksError
from dochooks.settings import Settings
from dochooks.webhooks.url_safety import AddressPolicy, Resolver, resolve

DNS_TTL_SECONDS = 10.0  # how long a vetted (or refused) name is trusted before it is resolved again
DNS_THREADS = 8  # lookups at once
MAX_CACHED_NAMES = 10_000  # past this, expired names are dropped before another is added


class AddressRefused(OSError):
    """The delivery's host is not one the policy permits: it will not become one by itself."""


class NotResolved(OSError):
    """The delivery's host name does not resolve (now: DNS may answer later)."""


@dataclass(frozen=True)
class Egress:
    policy: AddressPolicy
    source_address: str | None = None
    proxy: str | None = None  # without credentials: they go in proxy_headers, kept out of every message
    ca_file: str | None = None
    proxy_headers: dict[str, str] | None = None

    def ca_certificates(self) -> list[bytes]:
        """The operator's CA file as PEM certificates, one each (pyreqwest adds one per call)."""
        if not self.ca_file:
            return []
        with open(self.ca_file, "rb") as file:
            return _pem_certificates(file.read())

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
        proxy, proxy_headers = _proxy_parts(settings.egress_proxy)
        ca_file = settings.delivery_ca_file
        if ca_file:
            try:
                ssl.create_default_context().load_verify_locations(cafile=ca_file)
                with open(ca_file, "rb") as file:
                    certificates = _pem_certificates(file.read())
                if not certificates:
                    raise ValueError("no PEM certificate in it")
                for certificate in certificates:  # as the direct sender will read them
                    ClientBuilder().add_root_certificate_pem(certificate)
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise ConfigError(f"DOCHOOKS_DELIVERY_CA_FILE: cannot load {ca_file!r}: {exc}") from exc
        return cls(AddressPolicy.from_settings(settings), source or None, proxy, ca_file or None, proxy_headers)


def is_address(host: str) -> bool:
    """Whether a URL's host is an IP address (vetted as it is) rather than a name (resolved first)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _pem_certificates(pem: bytes) -> list[bytes]:
    """Each certificate of a PEM file, with its BEGIN and END lines."""
    end = b"-----END CERTIFICATE-----"
    return [
        block[block.index(b"-----BEGIN CERTIFICATE-----") :] + end
        for block in pem.split(end)
        if b"-----BEGIN CERTIFICATE-----" in block
    ]


def _proxy_parts(url: str | None) -> tuple[str | None, dict[str, str] | None]:
    """The proxy URL without credentials, and the credentials as a Proxy-Authorization header."""
    if not url:
        return None, None
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
        shown = f"http://{parts.hostname}:{port}" if parts.hostname else "the value"
        raise ConfigError(f"DOCHOOKS_EGRESS_PROXY: {shown} is not an http://HOST:PORT proxy URL")
    netloc = parts.netloc.rpartition("@")[2]
    if not parts.username:
        return f"http://{netloc}", None
    credentials = encode_basic_auth(unquote(parts.username), unquote(parts.password or ""))
    return f"http://{netloc}", {"Proxy-Authorization": credentials}


class VettingResolver(AbstractResolver):
    """aiohttp's resolver for deliveries: resolves a name, refuses it unless every address
    is permitted, and hands the connector only the addresses it vetted. Results (refusals
    too) are kept for DNS_TTL_SECONDS; a name being resolved is resolved once, in a task
    no waiter's timeout can cancel, on threads of its own (slow DNS must not hold up the
    database work on the default pool)."""

    def __init__(self, policy: AddressPolicy, *, proxy_host: str | None = None, lookup: Resolver = resolve) -> None:
        self._policy = policy
        self._proxy_host = proxy_host  # the operator's own proxy: the connector reaches it unvetted
        self._lookup = lookup
        self._cache: dict[tuple[str, bool], tuple[float, asyncio.Future[list[str]]]] = {}
        self._threads = ThreadPoolExecutor(DNS_THREADS, thread_name_prefix="dochooks-dns")

    async def addresses(self, host: str, *, vet: bool = True) -> list[str]:
        """The host's addresses, vetted unless `vet` is false; AddressRefused if any is not
        permitted, NotResolved if the name does not resolve."""
        now = time.monotonic()
        cached = self._cache.get((host, vet))
        if cached is None or cached[0] < now:
            if len(self._cache) >= MAX_CACHED_NAMES:
                self._cache = {key: entry for key, entry in self._cache.items() if entry[0] >= now}
            loop = asyncio.get_running_loop()
            lookup = loop.run_in_executor(self._threads, self._resolved, host, vet)
            lookup.add_done_callback(lambda done: self._forget_if_broken((host, vet), done))
            cached = self._cache[(host, vet)] = (now + DNS_TTL_SECONDS, lookup)
        return list(await asyncio.shield(cached[1]))

    def known(self, host: str) -> list[str] | None:
        """The host's vetted addresses if a fresh answer is at hand, without waiting (raising
        the AddressRefused or NotResolved that answer was); None if it must be looked up."""
        cached = self._cache.get((host, True))
        if cached is None or cached[0] < time.monotonic() or not cached[1].done() or cached[1].cancelled():
            return None
        if not isinstance(cached[1].exception(), AddressRefused | NotResolved | type(None)):
            return None  # a crash: the next lookup tries again
        return cached[1].result()

    def _forget_if_broken(self, key: tuple[str, bool], task: asyncio.Future[list[str]]) -> None:
        """Keep answers, refusals and names that do not resolve; anything else (a crash) is
        tried again by the next caller."""
        broken = task.cancelled() or not isinstance(task.exception(), AddressRefused | NotResolved | type(None))
        if broken and key in self._cache and self._cache[key][1] is task:
            del self._cache[key]

    def _resolved(self, host: str, vet: bool) -> list[str]:
        try:
            found = self._lookup(host)
        except DochooksError as exc:
            raise NotResolved(exc.detail) from None
        try:
            return self._policy.vet(host, found) if vet else found
        except DochooksError as exc:
            raise AddressRefused(f"refused: {exc.detail}") from None

    def check_address(self, address: str) -> None:
        """Vet a host given as an IP address (aiohttp connects to those without resolving)."""
        try:
            self._policy.vet(address, [address])
        except DochooksError as exc:
            raise AddressRefused(f"refused: {exc.detail}") from None

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
            # With a proxy, the connector resolves nothing but the proxy itself.
            for address in await self.addresses(host, vet=host != self._proxy_host)
        ]

    async def close(self) -> None:
        self._cache.clear()
        self._threads.shutdown(wait=False, cancel_futures=True)
