"""Settled deliveries in bulk, for recovery tests: one event, and `count` deliveries of it to
one webhook, written by a single INSERT ... SELECT (100,000 in about a second)."""

from __future__ import annotations

import orjson

from dochooks.db import Connection
from tests.factories.deliveries import PAYLOAD

_COLUMNS = (
    "tenant_id, webhook_id, event_id, topic, request_id, status, attempt_count, next_attempt_at, created_at, updated_at"
)
_VALUES = ":tenant, :webhook, :event, 'document-received', {request_id}, :status, 9, NULL, :at, :at"


def settled_deliveries(conn: Connection, *, tenant: int, webhook: int, count: int, status: str, at: int) -> None:
    """`count` deliveries to `webhook` that settled as `status` (their retries used up) at `at`."""
    event = conn.one(
        "INSERT INTO events (tenant_id, topic, document_id, payload, created_at) "
        "VALUES (:tenant, 'document-received', 42, :payload, :at) RETURNING id",
        {"tenant": tenant, "payload": orjson.dumps(PAYLOAD).decode(), "at": at},
    )
    assert event is not None
    params = {"tenant": tenant, "webhook": webhook, "event": event["id"], "status": status, "at": at, "count": count}
    if conn.dialect.name == "sqlite":
        conn.run(
            f"INSERT INTO deliveries ({_COLUMNS}) "
            "WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x + 1 < :count) "
            f"SELECT {_VALUES.format(request_id='lower(hex(randomblob(16)))')} FROM n",
            params,
        )
    else:
        conn.run(
            f"INSERT INTO deliveries ({_COLUMNS}) "
            f"SELECT {_VALUES.format(request_id='md5(random()::text || x)')} "
            "FROM generate_series(1, CAST(:count AS BIGINT)) AS x",
            params,
        )
