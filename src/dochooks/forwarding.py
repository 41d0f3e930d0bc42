"""`dochooks listen --forward-to URL`: relay a delivery to a local app as received, and
bring back the app's answer, so dochooks records and retries what the app said."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict

# RFC 9110 7.6.1: they concern one connection, not the message; Host is the app's own.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer"}
    | {"transfer-encoding", "upgrade", "host", "content-length"}
)
ANSWER_LIMIT = 64 * 1024  # of the app's body passed back, as dochooks keeps an excerpt of this size
TIMEOUT_SECONDS = 15.0  # dochooks' own wait for an answer


@dataclass(frozen=True)
class Relayed:
    """The app's answer, or why there is none (then `status` is what dochooks is told: 502 or 504)."""

    status: int
    body: bytes
    content_type: str | None
    duration_ms: int
    error: str | None = None


def forwarded_headers(headers: Iterable[tuple[str, str]]) -> CIMultiDict[str]:
    """The request's headers as received, less hop-by-hop ones and those its Connection header names."""
    pairs = list(headers)
    named = {
        token.strip().lower() for name, value in pairs if name.lower() == "connection" for token in value.split(",")
    }
    return CIMultiDict((name, value) for name, value in pairs if name.lower() not in HOP_BY_HOP | named)


class Forwarder:
    """One client session to the app for the listener's lifetime."""

    def __init__(self, url: str, timeout: float = TIMEOUT_SECONDS) -> None:
        self.url = url
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def relay(self, method: str, headers: Iterable[tuple[str, str]], body: bytes) -> Relayed:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout), auto_decompress=True
            )
        started = time.monotonic()
        try:
            async with self._session.request(
                method,
                self.url,
                headers=forwarded_headers(headers),
                data=body,
                allow_redirects=False,  # a redirect goes back to dochooks, which counts it as a failure
                skip_auto_headers=("User-Agent", "Content-Type", "Accept", "Accept-Encoding"),
            ) as response:
                answer = await response.content.read(ANSWER_LIMIT)
                return Relayed(response.status, answer, response.headers.get("Content-Type"), _since(started))
        except TimeoutError:
            return Relayed(504, b"", None, _since(started), f"{self.url} did not answer within {self.timeout:g} s")
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror or str(exc.os_error)
            return Relayed(
                502, b"", None, _since(started), f"cannot reach {self.url} ({reason.lower()}): is the app running?"
            )
        except aiohttp.ClientError as exc:
            return Relayed(502, b"", None, _since(started), f"{self.url}: {exc.__class__.__name__}: {exc}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
