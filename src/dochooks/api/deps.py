"""What the API's routes need: the caller's tenant, a JSON body, an upload slot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from dochooks.api.jsonapi import JSON_TYPES
from dochooks.errors import Unauthorized
from dochooks.tokens import bearer_of, note_use, token_digest, use_worth_noting
from dochooks.web.access_log import note_tenant
from dochooks.web.deps import Rt, auth_failures, caller_address, held_by, rate_limiter

_bearer = HTTPBearer(
    auto_error=False, description="An API token from `dochooks tenant create` or `dochooks token create`."
)


def tenant(
    request: Request,
    rt: Rt,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> int:
    """The tenant whose token the request carries; 401 without a valid one, 429 when the
    token is over its rate or the caller's address over its failed authentications."""
    if credentials is None:  # not a guess: not counted
        raise Unauthorized("send the header Authorization: Bearer <token>")
    failures = auth_failures(request)
    address = caller_address(request)
    failures.check(address)  # before the lookup: a guesser over its budget costs no query
    with rt.db.read() as conn:
        found = bearer_of(conn, credentials.credentials)
    if found is None:
        failures.count(address)
        raise Unauthorized("the API token is not valid")
    rate_limiter(request).take(token_digest(credentials.credentials))
    now = rt.clock.now_ms()
    if use_worth_noting(found.last_used_at, now):  # a write at most once a minute per token
        with rt.db.transaction() as conn:
            note_use(conn, found, now)
    note_tenant(request, found.tenant_id)
    return found.tenant_id


def json_body(request: Request) -> None:
    """Refuse a body that is not JSON before it is parsed (415)."""
    if media_type(request) not in JSON_TYPES:
        raise HTTPException(415, f"send the body as {' or '.join(JSON_TYPES)}")


def media_type(request: Request) -> str:
    """The request's media type, without parameters, lower-case."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


Tenant = Annotated[int, Depends(tenant)]
JsonBody = Depends(json_body)


async def upload_slot(request: Request, tenant: Tenant) -> AsyncIterator[None]:
    """A dependency: the API's upload runs holding a slot of the caller's tenant. Declare
    it before anything that reads the body."""
    with held_by(request, tenant):
        yield


UploadSlot = Annotated[None, Depends(upload_slot)]
