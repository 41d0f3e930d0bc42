"""What an error means whichever face answers it: what the log says of it, the
Retry-After a refusal asks for, the title of an HTTP status."""

from __future__ import annotations

import logging

import psycopg
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from dochooks.errors import Busy, ComeBackLater, DochooksError

# Named as before the faces were apart, so operators' log filters still find these lines.
logger = logging.getLogger("dochooks.api")
# A safety net: the schemas bound what they can, but no value the database refuses may become a 500.
UNSTORABLE = (OverflowError, psycopg.DataError)
UNSTORABLE_DETAIL = "a value is out of range or holds characters that cannot be stored"
_HTTP_TITLES = {404: "Not found", 405: "Method not allowed", 415: "Unsupported media type"}


def report(request: Request, exc: Exception) -> None:
    """Log an error once, before a face answers it: load shed at info, a failure of ours
    at error, a value the database refused at warning, a crash with its traceback."""
    where = f"{request.method} {request.url.path}"
    if isinstance(exc, Busy):  # load shed on purpose, not a failure
        logger.info("%s refused: %s", where, exc.detail)
    elif isinstance(exc, DochooksError):
        if exc.status >= 500:
            logger.error("%s failed: %s", where, exc.detail)
    elif isinstance(exc, UNSTORABLE):
        logger.warning("%s: value refused by the database: %s", where, exc)
    elif not isinstance(exc, HTTPException | RequestValidationError):  # the caller's mistakes are not logged
        logger.exception("%s crashed", where)


def retry_after(exc: DochooksError) -> dict[str, str]:
    """The Retry-After header of a refusal that says when to come back (429, 503); none otherwise."""
    if isinstance(exc, ComeBackLater):
        return {"Retry-After": str(exc.retry_after)}
    return {}


def http_title(status: int) -> str:
    return _HTTP_TITLES.get(status, "Error")
