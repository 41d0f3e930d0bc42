"""The deliveries table as a queue: claim due work under a lease, record outcomes in batches.

A claim moves `next_attempt_at` to the end of the lease: if the worker dies, the delivery
falls due again by itself (at least once). Only the lease holder may settle a delivery."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dochooks.db import Connection, Row, in_clause

SUCCEEDED, PENDING, FAILED = "succeeded", "pending", "failed"


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    webhook_id: int
    request_id: str
    topic: str
    attempt_number: int  # of the attempt about to be made, 1 for the first
    payload: str  # the event's body without request_id and topic, as JSON


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    number: int
    started_at: int
    duration_ms: int
    request_headers: str  # JSON, secrets masked
    response_status: int | None
    response_body: str | None
    error: str | None
    status: str  # what the delivery is now: succeeded, pending (retry due) or failed
    next_attempt_at: int | None


_CLAIM = """
UPDATE deliveries SET next_attempt_at = :lease_end, locked_by = :worker
WHERE id IN (
    SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= :now
    ORDER BY next_attempt_at LIMIT :limit {lock}
)
RETURNING id, webhook_id, event_id, request_id, topic, attempt_count
"""


def claim(conn: Connection, *, worker: str, now_ms: int, lease_ms: int, limit: int) -> tuple[list[Claimed], list[Row]]:
    """Lease up to `limit` due deliveries; returns them with the rows of their webhooks."""
    lock = "FOR UPDATE SKIP LOCKED" if conn.dialect == "postgresql" else ""
    rows = conn.all(
        _CLAIM.format(lock=lock),
        {"lease_end": now_ms + lease_ms, "worker": worker, "now": now_ms, "limit": limit},
    )
    if not rows:
        return [], []
    events, params = in_clause("e", sorted({r["event_id"] for r in rows}))
    payloads = {e["id"]: e["payload"] for e in conn.all(f"SELECT id, payload FROM events WHERE id IN {events}", params)}
    hooks, params = in_clause("w", sorted({r["webhook_id"] for r in rows}))
    webhooks = conn.all(
        f"SELECT id, url, headers, secret, enabled, updated_at FROM webhooks WHERE id IN {hooks}", params
    )
    claimed = [
        Claimed(
            r["id"],
            r["webhook_id"],
            r["request_id"],
            r["topic"],
            r["attempt_count"] + 1,
            payloads[r["event_id"]],
        )
        for r in sorted(rows, key=lambda r: r["id"])
    ]
    return claimed, webhooks


def record(conn: Connection, *, worker: str, outcomes: Sequence[Outcome], now_ms: int) -> None:
    """Write attempts and settle their deliveries, in one batch. An attempt of a delivery
    deleted meanwhile is dropped; a delivery whose lease passed to another worker keeps
    that worker's claim."""
    conn.many(
        "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, request_headers, "
        "response_status, response_body, error) "
        "SELECT :delivery, :number, :started, :duration, :headers, :status, :body, :error "
        "WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = :delivery)",
        [
            {
                "delivery": o.delivery_id,
                "number": o.number,
                "started": o.started_at,
                "duration": o.duration_ms,
                "headers": o.request_headers,
                "status": o.response_status,
                "body": o.response_body,
                "error": o.error,
            }
            for o in outcomes
        ],
    )
    conn.many(
        "UPDATE deliveries SET status = :status, attempt_count = :number, next_attempt_at = :next, "
        "locked_by = NULL, updated_at = :now WHERE id = :delivery AND locked_by = :worker",
        [
            {
                "status": o.status,
                "number": o.number,
                "next": o.next_attempt_at,
                "now": now_ms,
                "delivery": o.delivery_id,
                "worker": worker,
            }
            for o in outcomes
        ],
    )


def next_due(conn: Connection) -> int | None:
    """When the earliest pending delivery falls due (a leased one: when its lease ends)."""
    row = conn.one("SELECT MIN(next_attempt_at) AS due FROM deliveries WHERE status = 'pending'")
    return None if row is None or row["due"] is None else int(row["due"])


def release_leases(conn: Connection, now_ms: int) -> int:
    """Make every leased delivery due now. Only for SQLite at start-up, where this process
    is the only dispatcher: a lease still held belongs to a process that died."""
    return conn.run(
        "UPDATE deliveries SET next_attempt_at = :now, locked_by = NULL "
        "WHERE status = 'pending' AND locked_by IS NOT NULL",
        {"now": now_ms},
    )
