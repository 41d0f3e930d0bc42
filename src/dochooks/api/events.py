"""Routes of the event feed: the tenant's events in commit order from a cursor, one event,
and one document's events (`events/feed.py` reads them)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Query, Request

from dochooks.api.deps import Tenant
from dochooks.api.jsonapi import JsonApiResponse, document, resource
from dochooks.clock import iso, parse_iso
from dochooks.documents import store
from dochooks.errors import InvalidParameter
from dochooks.events import cursor, feed
from dochooks.topics import is_topic
from dochooks.web.deps import Id, Rt

router = APIRouter(tags=["events"])

_FEED = (
    "Every event published for the tenant, oldest first in commit order: each topic its documents "
    "emitted, test sends (`test: true`) and the operational topics, whether or not a webhook was "
    "subscribed (`request_ids` lists the deliveries made of it, if any). Store `meta.cursor` and ask "
    "`links.next` later: an event committed after a page was read comes on a later page, never "
    "before it. Events are kept as long as the delivery log; a cursor older than that answers 410 "
    "Gone with `meta.resume_from`: go on from there and re-sync what came before through the "
    "document API."
)

After = Annotated[
    str | None,
    Query(description="A cursor: `meta.cursor` of an earlier answer. Without it, from the oldest event kept."),
]
Size = Annotated[int, Query(alias="page[size]", ge=1, le=feed.MAX_PAGE)]


def event_resource(event: feed.Event) -> dict[str, Any]:
    return resource(
        "events",
        event.id,
        {
            "topic": event.topic,
            "created_at": iso(event.created_at),
            "test": event.test,
            "document_id": None if event.document_id is None else str(event.document_id),
            "payload": orjson.Fragment(event.payload),  # JSON already: not parsed and encoded again
            "request_ids": event.request_ids,
        },
        f"/v1/events/{event.id}",
    )


def _answer(
    request: Request, rt: Rt, tenant: int, after: str | None, size: int, flt: feed.FeedFilter, of_document: int = 0
) -> JsonApiResponse:
    with rt.db.read() as conn:
        if of_document:
            store.get_document(conn, tenant, of_document)  # 404 unless the tenant's
        page = feed.read(conn, tenant, after, flt, size)
    next_cursor = cursor.encode(tenant, page.next, page.horizon)
    params = {**request.query_params, "after": next_cursor, "page[size]": str(size)}
    return document(
        [event_resource(e) for e in page.events],
        links={"next": f"{request.url.path}?{urlencode(params)}"},
        meta={"cursor": next_cursor},
    )


def _topics(value: str | None) -> tuple[str, ...]:
    topics = tuple(dict.fromkeys(t for t in (value or "").split(",") if t))  # at most every topic once
    unknown = [t for t in topics if not is_topic(t)]
    if unknown:
        raise InvalidParameter(f"unknown topic {unknown[0]!r}; see GET /v1/topics", parameter="filter[topic]")
    return topics


def _time(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError as exc:
        detail = "filter[created_after] must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z"
        raise InvalidParameter(detail, parameter="filter[created_after]") from exc


@router.get("/v1/events", summary="The event feed: every event, in commit order from a cursor", description=_FEED)
def list_all(
    request: Request,
    rt: Rt,
    tenant: Tenant,
    after: After = None,
    size: Size = feed.DEFAULT_PAGE,
    topic: Annotated[str | None, Query(alias="filter[topic]", description="Topics, comma-separated.")] = None,
    document_id: Annotated[int | None, Query(alias="filter[document_id]", ge=1, le=2**63 - 1)] = None,
    created_after: Annotated[
        str | None, Query(alias="filter[created_after]", description="ISO 8601 time: events created after it.")
    ] = None,
) -> JsonApiResponse:
    flt = feed.FeedFilter(topics=_topics(topic), document_id=document_id, created_after=_time(created_after))
    return _answer(request, rt, tenant, after, size, flt)


@router.get("/v1/events/{event_id}", summary="Show an event")
def show(event_id: Id, rt: Rt, tenant: Tenant) -> JsonApiResponse:
    with rt.db.read() as conn:
        return document(event_resource(feed.one(conn, tenant, event_id)))


@router.get("/v1/documents/{document_id}/events", summary="A document's events, in commit order from a cursor")
def of_document(
    request: Request, document_id: Id, rt: Rt, tenant: Tenant, after: After = None, size: Size = feed.DEFAULT_PAGE
) -> JsonApiResponse:
    """The feed (`GET /v1/events`) of one document: the same events, cursor and answer."""
    return _answer(request, rt, tenant, after, size, feed.FeedFilter(document_id=document_id), document_id)
