"""The one way an event enters dochooks: `publish` writes the event and one delivery
per subscribed, enabled webhook inside the caller's transaction (transactional outbox)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from dochooks.clock import iso
from dochooks.db import Connection
from dochooks.db.outbox import InsertedEvent
from dochooks.delivery import log, operational
from dochooks.errors import InvalidInput
from dochooks.signals import deliveries_queued
from dochooks.topics import is_operational, is_topic
from dochooks.webhooks.store import require_webhook


@dataclass(frozen=True)
class Published:
    event_id: int
    deliveries: int


def publish(
    conn: Connection,
    *,
    tenant_id: int,
    topic: str,
    payload: dict[str, Any],
    now_ms: int,
    document_id: int | None = None,
    webhook_id: int | None = None,
) -> Published:
    """Record an event and queue one delivery per webhook subscribed to its topic.

    `payload` is the body without `request_id` and `topic`, which each delivery adds.
    With `webhook_id` the event goes to that webhook alone (test sends)."""
    (published,) = publish_all(
        conn,
        tenant_id=tenant_id,
        topics=(topic,),
        payload=payload,
        now_ms=now_ms,
        document_id=document_id,
        webhook_id=webhook_id,
    )
    return published


def publish_all(
    conn: Connection,
    *,
    tenant_id: int,
    topics: Sequence[str],
    payload: dict[str, Any],
    now_ms: int,
    document_id: int | None = None,
    webhook_id: int | None = None,
) -> list[Published]:
    """`publish` for several topics with one payload (a transition's), in their order; the
    engine writes them in one statement where it can."""
    if not topics:
        return []
    inserted = _insert(conn, tenant_id, topics, payload, now_ms, document_id, webhook_id, unread=False)
    assert inserted is not None, "an insert read back answers"
    return [Published(event_id, deliveries) for event_id, _, deliveries in inserted]


def publish_unread(
    conn: Connection,
    *,
    tenant_id: int,
    topics: Sequence[str],
    payload: dict[str, Any],
    now_ms: int,
    document_id: int,
) -> None:
    """`publish_all` for a caller that reads nothing back (a document's transition): on
    PostgreSQL the insert rides with the transaction's next statement or its COMMIT instead
    of a round trip of its own, and, not knowing whether a webhook was subscribed, wakes the
    dispatcher anyway (a claim that may find nothing, once per transaction)."""
    if topics:
        _insert(conn, tenant_id, topics, payload, now_ms, document_id, None, unread=True)


def _insert(
    conn: Connection,
    tenant_id: int,
    topics: Sequence[str],
    payload: dict[str, Any],
    now_ms: int,
    document_id: int | None,
    webhook_id: int | None,
    *,
    unread: bool,
) -> list[InsertedEvent] | None:
    """The engine's outbox insert, and the dispatcher woken at commit if a delivery may be
    queued (always, when the answer is not read)."""
    inserted = conn.dialect.insert_events(
        conn,
        tenant_id=tenant_id,
        topics=topics,
        payload=orjson.dumps(payload).decode(),
        now_ms=now_ms,
        document_id=document_id,
        webhook_id=webhook_id,
        unread=unread,
    )
    if inserted is None or any(deliveries for _, _, deliveries in inserted):
        deliveries_queued.announce(conn)
    return inserted


_EXAMPLE_STATUS = {
    "document-received": "pending",
    "processing-finished": "done",
    "processing-failed": "failed",
}


def example_payload(tenant_id: int, topic: str, now_ms: int) -> dict[str, Any]:
    """A payload in the reference's shape for test sends: document 0 with sample fields."""
    return {
        "id": "0",
        "type": "documents",
        "attributes": {
            "status": _EXAMPLE_STATUS.get(topic, "in_progress"),
            "tenant_id": tenant_id,
            "sla_deadline": None,
            "custom_fields": {"example": "A test delivery sent from dochooks."},
            "external_id": "EX123456789",
            "created_at": iso(now_ms),
            "updated_at": iso(now_ms),
            "document_id": 0,
        },
    }


def send_test(conn: Connection, *, tenant_id: int, webhook_id: int, topic: str, now_ms: int) -> log.Delivery:
    """Queue a delivery of an example payload of `topic` to one webhook of the tenant alone,
    through the same queue, signing and retries as every other delivery."""
    if not is_topic(topic):
        raise InvalidInput(f"unknown topic {topic!r}; see GET /v1/topics", attribute="topic")
    require_webhook(conn, tenant_id, webhook_id)
    published = publish(
        conn,
        tenant_id=tenant_id,
        topic=topic,
        payload=(operational.example if is_operational(topic) else example_payload)(tenant_id, topic, now_ms),
        now_ms=now_ms,
        webhook_id=webhook_id,
    )
    (queued,) = log.deliveries_of_event(conn, tenant_id=tenant_id, event_id=published.event_id)
    return queued
