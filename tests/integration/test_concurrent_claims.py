"""Claims racing on PostgreSQL: two workers, each through a connection pool of its own,
claim from the same queue at the same instant, round after round, with a webhook left out
as the dispatcher leaves out one at its cap (and without and with the claim window). No
delivery may be leased to both, and together they must take everything that was due and
nothing else."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dochooks.db import Database, open_database
from dochooks.delivery import leases
from dochooks.delivery.publish import publish, publish_all
from dochooks.runtime import Runtime, open_runtime
from tests.factories.deliveries import PAYLOAD
from tests.factories.stores import make_settings, make_tenant, make_webhook, postgres_database

pytestmark = pytest.mark.postgres

ROUNDS = 25
DUE = 60  # per round
LIMIT = 7  # per claim: each worker claims again and again until it finds nothing
LEASE_MS = 3_600_000  # longer than the test: what a round claimed stays leased in the rounds after it


@pytest.fixture
def postgres_runtime(tmp_path: Path) -> Iterator[Runtime]:
    with postgres_database() as url:
        rt = open_runtime(make_settings(tmp_path, url))
        try:
            yield rt
        finally:
            rt.close()


def due_deliveries(rt: Runtime, tenant: int, count: int, now_ms: int) -> list[int]:
    """`count` deliveries due at `now_ms`; returns their ids."""
    with rt.db.transaction() as conn:
        for _ in range(count):
            publish(conn, tenant_id=tenant, topic="document-received", payload=PAYLOAD, now_ms=now_ms)
        rows = conn.all("SELECT id FROM deliveries WHERE next_attempt_at = :now AND locked_by IS NULL", {"now": now_ms})
    return [r["id"] for r in rows]


@dataclass(frozen=True)
class Claims:
    """How the workers claim: leaving out `skip`, looking at `window` due deliveries at each end."""

    skip: list[int]
    window: int | None

    def until_empty(self, db: Database, worker: str, now_ms: int, start: threading.Barrier) -> list[list[int]]:
        """Claim `LIMIT` at a time until a claim finds nothing; returns each claim's delivery ids."""
        taken = []
        start.wait()
        while True:
            with db.transaction() as conn:
                claimed, _ = leases.claim(
                    conn,
                    worker=worker,
                    now_ms=now_ms,
                    lease_ms=LEASE_MS,
                    limit=LIMIT,
                    skip=self.skip,
                    window=self.window,
                )
            if not claimed:
                return taken
            taken.append([c.delivery_id for c in claimed])


def race(workers: dict[str, Database], claims: Claims, now_ms: int) -> dict[str, list[list[int]]]:
    """Every worker claiming until it finds nothing, all starting together, each in a thread."""
    start = threading.Barrier(len(workers))
    results: dict[str, list[list[int]]] = {}
    failures: list[BaseException] = []

    def run(name: str, db: Database) -> None:
        try:
            results[name] = claims.until_empty(db, name, now_ms, start)
        except BaseException as exc:  # reported by the test's thread below
            failures.append(exc)
            start.abort()

    threads = [threading.Thread(target=run, args=item) for item in workers.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    return results


@pytest.mark.parametrize("window", [None, 4 * LIMIT])
def test_two_connections_claiming_at_the_same_instant_get_disjoint_deliveries(
    postgres_runtime: Runtime, window: int | None
) -> None:
    rt = postgres_runtime
    tenant = make_tenant(rt.db).tenant_id
    make_webhook(rt.db, rt.cipher, tenant, "http://127.0.0.1:9/x")
    left_out = make_webhook(rt.db, rt.cipher, tenant, "http://127.0.0.1:9/capped", topics=("processing-failed",))
    with rt.db.transaction() as conn:  # due all along, and older than everything else: never to be claimed
        for _ in range(LIMIT):
            publish(conn, tenant_id=tenant, topic="processing-failed", payload=PAYLOAD, now_ms=0)
    claims = Claims([left_out.id], window)
    url = rt.settings.database_url
    workers: dict[str, Database] = {"a": open_database(url), "b": open_database(url)}
    try:
        for round_ in range(ROUNDS):
            now = 1_000_000 + round_ * 1000
            due = set(due_deliveries(rt, tenant, DUE, now))
            later = due_deliveries(rt, tenant, 3, now + 2 * LEASE_MS)  # never due in this test: no claim may take them
            assert len(due) == DUE and len(later) == 3
            results = race(workers, claims, now)
            assert all(len(claim) <= LIMIT for taken in results.values() for claim in taken), results
            a = [i for claim in results["a"] for i in claim]
            b = [i for claim in results["b"] for i in claim]
            assert len(a) == len(set(a)) and len(b) == len(set(b)), f"round {round_}: a worker claimed one twice"
            assert set(a).isdisjoint(b), f"round {round_}: both claimed {sorted(set(a) & set(b))}"
            assert set(a) | set(b) == due, f"round {round_}: missed {sorted(due - set(a) - set(b))}"
            with rt.db.read() as conn:
                holders = conn.all(
                    "SELECT id, locked_by FROM deliveries WHERE next_attempt_at = :lease", {"lease": now + LEASE_MS}
                )
            assert {r["id"]: r["locked_by"] for r in holders} == {**dict.fromkeys(a, "a"), **dict.fromkeys(b, "b")}
    finally:
        for db in workers.values():
            db.close()


def test_two_connections_claiming_at_once_take_one_delivery_of_an_ordered_document_at_a_time(
    postgres_runtime: Runtime,
) -> None:
    """Each round, both workers race to claim everything due; what they claimed then settles.
    Every document's topics must come out one per round, in order, however the race goes."""
    rt = postgres_runtime
    tenant = make_tenant(rt.db).tenant_id
    topics = ("document-received", "preprocessing-done", "processing-finished")
    hook = make_webhook(rt.db, rt.cipher, tenant, "http://127.0.0.1:9/ordered", topics=topics, ordered=True)
    documents = range(1, DUE + 1)
    with rt.db.transaction() as conn:  # in workflow order: the first topic, then the other two in one transaction
        for document in documents:
            publish_all(conn, tenant_id=tenant, topics=topics[:1], payload=PAYLOAD, now_ms=1, document_id=document)
            publish_all(conn, tenant_id=tenant, topics=topics[1:], payload=PAYLOAD, now_ms=1, document_id=document)
        placed = conn.all(
            "SELECT d.id, d.topic, e.document_id FROM deliveries d JOIN events e ON e.id = d.event_id "
            "WHERE d.webhook_id = :hook",
            {"hook": hook.id},
        )
    where = {r["id"]: (r["document_id"], r["topic"]) for r in placed}
    url = rt.settings.database_url
    workers: dict[str, Database] = {"a": open_database(url), "b": open_database(url)}
    try:
        for round_, topic in enumerate(topics):
            now = 1_000_000 + round_ * 1000
            results = race(workers, Claims([], None), now)
            assert results["a"] and results["b"], f"round {round_}: a worker claimed nothing: no race"
            taken = [where[i] for claims in results.values() for claim in claims for i in claim]
            assert sorted(taken) == [(document, topic) for document in documents], f"round {round_}"
            with rt.db.transaction() as conn:  # the round's deliveries settle
                conn.run("UPDATE deliveries SET status = 'succeeded' WHERE locked_by IS NOT NULL")
        assert race(workers, Claims([], None), 2_000_000) == {"a": [], "b": []}
    finally:
        for db in workers.values():
            db.close()
