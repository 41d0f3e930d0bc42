"""Request bodies have a size limit. A declared length over it gets 413 before the app reads
anything; a body sent chunked gets 413 once the bytes the app has read pass it. Nothing is
held here: the app reads the body as it arrives. An upload's body also has a deadline
(408 after it): a client that trickles one cannot hold its upload slot for ever."""

from __future__ import annotations

import asyncio
from html import escape

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dochooks.api.jsonapi import error_object, errors, is_api_path
from dochooks.documents.files import mebibytes
from dochooks.errors import TooLarge

DEFAULT_LIMIT = 1024 * 1024
UPLOAD_PATHS = ("/v1/documents", "/documents")  # the API's upload and the web UI's upload form


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
    as the app reads a chunked body."""

    def __init__(self, app: ASGIApp, *, upload_bytes: int, upload_seconds: float) -> None:
        self.app = app
        self.upload_seconds = upload_seconds
        # base64 grows files by a third; the JSON around them is small
        self.upload_limit = upload_bytes * 4 // 3 + DEFAULT_LIMIT
        self.upload_bytes = upload_bytes

    def limit_for(self, path: str) -> int:
        return self.upload_limit if path.rstrip("/") in UPLOAD_PATHS else DEFAULT_LIMIT

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
            await self._too_large(path, limit)(scope, receive, send)
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
                raise BodyRefused(self._too_slow(path)) from None
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyRefused(self._too_large(path, limit))
            return message

        await self.app(scope, counted, send)

    def _too_slow(self, path: str) -> Response:
        detail = f"the upload did not arrive within {self.upload_seconds:g} s"
        if is_api_path(path):
            return errors(408, [error_object(408, "Request timeout", detail)])
        return _page(408, "Too slow", f"The {detail[4:]}.", '<a href="/documents">Back to Documents</a>')

    def _too_large(self, path: str, limit: int) -> Response:
        """413 as the API's error document, or as a page for the web UI's forms."""
        if is_api_path(path):
            return errors(413, [error_object(413, TooLarge.title, f"the request body exceeds {limit} bytes")])
        upload = limit == self.upload_limit
        detail = (
            f"The files are too large: an upload may hold {mebibytes(self.upload_bytes)} at most."
            if upload
            else f"The form sent more than {mebibytes(limit)}."
        )
        back = '<a href="/documents">Back to Documents</a>' if upload else '<a href="/">Back</a>'
        return _page(413, "Too large", detail, back)


def _page(status: int, title: str, detail: str, back: str) -> HTMLResponse:
    """A bare page for the web UI's forms: the UI's templates need the app, this answers before it."""
    return HTMLResponse(
        f"<!doctype html><meta charset=utf-8><title>{title}</title><h1>{title}</h1><p>{escape(detail)}</p>"
        f"<p>{back}</p>",
        status_code=status,
    )
