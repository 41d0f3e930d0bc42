"""Request bodies have a size limit. A declared length over it gets 413 before the app reads
anything; a body sent chunked gets 413 once the bytes the app has read pass it. Nothing is
held here: the app reads the body as it arrives. An upload's body also has a deadline
(408 after it): a client that trickles one cannot hold its upload slot for ever. The face
that owns the path words the refusal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class Refusal:
    """A body refused before the app had all of it, for the face that owns `path` to say so."""

    path: str
    status: int  # 413: past its size limit; 408: past an upload's deadline
    limit: int  # the bytes this path may send
    upload: bool  # an upload's path, which may send `upload_bytes` of files within `upload_seconds`
    upload_bytes: int
    upload_seconds: float


class BodyRefused(HTTPException):
    """Raised from the counting `receive` when a body passes its limit (413) or its deadline
    (408). An HTTPException, because FastAPI passes those on from its body reading, where
    any other error becomes a 400."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def body_refused(request: Request, exc: Exception) -> Response:
    """The exception handler: the answer the middleware made (the same 413 as a declared
    length over the limit gets)."""
    assert isinstance(exc, BodyRefused)
    return exc.response


class BodyLimit:
    """Plain ASGI middleware: `limit_for(path)` bytes at most, by Content-Length, or counted
    as the app reads a chunked body. `upload_paths` take uploads; `answer` turns a refusal
    into the response of the face that owns its path."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        upload_bytes: int,
        upload_seconds: float,
        upload_paths: tuple[str, ...],
        answer: Callable[[Refusal], Response],
    ) -> None:
        self.app = app
        self.upload_paths = upload_paths
        self.answer = answer
        self.upload_seconds = upload_seconds
        # base64 grows files by a third; the JSON around them is small
        self.upload_limit = upload_bytes * 4 // 3 + DEFAULT_LIMIT
        self.upload_bytes = upload_bytes

    def limit_for(self, path: str) -> int:
        return self.upload_limit if path.rstrip("/") in self.upload_paths else DEFAULT_LIMIT

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = self.limit_for(path)
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        # Without Transfer-Encoding the server holds the body to its declared length.
        if length is not None and b"transfer-encoding" not in headers and length.isdigit() and int(length) > limit:
            await self._refused(path, 413, limit)(scope, receive, send)
            return
        seen = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.upload_seconds if limit == self.upload_limit else None

        async def counted() -> Message:
            nonlocal seen
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyRefused(self._refused(path, 408, limit)) from None
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyRefused(self._refused(path, 413, limit))
            return message

        await self.app(scope, counted, send)

    def _refused(self, path: str, status: int, limit: int) -> Response:
        upload = limit == self.upload_limit
        return self.answer(Refusal(path, status, limit, upload, self.upload_bytes, self.upload_seconds))
