"""Catching up from dochooks' event feed (`GET /v1/events`) with the standard library: what
a receiver missed while it was down, in commit order, from the cursor it stored.

    feed = Feed("https://dochooks.example.com", token)
    for item, cursor in feed.events(since=stored_cursor):
        handle(item.event)          # drop it if item.id (or one of item.request_ids) was handled
        store(cursor)               # with the work, in the same transaction
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dochooks_receiver.errors import FeedError, FeedGone, InvalidPayload
from dochooks_receiver.events import Event, _Fields, parse_event

PAGE_SIZE = 100  # the service's default
MAX_PAGE_SIZE = 1000  # the most the service serves a page
TIMEOUT = 30.0  # seconds for one page


@dataclass(frozen=True)
class FeedEvent:
    """One event of the feed. `event` is its payload typed as a delivery's, with
    `request_id` set to the event's own id (a pulled event has no delivery of its own);
    `request_ids` are the webhook-ids of the deliveries it was sent as."""

    id: str
    topic: str
    created_at: datetime
    test: bool
    document_id: str | None
    request_ids: tuple[str, ...]
    event: Event
    payload: dict[str, Any] = field(repr=False, compare=False)

    @property
    def handled_ids(self) -> tuple[str, ...]:
        """Every id under which this event may have reached you: its own and its deliveries'."""
        return (self.id, *self.request_ids)


def parse_feed_event(resource: Any) -> FeedEvent:
    """One JSON:API resource of the feed as a `FeedEvent`; `InvalidPayload` names what is wrong."""
    doc = _Fields(resource, "event")
    a = _Fields(doc.get("attributes", dict), "event.attributes")
    event_id = doc.get("id", str)
    payload = a.get("payload", dict)
    request_ids = a.get("request_ids", list)
    if not all(isinstance(r, str) for r in request_ids):
        raise InvalidPayload("event.attributes.request_ids holds a value that is not a string")
    return FeedEvent(
        id=event_id,
        topic=a.get("topic", str),
        created_at=a.time("created_at"),
        test=bool(a.value.get("test", False)),
        document_id=a.get("document_id", str, null=True),
        request_ids=tuple(request_ids),
        event=parse_event(json.dumps({**payload, "request_id": event_id})),
        payload=payload,
    )


@dataclass(frozen=True)
class Page:
    events: list[FeedEvent]
    cursor: str  # after the page's last event; the one asked with when the page is empty


class Feed:
    """A tenant's event feed, read with its API token. `events()` yields what happened since a
    cursor and ends once it has caught up; call it again later for more."""

    def __init__(self, api_url: str, token: str, *, page_size: int = PAGE_SIZE, timeout: float = TIMEOUT) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1 to {MAX_PAGE_SIZE}, not {page_size}")
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.page_size = page_size
        self.timeout = timeout

    def page(self, after: str | None = None, **filters: str) -> Page:
        """One page after `after` (from the oldest event kept when None); `filters` are the
        feed's `filter[...]` parameters, e.g. `topic="document-received,processing-finished"`."""
        query = {"page[size]": str(self.page_size)} | {f"filter[{k}]": v for k, v in filters.items()}
        if after is not None:
            query["after"] = after
        doc = self._get("/v1/events?" + urllib.parse.urlencode(query))
        page = _Fields(doc, "answer")
        meta = _Fields(page.get("meta", dict), "answer.meta")
        return Page([parse_feed_event(r) for r in page.get("data", list)], meta.get("cursor", str))

    def events(self, since: str | None = None, **filters: str) -> Iterator[tuple[FeedEvent, str | None]]:
        """Each event after `since`, oldest first, with the cursor to store once it is handled:
        resuming from it never skips an event, and repeats at most the rest of its page (which
        your handled ids drop; None: from the start). Raises `FeedGone` when `since` is older
        than the feed keeps, `FeedError` for any other refusal."""
        cursor = since
        while True:
            page = self.page(cursor, **filters)
            for n, item in enumerate(page.events):
                last = n == len(page.events) - 1
                yield item, page.cursor if last else cursor
            if len(page.events) < self.page_size:  # a short page: caught up for now
                return
            cursor = page.cursor

    def _get(self, path: str) -> Any:
        request = urllib.request.Request(self.api_url + path, headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise _refusal(exc.code, exc.read()) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise FeedError(None, f"cannot reach {self.api_url}: {getattr(exc, 'reason', exc)}") from exc
        except ValueError as exc:
            raise FeedError(None, f"{self.api_url} answered something that is not JSON") from exc


def _refusal(status: int, body: bytes) -> FeedError:
    """The error an answer of the service's means: its JSON:API error's words, and on 410
    the cursor it says to resume from."""
    try:
        doc = json.loads(body)
        error = doc["errors"][0]
        detail = f"{error.get('title', status)}: {error.get('detail', '')}"
        # on the error object, or on the document: either is JSON:API
        resume_from = (error.get("meta") or doc.get("meta") or {}).get("resume_from")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        detail, resume_from = f"HTTP {status}", None
    if status == 410 and isinstance(resume_from, str):
        return FeedGone(detail, resume_from)
    return FeedError(status, detail)
