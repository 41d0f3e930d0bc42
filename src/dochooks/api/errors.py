"""Every error leaves the API as a JSON:API error document; nothing becomes a bare 500.
Outside /v1 (the web pages) the same errors become the UI's error page, when one is installed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from dochooks.api.jsonapi import JsonApiResponse, error_object, errors, is_api_path
from dochooks.errors import Busy, DochooksError, TooManyRequests, Unauthorized

log = logging.getLogger("dochooks.api")
# (request, status, title, detail) -> an HTML page; set as app.state.error_page by the UI
ErrorPage = Callable[[Request, int, str, str], Response]


def _page_for(request: Request) -> ErrorPage | None:
    if is_api_path(request.url.path):
        return None
    page: ErrorPage | None = getattr(request.app.state, "error_page", None)
    return page


def _pointer(loc: tuple[Any, ...]) -> str:
    return "/" + "/".join(str(part) for part in loc[1:])


def _validation(exc: RequestValidationError) -> JsonApiResponse:
    items = []
    status = 422
    for err in exc.errors():
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


def install(app: FastAPI) -> None:
    @app.exception_handler(DochooksError)
    async def domain_error(request: Request, exc: DochooksError) -> Response:
        if isinstance(exc, Busy):  # load shed on purpose, not a failure
            log.info("%s %s refused: %s", request.method, request.url.path, exc.detail)
        elif exc.status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc.detail)
        retry_after = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests | Busy) else None
        if page := _page_for(request):
            response = page(request, exc.status, exc.title, exc.detail)
            response.headers.update(retry_after or {})
            return response
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else retry_after
        return errors(exc.status, [error_object(exc.status, exc.title, exc.detail, pointer=exc.pointer)], headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if page := _page_for(request):
            if any(tuple(err.get("loc", ()))[:1] == ("path",) for err in exc.errors()):
                return page(request, 404, "Not found", "There is no such page.")
            return page(request, 400, "Bad request", "The request was not understood.")
        return _validation(exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        title = {404: "Not found", 405: "Method not allowed", 415: "Unsupported media type"}.get(
            exc.status_code, "Error"
        )
        if page := _page_for(request):
            return page(request, exc.status_code, title, str(exc.detail))
        return errors(exc.status_code, [error_object(exc.status_code, title, str(exc.detail))], exc.headers)

    @app.exception_handler(OverflowError)
    @app.exception_handler(psycopg.DataError)
    async def unstorable(request: Request, exc: Exception) -> Response:
        # A safety net: the schemas bound what they can, but no value the database refuses may become a 500.
        log.warning("%s %s: value refused by the database: %s", request.method, request.url.path, exc)
        detail = "a value is out of range or holds characters that cannot be stored"
        if page := _page_for(request):
            return page(request, 400, "Invalid value", detail)
        return errors(400, [error_object(400, "Invalid value", detail)])

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("%s %s crashed", request.method, request.url.path)
        if page := _page_for(request):
            return page(request, 500, "Internal error", "The server failed; the error is logged.")
        return errors(500, [error_object(500, "Internal error", "the server failed; the error is logged")])
