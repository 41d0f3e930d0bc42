"""What every route needs: the runtime, the caller's tenant, and a JSON body."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from dochooks.api.jsonapi import JSON_TYPES
from dochooks.api.rate_limit import AuthFailures, RateLimiter
from dochooks.errors import Unauthorized
from dochooks.runtime import Runtime
from dochooks.tenants import tenant_for_token, token_digest

_bearer = HTTPBearer(auto_error=False, description="An API token from `dochooks tenant create`.")


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def caller_address(request: Request) -> str:
    """The address the request came from (the client's, when uvicorn trusts the proxy's
    X-Forwarded-For: FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else ""


def tenant(
    request: Request,
    rt: Annotated[Runtime, Depends(runtime)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> int:
    """The tenant whose token the request carries; 401 without a valid one, 429 when the
    token is over its rate or the caller's address over its failed authentications."""
    if credentials is None:  # not a guess: not counted
        raise Unauthorized("send the header Authorization: Bearer <token>")
    failures: AuthFailures = request.app.state.auth_failures
    address = caller_address(request)
    failures.check(address)  # before the lookup: a guesser over its budget costs no query
    with rt.db.read() as conn:
        found = tenant_for_token(conn, credentials.credentials)
    if found is None:
        failures.count(address)
        raise Unauthorized("the API token is not valid")
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.take(token_digest(credentials.credentials))
    return found


def json_body(request: Request) -> None:
    """Refuse a body that is not JSON before it is parsed (415)."""
    if media_type(request) not in JSON_TYPES:
        raise HTTPException(415, f"send the body as {' or '.join(JSON_TYPES)}")


def media_type(request: Request) -> str:
    """The request's media type, without parameters, lower-case."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


Tenant = Annotated[int, Depends(tenant)]
# A resource id as a path segment: anything else, too large ones included, is simply not found.
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
Rt = Annotated[Runtime, Depends(runtime)]
JsonBody = Depends(json_body)
