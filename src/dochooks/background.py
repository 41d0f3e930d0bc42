"""The background work of `serve` and `worker`: the dispatcher and the workflow runner."""

from __future__ import annotations

import asyncio

from dochooks.delivery import queue
from dochooks.delivery.dispatcher import Dispatcher
from dochooks.documents import store
from dochooks.documents.runner import WorkflowRunner
from dochooks.runtime import Runtime


async def run_background(rt: Runtime, stopping: asyncio.Event) -> None:
    """Dispatch deliveries and move documents until `stopping` is set."""
    if rt.db.dialect == "sqlite":
        await asyncio.to_thread(release_sqlite_leases, rt)
    await asyncio.gather(
        Dispatcher(rt.db, rt.cipher, rt.settings, clock=rt.clock).run(stopping),
        WorkflowRunner(rt).run(stopping),
    )


def release_sqlite_leases(rt: Runtime) -> None:
    """SQLite has one background process per database file, so any lease still held at
    start-up is a dead process's: its work is due now rather than when the lease ends."""
    with rt.db.transaction() as conn:
        now = rt.clock.now_ms()
        store.release_leases(conn, now)
        queue.release_leases(conn, now)
