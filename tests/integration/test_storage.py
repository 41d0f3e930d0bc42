"""The storage interface on SQLite and PostgreSQL: migrations, publish, the queue, secrets at rest."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from dochooks.background import sole_dispatcher
from dochooks.db import Database, migrate, open_database
from dochooks.db.migrate import available
from dochooks.delivery import leases
from dochooks.delivery.publish import publish
from dochooks.errors import DatabaseClosed, DochooksError
from dochooks.runtime import Runtime, open_runtime
from dochooks.signals import deliveries_queued
from tests.factories.stores import database_url, make_settings, make_tenant, make_webhook, postgres_database

PAYLOAD = {"id": "7", "type": "documents", "attributes": {"status": "pending", "document_id": 7}}


def test_a_closed_database_refuses_every_use_instead_of_opening_again(db_url: str) -> None:
    db = open_database(db_url)
    with db.transaction() as conn:  # this thread now has a connection, which close() closes
        conn.one("SELECT 1 AS one")
    db.close()
    with pytest.raises(DatabaseClosed, match="is closed"), db.transaction():
        pass
    with pytest.raises(DatabaseClosed), db.read():
        pass
    with pytest.raises(DatabaseClosed), db.own():
        pass
    with pytest.raises(DatabaseClosed):
        asyncio.run(db.listen("dochooks_test_channel", lambda: None))
    db.close()  # closing again is harmless


def test_migrations_are_versioned_and_apply_once(runtime: Runtime) -> None:
    assert migrate(runtime.db) == []
    with runtime.db.read() as conn:
        applied = [r["version"] for r in conn.all("SELECT version FROM schema_migrations ORDER BY version")]
    assert applied == [m.version for m in available()] and applied[:2] == [1, 2]


def _schema(db: Database) -> list[tuple[str, ...]]:
    with db.read() as conn:
        if db.dialect.name == "sqlite":
            rows = conn.all("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
        else:
            rows = conn.all(
                "SELECT table_name, column_name, data_type, is_nullable, column_default "
                "FROM information_schema.columns WHERE table_schema = 'public'"
            )
    return sorted(tuple(str(v) for v in r.values()) for r in rows)


def test_upgrading_one_version_at_a_time_gives_the_schema_of_a_fresh_install(runtime: Runtime, tmp_path: Path) -> None:
    with database_url(runtime.db.dialect.name, tmp_path / "stepwise") as url:
        stepwise = open_database(url)
        try:
            for migration in available():
                assert [m.version for m in migrate(stepwise, target=migration.version)] == [migration.version]
            assert _schema(stepwise) == _schema(runtime.db)
        finally:
            stepwise.close()


def test_publish_queues_one_delivery_per_enabled_subscribed_webhook_of_the_tenant(runtime: Runtime) -> None:
    acme, other = make_tenant(runtime.db, "acme"), make_tenant(runtime.db, "other")
    url = "http://127.0.0.1:9/"
    wanted = make_webhook(
        runtime.db, runtime.cipher, acme.tenant_id, url, topics=("document-received", "processing-finished")
    )
    make_webhook(runtime.db, runtime.cipher, acme.tenant_id, url, topics=("processing-failed",))
    make_webhook(runtime.db, runtime.cipher, acme.tenant_id, url, enabled=False)
    make_webhook(runtime.db, runtime.cipher, other.tenant_id, url)
    with runtime.db.transaction() as conn:
        published = publish(
            conn, tenant_id=acme.tenant_id, topic="document-received", payload=PAYLOAD, now_ms=1000, document_id=7
        )
    assert published.deliveries == 1
    with runtime.db.read() as conn:
        rows = conn.all("SELECT webhook_id, status, request_id, next_attempt_at FROM deliveries")
    assert [(r["webhook_id"], r["status"], r["next_attempt_at"]) for r in rows] == [(wanted.id, "pending", 1000)]
    assert len(rows[0]["request_id"]) == 32 and int(rows[0]["request_id"], 16) >= 0


def test_a_rolled_back_transaction_leaves_neither_event_nor_delivery(runtime: Runtime) -> None:
    acme = make_tenant(runtime.db)
    make_webhook(runtime.db, runtime.cipher, acme.tenant_id, "http://127.0.0.1:9/")
    with pytest.raises(RuntimeError), runtime.db.transaction() as conn:
        publish(conn, tenant_id=acme.tenant_id, topic="document-received", payload=PAYLOAD, now_ms=1)
        raise RuntimeError("the state change failed")
    with runtime.db.read() as conn:
        assert conn.one("SELECT COUNT(*) AS n FROM events")["n"] == 0  # type: ignore[index]
        assert conn.one("SELECT COUNT(*) AS n FROM deliveries")["n"] == 0  # type: ignore[index]


def _queue_one(runtime: Runtime) -> None:
    acme = make_tenant(runtime.db)
    make_webhook(runtime.db, runtime.cipher, acme.tenant_id, "http://127.0.0.1:9/")
    with runtime.db.transaction() as conn:
        publish(conn, tenant_id=acme.tenant_id, topic="document-received", payload=PAYLOAD, now_ms=1000)


def test_a_claim_leases_and_an_expired_lease_returns_to_the_queue(runtime: Runtime) -> None:
    _queue_one(runtime)
    with runtime.db.transaction() as conn:
        first, hooks = leases.claim(conn, worker="a", now_ms=1000, lease_ms=5000, limit=10)
        assert len(first) == 1 and first[0].attempt_number == 1 and len(hooks) == 1
        assert leases.claim(conn, worker="b", now_ms=2000, lease_ms=5000, limit=10)[0] == []
        again, _ = leases.claim(conn, worker="b", now_ms=6000, lease_ms=5000, limit=10)
    assert [c.request_id for c in again] == [first[0].request_id]


def test_only_the_lease_holder_settles_a_delivery(runtime: Runtime) -> None:
    _queue_one(runtime)
    with runtime.db.transaction() as conn:
        (item,), _ = leases.claim(conn, worker="a", now_ms=1000, lease_ms=10, limit=10)
        leases.claim(conn, worker="b", now_ms=2000, lease_ms=5000, limit=10)
        leases.record(conn, worker="a", outcomes=[_succeeded(item)], now_ms=2100)
        row = conn.one("SELECT status, locked_by FROM deliveries")
        attempts = conn.one("SELECT COUNT(*) AS n FROM attempts")
    assert row == {"status": "pending", "locked_by": "b"}
    assert attempts == {"n": 1}  # the attempt happened, so it is logged


def test_a_late_write_does_not_settle_or_release_the_same_workers_later_claim(runtime: Runtime) -> None:
    _queue_one(runtime)
    with runtime.db.transaction() as conn:
        (first,), _ = leases.claim(conn, worker="a", now_ms=1000, lease_ms=10, limit=10)
        (second,), _ = leases.claim(conn, worker="a", now_ms=2000, lease_ms=5000, limit=10)  # the lease ran out
        leases.record(conn, worker="a", outcomes=[_succeeded(first)], now_ms=2100)
        leases.release(conn, worker="a", leases=[(first.delivery_id, first.lease_end)], now_ms=2100)
        held = conn.one("SELECT status, locked_by, next_attempt_at FROM deliveries")
        leases.record(conn, worker="a", outcomes=[_succeeded(second)], now_ms=2200)
        settled = conn.one("SELECT status, locked_by FROM deliveries")
    assert held == {"status": "pending", "locked_by": "a", "next_attempt_at": second.lease_end}
    assert settled == {"status": "succeeded", "locked_by": None}


def test_a_claim_reads_a_webhook_again_only_when_it_changed_since_the_callers_copy(runtime: Runtime) -> None:
    acme = make_tenant(runtime.db)
    make_webhook(runtime.db, runtime.cipher, acme.tenant_id, "http://127.0.0.1:9/")
    with runtime.db.transaction() as conn:
        for _ in range(3):
            publish(conn, tenant_id=acme.tenant_id, topic="document-received", payload=PAYLOAD, now_ms=1000)
    with runtime.db.transaction() as conn:
        (first,), (hook,) = leases.claim(conn, worker="a", now_ms=1000, lease_ms=10, limit=1)
        known = {hook["id"]: hook["updated_at"]}
        assert first.webhook_version == hook["updated_at"]
        (_,), unchanged = leases.claim(conn, worker="a", now_ms=2000, lease_ms=10, limit=1, known=known)
        conn.run("UPDATE webhooks SET url = 'http://127.0.0.1:9/moved', updated_at = updated_at + 1")
        (_,), changed = leases.claim(conn, worker="a", now_ms=3000, lease_ms=10, limit=1, known=known)
    assert unchanged == []
    assert [(h["url"], h["updated_at"]) for h in changed] == [("http://127.0.0.1:9/moved", hook["updated_at"] + 1)]


def _succeeded(item: leases.Claimed) -> leases.Outcome:
    return leases.Outcome(
        item.delivery_id,
        item.webhook_id,
        item.attempt_number,
        1000,
        5,
        "{}",
        200,
        "ok",
        None,
        leases.DeliveryStatus.SUCCEEDED,
        None,
        lease_end=item.lease_end,
    )


def test_tokens_and_header_values_are_not_stored_in_plain_text(runtime: Runtime) -> None:
    acme = make_tenant(runtime.db)
    hook = make_webhook(runtime.db, runtime.cipher, acme.tenant_id, "http://127.0.0.1:9/")
    with runtime.db.read() as conn:
        stored = conn.one("SELECT headers, secret FROM webhooks")
        tokens = conn.all("SELECT token_hash FROM api_tokens")
    assert stored is not None
    assert "receiver-token" not in stored["headers"] and hook.secret not in stored["secret"]
    assert acme.token not in [t["token_hash"] for t in tokens]


@pytest.mark.postgres
def test_a_publish_notifies_a_listener_in_another_session_but_not_its_own(tmp_path: Path) -> None:
    """Workers on other machines learn of new work by NOTIFY (SQLite has one process per file);
    a database's own notifications are left to the in-process signal that its commit fires."""
    with postgres_database() as url:
        rt = open_runtime(make_settings(tmp_path, url))
        other = open_database(url)
        tenant = make_tenant(rt.db).tenant_id
        make_webhook(rt.db, rt.cipher, tenant, "https://hooks.example.com/in")
        connected, notified = asyncio.Event(), asyncio.Event()

        def heard() -> None:
            # listen() calls once as soon as it LISTENs (for what it may have missed): that
            # call says it is connected; only a later one can be the publish's notification.
            (notified if connected.is_set() else connected).set()

        async def scenario() -> None:
            listening = asyncio.create_task(rt.db.listen(deliveries_queued.channel, heard))
            try:
                await asyncio.wait_for(connected.wait(), timeout=10)
                with rt.db.transaction() as conn:
                    publish(conn, tenant_id=tenant, topic="document-received", payload=PAYLOAD, now_ms=1)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(notified.wait(), timeout=1)
                assert not notified.is_set(), "the listener heard its own database's notification"
                with other.transaction() as conn:
                    publish(conn, tenant_id=tenant, topic="document-received", payload=PAYLOAD, now_ms=2)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(notified.wait(), timeout=5)
                assert notified.is_set(), "the listener was connected, but no notification came within 5 s"
            finally:
                listening.cancel()

        try:
            asyncio.run(scenario())
        finally:
            other.close()
            rt.close()


def test_only_one_process_may_dispatch_from_a_sqlite_file(tmp_path: Path) -> None:
    rt = open_runtime(make_settings(tmp_path, f"sqlite:///{tmp_path}/one.db"))
    try:
        with sole_dispatcher(rt), pytest.raises(DochooksError, match="already dispatches"), sole_dispatcher(rt):
            pass
        with sole_dispatcher(rt):  # released when the first holder ends
            pass
    finally:
        rt.close()
