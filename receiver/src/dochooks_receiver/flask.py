"""A Flask decorator that verifies a delivery (the `flask` extra):

    @app.post("/hooks")
    @verified(SECRET)
    def hooks(event: Event) -> tuple[str, int]: ...

A delivery that fails verification is answered 400 or 401 (`{"detail": "..."}`) before the view runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

try:
    from flask import abort, jsonify, request
except ImportError as exc:  # the extra was not installed
    raise ImportError("dochooks_receiver.flask needs flask: pip install 'dochooks-receiver[flask]'") from exc

from dochooks_receiver.errors import WebhookError
from dochooks_receiver.events import Event
from dochooks_receiver.verification import TOLERANCE, signing_key, verify

P = ParamSpec("P")
R = TypeVar("R")


def verified(
    secret: str, *, tolerance: int = TOLERANCE
) -> Callable[[Callable[Concatenate[Event, P], R]], Callable[P, R]]:
    """Decorate a view to receive the verified event as its first argument; the secret is checked at once."""
    signing_key(secret)  # a malformed secret fails at start-up, not at the first delivery

    def decorate(view: Callable[Concatenate[Event, P], R]) -> Callable[P, R]:
        @functools.wraps(view)
        def verified_view(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                event = verify(secret, request.headers, request.get_data(), tolerance=tolerance)
            except WebhookError as exc:
                response = jsonify(detail=str(exc))
                response.status_code = exc.status
                abort(response)
            return view(event, *args, **kwargs)

        return verified_view

    return decorate
