"""Request bodies have a size limit: a larger one gets 413 before the app reads it."""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dochooks.api.jsonapi import error_object, errors, is_api_path
from dochooks.documents.uploads import TooLarge, mebibytes

DEFAULT_LIMIT = 1024 * 1024
UPLOAD_PATHS = ("/v1/documents", "/documents")  # the API's upload and the web UI's upload form


class BodyLimit:
    """Plain ASGI middleware: `limit_for(path)` bytes at most, by Content-Length, or as read
    when the body comes chunked."""

    def __init__(self, app: ASGIApp, *, upload_bytes: int) -> None:
        self.app = app
        # base64 grows files by a third; the JSON around them is small
        self.upload_limit = upload_bytes * 4 // 3 + DEFAULT_LIMIT
        self.upload_bytes = upload_bytes

    def limit_for(self, path: str) -> int:
        return self.upload_limit if path.rstrip("/") in UPLOAD_PATHS else DEFAULT_LIMIT

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and b"transfer-encoding" not in headers:  # the server holds the body to it
            if length.isdigit() and int(length) > limit:
                await self._too_large(scope["path"], limit)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        # Chunked (whatever Content-Length says): read the body up to the limit before the app sees it.
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            seen += len(message.get("body", b""))
            if seen > limit:
                await self._too_large(scope["path"], limit)(scope, receive, send)
                return
            if message["type"] != "http.request" or not message.get("more_body"):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

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
        return HTMLResponse(
            f"<!doctype html><meta charset=utf-8><title>Too large</title><h1>Too large</h1><p>{escape(detail)}</p>"
            f"<p>{back}</p>",
            status_code=413,
        )
