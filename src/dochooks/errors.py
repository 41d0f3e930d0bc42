"""The exception tree. Everything dochooks raises on purpose derives from DochooksError.

DochooksError
 ├── NotFound            a resource does not exist for this tenant (404)
 ├── Unauthorized        missing or unknown API token (401)
 ├── InvalidParameter    a query parameter we refuse (400; `parameter` names it)
 ├── CursorExpired       a feed cursor older than what retention kept (410)
 ├── InvalidInput        a well-formed request with values we refuse (422)
 │    └── InvalidUrl     a webhook URL that is not a usable http(s) URL
 │         └── UnsafeUrl  one whose host is not a public address (and the operator opened none)
 ├── Conflict            the request clashes with the resource's state (409)
 ├── TooLarge            an upload or a part of it over its size limit (413)
 ├── ComeBackLater       refused for now; `retry_after` says when to try again
 │    ├── TooManyRequests a caller over its rate, or its failed authentications (429)
 │    └── Busy           no room for the work now, e.g. every upload slot taken (503)
 ├── ConfigError         a setting that cannot work; the service does not start
 └── StorageError        the database failed or is not what we expect
      ├── MigrationError
      └── DatabaseClosed a database used after close()
"""

from __future__ import annotations


class DochooksError(Exception):
    """Root of every error dochooks raises on purpose."""

    status, title = 500, "Internal error"

    def __init_subclass__(cls, *, status: int | None = None, title: str | None = None) -> None:
        """A subclass names its HTTP status and title in its class line, the tree at a glance."""
        super().__init_subclass__()
        cls.status = cls.status if status is None else status
        cls.title = cls.title if title is None else title

    def __init__(self, detail: str, *, pointer: str | None = None, attribute: str | None = None) -> None:
        """`attribute` names the request attribute at fault (`url`, `headers/Host`): it
        becomes the JSON:API pointer `/data/attributes/<attribute>`."""
        super().__init__(detail)
        self.detail = detail
        self.pointer = f"/data/attributes/{attribute}" if attribute is not None else pointer


class NotFound(DochooksError, status=404, title="Not found"): ...


class Unauthorized(DochooksError, status=401, title="Unauthorized"): ...


class InvalidParameter(DochooksError, status=400, title="Invalid query parameter"):
    def __init__(self, detail: str, *, parameter: str) -> None:
        super().__init__(detail)
        self.parameter = parameter


class CursorExpired(DochooksError, status=410, title="Gone"):
    """A feed cursor before events retention deleted: `resume_from` is the cursor of the
    oldest position still whole."""

    def __init__(self, detail: str, *, resume_from: str) -> None:
        super().__init__(detail)
        self.resume_from = resume_from


class InvalidInput(DochooksError, status=422, title="Invalid attribute"): ...


class InvalidUrl(InvalidInput, title="Invalid webhook URL"): ...


class UnsafeUrl(InvalidUrl, title="Unsafe webhook URL"): ...


class Conflict(DochooksError, status=409, title="Conflict"): ...


class TooLarge(DochooksError, status=413, title="Payload too large"): ...


class ComeBackLater(DochooksError):
    """Refused for now rather than queued: the caller tries again after `retry_after` seconds."""

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class TooManyRequests(ComeBackLater, status=429, title="Too many requests"): ...


class Busy(ComeBackLater, status=503, title="Service unavailable"): ...


class ConfigError(DochooksError, title="Configuration error"): ...


class StorageError(DochooksError, title="Storage error"): ...


class MigrationError(StorageError, title="Migration error"): ...


class DatabaseClosed(StorageError, title="Database closed"):
    """A database used after `close()`: it refuses rather than quietly opening connections again."""
