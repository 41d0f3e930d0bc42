"""Bulk recovery jobs (`recoveries`): a webhook's deliveries of one status, last changed
since a time, made due again in batches, each batch with the job's progress in one short
transaction. A retry by hand and every batch share one write (`leases.make_due`).

A job walks the webhook's deliveries by id, from `after_id` up to `last_id` (the webhook's
newest delivery when it began), so each delivery it picks is made due once, and a restart
goes on where the last committed batch stopped. How fast the deliveries then go out is the
dispatcher's to say: its per-webhook and per-tenant caps pace a recovered backlog like any other."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dochooks.db import Connection, Database, Row
from dochooks.delivery.leases import make_due
from dochooks.errors import Conflict, NotFound
from dochooks.signals import deliveries_queued
from dochooks.webhooks.config import Webhook


class Which(StrEnum):
    """Which deliveries a recovery makes due again, by their status."""

    FAILED = "failed"
    SUCCEEDED = "succeeded"
    ALL = "all"  # pending ones included: they are brought forward


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


@dataclass(frozen=True)
class Recovery:
    id: int
    tenant_id: int
    webhook_id: int
    since: int
    which: Which
    status: JobStatus
    total: int  # deliveries that matched when it began; once done, those it made due
    recovered: int  # made due so far
    created_at: int
    started_at: int | None
    finished_at: int | None


_COLUMNS = (
    "id, tenant_id, webhook_id, since, delivery_status, status, total, recovered, after_id, last_id, "
    "created_at, started_at, finished_at"
)
# The job's deliveries not yet looked at, and which of them it makes due; `which` written
# once in SQL rather than assembled in Python.
_AHEAD = "webhook_id = :webhook AND id > :after AND id <= :last"
_CHOSEN = "updated_at >= :since AND (:which = 'all' OR status = :which)"
_MATCHING = f"{_AHEAD} AND {_CHOSEN}"


def _recovery(row: Row) -> Recovery:
    return Recovery(
        id=row["id"],
        tenant_id=row["tenant_id"],
        webhook_id=row["webhook_id"],
        since=row["since"],
        which=Which(row["delivery_status"]),
        status=JobStatus(row["status"]),
        total=row["total"],
        recovered=row["recovered"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


def _walk(row: Row) -> dict[str, Any]:
    """The parameters of `_MATCHING` for a job's row: where its walk stands."""
    return {
        "webhook": row["webhook_id"],
        "after": row["after_id"],
        "last": row["last_id"],
        "since": row["since"],
        "which": row["delivery_status"],
    }


def start(
    db: Database, *, tenant_id: int, webhook_id: int, since_ms: int, which: Which, now_ms: int
) -> tuple[Recovery, bool]:
    """Queue a recovery of the webhook's deliveries, or join the one not yet done (whatever it
    was asked for); returns the job and whether it is new. Another tenant's webhook is not
    found. What it will walk is counted in a read first: a count of a large log does not hold
    the writer."""
    with db.read() as conn:
        newest = conn.one(
            "SELECT COALESCE(MAX(id), 0) AS last FROM deliveries WHERE webhook_id = :w", {"w": webhook_id}
        )
        walk = {
            "webhook": webhook_id,
            "after": 0,
            "last": newest["last"] if newest else 0,
            "since": since_ms,
            "which": str(which),
        }
        counted = conn.one(f"SELECT COUNT(*) AS n FROM deliveries WHERE {_MATCHING}", walk)
    with db.transaction() as conn:
        # Locked (PostgreSQL): two requests at once queue one job; the unique index holds it too.
        hook = conn.one(
            f"SELECT enabled FROM webhooks WHERE id = :webhook AND tenant_id = :tenant{conn.dialect.for_update}",
            {"webhook": webhook_id, "tenant": tenant_id},
        )
        if hook is None:
            raise NotFound(f"no webhook {webhook_id}")
        under_way = conn.one(
            f"SELECT {_COLUMNS} FROM recoveries WHERE webhook_id = :webhook AND status <> 'done'",
            {"webhook": webhook_id},
        )
        if under_way is not None:
            return _recovery(under_way), False
        if not hook["enabled"]:
            raise Conflict(f"webhook {webhook_id} is disabled: enable it first, or its deliveries fail unsent")
        row = conn.one(
            "INSERT INTO recoveries (tenant_id, webhook_id, since, delivery_status, status, total, recovered, "
            "after_id, last_id, created_at) VALUES (:tenant, :webhook, :since, :which, 'queued', :total, 0, 0, :last, "
            f":now) RETURNING {_COLUMNS}",
            {**walk, "tenant": tenant_id, "total": int(counted["n"]) if counted else 0, "now": now_ms},
        )
        assert row is not None
        return _recovery(row), True


def get(conn: Connection, *, tenant_id: int, webhook_id: int, recovery_id: int) -> Recovery:
    row = conn.one(
        f"SELECT {_COLUMNS} FROM recoveries WHERE id = :id AND webhook_id = :webhook AND tenant_id = :tenant",
        {"id": recovery_id, "webhook": webhook_id, "tenant": tenant_id},
    )
    if row is None:
        raise NotFound(f"no recovery {recovery_id} of webhook {webhook_id}")
    return _recovery(row)


def latest(conn: Connection, *, tenant_id: int, webhook_id: int) -> Recovery | None:
    """The webhook's newest recovery, under way or done, if any."""
    row = conn.one(
        f"SELECT {_COLUMNS} FROM recoveries WHERE webhook_id = :webhook AND tenant_id = :tenant ORDER BY id DESC "
        "LIMIT 1",
        {"webhook": webhook_id, "tenant": tenant_id},
    )
    return None if row is None else _recovery(row)


def unfinished(conn: Connection) -> list[int]:
    """Every job not yet done, oldest first."""
    return [r["id"] for r in conn.all("SELECT id FROM recoveries WHERE status <> 'done' ORDER BY id")]


def failed_since(hook: Webhook) -> int:
    """Since when a disabled webhook's failures are worth recovering once it is enabled again:
    since it began failing, else since it was disabled (else since it last changed)."""
    known = [t for t in (hook.health.failing_since, hook.health.disabled_at) if t is not None]
    return min(known) if known else hook.updated_at


def count_matching(conn: Connection, *, webhook_id: int, since_ms: int, which: Which) -> int:
    """How many of the webhook's deliveries a recovery begun now would make due (the UI's offer)."""
    walk = {"webhook": webhook_id, "after": 0, "last": 2**63 - 1, "since": since_ms, "which": str(which)}
    row = conn.one(f"SELECT COUNT(*) AS n FROM deliveries WHERE {_MATCHING}", walk)
    return int(row["n"]) if row else 0


@dataclass(frozen=True)
class Progress:
    """Where a job stands after a batch: what the batch's transaction writes."""

    status: JobStatus
    recovered: int
    total: int
    after_id: int


def progressed(job: Recovery, *, seen: list[int], made_due: int, batch: int, last_id: int) -> Progress:
    """After a batch that looked at the deliveries `seen` (by id) and made `made_due` of them
    due: a batch short of `batch` reached the end of the walk, and the job's total becomes
    what it made due (deliveries that changed meanwhile, or had an attempt in flight, make it differ)."""
    recovered = job.recovered + made_due
    if len(seen) < batch:
        return Progress(JobStatus.DONE, recovered, recovered, last_id)
    return Progress(JobStatus.RUNNING, recovered, max(job.total, recovered), seen[-1])


def advance(db: Database, recovery_id: int, *, batch: int, now_ms: int) -> Recovery | None:
    """One batch of a job in one transaction: the webhook's next `batch` deliveries looked at
    (so a batch costs the same however few of them match), those that match made due, and
    its progress written. Returns the job as it now is; None if it was done already (or is gone)."""
    with db.transaction() as conn:
        if conn.dialect.walk_in_index_order:
            conn.queue(conn.dialect.walk_in_index_order)
        # Locked (PostgreSQL): workers of several processes advance a job one batch at a time.
        row = conn.one(
            f"SELECT {_COLUMNS} FROM recoveries WHERE id = :id AND status <> 'done'{conn.dialect.for_update}",
            {"id": recovery_id},
        )
        if row is None:
            return None
        job = _recovery(row)
        ahead = conn.all(
            f"SELECT id, CASE WHEN {_CHOSEN} THEN 1 ELSE 0 END AS chosen FROM deliveries WHERE {_AHEAD} "
            "ORDER BY id LIMIT :n",
            {**_walk(row), "n": batch},
        )
        made = make_due(conn, [r["id"] for r in ahead if r["chosen"]], now_ms)
        if made:
            deliveries_queued.announce(conn)
        now = progressed(job, seen=[r["id"] for r in ahead], made_due=made, batch=batch, last_id=row["last_id"])
        conn.run(
            "UPDATE recoveries SET status = :status, recovered = :recovered, total = :total, after_id = :after, "
            "started_at = COALESCE(started_at, :now), finished_at = :finished WHERE id = :id",
            {
                "id": recovery_id,
                "status": str(now.status),
                "recovered": now.recovered,
                "total": now.total,
                "after": now.after_id,
                "now": now_ms,
                "finished": now_ms if now.status is JobStatus.DONE else None,
            },
        )
        return get(conn, tenant_id=job.tenant_id, webhook_id=job.webhook_id, recovery_id=recovery_id)


def owner(conn: Connection, webhook_id: int) -> int:
    """The tenant a webhook belongs to (the operator's command names the webhook alone)."""
    row = conn.one("SELECT tenant_id FROM webhooks WHERE id = :id", {"id": webhook_id})
    if row is None:
        raise NotFound(f"no webhook {webhook_id}")
    return int(row["tenant_id"])
