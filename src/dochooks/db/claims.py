"""The deliveries claim in each engine's words, side by side: the same job (lease the due
rows that `due` picks, return them with their payloads) done the way each engine does it
fastest. The queue's rules (which rows are due, the lease, the window) live in
`delivery/leases.py`; each dialect names its claim here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from dochooks.db.engine import Connection

# A claimed delivery: (delivery id, webhook id, tenant id, request id, topic, attempts made
# so far, the event's payload, the webhook's updated_at, whether it keeps its document's
# order), ordered by delivery id.
ClaimedRow = Sequence[Any]

_LEASE = "UPDATE deliveries SET next_attempt_at = :lease_end, locked_by = :worker"


def claim_in_one_statement(conn: Connection, due: str, params: dict[str, Any]) -> list[ClaimedRow]:
    """PostgreSQL: one statement that picks, leases and returns, skipping rows that other
    workers' claims hold."""
    # For this transaction only:
    # - A claim walks deliveries_due in order and stops at its limit. After a burst the
    #   planner's statistics can miss a million rows, and it then picks a bitmap scan that
    #   reads and sorts every due row (400 ms instead of 15 ms for a window); it may not.
    # - The commit does not wait for the disk: a lease lost in a crash only makes the
    #   delivery due again (at least once), and recording its attempt, which does wait,
    #   flushes the lease with it.
    conn.queue("SELECT set_config('enable_bitmapscan', 'off', true), set_config('synchronous_commit', 'off', true)")
    # SKIP LOCKED: workers claiming at the same time take different deliveries instead of waiting.
    rows = conn.all(
        f"WITH claimed AS ({_LEASE} WHERE id IN ({due} FOR UPDATE SKIP LOCKED) "
        "RETURNING id, webhook_id, tenant_id, event_id, request_id, topic, attempt_count, ordered_document_id) "
        "SELECT c.id, c.webhook_id, c.tenant_id, c.request_id, c.topic, c.attempt_count, e.payload, "
        "w.updated_at AS webhook_version, c.ordered_document_id IS NOT NULL AS in_order "
        "FROM claimed c JOIN events e ON e.id = c.event_id JOIN webhooks w ON w.id = c.webhook_id ORDER BY c.id",
        params,
    )
    return [
        (
            r["id"],
            r["webhook_id"],
            r["tenant_id"],
            r["request_id"],
            r["topic"],
            r["attempt_count"],
            r["payload"],
            r["webhook_version"],
            r["in_order"],
        )
        for r in rows
    ]


def claim_in_steps(conn: Connection, due: str, params: dict[str, Any]) -> list[ClaimedRow]:
    """SQLite: pick, lease, read back, each statement answering with a single row."""
    # The caller's write transaction already keeps other claims out. Each statement yields a
    # single row (the batch as one JSON array): Python's sqlite3 gives up and takes back the GIL
    # around every row it steps, and row by row that stalls behind a busy event loop.
    found = conn.one(f"SELECT json_group_array(id) AS ids FROM ({due})", params)
    ids = found["ids"] if found else "[]"
    if ids == "[]":
        return []
    conn.run(f"{_LEASE} WHERE id IN (SELECT value FROM json_each(:ids))", {**params, "ids": ids})
    rows = conn.one(
        "SELECT json_group_array(json_array(d.id, d.webhook_id, d.tenant_id, d.request_id, d.topic, "
        "d.attempt_count, e.payload, w.updated_at, d.ordered_document_id IS NOT NULL)) "
        "AS claimed FROM deliveries d JOIN events e ON e.id = d.event_id JOIN webhooks w ON w.id = d.webhook_id "
        "WHERE d.id IN (SELECT value FROM json_each(:ids))",
        {"ids": ids},
    )
    assert rows is not None
    return sorted(orjson.loads(rows["claimed"]))
