"""Sending one delivery request. The dispatcher decides policy (what to send, what counts
as success, when to retry); a sender only sends. Tests swap in a fake sender."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

import aiohttp

RESPONSE_EXCERPT_BYTES = 64 * 1024


@dataclass(frozen=True)
class SendResult:
    status: int | None  # None when no response arrived
    body: bytes  # at most RESPONSE_EXCERPT_BYTES
    error: str | None


class Sender(Protocol):
    async def send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult: ...

    async def close(self) -> None: ...


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


class HttpSender:
    """aiohttp with one pooled connector: keep-alive per host, redirects never followed,
    the timeout bounding the whole exchange, and at most 64 KiB of a response read."""

    def __init__(self, *, timeout: float, max_connections: int, max_per_host: int) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._limits = (max_connections, max_per_host)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            total, per_host = self._limits
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=total, limit_per_host=per_host),
                cookie_jar=aiohttp.DummyCookieJar(),  # a receiver's cookies must never reach another
                skip_auto_headers=("Accept", "Accept-Encoding"),  # send just what the log shows
                timeout=self._timeout,
                auto_decompress=False,  # the excerpt is stored as received; no decompression bombs
            )
        return self._session

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        session = self._open()
        try:
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                excerpt = await _excerpt(response.content, RESPONSE_EXCERPT_BYTES)
                if not response.content.at_eof():
                    response.close()  # drop the rest rather than read it
                return SendResult(response.status, excerpt, None)
        except TimeoutError:
            return SendResult(None, b"", f"timed out after {self._timeout.total:g} s")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return SendResult(None, b"", f"{type(exc).__name__}: {exc}".strip())

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
            await asyncio.sleep(0)  # let the connector finish closing its transports
