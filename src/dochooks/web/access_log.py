"""One log line per request to either face: method, route, status, duration, tenant."""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dochooks.logs import fields

logger = logging.getLogger("dochooks.access")
UNMATCHED = "<unmatched>"  # the route of a request no route took
TENANT = "tenant_id"  # where the request's state names the tenant, once its token or session is known


def note_tenant(request: Request, tenant_id: int) -> None:
    """Name the request's tenant in its access log line (once its token or session is known)."""
    setattr(request.state, TENANT, tenant_id)


class AccessLog:
    """Logs each HTTP request once its answer has gone. The route is the matched template
    (`/v1/webhooks/{webhook_id}`), never the path or query as sent, which may carry what is not
    ours to log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before it starts an answer

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            # A path no route matched is the caller's own text: it is not written to the log.
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            logger.info(
                "%s %s %d",
                scope["method"],
                route,
                status,
                extra=fields(
                    method=scope["method"],
                    route=route,
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                    tenant=scope.get("state", {}).get(TENANT),
                ),
            )
