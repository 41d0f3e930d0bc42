"""Retention on SQLite and PostgreSQL: what a pass deletes and what it keeps, the dry run,
the command, and the background loop."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from dochooks.cli import main
from dochooks.db import Connection
from dochooks.delivery.publish import publish
from dochooks.documents import config as workflow_config
from dochooks.documents.files import Staging, remove_files
from dochooks.documents.store import create_document
from dochooks.retention import DAY_MS, Pruned, Pruner, prune, would_prune
from dochooks.runtime import Runtime
from dochooks.tenants import NewTenant
from tests.factories.deliveries import PAYLOAD
from tests.factories.stores import make_tenant, make_webhook

NOW = 1_800_000_000_000


class FixedClock:
    def now_ms(self) -> int:
        return NOW


def days_ago(days: float) -> int:
    return NOW - int(days * DAY_MS)


def delivery(
    rt: Runtime, tenant: NewTenant, *, status: str, settled_days_ago: float, made_days_ago: float | None = None
) -> int:
    """An event with one delivery to a new webhook, made a day before it settled unless
    told (days before the runtime's clock), with two attempts; returns the event's id.
    Make them oldest first, as time makes them: ids follow creation."""
    hook = make_webhook(rt.db, rt.cipher, tenant.tenant_id, "https://example.com/hook")
    now = rt.clock.now_ms()
    settled = now - int(settled_days_ago * DAY_MS)
    made = settled - DAY_MS if made_days_ago is None else now - int(made_days_ago * DAY_MS)
    with rt.db.transaction() as conn:
        return _settled(conn, tenant, hook.id, status, made, settled)


def _settled(conn: Connection, tenant: NewTenant, hook_id: int, status: str, made: int, settled: int) -> int:
    event = publish(
        conn,
        tenant_id=tenant.tenant_id,
        topic="document-received",
        payload=PAYLOAD,
        now_ms=made,
        webhook_id=hook_id,
    ).event_id
    conn.run(
        "UPDATE deliveries SET status = :s, updated_at = :u, attempt_count = 2 WHERE event_id = :e",
        {"s": status, "u": settled, "e": event},
    )
    for number in (1, 2):
        conn.run(
            "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, request_headers) "
            "SELECT id, :n, :u, 5, '{}' FROM deliveries WHERE event_id = :e",
            {"n": number, "u": settled, "e": event},
        )
    return event


@dataclass(frozen=True)
class KeptFile:
    """A document's file where its runtime's file store keeps it."""

    rt: Runtime
    path: str

    def exists(self) -> bool:
        with self.rt.db.read() as conn:
            chunk = conn.one("SELECT seq FROM document_file_chunks WHERE path = :p", {"p": self.path})
        return chunk is not None or (self.rt.settings.data_dir / self.path).exists()


def document(rt: Runtime, tenant_id: int, *, status: str, changed_days_ago: float) -> tuple[int, KeptFile]:
    """A document with one file in the runtime's file store, last changed `changed_days_ago`
    days before the runtime's clock."""
    with Staging(rt.settings.data_dir, tenant_id, limit_bytes=1024) as staging:
        staged = staging.new_file()
        staged.write(b"Invoice 1\n")
        staged.finish()
        placed = rt.files.put(staging, [staged])
        changed = rt.clock.now_ms() - int(changed_days_ago * DAY_MS)
        with rt.db.transaction() as conn:
            placed.write(conn)
            doc = create_document(
                conn,
                tenant_id=tenant_id,
                name="one.txt",
                external_id=None,
                custom_fields={},
                files=placed.stored,
                sla_deadline=None,
                now_ms=changed,
            )
            conn.run("UPDATE documents SET status = :s, run_at = NULL WHERE id = :id", {"s": status, "id": doc.id})
    return doc.id, KeptFile(rt, placed.stored[0].path)


def ids(conn: Connection, table: str) -> set[int]:
    return {r["id"] for r in conn.all(f"SELECT id FROM {table}")}


def tuned(runtime: Runtime, **settings: object) -> Runtime:
    return dataclasses.replace(runtime.tuned(prune_pause=0, **settings), clock=FixedClock())


def run_pass(rt: Runtime) -> Pruned:
    return prune(rt.db, rt.settings, rt.clock, pause=lambda _: None)


def test_settled_deliveries_past_retention_go_with_their_attempts_and_events_the_rest_stays(
    runtime: Runtime, acme: NewTenant
) -> None:
    rt = tuned(runtime, delivery_retention_days=30, prune_batch=2)  # several batches
    # Made long ago, retried by hand lately: kept as long as its latest outcome is recent.
    retried = delivery(rt, acme, status="failed", settled_days_ago=1, made_days_ago=60)
    pending = delivery(rt, acme, status="pending", settled_days_ago=40)
    for status in ("succeeded", "failed", "succeeded"):
        delivery(rt, acme, status=status, settled_days_ago=31)
    with rt.db.transaction() as conn:
        # An event no webhook was subscribed to: it leaves the event feed with the others.
        publish(conn, tenant_id=acme.tenant_id, topic="processing-failed", payload=PAYLOAD, now_ms=days_ago(31))
    recent = delivery(rt, acme, status="succeeded", settled_days_ago=29)
    assert would_prune(rt.db, rt.settings, rt.clock) == Pruned(deliveries=3, attempts=6, events=4)
    assert run_pass(rt) == Pruned(deliveries=3, attempts=6, events=4)
    with rt.db.read() as conn:
        assert ids(conn, "events") == {pending, recent, retried}
        kept = conn.all("SELECT event_id, status FROM deliveries ORDER BY event_id")
        assert [(r["event_id"], r["status"]) for r in kept] == [
            (retried, "failed"),
            (pending, "pending"),
            (recent, "succeeded"),
        ]
        assert conn.one("SELECT COUNT(*) AS n FROM attempts")["n"] == 6  # type: ignore[index]
    assert run_pass(rt) == Pruned()  # nothing left to go


def test_a_dry_run_counts_and_changes_nothing(runtime: Runtime, acme: NewTenant) -> None:
    rt = tuned(runtime, delivery_retention_days=30, document_retention_days=10)
    delivery(rt, acme, status="succeeded", settled_days_ago=31)
    _, path = document(rt, acme.tenant_id, status="done", changed_days_ago=11)
    before = {t: _snapshot(rt, t) for t in ("deliveries", "attempts", "events", "documents", "document_files")}
    counted = would_prune(rt.db, rt.settings, rt.clock)
    assert counted == Pruned(deliveries=1, attempts=2, events=1, documents=1, files=1)
    assert {t: _snapshot(rt, t) for t in before} == before and path.exists()
    assert run_pass(rt) == counted  # what the dry run announced is what a pass deletes
    assert not path.exists()


def _snapshot(rt: Runtime, table: str) -> set[int]:
    with rt.db.read() as conn:
        return ids(conn, table)


def test_finished_documents_go_with_their_files_by_each_tenants_age_and_unfinished_ones_stay(
    runtime: Runtime, acme: NewTenant
) -> None:
    rt = tuned(runtime, document_retention_days=10)
    other = make_tenant(rt.db, "other")
    keeper = make_tenant(rt.db, "keeper")
    with rt.db.transaction() as conn:
        workflow_config.save(conn, other.tenant_id, workflow_config.WorkflowConfig(document_retention_days=3), NOW)
        workflow_config.save(conn, keeper.tenant_id, workflow_config.WorkflowConfig(document_retention_days=0), NOW)
    done, done_file = document(rt, acme.tenant_id, status="done", changed_days_ago=11)
    failed, failed_file = document(rt, acme.tenant_id, status="failed", changed_days_ago=11)
    young, young_file = document(rt, acme.tenant_id, status="done", changed_days_ago=9)
    waiting, waiting_file = document(rt, acme.tenant_id, status="pending", changed_days_ago=40)
    working, _ = document(rt, acme.tenant_id, status="in_progress", changed_days_ago=40)
    others, others_file = document(rt, other.tenant_id, status="done", changed_days_ago=4)
    kept, kept_file = document(rt, keeper.tenant_id, status="done", changed_days_ago=400)
    assert run_pass(rt) == Pruned(documents=3, files=3)
    with rt.db.read() as conn:
        assert ids(conn, "documents") == {young, waiting, working, kept}
        left = {r["document_id"] for r in conn.all("SELECT document_id FROM document_files")}
        assert left == {young, waiting, working, kept}
    assert not any(p.exists() for p in (done_file, failed_file, others_file))
    assert all(p.exists() for p in (young_file, waiting_file, kept_file))
    assert {done, failed, others}.isdisjoint(_snapshot(rt, "documents"))


def test_zero_days_keeps_everything(runtime: Runtime, acme: NewTenant) -> None:
    rt = tuned(runtime, delivery_retention_days=0, document_retention_days=0)
    delivery(rt, acme, status="succeeded", settled_days_ago=3000)
    document(rt, acme.tenant_id, status="done", changed_days_ago=3000)
    assert would_prune(rt.db, rt.settings, rt.clock) == Pruned()
    assert run_pass(rt) == Pruned()


def test_the_background_loop_prunes_and_stops_when_asked(runtime: Runtime, acme: NewTenant) -> None:
    rt = tuned(runtime, delivery_retention_days=30, prune_interval=3600)
    delivery(rt, acme, status="succeeded", settled_days_ago=31)

    async def main() -> None:
        stopping = asyncio.Event()
        task = asyncio.create_task(Pruner(rt.db, rt.settings, rt.clock).run(stopping))
        for _ in range(500):
            if not await asyncio.to_thread(_snapshot, rt, "events"):  # the last to go
                break
            await asyncio.sleep(0.01)
        stopping.set()
        await asyncio.wait_for(task, 5)  # the hour-long wait for the next pass ends at once

    asyncio.run(main())
    assert _snapshot(rt, "deliveries") == set() and _snapshot(rt, "events") == set()


def test_the_prune_command_says_what_would_go_then_deletes_it(runtime: Runtime, acme: NewTenant, db_url: str) -> None:
    delivery(runtime, acme, status="succeeded", settled_days_ago=31)
    delivery(runtime, acme, status="pending", settled_days_ago=31)
    flags = ["--database-url", db_url, "--data-dir", str(runtime.settings.data_dir), "--delivery-retention-days", "30"]
    dry = CliRunner().invoke(main, ["prune", "--dry-run", *flags])
    assert dry.exit_code == 0, dry.output
    assert dry.output == "would prune 1 deliveries (2 attempts), 1 events, 0 documents (0 files)\n"
    assert len(_snapshot(runtime, "deliveries")) == 2
    done = CliRunner().invoke(main, ["prune", *flags])
    assert done.exit_code == 0, done.output
    assert done.output == "pruned 1 deliveries (2 attempts), 1 events, 0 documents (0 files)\n"
    assert len(_snapshot(runtime, "deliveries")) == 1
    again = CliRunner().invoke(main, ["prune", "--dry-run", *flags])
    assert again.output == "would prune 0 deliveries (0 attempts), 0 events, 0 documents (0 files)\n"


def test_a_documents_files_on_disk_are_removed_only_once_its_rows_are_gone_for_good(
    runtime: Runtime, acme: NewTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = tuned(runtime, document_retention_days=10, file_store="local")
    doc, path = document(rt, acme.tenant_id, status="done", changed_days_ago=11)
    seen: list[tuple[set[int], bool]] = []

    def remove(data_dir: Path, paths: list[str]) -> None:
        seen.append((_snapshot(rt, "documents"), path.exists()))  # what another reader sees by then
        remove_files(data_dir, paths)

    monkeypatch.setattr("dochooks.documents.file_store.remove_files", remove)
    assert run_pass(rt) == Pruned(documents=1, files=1)
    assert seen == [(set(), True)] and not path.exists()
    assert doc not in _snapshot(rt, "documents")


def _vacuumed(rt: Runtime) -> bool:
    with rt.db.read() as conn:
        row = conn.one("SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'deliveries'")
    return row is not None and row["last_vacuum"] is not None


def test_on_postgresql_a_pass_that_deleted_rows_vacuums_them_when_autovacuum_is_off(
    runtime: Runtime, acme: NewTenant
) -> None:
    if runtime.db.dialect.name != "postgresql":
        pytest.skip("SQLite reuses the pages of deleted rows by itself")
    rt = tuned(runtime, delivery_retention_days=30)
    with rt.db.read() as conn:
        autovacuum = conn.one("SHOW autovacuum")
    assert autovacuum is not None
    assert not _vacuumed(rt)
    assert run_pass(rt) == Pruned()  # nothing deleted: nothing to vacuum
    delivery(rt, acme, status="succeeded", settled_days_ago=31)
    assert run_pass(rt) == Pruned(deliveries=1, attempts=2, events=1)
    # The statistics views are updated by the backends in the background, within a second.
    deadline = time.monotonic() + 5
    while not _vacuumed(rt) and time.monotonic() < deadline:
        time.sleep(0.1)
    # With autovacuum on, PostgreSQL vacuums by itself when it measures a need; off, nobody
    # would, so the pass does.
    assert _vacuumed(rt) == (autovacuum["autovacuum"] == "off")


def test_a_documents_files_in_the_database_go_in_the_transaction_that_deletes_its_rows(
    runtime: Runtime, acme: NewTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = tuned(runtime, document_retention_days=10, file_store="database")
    _, kept = document(rt, acme.tenant_id, status="done", changed_days_ago=11)
    young, young_kept = document(rt, acme.tenant_id, status="done", changed_days_ago=9)
    assert kept.exists() and not (rt.settings.data_dir / kept.path).exists()  # never on disk
    committed: list[bool] = []
    monkeypatch.setattr(
        "dochooks.documents.file_store.remove_files", lambda data_dir, paths: committed.append(kept.exists())
    )
    assert run_pass(rt) == Pruned(documents=1, files=1)
    assert committed == [False]  # gone by the time the rows' deletion had committed
    assert _snapshot(rt, "documents") == {young} and young_kept.exists()
