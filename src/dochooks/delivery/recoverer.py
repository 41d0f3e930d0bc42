"""Running bulk recoveries: `Recoverer`, the background loop of `serve` and `worker` (a batch
of every unfinished job in turn, resting after each, as pruning does), and `run_to_end`, the
same walk for `dochooks recover`. Both only move data; `recovery.advance` does each batch."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from dochooks import logs
from dochooks.clock import Clock
from dochooks.db import Database
from dochooks.delivery import recovery
from dochooks.delivery.recovery import JobStatus, Recovery
from dochooks.pacing import rest, wait_unless_stopped
from dochooks.settings import Settings

# A batch, then a rest twice its length: recovery takes a third of the writer at most, and
# the dispatcher, which sends what it made due, the rest.
SHARE = 1 / 3

logger = logging.getLogger("dochooks.recovery")


def _report(job: Recovery) -> None:
    fields = logs.fields(recovery=job.id, webhook=job.webhook_id, recovered=job.recovered, total=job.total)
    if job.status is JobStatus.DONE:
        logger.info(f"recovery {job.id} done: {job.recovered} deliveries due again", extra=fields)
    else:
        logger.debug(f"recovery {job.id}: {job.recovered} of {job.total} due again", extra=fields)


class Recoverer:
    """Advances every unfinished recovery, one batch of each in turn (so one tenant's large
    job does not hold up another's), resting between batches; looks for new jobs every
    `poll_interval` while there are none. Jobs live in the database: a restart goes on."""

    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                worked = await self.round(stopping)
            except Exception:
                logger.exception("recovery failed; trying again")
                worked = False
            if not worked:
                await wait_unless_stopped(stopping, self._settings.poll_interval)

    async def round(self, stopping: asyncio.Event) -> bool:
        """A batch of every unfinished job; whether there was any."""
        jobs = await asyncio.to_thread(self._unfinished)
        for job_id in jobs:
            if stopping.is_set():
                break
            started = time.monotonic()
            job = await asyncio.to_thread(
                recovery.advance, self._db, job_id, batch=self._settings.recover_batch, now_ms=self._clock.now_ms()
            )
            if job is not None:
                _report(job)
            await wait_unless_stopped(stopping, rest(self._settings.recover_pause, time.monotonic() - started, SHARE))
        return bool(jobs)

    def _unfinished(self) -> list[int]:
        with self._db.read() as conn:
            return recovery.unfinished(conn)


def run_to_end(
    db: Database,
    recovery_id: int,
    settings: Settings,
    clock: Clock,
    *,
    on_batch: Callable[[Recovery], None] = lambda job: None,
    pause: Callable[[float], None] = time.sleep,
) -> None:
    """Advance one job batch after batch, resting between them, until it is done (here or by
    a background loop advancing it too: each batch locks the job)."""
    while True:
        started = time.monotonic()
        job = recovery.advance(db, recovery_id, batch=settings.recover_batch, now_ms=clock.now_ms())
        if job is None:
            return
        on_batch(job)
        if job.status is JobStatus.DONE:
            return
        pause(rest(settings.recover_pause, time.monotonic() - started, SHARE))
