"""How far retention has deleted each tenant's events, as a feed position: a cursor before
it may have lost events (410), one at or after it has not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dochooks.db import Connection
from dochooks.events.cursor import START, Position


def of(conn: Connection, tenant_id: int) -> Position:
    """The last position retention deleted up to (START if it deleted none)."""
    column = conn.dialect.xact_number.format(column="xact")
    row = conn.one(f"SELECT {column} AS xact, id FROM event_feed_horizons WHERE tenant_id = :t", {"t": tenant_id})
    return Position(int(row["xact"]), row["id"]) if row else START


def deleted_columns(conn: Connection) -> str:
    """What a DELETE of events RETURNs for `advance`."""
    return f"tenant_id, {conn.dialect.xact_number.format(column='xact')} AS xact, id"


def advance(conn: Connection, deleted: Sequence[Any]) -> None:
    """Move each tenant's horizon to the last of its `deleted` events (rows of
    `deleted_columns`), never back; in the transaction that deleted them."""
    last: dict[int, Position] = {}
    for row in deleted:
        position = Position(int(row["xact"]), row["id"])
        last[row["tenant_id"]] = max(last.get(row["tenant_id"], START), position)
    xact = conn.dialect.xact_param.format(param="x")
    conn.many(
        f"INSERT INTO event_feed_horizons (tenant_id, xact, id) VALUES (:t, {xact}, :i) "
        "ON CONFLICT (tenant_id) DO UPDATE SET xact = excluded.xact, id = excluded.id "
        "WHERE (excluded.xact, excluded.id) > (event_feed_horizons.xact, event_feed_horizons.id)",
        [{"t": tenant, "x": p.xact, "i": p.id} for tenant, p in last.items()],
    )
