"""Every error outside /v1 leaves as the error page, with the error's status.
`dochooks.app` sends each error here when the pages own the request's path."""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from dochooks.errors import DochooksError
from dochooks.ui.render import page
from dochooks.web.errors import UNSTORABLE_DETAIL, http_title, retry_after


def error_page(request: Request, status: int, title: str, detail: str) -> Response:
    """The page for an error anywhere outside /v1, with the status of the error."""
    return page(request, "error.html", status, status=status, title=title, detail=detail)


def domain_error(request: Request, exc: DochooksError) -> Response:
    response = error_page(request, exc.status, exc.title, exc.detail)
    response.headers.update(retry_after(exc))
    return response


def invalid_request(request: Request, exc: RequestValidationError) -> Response:
    if any(tuple(err.get("loc", ()))[:1] == ("path",) for err in exc.errors()):
        return error_page(request, 404, "Not found", "There is no such page.")
    return error_page(request, 400, "Bad request", "The request was not understood.")


def http_error(request: Request, exc: HTTPException) -> Response:
    return error_page(request, exc.status_code, http_title(exc.status_code), str(exc.detail))


def unstorable(request: Request, exc: Exception) -> Response:
    return error_page(request, 400, "Invalid value", UNSTORABLE_DETAIL)


def crash(request: Request, exc: Exception) -> Response:
    return error_page(request, 500, "Internal error", "The server failed; the error is logged.")
