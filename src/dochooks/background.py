"""The background work of `serve` and `worker`: the dispatcher and the workflow runner."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator

from dochooks.db.sqlite import SqliteDatabase
from dochooks.delivery import queue
from dochooks.delivery.dispatcher import Dispatcher
from dochooks.documents import store
from dochooks.documents.runner import WorkflowRunner
from dochooks.errors import DochooksError
from dochooks.runtime import Runtime

log = logging.getLogger("dochooks.background")


@contextlib.contextmanager
def sole_dispatcher(rt: Runtime) -> Iterator[None]:
    """On SQLite, hold the file's dispatcher lock: a second process dispatching from the
    same file would take the first one's leases for a dead process's. PostgreSQL shares."""
    if not isinstance(rt.db, SqliteDatabase):
        yield
        return
    fd = os.open(rt.db.path + ".dispatcher.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise DochooksError(
            f"another dochooks process already dispatches from {rt.db.path}; SQLite allows one "
            "(use PostgreSQL for several workers)"
        ) from exc
    try:
        yield
    finally:
        os.close(fd)  # releases the lock


async def run_background(rt: Runtime, stopping: asyncio.Event) -> None:
    """Dispatch deliveries and move documents until `stopping` is set. The caller holds
    `sole_dispatcher(rt)`."""
    if rt.db.dialect == "sqlite":
        while not stopping.is_set():
            try:
                await asyncio.to_thread(release_sqlite_leases, rt)
                break
            except Exception:
                log.exception("could not release the leases of a previous run; trying again")
                await asyncio.sleep(1)
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
