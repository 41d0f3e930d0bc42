"""The outbox insert in each engine's words, side by side: events for some topics and a
delivery per webhook each goes to, with a random request id made by the database, so
that the number of webhooks need not be known first. The rules (which webhooks an event
goes to) are `delivery/publish.py`'s; each dialect names its insert here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import orjson

if TYPE_CHECKING:
    from dochooks.db.engine import Connection

# An inserted event: (event id, its topic, the deliveries queued for it), by event id.
InsertedEvent = tuple[int, str, int]


class InsertEvents(Protocol):
    """An engine's outbox insert: events of `topics` with one payload, and their deliveries.
    With `unread`, the caller will not read the answer: an engine that can send the insert
    without waiting for it (PostgreSQL's pipeline) does so and returns None."""

    def __call__(
        self,
        conn: Connection,
        *,
        tenant_id: int,
        topics: Sequence[str],
        payload: str,
        now_ms: int,
        document_id: int | None,
        webhook_id: int | None,
        unread: bool = False,
    ) -> list[InsertedEvent] | None: ...


_EVENT_COLUMNS = "INSERT INTO events (tenant_id, topic, document_id, payload, created_at, test) "
_DELIVERY_COLUMNS = (
    "INSERT INTO deliveries (tenant_id, webhook_id, event_id, topic, request_id, status, attempt_count, "
    "next_attempt_at, created_at, updated_at) "
)
# The webhooks an event `e` goes to: every enabled webhook of the tenant subscribed to its
# topic, or one named webhook (test sends).
_SUBSCRIBED = (
    "FROM {events} JOIN webhook_topics t ON t.topic = e.topic "
    "JOIN webhooks w ON w.id = t.webhook_id AND w.tenant_id = :tenant AND w.enabled"
)
_NAMED = "FROM {events} JOIN webhooks w ON w.id = :webhook AND w.tenant_id = :tenant"


def _recipients(events: str, webhook_id: int | None) -> str:
    return (_SUBSCRIBED if webhook_id is None else _NAMED).format(events=events)


def _params(
    tenant_id: int, topics: Sequence[str], payload: str, now_ms: int, document_id: int | None, webhook_id: int | None
) -> dict[str, Any]:
    return {
        "tenant": tenant_id,
        "topics": orjson.dumps(list(topics)).decode(),
        "payload": payload,
        "now": now_ms,
        "document": document_id,
        "webhook": webhook_id,
        "test": webhook_id is not None,  # only a test send names its webhook
    }


def insert_in_one_statement(
    conn: Connection,
    *,
    tenant_id: int,
    topics: Sequence[str],
    payload: str,
    now_ms: int,
    document_id: int | None,
    webhook_id: int | None,
    unread: bool = False,
) -> list[InsertedEvent] | None:
    """PostgreSQL: the events and their deliveries in one statement (one round trip, or, unread,
    none of its own: it goes with the next statement read or with COMMIT)."""
    recipients = _recipients("e", webhook_id)
    sql = (
        "WITH e AS ("
        f"{_EVENT_COLUMNS}SELECT :tenant, o.topic, :document, :payload, :now, :test "
        "FROM jsonb_array_elements_text(CAST(:topics AS jsonb)) WITH ORDINALITY AS o(topic, n) ORDER BY o.n "
        "RETURNING id, topic), "
        f"d AS ({_DELIVERY_COLUMNS}SELECT :tenant, w.id, e.id, e.topic, "
        "replace(CAST(gen_random_uuid() AS TEXT), '-', ''), 'pending', 0, :now, :now, :now "
        f"{recipients} ORDER BY e.id, w.id RETURNING event_id) "
        "SELECT e.id, e.topic, (SELECT COUNT(*) FROM d WHERE d.event_id = e.id) AS n FROM e ORDER BY e.id"
    )
    params = _params(tenant_id, topics, payload, now_ms, document_id, webhook_id)
    if unread:
        conn.queue(sql, params)
        return None
    return [(r["id"], r["topic"], int(r["n"])) for r in conn.all(sql, params)]


def insert_in_steps(
    conn: Connection,
    *,
    tenant_id: int,
    topics: Sequence[str],
    payload: str,
    now_ms: int,
    document_id: int | None,
    webhook_id: int | None,
    unread: bool = False,
) -> list[InsertedEvent]:
    """SQLite (no writes in WITH): the events, then their deliveries, then how many each got
    (answered even `unread`: every statement runs at once here)."""
    params = _params(tenant_id, topics, payload, now_ms, document_id, webhook_id)
    events = conn.all(
        f"{_EVENT_COLUMNS}SELECT :tenant, o.value, :document, :payload, :now, :test FROM json_each(:topics) AS o "
        "ORDER BY o.key RETURNING id",
        params,
    )
    ids = orjson.dumps(sorted(r["id"] for r in events)).decode()
    recipients = _recipients("events e", webhook_id)
    conn.run(
        f"{_DELIVERY_COLUMNS}SELECT :tenant, w.id, e.id, e.topic, lower(hex(randomblob(16))), 'pending', 0, "
        f":now, :now, :now {recipients} WHERE e.id IN (SELECT value FROM json_each(:ids)) ORDER BY e.id, w.id",
        {**params, "ids": ids},
    )
    counted = conn.all(
        "SELECT e.id, e.topic, (SELECT COUNT(*) FROM deliveries d WHERE d.event_id = e.id) AS n FROM events e "
        "WHERE e.id IN (SELECT value FROM json_each(:ids)) ORDER BY e.id",
        {"ids": ids},
    )
    return [(r["id"], r["topic"], int(r["n"])) for r in counted]
