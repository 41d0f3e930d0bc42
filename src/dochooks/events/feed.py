"""Reading the feed: a tenant's events in commit order, a page at a time from a position.

The order is (xact, id): the writing transaction's id, then the event's. On PostgreSQL a
page holds only events whose transaction is older than every one still open
(`dialect.settled_xacts`), so an event that commits late always lands after every cursor
already given out, never behind one; on SQLite `xact` is 0 and ids follow commits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dochooks.db import Connection
from dochooks.db.engine import in_clause, rows_by
from dochooks.delivery.leases import spliced
from dochooks.errors import CursorExpired, NotFound
from dochooks.events import cursor, horizon
from dochooks.events.cursor import Position

DEFAULT_PAGE, MAX_PAGE = 100, 1000


@dataclass(frozen=True)
class Event:
    id: int
    position: Position
    topic: str
    created_at: int
    test: bool
    document_id: int | None
    payload: str  # JSON: the body its webhooks received, but for their request_id
    request_ids: list[str]


@dataclass(frozen=True)
class FeedFilter:
    topics: tuple[str, ...] = ()
    document_id: int | None = None
    created_after: int | None = None  # ms


@dataclass(frozen=True)
class Page:
    events: list[Event]
    next: Position  # after the page's last event, or where it began if it is empty


def start(conn: Connection, tenant_id: int, after: str | None) -> Position:
    """Where a read begins: after the cursor `after` (410 if retention deleted events past
    it: the reader would miss them), or, without one, after everything retention deleted."""
    kept_from = horizon.of(conn, tenant_id)
    if after is None:
        return kept_from
    position = cursor.decode(tenant_id, after)
    if position < kept_from:  # at the horizon itself the reader has seen every deleted event
        raise CursorExpired(
            "events after this cursor were deleted by retention; go on from meta.resume_from and "
            "re-sync what happened before through the document API",
            resume_from=cursor.encode(tenant_id, kept_from),
        )
    return position


def page(conn: Connection, tenant_id: int, after: Position, flt: FeedFilter, size: int) -> Page:
    """Up to `size` of the tenant's settled events past `after` that match `flt`, in feed order."""
    d = conn.dialect
    where = ["e.tenant_id = :t"]
    params: dict[str, Any] = {"t": tenant_id, "x": after.xact, "i": after.id, "n": size}
    if flt.document_id is not None:
        where.append("e.document_id = :d")
        params["d"] = flt.document_id
    if flt.created_after is not None:
        where.append("e.created_at > :c")
        params["c"] = flt.created_after
    if flt.topics:
        listed, topics = in_clause("topic", flt.topics)
        where.append(f"e.topic IN {listed}")
        params.update(topics)
    matching = " AND ".join(where) + d.settled_xacts.format(column="e.xact")
    columns = _COLUMNS.format(xact=d.xact_number.format(column="e.xact"))
    xact = d.xact_param.format(param="x")
    # Past (xact, id) as two index ranges, the rest of its transaction and the transactions
    # after it: a row comparison or an OR would be a filter over every earlier entry on SQLite.
    rows = conn.all(
        f"SELECT * FROM (SELECT {columns} FROM events e WHERE {matching} AND e.xact = {xact} AND e.id > :i "
        "ORDER BY e.id LIMIT :n) AS rest "
        f"UNION ALL SELECT * FROM (SELECT {columns} FROM events e WHERE {matching} AND e.xact > {xact} "
        "ORDER BY e.xact, e.id LIMIT :n) AS later ORDER BY xact, id LIMIT :n",
        params,
    )
    events = _events(conn, rows)
    return Page(events, events[-1].position if events else after)


def one(conn: Connection, tenant_id: int, event_id: int) -> Event:
    """One of the tenant's events, settled or not; 404 for another tenant's or none."""
    d = conn.dialect
    rows = conn.all(
        f"SELECT {_COLUMNS.format(xact=d.xact_number.format(column='e.xact'))} FROM events e "
        "WHERE e.id = :id AND e.tenant_id = :t",
        {"id": event_id, "t": tenant_id},
    )
    if not rows:
        raise NotFound(f"no event {event_id}")
    (event,) = _events(conn, rows)
    return event


_COLUMNS = "e.id, {xact} AS xact, e.topic, e.created_at, e.test, e.document_id, e.payload"


def _events(conn: Connection, rows: list[Any]) -> list[Event]:
    ids = [r["id"] for r in rows]
    requests = rows_by(
        conn, "SELECT event_id, request_id FROM deliveries WHERE event_id IN {values} ORDER BY id", "event_id", ids
    )
    return [
        Event(
            id=r["id"],
            position=Position(int(r["xact"]), r["id"]),
            topic=r["topic"],
            created_at=r["created_at"],
            test=bool(r["test"]),
            document_id=r["document_id"],
            # As a delivery's body is made (leases.body), without its request_id; not parsed.
            payload=spliced(r["payload"], f'"topic":"{r["topic"]}"'),
            request_ids=[q["request_id"] for q in requests[r["id"]]],
        )
        for r in rows
    ]
