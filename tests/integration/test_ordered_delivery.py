"""Ordered delivery (a webhook's `ordered`), on SQLite and PostgreSQL, with real HTTP to a
receiver on loopback that fails a document's first topic several times: the later topics of
that document wait for it, and nothing else does."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from dochooks.db import Row
from dochooks.delivery import log
from dochooks.delivery.claims import LeftOut
from dochooks.delivery.dispatcher import Dispatcher
from dochooks.delivery.leases import Claimed
from dochooks.delivery.publish import publish_all, send_test
from dochooks.runtime import Runtime, open_runtime
from tests.factories.deliveries import PAYLOAD, dispatch_until
from tests.factories.peers import Received, Receiver
from tests.factories.stores import make_settings, make_tenant, make_webhook, postgres_database

# A document's workflow as its transitions publish it: one transaction each, the second with two topics.
RECEIVED = "document-received"
LATER = ("preprocessing-done", "processing-finished")
TOPICS = (RECEIVED, *LATER)
FAILURES = 5  # of the first topic of the held document: its retries take about 1 + 32 + 243 + 1024 + 3125 ms


def run_workflow(rt: Runtime, tenant: int, document: int) -> None:
    """Publish a document's topics the way its transitions do: in order, a transaction each."""
    payload = {**PAYLOAD, "id": str(document), "attributes": {**PAYLOAD["attributes"], "document_id": document}}
    for topics in ((RECEIVED,), LATER):
        with rt.db.transaction() as conn:
            publish_all(
                conn, tenant_id=tenant, topics=topics, payload=payload, now_ms=rt.clock.now_ms(), document_id=document
            )


def about(received: list[Received], document: int) -> list[Received]:
    return [r for r in received if r.about[0] == str(document)]


def topics_of(received: list[Received]) -> list[tuple[str, int | None]]:
    return [(r.about[1], r.answered) for r in received]


class Counting(Dispatcher):
    """The real dispatcher, counting its claims: held deliveries must not make it spin."""

    claims = 0

    def _claim(self, limit: int, left_out: LeftOut, window: int | None) -> tuple[list[Claimed], list[Row], int | None]:
        Counting.claims += 1
        return super()._claim(limit, left_out, window)


def test_an_ordered_webhook_gets_a_documents_topics_in_order_holding_only_that_document(
    runtime: Runtime, receiver: Receiver
) -> None:
    tenant = make_tenant(runtime.db).tenant_id
    held, other = 7001, 7002
    make_webhook(
        runtime.db,
        runtime.cipher,
        tenant,
        receiver.url(f"/fail-document/{held}/{FAILURES}/ordered"),
        topics=TOPICS,
        ordered=True,
    )
    make_webhook(runtime.db, runtime.cipher, tenant, receiver.url("/ok/unordered"), topics=TOPICS)
    for document in (held, other):
        run_workflow(runtime, tenant, document)
    Counting.claims = 0
    dispatch_until(
        runtime,
        lambda: len(receiver.at("/fail-document")) == FAILURES + 6 and len(receiver.at("/ok/unordered")) == 6,
        dispatcher=Counting,
        retry_time_scale=0.001,
    )
    ordered = receiver.at("/fail-document")
    # (a) In workflow order: each later topic only after the one before it succeeded.
    assert topics_of(about(ordered, held)) == [(RECEIVED, 500)] * FAILURES + [(t, 200) for t in TOPICS]
    first_succeeded = about(ordered, held)[FAILURES].at
    # (b) The other document was not held behind the first: all of it came while that was retried.
    assert topics_of(about(ordered, other)) == [(t, 200) for t in TOPICS]
    assert all(r.at < first_succeeded for r in about(ordered, other))
    # (c) A webhook that did not opt in got the held document's later topics while it was retried.
    unordered = about(receiver.at("/ok/unordered"), held)
    assert sorted(r.about[1] for r in unordered) == sorted(TOPICS)
    assert all(r.at < first_succeeded for r in unordered if r.about[1] in LATER)
    # The held deliveries were due all along, yet the loop slept until the one before them settled
    # rather than claiming every few milliseconds: ~4.4 s of retries at a 0.2 s poll.
    assert Counting.claims < 120


def test_a_later_topic_goes_once_the_earlier_failed_for_good(runtime: Runtime, receiver: Receiver) -> None:
    tenant = make_tenant(runtime.db).tenant_id
    make_webhook(
        runtime.db, runtime.cipher, tenant, receiver.url("/fail-document/any/9/gives-up"), topics=TOPICS, ordered=True
    )
    run_workflow(runtime, tenant, 42)
    dispatch_until(runtime, lambda: len(receiver.at("/fail-document")) == 9 + 2, retry_time_scale=0.00001)
    # The first topic used up its 8 retries (9 attempts, all 500); only then did the others go.
    got = topics_of(receiver.at("/fail-document"))
    assert got == [(RECEIVED, 500)] * 9 + [(t, 200) for t in LATER]


def test_a_test_send_and_a_retry_by_hand_keep_to_the_rules_of_the_queue(runtime: Runtime, receiver: Receiver) -> None:
    """A test send has no document and is never held; a delivery retried by hand takes its old
    place in its document's order: it waits for nothing earlier and holds what comes after it."""
    tenant = make_tenant(runtime.db).tenant_id
    hook = make_webhook(
        runtime.db, runtime.cipher, tenant, receiver.url("/fail-document/any/1/by-hand"), topics=TOPICS, ordered=True
    )
    run_workflow(runtime, tenant, 42)
    with runtime.db.transaction() as conn:
        test = send_test(conn, tenant_id=tenant, webhook_id=hook.id, topic=RECEIVED, now_ms=runtime.clock.now_ms())
        first = log.list_deliveries(conn, tenant_id=tenant, webhook_id=hook.id, limit=10)[-1]
    # Retries a hundred times slower: the first topic's 500 is not retried within the test.
    started, slow = time.monotonic(), {"retry_time_scale": 100.0}
    dispatch_until(runtime, lambda: time.monotonic() - started > 1.5, **slow)
    # The test send went (answered 500 too); the document's later topics wait behind its first.
    sent = receiver.at("/fail-document")
    assert sorted(r.headers["webhook-id"] for r in sent) == sorted([first.request_id, test.request_id])
    with runtime.db.transaction() as conn:  # the retry by hand makes the first due now
        log.retry_delivery(conn, tenant_id=tenant, delivery_id=first.id, now_ms=runtime.clock.now_ms())
    dispatch_until(runtime, lambda: len(receiver.at("/fail-document")) == 5, **slow)
    assert topics_of(receiver.at("/fail-document")[2:]) == [(t, 200) for t in TOPICS]
    assert receiver.at("/fail-document")[2].headers["webhook-id"] == first.request_id


@pytest.mark.postgres
def test_two_dispatchers_claiming_at_once_never_send_a_later_topic_before_the_earlier_settled(
    tmp_path: Path, receiver: Receiver
) -> None:
    documents = range(1, 41)
    with postgres_database() as url:
        first = open_runtime(make_settings(tmp_path / "one", url))
        second = open_runtime(make_settings(tmp_path / "two", url))
        try:
            tenant = make_tenant(first.db).tenant_id
            # Every document's first topic fails twice; answers take a little while, so claims overlap.
            make_webhook(
                first.db, first.cipher, tenant, receiver.url("/fail-document/any/2/race"), topics=TOPICS, ordered=True
            )
            for document in documents:
                run_workflow(first, tenant, document)
            claimed = race(first, second, lambda: len(receiver.at("/fail-document")) == len(documents) * 5)
        finally:
            first.close()
            second.close()
    assert all(claimed.values()), f"both dispatchers claimed: {claimed}"
    for document in documents:
        got = about(receiver.at("/fail-document"), document)
        assert topics_of(got) == [(RECEIVED, 500), (RECEIVED, 500)] + [(t, 200) for t in TOPICS], document


def race(first: Runtime, second: Runtime, done: Any, timeout: float = 60) -> dict[str, int]:
    """Two real dispatchers, each on its own pool, until `done()`; returns how many deliveries each claimed."""
    counts: dict[str, int] = {}

    class Telling(Dispatcher):
        def _claim(
            self, limit: int, left_out: LeftOut, window: int | None
        ) -> tuple[list[Claimed], list[Row], int | None]:
            found = super()._claim(limit, left_out, window)
            counts[self.worker_id] = counts.get(self.worker_id, 0) + len(found[0])
            return found

    async def main() -> None:
        stopping = asyncio.Event()
        settings = {"retry_time_scale": 0.001, "poll_interval": 0.05, "claim_batch": 5}
        tasks = [asyncio.create_task(Telling(rt.tuned(**settings)).run(stopping)) for rt in (first, second)]
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(done):
            assert time.monotonic() < deadline, "the dispatchers did not finish in time"
            await asyncio.sleep(0.02)
        stopping.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    return counts
