"""The background work of `serve` and `worker`: the dispatcher, the workflow runner, pruning
and bulk recoveries."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from dochooks.delivery import leases
from dochooks.delivery.dispatcher import Dispatcher
from dochooks.delivery.recoverer import Recoverer
from dochooks.documents import store
from dochooks.documents.runner import WorkflowRunner
from dochooks.retention import Pruner
from dochooks.runtime import Runtime

logger = logging.getLogger("dochooks.background")


def sole_dispatcher(rt: Runtime) -> contextlib.AbstractContextManager[None]:
    """Where one process owns the database (SQLite), hold it while dispatching: a second
    process dispatching from it would take the first one's leases for a dead process's.
    Where processes share it (PostgreSQL), there is nothing to hold."""
    return rt.db.own()


async def run_background(rt: Runtime, stopping: asyncio.Event) -> None:
    """Dispatch deliveries, move documents, prune what retention lets go and run bulk
    recoveries until `stopping` is set. The caller holds
    `sole_dispatcher(rt)`."""
    if rt.db.dialect.owned_by_one_process:
        while not stopping.is_set():
            try:
                await asyncio.to_thread(release_dead_leases, rt)
                break
            except Exception:
                logger.exception("could not release the leases of a previous run; trying again")
                await asyncio.sleep(1)
    await asyncio.gather(
        Dispatcher(rt).run(stopping),
        WorkflowRunner(rt).run(stopping),
        Pruner(rt.db, rt.settings, rt.clock).run(stopping),
        Recoverer(rt.db, rt.settings, rt.clock).run(stopping),
    )


def release_dead_leases(rt: Runtime) -> None:
    """Where one process owns the database, any lease still held at start-up is a dead
    process's: its work is due now rather than when the lease ends."""
    with rt.db.transaction() as conn:
        now = rt.clock.now_ms()
        store.release_leases(conn, now)
        leases.release_leases(conn, now)
