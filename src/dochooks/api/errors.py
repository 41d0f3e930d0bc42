"""Every error under /v1 leaves as a JSON:API error document; nothing becomes a bare 500.
`dochooks.app` sends each error here when the API owns the request's path."""

from __future__ import annotations

from typing import Any, get_args
from urllib.parse import urlencode

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from dochooks.api.jsonapi import error_object, errors
from dochooks.errors import CursorExpired, DochooksError, InvalidParameter, TooLarge, Unauthorized
from dochooks.web.errors import UNSTORABLE_DETAIL, http_title, retry_after
from dochooks.web.limits import Refusal


def _pointer(loc: tuple[Any, ...]) -> str:
    return "/" + "/".join(str(part) for part in loc[1:])


def domain_error(request: Request, exc: DochooksError) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else retry_after(exc)
    parameter = exc.parameter if isinstance(exc, InvalidParameter) else None
    error = error_object(exc.status, exc.title, exc.detail, pointer=exc.pointer, parameter=parameter)
    if isinstance(exc, CursorExpired):  # where to go on from, for a client and for a person
        error["meta"] = {"resume_from": exc.resume_from}
        resume = {**request.query_params, "after": exc.resume_from}  # the same filters and page size
        error["links"] = {"resume": f"{request.url.path}?{urlencode(resume)}"}
    return errors(exc.status, [error], headers)


def _expected_type(request: Request) -> str:
    """The `data.type` the route's body wants, for a message: from its body model, else
    (an upload, validated by hand) the collection its path names."""
    route = request.scope.get("route")
    field = getattr(route, "body_field", None)
    try:
        resource = field.field_info.annotation.model_fields["data"].annotation  # type: ignore[union-attr]
        (name,) = get_args(resource.model_fields["type"].annotation)
        return str(name)
    except (AttributeError, KeyError, TypeError, ValueError):
        return request.url.path.removeprefix("/v1/").split("/")[0] or "..."


def _not_a_document(request: Request, found: list[str]) -> Response:
    """A body that is an object but not a JSON:API document: one error that shows the wrapper,
    instead of "Field required" at /data and one "Extra inputs" for each attribute."""
    wrapper = f'{{"data": {{"type": "{_expected_type(request)}", "attributes": {{...}}}}}}'
    where = f"; {', '.join(found)} belong in data.attributes" if found else ""
    detail = f"the body must be a JSON:API document: {wrapper}{where}"
    return errors(422, [error_object(422, "Not a JSON:API document", detail, pointer="/data")])


def invalid_request(request: Request, exc: RequestValidationError) -> Response:
    found = exc.errors()
    if any(tuple(e.get("loc", ())) == ("body", "data") and e.get("type") == "missing" for e in found):
        extra = [str(e["loc"][1]) for e in found if e.get("type") == "extra_forbidden" and len(e["loc"]) == 2]
        return _not_a_document(request, extra)
    items = []
    status = 422
    for err in found:
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            status = 400
            items.append(error_object(400, "Malformed JSON", "the request body is not valid JSON"))
        elif loc and loc[0] == "query":
            status = 400
            items.append(error_object(400, "Invalid query parameter", err["msg"], parameter=str(loc[-1])))
        elif loc and loc[0] == "path":  # no such resource: what else is wrong with the request is moot
            return errors(404, [error_object(404, "Not found", "no such resource")])
        elif len(loc) <= 1:
            status = 400
            items.append(error_object(400, "Missing body", 'send a JSON:API document: {"data": {...}}'))
        else:
            items.append(error_object(422, "Invalid attribute", err["msg"], pointer=_pointer(loc)))
    return errors(status, items)


def http_error(request: Request, exc: HTTPException) -> Response:
    title = http_title(exc.status_code)
    return errors(exc.status_code, [error_object(exc.status_code, title, str(exc.detail))], exc.headers)


def unstorable(request: Request, exc: Exception) -> Response:
    return errors(400, [error_object(400, "Invalid value", UNSTORABLE_DETAIL)])


def crash(request: Request, exc: Exception) -> Response:
    return errors(500, [error_object(500, "Internal error", "the server failed; the error is logged")])


def body_refusal(refusal: Refusal) -> Response:
    """The body limit's 413 or 408, answered before any route reads the body."""
    if refusal.status == 408:
        detail = f"the upload did not arrive within {refusal.upload_seconds:g} s"
        return errors(408, [error_object(408, "Request timeout", detail)])
    return errors(413, [error_object(413, TooLarge.title, f"the request body exceeds {refusal.limit} bytes")])
