"""Retention: settled deliveries (with their attempts), events, and finished documents (with
their files) are deleted once older than the settings say, in small batches that each hold
the writer briefly. Pending deliveries, events they belong to, and documents still in
progress or waiting for validation are never deleted.

A pass walks deliveries and events by id (the primary key, nothing else to index) and stops
at the first row created after the cut-off: rows are numbered in the order they are made,
so whatever lies beyond is newer still. Documents are walked per tenant through their
(tenant_id, updated_at) index, each tenant with its own age.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any

from dochooks import logs
from dochooks.clock import Clock
from dochooks.db import Connection, Database
from dochooks.db.engine import Row, in_clause
from dochooks.documents.file_store import open_file_store
from dochooks.events import horizon
from dochooks.pacing import rest, wait_unless_stopped
from dochooks.settings import Settings

logger = logging.getLogger("dochooks.retention")

DAY_MS = 86_400_000
# What a pass deletes from: the tables whose dead rows PostgreSQL must vacuum after it.
PRUNED_TABLES = ("deliveries", "attempts", "events", "document_file_chunks", "document_files", "documents")
FINISHED = ("done", "failed")  # the only document statuses retention deletes


@dataclass(frozen=True)
class Pruned:
    """Rows (and files) a batch, a pass or a dry run deleted, or would."""

    deliveries: int = 0
    attempts: int = 0
    events: int = 0
    documents: int = 0
    files: int = 0

    def __add__(self, other: Pruned) -> Pruned:
        return Pruned(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @property
    def rows(self) -> int:
        """Rows deleted, a document's file counted by its document_files row."""
        return self.deliveries + self.attempts + self.events + self.documents + self.files

    def summary(self) -> str:
        return (
            f"{self.deliveries} deliveries ({self.attempts} attempts), {self.events} events, "
            f"{self.documents} documents ({self.files} files)"
        )


def cutoff(now_ms: int, days: int) -> int | None:
    """The time before which rows kept `days` days are due; None for 0 days (kept for good)."""
    return now_ms - days * DAY_MS if days > 0 else None


@dataclass(frozen=True)
class Step:
    """What one batch of an id-ordered walk deletes, and where the walk goes on."""

    chosen: list[int]
    after: int  # the last id looked at: the next batch starts past it
    last: bool  # the walk reached rows newer than the cut-off, or the end of the table


def step(rows: list[Row], *, batch: int, cutoff_ms: int, deletable: Callable[[Row], bool]) -> Step:
    """The rows (id-ordered, each with `created_at`) to delete up to the first one made after
    the cut-off: no row beyond it can be due."""
    chosen: list[int] = []
    for row in rows:
        if row["created_at"] >= cutoff_ms:
            return Step(chosen, row["id"], last=True)
        if deletable(row):
            chosen.append(row["id"])
    return Step(chosen, rows[-1]["id"] if rows else 0, last=len(rows) < batch)


def settled_before(cutoff_ms: int) -> Callable[[Row], bool]:
    return lambda row: row["status"] != "pending" and row["updated_at"] < cutoff_ms


def _undelivered(row: Row) -> bool:
    return not row["delivered"]


@dataclass(frozen=True)
class DocumentCutoff:
    tenant_id: int
    cutoff_ms: int | None


def tenant_cutoffs(conn: Connection, now_ms: int, default_days: int) -> list[DocumentCutoff]:
    """Each tenant's cut-off for documents: its workflow's age, else the service's."""
    rows = conn.all(
        "SELECT t.id, w.document_retention_days AS days FROM tenants t "
        "LEFT JOIN workflows w ON w.tenant_id = t.id ORDER BY t.id"
    )
    return [DocumentCutoff(r["id"], cutoff(now_ms, default_days if r["days"] is None else r["days"])) for r in rows]


class Pruning:
    """One pass of deletions as a series of batches: iterating commits one batch a step."""

    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._batch = max(1, settings.prune_batch)
        self._files = open_file_store(settings, db)

    def batches(self) -> Iterator[Pruned]:
        now = self._clock.now_ms()
        delivery_cutoff = cutoff(now, self._settings.delivery_retention_days)
        if delivery_cutoff is not None:
            yield from self._deliveries(delivery_cutoff)
            yield from self._events(delivery_cutoff)
        with self._db.read() as conn:
            tenants = tenant_cutoffs(conn, now, self._settings.document_retention_days)
        for tenant in tenants:
            if tenant.cutoff_ms is not None:
                yield from self._documents(tenant.tenant_id, tenant.cutoff_ms)

    def _deliveries(self, cutoff_ms: int) -> Iterator[Pruned]:
        after = 0
        while True:
            with self._db.read() as conn:
                rows = conn.all(
                    "SELECT id, status, created_at, updated_at FROM deliveries WHERE id > :after ORDER BY id LIMIT :n",
                    {"after": after, "n": self._batch},
                )
            walk = step(rows, batch=self._batch, cutoff_ms=cutoff_ms, deletable=settled_before(cutoff_ms))
            if walk.chosen:
                yield self._delete_deliveries(walk.chosen, cutoff_ms)
            if walk.last:
                return
            after = walk.after

    def _delete_deliveries(self, ids: list[int], cutoff_ms: int) -> Pruned:
        with self._db.transaction() as conn:
            # Locked (PostgreSQL): a retry by hand cannot make one pending meanwhile.
            still = _still_prunable(conn, "deliveries", ids, "status <> 'pending'", cutoff_ms)
            if still is None:
                return Pruned()
            listed, params = still
            # Attempts go by the foreign key's cascade, one index lookup per delivery: an
            # `attempts ... IN (500 ids)` may be planned as a scan of the whole table where
            # PostgreSQL has no statistics yet (autovacuum off, or not yet run).
            gone = conn.all(f"DELETE FROM deliveries WHERE id IN {listed} RETURNING attempt_count", params)
        return Pruned(deliveries=len(gone), attempts=sum(r["attempt_count"] for r in gone))

    def _events(self, cutoff_ms: int) -> Iterator[Pruned]:
        after = 0
        while True:
            with self._db.read() as conn:
                rows = conn.all(
                    "SELECT e.id, e.created_at, "
                    "EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id) AS delivered "
                    "FROM events e WHERE e.id > :after ORDER BY e.id LIMIT :n",
                    {"after": after, "n": self._batch},
                )
            walk = step(rows, batch=self._batch, cutoff_ms=cutoff_ms, deletable=_undelivered)
            if walk.chosen:
                with self._db.transaction() as conn:
                    listed, params = in_clause("e", walk.chosen)
                    # Checked again here: deleting an event deletes its deliveries with it.
                    deleted = conn.all(
                        f"DELETE FROM events WHERE id IN {listed} "
                        "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id) "
                        f"RETURNING {horizon.deleted_columns(conn)}",
                        params,
                    )
                    # With the deletion: a feed cursor before these answers 410 from now on.
                    horizon.advance(conn, deleted)
                yield Pruned(events=len(deleted))
            if walk.last:
                return
            after = walk.after

    def _documents(self, tenant_id: int, cutoff_ms: int) -> Iterator[Pruned]:
        seen = (-1, 0)  # (updated_at, id) of the last document looked at
        while True:
            with self._db.read() as conn:
                rows = conn.all(
                    "SELECT id, status, updated_at FROM documents WHERE tenant_id = :t AND updated_at < :cutoff "
                    "AND (updated_at > :u OR (updated_at = :u AND id > :i)) ORDER BY updated_at, id LIMIT :n",
                    {"t": tenant_id, "cutoff": cutoff_ms, "u": seen[0], "i": seen[1], "n": self._batch},
                )
            chosen = [r["id"] for r in rows if r["status"] in FINISHED]
            if chosen:
                yield self._delete_documents(chosen, cutoff_ms)
            if len(rows) < self._batch:
                return
            seen = (rows[-1]["updated_at"], rows[-1]["id"])

    def _delete_documents(self, ids: list[int], cutoff_ms: int) -> Pruned:
        """The rows and their files in one transaction, as the file store deletes them: from
        the database with the rows; from disk once the rows' deletion has committed (a crash in
        between leaves files no row points at, never a document whose files are gone)."""
        with self._db.transaction() as conn:
            finished = "status IN (" + ", ".join(f"'{status}'" for status in FINISHED) + ")"
            still = _still_prunable(conn, "documents", ids, finished, cutoff_ms)
            if still is None:
                return Pruned()
            listed, params = still
            files = conn.all(f"SELECT path FROM document_files WHERE document_id IN {listed}", params)
            paths = [r["path"] for r in files]
            conn.run(f"DELETE FROM document_files WHERE document_id IN {listed}", params)
            documents = conn.run(f"DELETE FROM documents WHERE id IN {listed}", params)
            self._files.delete(conn, paths)
        return Pruned(documents=documents, files=len(paths))


def _still_prunable(
    conn: Connection, table: str, ids: list[int], condition: str, cutoff_ms: int
) -> tuple[str, dict[str, Any]] | None:
    """The rows of `ids` that still meet `condition` and were last changed before the cut-off,
    checked again inside the deleting transaction and locked until it commits, as an IN
    clause and its parameters; None if none does."""
    listed, params = in_clause("d", ids)
    kept = conn.all(
        f"SELECT id FROM {table} WHERE id IN {listed} AND {condition} AND updated_at < :cutoff"
        f"{conn.dialect.for_update}",
        {**params, "cutoff": cutoff_ms},
    )
    return in_clause("d", [r["id"] for r in kept]) if kept else None


def prune(db: Database, settings: Settings, clock: Clock, *, pause: Callable[[float], None] = time.sleep) -> Pruned:
    """One whole pass, resting between batches as the background loop does (the command line's)."""
    total = Pruned()
    batches = Pruning(db, settings, clock).batches()
    while True:
        started = time.monotonic()
        pruned = next(batches, None)
        if pruned is None:
            break
        total += pruned
        pause(rest(settings.prune_pause, time.monotonic() - started, settings.prune_share))
    if total.rows:
        db.reclaim(PRUNED_TABLES)
    return total


def would_prune(db: Database, settings: Settings, clock: Clock) -> Pruned:
    """What a pass would delete now, counted in one snapshot without deleting anything."""
    now = clock.now_ms()
    counted = Pruned()
    with db.read() as conn:
        delivery_cutoff = cutoff(now, settings.delivery_retention_days)
        if delivery_cutoff is not None:
            p = {"cutoff": delivery_cutoff}
            settled = "status <> 'pending' AND updated_at < :cutoff"
            deliveries = conn.one(f"SELECT COUNT(*) AS n FROM deliveries WHERE {settled}", p)
            attempts = conn.one(
                f"SELECT COUNT(*) AS n FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE {settled})",
                p,
            )
            events = conn.one(
                "SELECT COUNT(*) AS n FROM events e WHERE e.created_at < :cutoff AND NOT EXISTS (SELECT 1 FROM "
                "deliveries d WHERE d.event_id = e.id AND (d.status = 'pending' OR d.updated_at >= :cutoff))",
                p,
            )
            counted += Pruned(deliveries=_n(deliveries), attempts=_n(attempts), events=_n(events))
        for tenant in tenant_cutoffs(conn, now, settings.document_retention_days):
            if tenant.cutoff_ms is None:
                continue
            due = "FROM documents WHERE tenant_id = :t AND updated_at < :cutoff AND status IN ('done', 'failed')"
            p = {"t": tenant.tenant_id, "cutoff": tenant.cutoff_ms}
            documents = conn.one(f"SELECT COUNT(*) AS n {due}", p)
            files = conn.one(f"SELECT COUNT(*) AS n FROM document_files WHERE document_id IN (SELECT id {due})", p)
            counted += Pruned(documents=_n(documents), files=_n(files))
    return counted


def _n(row: Row | None) -> int:
    return int(row["n"]) if row else 0


class Pruner:
    """The background loop of `serve` and `worker`: a pass every `prune_interval` seconds, a
    rest between its batches (`rest`) so the dispatcher and the runner get the writer."""

    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                total = await self.pass_once(stopping)
            except Exception:
                logger.exception("pruning failed; trying again at the next pass")
            else:
                level = logging.INFO if total.rows else logging.DEBUG
                logger.log(level, f"pruned {total.summary()}", extra=logs.fields(**_counts(total)))
            await wait_unless_stopped(stopping, self._settings.prune_interval)

    async def pass_once(self, stopping: asyncio.Event) -> Pruned:
        """One pass, batch after batch in a worker thread, until done or `stopping` is set."""
        total = Pruned()
        batches = Pruning(self._db, self._settings, self._clock).batches()
        while not stopping.is_set():
            started = time.monotonic()
            pruned = await asyncio.to_thread(next, batches, None)
            if pruned is None:
                break
            total += pruned
            logger.debug(f"pruned a batch: {pruned.summary()}", extra=logs.fields(**_counts(pruned)))
            worked = time.monotonic() - started
            await wait_unless_stopped(stopping, rest(self._settings.prune_pause, worked, self._settings.prune_share))
        if total.rows and not stopping.is_set():
            await asyncio.to_thread(self._db.reclaim, PRUNED_TABLES)
        return total


def _counts(pruned: Pruned) -> dict[str, int]:
    return {f"pruned_{f.name}": getattr(pruned, f.name) for f in fields(pruned)}
