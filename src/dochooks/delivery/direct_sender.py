"""Deliveries sent straight to their receivers through pyreqwest (Rust's reqwest and hyper),
for about a third of aiohttp's CPU a request (bench/senders.py). Each host has a client of
its own, pinned with `resolve` to an address the egress policy vetted: the address checked
is the address connected to. The pin holds while the host's vetted answer still includes it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

from pyreqwest.client import Client, ClientBuilder
from pyreqwest.exceptions import ConnectError, ConnectTimeoutError, PyreqwestError
from pyreqwest.http import Url

from dochooks.delivery.backoff import RETRY_AFTER_STATUSES
from dochooks.delivery.egress import AddressRefused, Egress, NotResolved, VettingResolver, is_address
from dochooks.delivery.sender import RESPONSE_EXCERPT_BYTES, SendResult
from dochooks.webhooks.url_safety import Resolver, resolve

IDLE_SECONDS = 300.0  # a host's client unused this long is closed: each holds its own TLS roots, ~160 KB
SWEEP_SECONDS = 60.0  # how often idle and replaced clients are looked for
MAX_KNOWN_URLS = 10_000  # URLs whose host is kept parsed


@dataclass
class _Pin:
    """A host's client and the vetted address it connects to (None: development, where every
    address is permitted and reqwest resolves the name itself)."""

    address: str | None
    client: Client
    used: float


class DirectSender:
    """pyreqwest, one client per host: keep-alive, redirects never followed, no decompression,
    no cookies, no header of its own but `Accept: */*` (reqwest always adds it; targets.py
    sends it, so the log shows it), the timeout bounding the lookup and the whole exchange,
    and at most 64 KiB of a response kept. The host is the URL's as reqwest reads it
    (numeric spellings such as 2130706433 become the address they mean), so that is vetted."""

    def __init__(self, *, timeout: float, max_per_host: int, egress: Egress, lookup: Resolver = resolve) -> None:
        if egress.proxy:
            raise ValueError("through a proxy deliveries go by ProxySender (see sender.open_sender)")
        self._timeout = timeout
        self._max_idle = max_per_host
        self._egress = egress
        self._resolver = VettingResolver(egress.policy, lookup=lookup)
        self._pins: dict[str, _Pin] = {}
        self._pinning: dict[tuple[str, str | None], asyncio.Future[_Pin]] = {}
        self._hosts: dict[str, str] = {}  # URL -> its host
        self._replaced: list[tuple[float, Client]] = []  # closed once their last request is over
        self._next_sweep = time.monotonic() + SWEEP_SECONDS

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        started = time.monotonic()
        total = self._timeout
        try:
            host = self._hosts.get(url) or self._host_of(url)
            pin = self._ready(host)
            left: timedelta | None = None  # None: the client's own timeout, the whole of it
            if pin is None:  # a lookup or a new client first: one deadline for it and the exchange
                async with asyncio.timeout(total):
                    pin = await self._pinned(host)
                left = timedelta(seconds=max(total - (time.monotonic() - started), 0.001))
            pin.used = started
            request = pin.client.post(url).headers(headers).body_bytes(body)
            if left is not None:
                request = request.timeout(left)
            async with request.streamed_read_buffer_limit(RESPONSE_EXCERPT_BYTES).build_streamed() as response:
                excerpt = await response.body_reader.read(RESPONSE_EXCERPT_BYTES)  # up to the limit or the end
                status = response.status
                # Read only where it counts: each call into reqwest gives up the GIL and waits to take it back.
                wait = response.get_header("Retry-After") if status in RETRY_AFTER_STATUSES else None
                result = SendResult(status, bytes(excerpt or b""), None, wait)
        except TimeoutError:  # pyreqwest's timeouts are TimeoutErrors too
            result = SendResult(None, b"", f"timed out after {total:g} s")
        except (AddressRefused, NotResolved) as exc:
            result = SendResult(None, b"", str(exc), refused=isinstance(exc, AddressRefused))
        except PyreqwestError as exc:
            result = SendResult(None, b"", described(exc, url))
        except ValueError as exc:  # not a URL reqwest will send
            result = SendResult(None, b"", f"{type(exc).__name__}: {exc}")
        if started > self._next_sweep:
            await self._sweep(started)
        return result

    def _host_of(self, url: str) -> str:
        host = (Url(url).host_str or "").strip("[]")
        if not host:
            raise ValueError("the URL names no host")
        if len(self._hosts) >= MAX_KNOWN_URLS:
            self._hosts.clear()
        self._hosts[url] = host
        return host

    def _ready(self, host: str) -> _Pin | None:
        """The host's client if it needs no lookup: pinned, and the pin in the host's fresh
        vetted answer (AddressRefused or NotResolved if that answer was one)."""
        pin = self._pins.get(host)
        if pin is None or pin.address is None or pin.address == host:
            return pin  # an IP address was vetted when it was pinned: it means the same for good
        addresses = self._resolver.known(host)
        return pin if addresses is not None and pin.address in addresses else None

    async def _pinned(self, host: str) -> _Pin:
        """The host's client, pinned anew unless the vetted answer still includes the pin's address."""
        address: str | None = None
        if is_address(host):
            self._resolver.check_address(host)
            address = host
        elif not self._egress.policy.allow_private:
            addresses = await self._resolver.addresses(host)
            pin = self._pins.get(host)
            if pin is not None and pin.address in addresses:
                return pin
            address = addresses[0]
        pin = self._pins.get(host)
        if pin is not None and pin.address == address:
            return pin
        key = (host, address)
        pinning = self._pinning.get(key)
        if pinning is None:  # one client built per pin, whoever else waits for it
            pinning = self._pinning[key] = asyncio.ensure_future(self._pin(host, address))
            pinning.add_done_callback(lambda _: self._pinning.pop(key, None))
        return await asyncio.shield(pinning)

    async def _pin(self, host: str, address: str | None) -> _Pin:
        client = await asyncio.to_thread(self._client, host, address)  # ~25 ms: it loads the TLS roots
        replaced = self._pins.get(host)
        if replaced is not None:
            self._replaced.append((time.monotonic(), replaced.client))
        pin = self._pins[host] = _Pin(address, client, time.monotonic())
        return pin

    def _client(self, host: str, address: str | None) -> Client:
        builder = (
            ClientBuilder()
            .follow_redirects(False)
            .gzip(False)  # nor Accept-Encoding: the excerpt is stored as received; no decompression bombs
            .brotli(False)
            .zstd(False)
            .deflate(False)
            .referer(False)
            .timeout(timedelta(seconds=self._timeout))
            .pool_max_idle_per_host(self._max_idle)
        )
        # No connection limit here: the dispatcher's lanes bound a host's requests (max_per_host).
        if address is not None and address != host:
            builder = builder.resolve(host, address, 0)  # the port is the URL's
        if self._egress.source_address:
            builder = builder.local_address(self._egress.source_address)
        for certificate in self._egress.ca_certificates():
            builder = builder.add_root_certificate_pem(certificate)
        return builder.build()

    async def _sweep(self, now: float) -> None:
        """Close the clients of hosts idle for IDLE_SECONDS, and replaced ones whose requests are over."""
        self._next_sweep = now + SWEEP_SECONDS
        over = self._timeout + 1
        closing = [c for replaced_at, c in self._replaced if now - replaced_at > over]
        self._replaced = [(at, c) for at, c in self._replaced if now - at <= over]
        for host, pin in list(self._pins.items()):
            if now - pin.used > max(IDLE_SECONDS, over) and (host, pin.address) not in self._pinning:
                del self._pins[host]
                closing.append(pin.client)
        for client in closing:
            await client.close()

    async def close(self) -> None:
        for pinning in list(self._pinning.values()):
            pinning.cancel()
        clients = [pin.client for pin in self._pins.values()] + [client for _, client in self._replaced]
        self._pins, self._replaced = {}, []
        for client in clients:
            await client.close()
        await self._resolver.close()


def described(exc: PyreqwestError, url: str) -> str:
    """A pyreqwest error as the delivery log shows it: what happened, where (host and port,
    never the URL: its path or query may hold a secret), then reqwest's chain of causes less
    the one that repeats the URL."""
    details = getattr(exc, "details", None) or {}
    causes = [cause["message"] for cause in details.get("causes") or () if "://" not in cause["message"]]
    technical = f"{type(exc).__name__}: {': '.join(causes) or exc.message}"
    try:
        parsed = Url(url)
        where = f"{parsed.host_str}:{parsed.port}"
    except ValueError:
        return technical
    if isinstance(exc, ConnectTimeoutError):
        return f"timed out connecting to {where} ({technical})"
    if isinstance(exc, ConnectError):
        refused = "Connection refused" in technical
        return f"{'connection refused by' if refused else 'could not connect to'} {where} ({technical})"
    return f"{technical} ({where})"
