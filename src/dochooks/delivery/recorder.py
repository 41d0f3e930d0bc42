"""Recording what the dispatcher did: attempts' outcomes and unsent deliveries gathered and
written in batches (a commit is the scarce resource), a failed write tried again, and
the writer never cancelled: a write cut short would lose attempts that really happened."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from dochooks.clock import Clock
from dochooks.db import Database
from dochooks.delivery import leases, operational
from dochooks.delivery.leases import Claimed, DeliveryStatus, Outcome
from dochooks.delivery.publish import publish
from dochooks.topics import is_operational
from dochooks.webhooks import health, store
from dochooks.webhooks.config import HealthState
from dochooks.webhooks.store import Unreachable

logger = logging.getLogger("dochooks.dispatcher")
FLUSH_SECONDS = 0.02  # how long finished attempts may gather before one write records them all
WRITE_TRIES = 5  # writes of one batch before it is dropped (and its deliveries sent again once their leases end)


@dataclass(frozen=True)
class Release:
    """A claimed delivery never sent, to go back to the queue `after_ms` from the write."""

    delivery_id: int
    lease_end: int  # of the claim: only that claim may give it back
    after_ms: int = 0


@dataclass
class Batch:
    """What one transaction writes."""

    outcomes: list[Outcome] = field(default_factory=list)
    found: list[Unreachable] = field(default_factory=list)  # what attempts found out about webhooks
    released: list[Release] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.outcomes or self.released)


def write(db: Database, clock: Clock, worker: str, batch: Batch, *, disable_after_ms: int | None = None) -> None:
    """Record a batch in one transaction: its webhooks' health (those found gone or refused,
    or failing for `disable_after_ms`, disabled), the attempts and their deliveries' new
    state, the unsent deliveries given back, and the operational notifications all that causes."""
    with db.transaction() as conn:
        now = clock.now_ms()
        # The webhooks' rows first (locked in id order by every recorder), then their deliveries'.
        found = health.record(
            conn,
            health.tally(
                (o.webhook_id, o.status is DeliveryStatus.SUCCEEDED, o.started_at + o.duration_ms, o.error)
                for o in batch.outcomes
                if not is_operational(o.topic)
            ),
            store.unreachable_reasons(batch.found),
            now_ms=now,
            disable_after_ms=disable_after_ms,
        )
        leases.record(conn, worker=worker, outcomes=batch.outcomes, now_ms=now)
        for wait in sorted({r.after_ms for r in batch.released}):
            given_back = [(r.delivery_id, r.lease_end) for r in batch.released if r.after_ms == wait]
            leases.release(conn, worker=worker, leases=given_back, now_ms=now + wait)
        for notice in notices(batch.outcomes, found, now):
            publish(conn, tenant_id=notice.tenant_id, topic=notice.topic, payload=notice.payload, now_ms=now)


def notices(outcomes: list[Outcome], found: health.Recorded, now_ms: int) -> list[operational.Notice]:
    """The operational notifications of a batch: its webhooks' changes of state, and a
    `delivery-exhausted` per workflow delivery that failed for good while its webhook was
    enabled (a disabled webhook's deliveries fail unsent; `webhook-disabled` said why)."""
    said = [operational.changed(t, now_ms) for t in found.transitions]
    for o in outcomes:
        webhook = found.before.get(o.webhook_id)
        if o.status is not DeliveryStatus.FAILED or webhook is None or is_operational(o.topic):
            continue
        if webhook.health.state is not HealthState.DISABLED:
            said.append(operational.exhausted(o, webhook, found.after[o.webhook_id], now_ms))
    return said


class Recorder:
    """Gathers outcomes and releases and writes them with `write` (in a thread), as they come.
    While `busy()` (deliveries are still being sent), a write waits FLUSH_SECONDS for more,
    up to a batch of `gather`; after a write that makes a delivery due again (a retry, a
    release), `wake()` tells the loop. A write that fails is tried again `retry_wait` later,
    WRITE_TRIES times in all, before the batch is dropped to its leases."""

    def __init__(
        self,
        write: Callable[[Batch], None],
        *,
        gather: int,
        retry_wait: float,
        busy: Callable[[], bool],
        wake: Callable[[], None],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._write = write
        self._gather = gather
        self._retry_wait = retry_wait
        self._busy = busy
        self._wake = wake
        self._sleep = sleep
        self._pending = Batch()
        self._ready = asyncio.Event()
        self._closing = False
        self._failures = 0

    def add(self, outcome: Outcome, found: Unreachable | None = None) -> None:
        self._pending.outcomes.append(outcome)
        if found is not None:
            self._pending.found.append(found)
        self._ready.set()

    def release(self, item: Claimed, *, after_ms: int = 0) -> None:
        """Give a claimed delivery back to the queue unsent: no attempt, its retries intact."""
        self._pending.released.append(Release(item.delivery_id, item.lease_end, after_ms))
        self._ready.set()

    def close(self) -> None:
        """Write what is left, then let run() end."""
        self._closing = True
        self._ready.set()

    async def run(self) -> None:
        """Write as outcomes come, until closed and nothing is left. Never cancel it."""
        while not (self._closing and not self._pending):
            await self._ready.wait()
            # Under load, let outcomes gather into one write; when idle, write at once (a
            # retry may be due within milliseconds under a small time scale).
            if self._busy() and not self._closing and len(self._pending.outcomes) < self._gather:
                await self._sleep(FLUSH_SECONDS)
            await self._flush()

    async def _flush(self) -> None:
        self._ready.clear()
        batch, self._pending = self._pending, Batch()
        if not batch:
            return
        try:
            await asyncio.to_thread(self._write, batch)
        except Exception:
            # Keep the batch and write it again shortly: the leases outlast many tries, and
            # only if all fail are these deliveries sent again (at least once, never lost).
            self._failures += 1
            if self._failures >= WRITE_TRIES:
                logger.exception("could not record %d delivery attempts; they will be retried", len(batch.outcomes))
                self._failures = 0
                return
            logger.exception("could not record %d delivery attempts; trying again", len(batch.outcomes))
            self._pending.outcomes[:0] = batch.outcomes
            self._pending.found[:0] = batch.found
            self._pending.released[:0] = batch.released
            await self._sleep(self._retry_wait)
            self._ready.set()
            return
        self._failures = 0
        if batch.released or any(o.status is DeliveryStatus.PENDING or o.in_order for o in batch.outcomes):
            # A delivery may now be due sooner than the loop planned: a retry, or the next of
            # a document whose earlier delivery to an ordered webhook has just settled.
            self._wake()
