"""The delivery log: what was sent where, every attempt with its answer, and redelivery by hand."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from dochooks.db import Connection, Row, rows_by
from dochooks.delivery.leases import DeliveryStatus, body, make_due
from dochooks.errors import Conflict, NotFound
from dochooks.signals import deliveries_queued


@dataclass(frozen=True)
class Attempt:
    number: int
    started_at: int
    duration_ms: int
    request_headers: dict[str, str]
    response_status: int | None
    response_body: str | None
    error: str | None


@dataclass(frozen=True)
class Delivery:
    id: int
    webhook_id: int
    topic: str
    status: DeliveryStatus
    request_id: str
    document_id: int | None
    payload: dict[str, Any]  # the body as sent
    created_at: int
    updated_at: int
    next_attempt_at: int | None
    attempts: tuple[Attempt, ...]


_SELECT = (
    "SELECT d.id, d.webhook_id, d.topic, d.status, d.request_id, d.created_at, d.updated_at, "
    "d.next_attempt_at, e.document_id, e.payload FROM deliveries d JOIN events e ON e.id = d.event_id "
)


def _attempts(conn: Connection, delivery_ids: list[int]) -> dict[int, list[Attempt]]:
    rows = rows_by(
        conn,
        "SELECT * FROM attempts WHERE delivery_id IN {values} ORDER BY delivery_id, number, id",
        "delivery_id",
        delivery_ids,
    )
    return {
        delivery: [
            Attempt(
                number=r["number"],
                started_at=r["started_at"],
                duration_ms=r["duration_ms"],
                request_headers=orjson.loads(r["request_headers"]),
                response_status=r["response_status"],
                response_body=r["response_body"],
                error=r["error"],
            )
            for r in found
        ]
        for delivery, found in rows.items()
    }


def _deliveries(conn: Connection, rows: list[Row]) -> list[Delivery]:
    attempts = _attempts(conn, [r["id"] for r in rows])
    return [
        Delivery(
            id=r["id"],
            webhook_id=r["webhook_id"],
            topic=r["topic"],
            status=DeliveryStatus(r["status"]),
            request_id=r["request_id"],
            document_id=r["document_id"],
            payload=orjson.loads(body(r["payload"], r["request_id"], r["topic"])),
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            next_attempt_at=r["next_attempt_at"],
            attempts=tuple(attempts[r["id"]]),
        )
        for r in rows
    ]


def list_deliveries(
    conn: Connection,
    *,
    tenant_id: int,
    webhook_id: int,
    limit: int,
    before_id: int | None = None,
    status: DeliveryStatus | None = None,
    topic: str | None = None,
    event_id: int | None = None,
) -> list[Delivery]:
    """A webhook's deliveries, newest first; `before_id` pages further back; `event_id`: those of one event."""
    where = ["d.tenant_id = :tenant", "d.webhook_id = :webhook"]
    params: dict[str, Any] = {"tenant": tenant_id, "webhook": webhook_id, "limit": limit}
    for clause, key, value in (
        ("d.id < :before", "before", before_id),
        ("d.status = :status", "status", status),
        ("d.topic = :topic", "topic", topic),
        ("d.event_id = :event", "event", event_id),
    ):
        if value is not None:
            where.append(clause)
            params[key] = value
    rows = conn.all(_SELECT + "WHERE " + " AND ".join(where) + " ORDER BY d.id DESC LIMIT :limit", params)
    return _deliveries(conn, rows)


def get_delivery(conn: Connection, *, tenant_id: int, delivery_id: int) -> Delivery:
    rows = conn.all(_SELECT + "WHERE d.id = :id AND d.tenant_id = :tenant", {"id": delivery_id, "tenant": tenant_id})
    if not rows:
        raise NotFound(f"no delivery {delivery_id}")
    return _deliveries(conn, rows)[0]


def deliveries_of_event(conn: Connection, *, tenant_id: int, event_id: int) -> list[Delivery]:
    rows = conn.all(
        _SELECT + "WHERE d.event_id = :event AND d.tenant_id = :tenant ORDER BY d.id",
        {"event": event_id, "tenant": tenant_id},
    )
    return _deliveries(conn, rows)


@dataclass(frozen=True)
class Sent:
    """A delivery as a document's timeline shows it: where it went and how it stands."""

    id: int
    webhook_id: int
    webhook_name: str
    status: DeliveryStatus


def sent_of_events(conn: Connection, event_ids: Sequence[int]) -> dict[int, list[Sent]]:
    """Each event's deliveries (through `deliveries_event`), oldest first; the events are
    one tenant's (a document's timeline), so their deliveries are too."""
    found = rows_by(
        conn,
        "SELECT d.id, d.event_id, d.webhook_id, w.name, d.status FROM deliveries d "
        "JOIN webhooks w ON w.id = d.webhook_id WHERE d.event_id IN {values} ORDER BY d.id",
        "event_id",
        event_ids,
    )
    return {
        event: [Sent(r["id"], r["webhook_id"], r["name"], DeliveryStatus(r["status"])) for r in rows]
        for event, rows in found.items()
    }


def retry_delivery(conn: Connection, *, tenant_id: int, delivery_id: int, now_ms: int) -> Delivery:
    """Make a delivery due now, whatever its status; its request_id stays. A delivery whose
    retries are used up gets one more attempt; a pending one is brought forward."""
    get_delivery(conn, tenant_id=tenant_id, delivery_id=delivery_id)
    if not make_due(conn, [delivery_id], now_ms):
        raise Conflict(f"delivery {delivery_id} has an attempt in flight; retry once it is recorded")
    deliveries_queued.announce(conn)
    return get_delivery(conn, tenant_id=tenant_id, delivery_id=delivery_id)


RECENT = 100  # deliveries the webhooks list sums up per webhook


@dataclass(frozen=True)
class Recent:
    """A webhook's recent deliveries, counted by status, and how its latest one went (its
    health state is `webhooks/health.py`'s)."""

    succeeded: int = 0
    failed: int = 0
    pending: int = 0
    last_status: str | None = None
    last_at: int | None = None


def recent_deliveries(conn: Connection, webhook_ids: Sequence[int], *, recent: int = RECENT) -> dict[int, Recent]:
    """Per webhook: its `recent` latest deliveries by status, and its latest delivery. Each is
    read through the (webhook_id, id) index, so a busy webhook's history costs no scan."""
    found: dict[int, Recent] = {}
    for webhook_id in webhook_ids:
        rows = conn.all(
            "SELECT status, updated_at FROM deliveries WHERE webhook_id = :webhook ORDER BY id DESC LIMIT :recent",
            {"webhook": webhook_id, "recent": recent},
        )
        if rows:
            by_status = Counter(r["status"] for r in rows)
            found[webhook_id] = Recent(
                succeeded=by_status[DeliveryStatus.SUCCEEDED],
                failed=by_status[DeliveryStatus.FAILED],
                pending=by_status[DeliveryStatus.PENDING],
                last_status=rows[0]["status"],
                last_at=rows[0]["updated_at"],
            )
    return found
