"""Bulk recovery on SQLite and PostgreSQL: which deliveries a job makes due, once each, in
batches; joining; a restart; 100,000 deliveries; and the dispatcher's fairness with a
recovered backlog."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time

import pytest

from dochooks.delivery import recovery
from dochooks.delivery.publish import publish
from dochooks.delivery.recoverer import Recoverer, run_to_end
from dochooks.delivery.recovery import JobStatus, Which
from dochooks.errors import Conflict, NotFound
from dochooks.runtime import Runtime, open_runtime
from dochooks.tenants import NewTenant
from dochooks.webhooks import store
from tests.factories.deliveries import PAYLOAD, dispatch_until
from tests.factories.peers import Receiver
from tests.factories.recoveries import settled_deliveries
from tests.factories.stores import make_tenant, make_webhook

SINCE = 1_700_000_000_000


class TickingClock:
    """A wall clock that moves 1 ms each time it is read: every batch gets a time of its own."""

    def __init__(self, start: int = SINCE + 10_000_000) -> None:
        self._ticks = itertools.count(start)

    def now_ms(self) -> int:
        return next(self._ticks)


def no_rest(seconds: float) -> None:
    """Batches one after another: the tests measure the walk, not the rests."""


def start(rt: Runtime, tenant: int, webhook: int, which: Which = Which.FAILED, since: int = SINCE) -> recovery.Recovery:
    job, new = recovery.start(
        rt.db, tenant_id=tenant, webhook_id=webhook, since_ms=since, which=which, now_ms=rt.clock.now_ms()
    )
    assert new
    return job


def finish(rt: Runtime, job: recovery.Recovery, *, batch: int, clock: TickingClock | None = None) -> recovery.Recovery:
    run_to_end(
        rt.db,
        job.id,
        dataclasses.replace(rt.settings, recover_batch=batch),
        clock or TickingClock(),
        pause=no_rest,
    )
    with rt.db.read() as conn:
        return recovery.get(conn, tenant_id=job.tenant_id, webhook_id=job.webhook_id, recovery_id=job.id)


def by_status(rt: Runtime, webhook: int) -> dict[str, int]:
    with rt.db.read() as conn:
        rows = conn.all(
            "SELECT status, COUNT(*) AS n FROM deliveries WHERE webhook_id = :w GROUP BY status", {"w": webhook}
        )
    return {r["status"]: int(r["n"]) for r in rows}


def seeded(rt: Runtime, tenant: NewTenant, *counts: tuple[str, int, int]) -> int:
    """A webhook with (status, count, settled at) groups of deliveries, oldest first; its id."""
    hook = make_webhook(rt.db, rt.cipher, tenant.tenant_id, "https://example.com/hook")
    with rt.db.transaction() as conn:
        for status, count, at in counts:
            settled_deliveries(conn, tenant=tenant.tenant_id, webhook=hook.id, count=count, status=status, at=at)
    return hook.id


def test_a_recovery_makes_each_failed_delivery_since_due_once_in_batches(runtime: Runtime, acme: NewTenant) -> None:
    hook = seeded(
        runtime,
        acme,
        ("failed", 30, SINCE - 1),  # failed before: left alone
        ("failed", 50, SINCE),
        ("succeeded", 20, SINCE + 5),
    )
    other = seeded(runtime, acme, ("failed", 10, SINCE + 5))
    job = start(runtime, acme.tenant_id, hook)
    assert (job.status, job.total, job.recovered, job.which) == (JobStatus.QUEUED, 50, 0, Which.FAILED)
    done = finish(runtime, job, batch=7)
    assert (done.status, done.total, done.recovered) == (JobStatus.DONE, 50, 50)
    assert done.started_at is not None and done.finished_at is not None
    assert by_status(runtime, hook) == {"failed": 30, "pending": 50, "succeeded": 20}
    assert by_status(runtime, other) == {"failed": 10}
    with runtime.db.read() as conn:
        batches = conn.all(
            "SELECT next_attempt_at, COUNT(*) AS n FROM deliveries WHERE webhook_id = :w AND status = 'pending' "
            "GROUP BY next_attempt_at ORDER BY next_attempt_at",
            {"w": hook},
        )
    # Each batch (its own time) looks at the next 7 of the webhook's 100 deliveries and makes
    # the chosen ones due: 50 in all, once each.
    assert sum(r["n"] for r in batches) == 50 and max(r["n"] for r in batches) == 7 and len(batches) == 8


@pytest.mark.parametrize(("which", "expected"), [(Which.SUCCEEDED, 20), (Which.ALL, 70)])
def test_the_status_filter_chooses_which_deliveries(
    runtime: Runtime, acme: NewTenant, which: Which, expected: int
) -> None:
    hook = seeded(runtime, acme, ("failed", 50, SINCE), ("succeeded", 20, SINCE), ("succeeded", 5, SINCE - 1))
    done = finish(runtime, start(runtime, acme.tenant_id, hook, which), batch=1000)
    assert (done.total, done.recovered, done.which) == (expected, expected, which)
    assert by_status(runtime, hook)["pending"] == expected


def test_a_second_start_joins_the_job_under_way_and_another_tenant_finds_no_webhook(
    runtime: Runtime, acme: NewTenant
) -> None:
    hook = seeded(runtime, acme, ("failed", 5, SINCE))
    first = start(runtime, acme.tenant_id, hook)
    joined, new = recovery.start(
        runtime.db, tenant_id=acme.tenant_id, webhook_id=hook, since_ms=0, which=Which.ALL, now_ms=1
    )
    assert not new and joined.id == first.id and joined.which == Which.FAILED
    other = make_tenant(runtime.db, "other")
    with pytest.raises(NotFound):
        recovery.start(runtime.db, tenant_id=other.tenant_id, webhook_id=hook, since_ms=0, which=Which.ALL, now_ms=1)
    with pytest.raises(NotFound), runtime.db.read() as conn:
        recovery.get(conn, tenant_id=other.tenant_id, webhook_id=hook, recovery_id=first.id)
    finish(runtime, first, batch=100)
    assert start(runtime, acme.tenant_id, hook).id != first.id  # once done, a new one begins


def test_a_disabled_webhook_is_not_recovered(runtime: Runtime, acme: NewTenant) -> None:
    hook = seeded(runtime, acme, ("failed", 5, SINCE))
    with runtime.db.transaction() as conn:
        store.update_webhook(conn, runtime.cipher, acme.tenant_id, hook, {"enabled": False}, runtime.clock.now_ms())
    with pytest.raises(Conflict, match="disabled"):
        recovery.start(runtime.db, tenant_id=acme.tenant_id, webhook_id=hook, since_ms=0, which=Which.FAILED, now_ms=1)


def test_a_recovery_goes_on_after_a_restart_where_it_stopped(runtime: Runtime, acme: NewTenant) -> None:
    hook = seeded(runtime, acme, ("failed", 95, SINCE))
    job = start(runtime, acme.tenant_id, hook)
    for _ in range(3):  # three batches, then the process "stops"
        recovery.advance(runtime.db, job.id, batch=10, now_ms=SINCE + 1)
    runtime.close()
    again = open_runtime(dataclasses.replace(runtime.settings, recover_batch=10, recover_pause=0))
    try:

        async def background() -> None:
            stopping = asyncio.Event()
            task = asyncio.create_task(Recoverer(again.db, again.settings, TickingClock(SINCE + 100)).run(stopping))
            deadline = time.monotonic() + 20
            while by_status(again, hook).get("pending", 0) < 95:
                assert time.monotonic() < deadline, "the recovery did not finish"
                await asyncio.sleep(0.02)
            stopping.set()
            await task

        asyncio.run(background())
        with again.db.read() as conn:
            done = recovery.get(conn, tenant_id=acme.tenant_id, webhook_id=hook, recovery_id=job.id)
            resumed = conn.one(
                "SELECT COUNT(*) AS n FROM deliveries WHERE webhook_id = :w AND next_attempt_at = :t",
                {"w": hook, "t": SINCE + 1},
            )
        assert (done.status, done.recovered, done.total) == (JobStatus.DONE, 95, 95)
        assert resumed is not None and resumed["n"] == 30  # the first process's batches were not made due again
    finally:
        again.close()


def test_a_hundred_thousand_failed_deliveries_are_each_made_due_once(runtime: Runtime, acme: NewTenant) -> None:
    hook = seeded(runtime, acme, ("failed", 100_000, SINCE))
    started = time.monotonic()
    job = start(runtime, acme.tenant_id, hook)
    assert job.total == 100_000
    done = finish(runtime, job, batch=1000)
    took = time.monotonic() - started
    assert (done.status, done.total, done.recovered) == (JobStatus.DONE, 100_000, 100_000)
    with runtime.db.read() as conn:
        row = conn.one(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT next_attempt_at) AS batches, MIN(attempt_count) AS a "
            "FROM deliveries WHERE webhook_id = :w AND status = 'pending' AND locked_by IS NULL",
            {"w": hook},
        )
    assert row is not None and (row["n"], row["batches"], row["a"]) == (100_000, 100, 9)
    # `recovered` sums what each batch's UPDATE changed: 100,000 rows in all, each pending once.
    assert took < 30, f"the recovery took {took:.1f} s"


def test_a_recovered_backlog_leaves_another_tenants_fresh_delivery_prompt(runtime: Runtime, receiver: Receiver) -> None:
    flooding = make_tenant(runtime.db, "flood")
    hook = make_webhook(runtime.db, runtime.cipher, flooding.tenant_id, receiver.url("/slow/2/recovered"))
    with runtime.db.transaction() as conn:
        settled_deliveries(conn, tenant=flooding.tenant_id, webhook=hook.id, count=3000, status="failed", at=SINCE)
    quiet = make_tenant(runtime.db, "quiet")
    make_webhook(runtime.db, runtime.cipher, quiet.tenant_id, receiver.url("/ok/quiet"))
    job = start(runtime, flooding.tenant_id, hook.id)
    run_to_end(runtime.db, job.id, runtime.settings, runtime.clock, pause=no_rest)  # 3,000 due now
    with runtime.db.transaction() as conn:
        publish(
            conn, tenant_id=quiet.tenant_id, topic="document-received", payload=PAYLOAD, now_ms=runtime.clock.now_ms()
        )
    started = time.monotonic()
    dispatch_until(
        runtime,
        lambda: len(receiver.at("/ok/quiet")) == 1,
        max_in_flight=200,
        claim_batch=50,
        max_per_webhook=20,
        max_per_tenant=100,
        delivery_timeout=3.0,
    )
    (got,) = receiver.at("/ok/quiet")
    assert got.at - started < 1.5  # not behind the recovered backlog's slow answers
    assert len(receiver.at("/slow/2/recovered")) <= 20  # the endpoint's cap held
