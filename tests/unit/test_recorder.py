from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

from dochooks.delivery.leases import DeliveryStatus, Outcome
from dochooks.delivery.recorder import FLUSH_SECONDS, WRITE_TRIES, Batch, Recorder, Release
from dochooks.errors import StorageError
from dochooks.webhooks.store import Gone
from tests.factories.deliveries import claimed


def outcome(delivery: int, status: str = "succeeded", *, in_order: bool = False) -> Outcome:
    return Outcome(
        delivery_id=delivery,
        webhook_id=1,
        number=1,
        started_at=0,
        duration_ms=5,
        request_headers="{}",
        response_status=200 if status == "succeeded" else 500,
        response_body="",
        error=None if status == "succeeded" else "HTTP 500",
        status=DeliveryStatus(status),
        next_attempt_at=10_000 if status == "pending" else None,
        lease_end=0,
        in_order=in_order,
    )


class Writes:
    """The database as the recorder sees it: each write lands in `batches`, or fails while
    `failing` says so (given the number of the write, from 1); `tried` hears of each."""

    def __init__(self, failing: Callable[[int], bool] = lambda n: False) -> None:
        self.failing = failing
        self.tries = 0
        self.batches: list[Batch] = []
        self.tried: Callable[[], None] = lambda: None

    def __call__(self, batch: Batch) -> None:  # in the recorder's worker thread
        try:
            self.tries += 1
            if self.failing(self.tries):
                raise StorageError("database is locked")
            self.batches.append(batch)
        finally:
            self.tried()


class Harness:
    """A recorder with a fake database, a fake sleep (it notes the wait and runs `during_sleep`)
    and the wake-ups it gives; `busy` says whether deliveries are still being sent."""

    def __init__(self, writes: Writes, *, busy: bool = False, gather: int = 3) -> None:
        self.writes = writes
        self.slept: list[float] = []
        self.woken = 0
        self.during_sleep: Callable[[int], None] = lambda n: None
        self.recorder = Recorder(
            writes, gather=gather, retry_wait=0.5, busy=lambda: busy, wake=self._wake, sleep=self._sleep
        )

    def _wake(self) -> None:
        self.woken += 1

    async def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.during_sleep(len(self.slept))

    async def run_until(self, done: Callable[[], bool], then: Callable[[], None] = lambda: None) -> None:
        """Run the recorder until `done()` holds after a write, do `then()`, close it and let it finish."""
        tried = asyncio.Event()
        self.writes.tried = functools.partial(asyncio.get_running_loop().call_soon_threadsafe, tried.set)
        run = asyncio.create_task(self.recorder.run())
        while not done():
            await tried.wait()
            tried.clear()
        then()
        self.recorder.close()
        await run

    async def run_until_written(self) -> None:
        await self.run_until(lambda: bool(self.writes.batches))


def ids(batch: Batch) -> list[int]:
    return [o.delivery_id for o in batch.outcomes]


def test_when_idle_outcomes_are_written_at_once_and_closing_writes_what_is_left() -> None:
    writes = Writes()
    harness = Harness(writes)
    harness.recorder.add(outcome(1))
    harness.recorder.add(outcome(2), Gone(1, 5))
    harness.recorder.close()
    asyncio.run(harness.recorder.run())
    (batch,) = writes.batches
    assert ids(batch) == [1, 2] and batch.found == [Gone(1, 5)] and batch.released == []
    assert harness.slept == [] and harness.woken == 0  # nothing came due again: no wake-up


def test_under_load_outcomes_gather_for_a_moment_into_one_write() -> None:
    writes = Writes()
    harness = Harness(writes, busy=True)
    harness.recorder.add(outcome(1, "pending"))

    def more_finish(_: int) -> None:
        harness.recorder.add(outcome(2))

    harness.during_sleep = more_finish
    harness.recorder.release(claimed(delivery=3, lease_end=99), after_ms=15_000)
    asyncio.run(harness.run_until_written())
    (batch,) = writes.batches
    assert ids(batch) == [1, 2] and batch.released == [Release(3, 99, 15_000)]
    assert harness.slept == [FLUSH_SECONDS]


def test_a_full_batch_is_written_without_waiting() -> None:
    writes = Writes()
    harness = Harness(writes, busy=True, gather=3)
    for delivery in (1, 2, 3):
        harness.recorder.add(outcome(delivery, "pending"))
    asyncio.run(harness.run_until_written())
    assert [ids(b) for b in writes.batches] == [[1, 2, 3]] and harness.slept == []


def test_a_write_that_comes_due_again_wakes_the_loop() -> None:
    for add in (
        lambda r: r.add(outcome(1, "pending")),  # a retry
        lambda r: r.release(claimed(delivery=1)),  # a delivery given back unsent
    ):
        harness = Harness(Writes())
        add(harness.recorder)
        asyncio.run(harness.run_until_written())
        assert harness.woken == 1


def test_settling_a_delivery_that_keeps_its_documents_order_wakes_the_loop() -> None:
    # The next topic of its document to its ordered webhook is due and may go now; a settled
    # delivery of any other webhook frees nothing (the idle test above: no wake-up).
    for status in ("succeeded", "failed"):
        harness = Harness(Writes())
        harness.recorder.add(outcome(1, status, in_order=True))
        asyncio.run(harness.run_until_written())
        assert harness.woken == 1


def test_a_failed_write_is_tried_again_with_what_came_meanwhile_after_it() -> None:
    writes = Writes(failing=lambda n: n <= 2)
    harness = Harness(writes)
    harness.recorder.add(outcome(1, "pending"))
    harness.during_sleep = lambda n: harness.recorder.add(outcome(10 + n)) if n == 1 else None
    asyncio.run(harness.run_until_written())
    assert writes.tries == 3 and [ids(b) for b in writes.batches] == [[1, 11]]
    assert harness.slept == [0.5, 0.5]


def test_after_write_tries_fail_the_batch_is_left_to_its_leases_and_the_count_starts_over() -> None:
    # WRITE_TRIES failures drop the first batch; the next one fails once more and is still tried again.
    writes = Writes(failing=lambda n: n <= WRITE_TRIES + 1)
    harness = Harness(writes)
    harness.recorder.add(outcome(1))
    asyncio.run(harness.run_until(lambda: writes.tries == WRITE_TRIES, then=lambda: harness.recorder.add(outcome(2))))
    assert writes.tries == WRITE_TRIES + 2
    assert [ids(b) for b in writes.batches] == [[2]]
