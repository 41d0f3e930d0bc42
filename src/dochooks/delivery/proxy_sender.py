"""Deliveries sent through the operator's proxy (`DOCHOOKS_EGRESS_PROXY`), by aiohttp: it
names the vetted address to the proxy (in the request line, or in the CONNECT of an https
request) while the request keeps the name for Host and TLS (`server_hostname`), which
pyreqwest cannot do (see sender.py)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from dochooks.delivery.egress import AddressRefused, Egress, NotResolved, VettingResolver, is_address
from dochooks.delivery.sender import RESPONSE_EXCERPT_BYTES, SendResult
from dochooks.webhooks.url_safety import Resolver, resolve


async def _excerpt(content: aiohttp.StreamReader, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class ProxySender:
    """aiohttp with one pooled connector: keep-alive per host, redirects never followed,
    the timeout bounding the whole exchange, and at most 64 KiB of a response read.
    Every connection goes to an address the egress policy vetted (see egress.py), and every
    request through the proxy names that address."""

    def __init__(
        self, *, timeout: float, max_connections: int, max_per_host: int, egress: Egress, lookup: Resolver = resolve
    ) -> None:
        self._timeout = timeout
        self._limits = (max_connections, max_per_host)
        self._egress = egress
        proxy_host = urlsplit(egress.proxy).hostname if egress.proxy else None
        self._resolver = VettingResolver(egress.policy, proxy_host=proxy_host, lookup=lookup)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            total, per_host = self._limits
            source = self._egress.source_address
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=total,
                    limit_per_host=per_host,
                    resolver=self._resolver,
                    use_dns_cache=False,  # the resolver keeps vetted names itself
                    local_addr=(source, 0) if source else None,
                    ssl=self._egress.tls(),
                ),
                cookie_jar=aiohttp.DummyCookieJar(),  # a receiver's cookies must never reach another
                skip_auto_headers=("Accept", "Accept-Encoding"),  # send just what the log shows
                # No timer of aiohttp's own: send() bounds the lookup and the whole exchange with one.
                timeout=aiohttp.ClientTimeout(total=None),
                auto_decompress=False,  # the excerpt is stored as received; no decompression bombs
            )
        return self._session

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        session = self._open()
        total = self._timeout
        try:
            async with asyncio.timeout(total):  # one deadline for the lookup and the whole exchange
                address, headers, server_hostname = await self._route(URL(url), headers)
                async with session.post(
                    address,
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                    proxy=self._egress.proxy,
                    proxy_headers=self._egress.proxy_headers,
                    server_hostname=server_hostname,
                ) as response:
                    excerpt = await _excerpt(response.content, RESPONSE_EXCERPT_BYTES)
                    if not response.content.at_eof():
                        response.close()  # drop the rest rather than read it
                    return SendResult(response.status, excerpt, None, response.headers.get("Retry-After"))
        except TimeoutError:
            return SendResult(None, b"", f"timed out after {total:g} s")
        except (AddressRefused, NotResolved) as exc:
            return SendResult(None, b"", str(exc), refused=isinstance(exc, AddressRefused))
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, AddressRefused | NotResolved):  # met by the connector's resolver
                return SendResult(None, b"", str(exc.os_error), refused=isinstance(exc.os_error, AddressRefused))
            return SendResult(None, b"", f"{type(exc).__name__}: {exc}")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return SendResult(None, b"", f"{type(exc).__name__}: {exc}".strip())

    async def _route(self, url: URL, headers: dict[str, str]) -> tuple[URL, dict[str, str], str | None]:
        """Where the request goes, once its host is vetted here: an IP address as it is, a
        name by what it resolves to (numeric spellings such as 2130706433 included). The
        connector then connects to the same vetted answer. Through a proxy, which would
        resolve the name again, the request names the vetted address instead, with the
        name kept for Host and TLS."""
        host = url.host or ""
        if self._egress.policy.allow_private and self._egress.proxy is None:
            return url, headers, None  # development: every address is permitted
        if is_address(host):
            self._resolver.check_address(host)
            return url, headers, None
        addresses = await self._resolver.addresses(host)
        if self._egress.proxy is None:
            return url, headers, None
        pinned = url.with_host(addresses[0])
        headers = {**headers, "Host": url.host_port_subcomponent or host}
        if url.scheme == "https":
            return pinned, headers, host  # proxy_headers go with the CONNECT
        return pinned, {**headers, **(self._egress.proxy_headers or {})}, None  # forwarded: the request carries them

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
            await asyncio.sleep(0)  # let the connector finish closing its transports
