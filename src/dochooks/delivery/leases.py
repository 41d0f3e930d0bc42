"""The deliveries table as the queue: claim due work under a lease, record outcomes in
batches, release what was not sent. Every write here holds to the lease it was claimed under.

A claim moves `next_attempt_at` to the end of the lease: if the worker dies, the delivery
falls due again by itself (at least once). Only the lease holder may settle a delivery, and
only under the claim it was sent under: the worker and the lease end must both still match."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from dochooks.db import Connection, Row, in_clause
from dochooks.webhooks import store as webhook_rows


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # due at next_attempt_at (claimed while a worker holds its lease)
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # for good: its retries are used up, or it could not be sent


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    webhook_id: int
    tenant_id: int
    request_id: str
    topic: str
    attempt_number: int  # of the attempt about to be made, 1 for the first
    payload: str  # the event's body without request_id and topic, as JSON
    lease_end: int  # when the claim's lease ends: it also tells this claim from a later one
    webhook_version: int  # the webhook's updated_at when claimed

    def body(self) -> bytes:
        return body(self.payload, self.request_id, self.topic)


def body(payload: str, request_id: str, topic: str) -> bytes:
    """What a delivery POSTs: the event's stored payload (a JSON object) with the delivery's
    request_id and topic added. Neither needs escaping (hex; a known topic value), so they
    are spliced in rather than the payload parsed and encoded again for every attempt."""
    return spliced(payload, f'"request_id":"{request_id}","topic":"{topic}"').encode()


def spliced(payload: str, members: str) -> str:
    """A stored payload (a JSON object) with `members` (JSON text: `"key":value,...`) added last."""
    comma = "," if payload != "{}" else ""
    return f"{payload[:-1]}{comma}{members}}}"


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    webhook_id: int
    number: int
    started_at: int
    duration_ms: int
    request_headers: str  # JSON, secrets masked
    response_status: int | None
    response_body: str | None
    error: str | None
    status: DeliveryStatus  # what the delivery is now: succeeded, pending (retry due) or failed
    next_attempt_at: int | None
    lease_end: int  # of the claim this attempt was made under; only that claim settles the delivery
    topic: str = ""  # the delivery's: an operational topic's attempts feed no webhook's health


def _due(skip: Sequence[int], skip_tenants: Sequence[int], window: int | None) -> tuple[str, dict[str, Any]]:
    """The query for due deliveries, leaving out the webhooks in `skip` and the tenants in
    `skip_tenants`, and its parameters. With a `window`, only the `window` oldest and the
    `window` newest due deliveries are looked at: a skipped webhook's deep backlog then costs
    the query that many index entries, not all of them, and what has just been queued or has
    just come due for a retry is still seen behind it."""
    where, params = "", {}
    for column, ids in (("webhook_id", skip), ("tenant_id", skip_tenants)):
        if ids:
            clause, more = in_clause(column, list(ids))
            where += f"AND {column} NOT IN {clause} "
            params.update(more)
    if window is None or not where:
        return _DUE.format(skip=where), params
    return _DUE_IN_WINDOW.format(skip=where), {**params, "window": window}


_DUE = (
    "SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= :now {skip}"
    "ORDER BY next_attempt_at LIMIT :limit"
)
_DUE_ORDERED = "SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= :now ORDER BY next_attempt_at"
# The window is a plain subquery: a claim's row locks (its dialect's SKIP LOCKED, added
# around the query) then fall on the rows claimed, not on the whole window.
_DUE_IN_WINDOW = (
    f"SELECT id FROM deliveries WHERE id IN (SELECT id FROM ({_DUE_ORDERED} LIMIT :window) AS oldest "
    f"UNION ALL SELECT id FROM ({_DUE_ORDERED} DESC LIMIT :window) AS newest) "
    "AND status = 'pending' AND next_attempt_at <= :now {skip}ORDER BY next_attempt_at LIMIT :limit"
)


def claim(
    conn: Connection,
    *,
    worker: str,
    now_ms: int,
    lease_ms: int,
    limit: int,
    skip: Sequence[int] = (),
    skip_tenants: Sequence[int] = (),
    window: int | None = None,
    known: Mapping[int, int] | None = None,
) -> tuple[list[Claimed], list[Row]]:
    """Lease up to `limit` due deliveries, none of the webhooks in `skip` nor the tenants in
    `skip_tenants` (those at their cap); returns them, by id, with the rows of their webhooks,
    except those the caller `known`s at their current version (webhook id -> updated_at)."""
    due, skip_params = _due(skip, skip_tenants, window)
    lease_end = now_ms + lease_ms
    params = {"lease_end": lease_end, "worker": worker, "now": now_ms, "limit": limit, **skip_params}
    rows = conn.dialect.claim_deliveries(conn, due, params)  # db/claims.py: each engine's statements
    claimed = [
        Claimed(delivery, webhook, tenant, request_id, topic, attempts + 1, payload, lease_end, version)
        for delivery, webhook, tenant, request_id, topic, attempts, payload, version in rows
    ]
    known = known or {}
    stale = sorted({c.webhook_id for c in claimed if known.get(c.webhook_id) != c.webhook_version})
    if not stale:
        return claimed, []
    return claimed, webhook_rows.rows_of(conn, stale)


def record(conn: Connection, *, worker: str, outcomes: Sequence[Outcome], now_ms: int) -> None:
    """Write attempts and settle their deliveries, in one batch. An attempt of a delivery
    deleted meanwhile is dropped; a delivery whose lease passed to another worker keeps
    that worker's claim.

    The batch travels as one JSON parameter per statement: one statement execution for
    the whole batch, rather than one per row."""
    if not outcomes:
        return
    rows, item = conn.dialect.elements("batch")
    # Queued: nothing here waits for an answer, so the batch costs no round trip before its commit.
    conn.queue(
        "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, request_headers, "
        "response_status, response_body, error) "
        f"SELECT {item(0, 'BIGINT')}, {item(1, 'INTEGER')}, {item(2, 'BIGINT')}, {item(3, 'INTEGER')}, "
        f"{item(4, 'TEXT')}, {item(5, 'INTEGER')}, {item(6, 'TEXT')}, {item(7, 'TEXT')} FROM {rows} "
        f"WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = {item(0, 'BIGINT')})",
        {
            "batch": orjson.dumps(
                [
                    (
                        o.delivery_id,
                        o.number,
                        o.started_at,
                        o.duration_ms,
                        o.request_headers,
                        o.response_status,
                        o.response_body,
                        o.error,
                    )
                    for o in outcomes
                ]
            ).decode()
        },
    )
    # One update per delivery; should a batch hold two attempts of one delivery, the later one settles it.
    latest = {o.delivery_id: o for o in outcomes}.values()
    conn.queue(
        f"UPDATE deliveries SET status = {item(1, 'TEXT')}, attempt_count = {item(2, 'INTEGER')}, "
        f"next_attempt_at = {item(3, 'BIGINT')}, locked_by = NULL, updated_at = :now FROM {rows} "
        f"WHERE deliveries.id = {item(0, 'BIGINT')} AND deliveries.locked_by = :worker "
        f"AND deliveries.next_attempt_at = {item(4, 'BIGINT')}",
        {
            "batch": orjson.dumps(
                [(o.delivery_id, o.status, o.number, o.next_attempt_at, o.lease_end) for o in latest]
            ).decode(),
            "now": now_ms,
            "worker": worker,
        },
    )


def release(conn: Connection, *, worker: str, leases: Sequence[tuple[int, int]], now_ms: int) -> None:
    """Give claimed deliveries that were never sent, as (delivery id, lease end) pairs, back
    to the queue, due at `now_ms`; a delivery claimed again since then is left to that claim."""
    if not leases:
        return
    rows, item = conn.dialect.elements("leases")
    conn.queue(
        f"UPDATE deliveries SET next_attempt_at = :now, locked_by = NULL FROM {rows} "
        f"WHERE deliveries.id = {item(0, 'BIGINT')} AND deliveries.locked_by = :worker "
        f"AND deliveries.next_attempt_at = {item(1, 'BIGINT')}",
        {"leases": orjson.dumps(list(leases)).decode(), "now": now_ms, "worker": worker},
    )


def make_due(conn: Connection, delivery_ids: Sequence[int], now_ms: int) -> int:
    """Make these deliveries due at `now_ms`, whatever their status, their request ids kept
    (a delivery whose retries are used up gets one more attempt); one with an attempt in
    flight (leased, its lease not yet over) is left to it. Returns how many were made due:
    the one write behind a retry by hand and a bulk recovery's every batch."""
    if not delivery_ids:
        return 0
    listed, params = in_clause("d", list(delivery_ids))
    return conn.run(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = :now, locked_by = NULL, updated_at = :now "
        f"WHERE id IN {listed} AND (locked_by IS NULL OR next_attempt_at <= :now)",
        {**params, "now": now_ms},
    )


def next_due(conn: Connection) -> int | None:
    """When the earliest pending delivery falls due (a leased one: when its lease ends)."""
    row = conn.one("SELECT MIN(next_attempt_at) AS due FROM deliveries WHERE status = 'pending'")
    return None if row is None or row["due"] is None else int(row["due"])


def release_leases(conn: Connection, now_ms: int) -> int:
    """Make every leased delivery due now. Only at start-up where one process owns the
    database (`owned_by_one_process`): a lease still held belongs to a process that died."""
    return conn.run(
        "UPDATE deliveries SET next_attempt_at = :now, locked_by = NULL "
        "WHERE status = 'pending' AND locked_by IS NOT NULL",
        {"now": now_ms},
    )
