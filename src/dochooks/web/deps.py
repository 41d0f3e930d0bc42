"""What routes of both faces take: the runtime, a resource id from the path, and the
caller's address."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from dochooks.runtime import Runtime


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def caller_address(request: Request) -> str:
    """The address the request came from (the client's, when uvicorn trusts the proxy's
    X-Forwarded-For: FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else ""


# A resource id as a path segment: anything else, too large ones included, is simply not found.
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
Rt = Annotated[Runtime, Depends(runtime)]
