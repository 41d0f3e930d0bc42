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
from dochooks.events.cursor import START, Position

DEFAULT_PAGE, MAX_PAGE = 100, 1000
# A page filtered by topic or time looks at this many events past its cursor at most: those
# filters are checked row by row along the feed's index, so a rare match would otherwise walk
# the tenant's whole feed on every poll. A page that stops there is short, and its cursor
# moves to the last event looked at (none up to it matched).
MAX_LOOKED_AT = 10 * MAX_PAGE


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
    horizon: Position  # retention's, as the page's reader has accounted for it (its cursor keeps it)


def read(conn: Connection, tenant_id: int, after: str | None, flt: FeedFilter, size: int) -> Page:
    """The page after the cursor `after`, or, without one, the first page of every event still
    kept; 410 if retention has deleted events its reader may not have read.

    Retention deletes an event only once its deliveries are gone, so events older than its
    horizon (the last position it deleted) may still be kept, and a reader without a cursor
    gets them too. A cursor keeps the horizon it was given out at: it is whole while the
    horizon has not passed both it and that one. The horizon is read after the page: a
    pruning pass that deleted events the page would have held moved it in the same commit,
    so a page that missed them is never answered."""
    while True:
        position, seen = cursor.decode(tenant_id, after) if after else (START, horizon.of(conn, tenant_id))
        events, after_them = page(conn, tenant_id, position, flt, size)
        kept_from = horizon.of(conn, tenant_id)
        if kept_from <= max(position, seen):
            return Page(events, after_them, kept_from)
        if after is None:
            continue  # pruned while this first page was read: read it again
        raise CursorExpired(
            "events after this cursor were deleted by retention; go on from meta.resume_from and "
            "re-sync what happened before through the document API",
            resume_from=cursor.encode(tenant_id, kept_from, kept_from),
        )


def page(conn: Connection, tenant_id: int, after: Position, flt: FeedFilter, size: int) -> tuple[list[Event], Position]:
    """Up to `size` of the tenant's settled events past `after` that match `flt`, in feed
    order (with a filter checked row by row, among the next `MAX_LOOKED_AT` events only),
    and the position after them."""
    d = conn.dialect
    where = ["e.tenant_id = :t"]
    params: dict[str, Any] = {"t": tenant_id, "x": after.xact, "i": after.id, "n": size}
    bound = _last_looked_at(conn, tenant_id, after) if flt.topics or flt.created_after is not None else None
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
    rest, later = "", ""
    if bound is not None:  # as index ranges too, so that the walk stops there
        bx = d.xact_param.format(param="bx")
        rest = " AND e.id <= :bi" if bound.xact == after.xact else ""
        later = f" AND e.xact <= {bx} AND (e.xact < {bx} OR e.id <= :bi)"
        params.update(bx=bound.xact, bi=bound.id)
    rows = conn.all(_past(columns, matching, xact, rest=rest, later=later), params)
    events = _events(conn, rows)
    if len(events) < size and bound is not None:  # looked as far as allowed: go on from there
        return events, bound
    return events, events[-1].position if events else after


def _past(columns: str, matching: str, xact: str, *, rest: str = "", later: str = "") -> str:
    """The first `:n` rows past (`xact`, `:i`) that match, in feed order: as two index ranges,
    the rest of its transaction (and `rest`) and the transactions after it (and `later`); a
    row comparison or an OR would be a filter over every earlier entry on SQLite."""
    return (
        f"SELECT * FROM (SELECT {columns} FROM events e WHERE {matching} AND e.xact = {xact} AND e.id > :i{rest} "
        "ORDER BY e.id LIMIT :n) AS rest "
        f"UNION ALL SELECT * FROM (SELECT {columns} FROM events e WHERE {matching} AND e.xact > {xact}{later} "
        "ORDER BY e.xact, e.id LIMIT :n) AS later ORDER BY xact, id LIMIT :n"
    )


def _last_looked_at(conn: Connection, tenant_id: int, after: Position) -> Position | None:
    """The position of the `MAX_LOOKED_AT`th settled event past `after`, walked along the
    feed's index alone; None if fewer are left."""
    d = conn.dialect
    matching = "e.tenant_id = :t" + d.settled_xacts.format(column="e.xact")
    columns = f"{d.xact_number.format(column='e.xact')} AS xact, e.id"
    walk = _past(columns, matching, d.xact_param.format(param="x"))
    row = conn.one(
        f"SELECT xact, id, COUNT(*) OVER () AS walked FROM ({walk}) AS walk ORDER BY xact DESC, id DESC LIMIT 1",
        {"t": tenant_id, "x": after.xact, "i": after.id, "n": MAX_LOOKED_AT},
    )
    if row is None or row["walked"] < MAX_LOOKED_AT:
        return None
    return Position(int(row["xact"]), row["id"])


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
