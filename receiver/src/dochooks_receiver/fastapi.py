"""A FastAPI dependency that verifies a delivery (the `fastapi` extra):

    @app.post("/hooks")
    def hooks(event: Annotated[Event, Depends(verified(SECRET))]) -> dict[str, str]: ...

A delivery that fails verification is answered 400 or 401 (`{"detail": "..."}`) before the route runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

try:
    from fastapi import HTTPException, Request
except ImportError as exc:  # the extra was not installed
    raise ImportError("dochooks_receiver.fastapi needs fastapi: pip install 'dochooks-receiver[fastapi]'") from exc

from dochooks_receiver.errors import WebhookError
from dochooks_receiver.events import Event
from dochooks_receiver.verification import TOLERANCE, signing_key, verify


def verified(secret: str, *, tolerance: int = TOLERANCE) -> Callable[[Request], Awaitable[Event]]:
    """A dependency giving the verified event of the request; the secret is checked at once."""
    signing_key(secret)  # a malformed secret fails at start-up, not at the first delivery

    async def verified_event(request: Request) -> Event:
        body = await request.body()
        try:
            return verify(secret, request.headers, body, tolerance=tolerance)
        except WebhookError as exc:
            raise HTTPException(exc.status, detail=str(exc)) from exc

    return verified_event
