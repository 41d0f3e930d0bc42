"""Every error outside /v1 leaves as the error page, with the error's status.
`dochooks.app` sends each error here when the pages own the request's path."""

from __future__ import annotations

from html import escape

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

from dochooks.documents.files import mebibytes
from dochooks.errors import DochooksError
from dochooks.ui.render import page
from dochooks.web.errors import UNSTORABLE_DETAIL, http_title, retry_after
from dochooks.web.limits import Refusal


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


def body_refusal(refusal: Refusal) -> Response:
    """The body limit's 413 or 408 for a form: a bare page, since it answers before the app
    (and the session the templates show) is reached."""
    documents = '<a href="/documents">Back to Documents</a>'
    if refusal.status == 408:
        return _bare_page(408, "Too slow", f"The upload did not arrive within {refusal.upload_seconds:g} s.", documents)
    if refusal.upload:
        detail = f"The files are too large: an upload may hold {mebibytes(refusal.upload_bytes)} at most."
        return _bare_page(413, "Too large", detail, documents)
    return _bare_page(413, "Too large", f"The form sent more than {mebibytes(refusal.limit)}.", '<a href="/">Back</a>')


def _bare_page(status: int, title: str, detail: str, back: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><meta charset=utf-8><title>{title}</title><h1>{title}</h1><p>{escape(detail)}</p>"
        f"<p>{back}</p>",
        status_code=status,
    )
