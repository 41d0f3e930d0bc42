"""What routes of both faces take: the runtime, the rate limits and upload slots the app
holds for both, a resource id from the path, and the caller's address."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import Depends, Path, Request

from dochooks.db.group_commit import GroupCommit
from dochooks.runtime import Runtime
from dochooks.web.rate_limit import AuthFailures, RateLimiter
from dochooks.web.upload_slots import UploadSlots


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def rate_limiter(request: Request) -> RateLimiter:
    """Requests per caller: API tokens, UI sessions and sign-in addresses in one table."""
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


def auth_failures(request: Request) -> AuthFailures:
    """Failed authentications per address: the API's wrong tokens and the sign-in form's in one budget."""
    failures: AuthFailures = request.app.state.auth_failures
    return failures


def held_by(request: Request, owner: int) -> contextlib.AbstractContextManager[None]:
    """The upload slot of one of `owner`'s (a tenant's) requests."""
    slots: UploadSlots = request.app.state.upload_slots
    return slots.hold(owner)


def upload_commits(request: Request) -> GroupCommit:
    """Where uploads commit, together with the uploads other requests commit at the same time."""
    commits: GroupCommit = request.app.state.upload_commits
    return commits


def caller_address(request: Request) -> str:
    """The address the request came from (the client's, when uvicorn trusts the proxy's
    X-Forwarded-For: FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else ""


# A resource id as a path segment: anything else, too large ones included, is simply not found.
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
Rt = Annotated[Runtime, Depends(runtime)]
