"""Request bodies have a size limit: a larger one gets 413 before it is read whole."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dochooks.api.jsonapi import error_object, errors
from dochooks.documents.uploads import TooLarge

DEFAULT_LIMIT = 1024 * 1024


class BodyLimit:
    """Plain ASGI middleware: `limit_for(path)` bytes at most, by Content-Length and as read."""

    def __init__(self, app: ASGIApp, *, upload_bytes: int) -> None:
        self.app = app
        # base64 grows files by a third; the JSON around them is small
        self.upload_limit = upload_bytes * 4 // 3 + DEFAULT_LIMIT

    def limit_for(self, path: str) -> int:
        return self.upload_limit if path.rstrip("/") == "/v1/documents" else DEFAULT_LIMIT

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            response = errors(413, [error_object(413, TooLarge.title, f"the request body exceeds {limit} bytes")])
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise TooLarge(f"the request body exceeds {limit} bytes")
            return message

        await self.app(scope, limited, send)
