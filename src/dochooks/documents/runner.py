"""The workflow runner: moves documents through their automatic steps in the background,
durably. Due work lives in the documents table (run_at) under a lease, so a process killed
mid-step leaves the document to be picked up again; a step's state change and its topics
commit together, so no topic is emitted twice for one transition."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from dochooks.documents import config as workflow_config
from dochooks.documents import store
from dochooks.documents.files import read_files
from dochooks.documents.processors import Processors, load_processors
from dochooks.documents.steps import automatic_step
from dochooks.runtime import Runtime
from dochooks.signals import Wakeup, work_queued

logger = logging.getLogger("dochooks.workflow")
# A lease is short and renewed while the work runs, so a dead worker's documents come back
# within seconds on PostgreSQL too (on SQLite they come back at once, at start-up).
LEASE_MS = 10_000
RENEW_SECONDS = 3.0


class WorkflowRunner:
    def __init__(self, rt: Runtime, processors: Processors | None = None, *, concurrency: int = 2) -> None:
        self._rt = rt
        self._processors = processors or load_processors(rt.settings.processors)
        self._concurrency = concurrency
        self._wake = Wakeup()
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:workflow:{id(self):x}"

    async def run(self, stopping: asyncio.Event) -> None:
        async with self._wake.watching(work_queued, self._rt.db, stopping):
            while not stopping.is_set():
                try:
                    await self._step()
                except Exception:
                    logger.exception("workflow step failed; retrying")
                    await self._wake.sleep(self._rt.settings.poll_interval)

    async def _step(self) -> None:
        self._wake.clear()
        claimed = await asyncio.to_thread(self._claim)
        if claimed:
            logger.debug("advancing documents %s", [doc_id for doc_id, _ in claimed])
            await self._advance_all(claimed)
            return
        due = await asyncio.to_thread(self._next_due)
        delay = self._rt.settings.poll_interval
        if due is not None:
            delay = min(delay, max((due - self._rt.clock.now_ms()) / 1000, 0.01))
        await self._wake.sleep(delay)

    def _claim(self) -> list[tuple[int, int]]:
        with self._rt.db.transaction() as conn:
            return store.claim_due(
                conn, worker=self.worker_id, now_ms=self._rt.clock.now_ms(), lease_ms=LEASE_MS, limit=self._concurrency
            )

    async def _advance_all(self, claimed: list[tuple[int, int]]) -> None:
        """Advance the claimed documents, renewing their leases while the work runs."""
        work = asyncio.gather(*(asyncio.to_thread(self.advance, doc_id, tenant_id) for doc_id, tenant_id in claimed))
        while True:
            done, _ = await asyncio.wait({work}, timeout=RENEW_SECONDS)
            if done:
                await work
                return
            await asyncio.to_thread(self._renew, [doc_id for doc_id, _ in claimed])

    def _renew(self, doc_ids: list[int]) -> None:
        with self._rt.db.transaction() as conn:
            store.renew_leases(conn, doc_ids, worker=self.worker_id, lease_end=self._rt.clock.now_ms() + LEASE_MS)

    def _next_due(self) -> int | None:
        with self._rt.db.read() as conn:
            return store.next_due(conn)

    def advance(self, doc_id: int, tenant_id: int) -> None:
        """Run the automatic step due for one leased document and commit where it goes."""
        with self._rt.db.read() as conn:
            doc = store.get_document(conn, tenant_id, doc_id)
            config = workflow_config.load(conn, tenant_id)
            paths = store.file_paths(conn, doc_id)
        transition = automatic_step(
            doc, config, self._processors, lambda: read_files(self._rt.settings.data_dir, paths)
        )
        with self._rt.db.transaction() as conn:
            if transition is None:
                store.drop_lease(conn, doc_id, worker=self.worker_id)
                return
            if store.apply(conn, doc, transition, self._rt.clock.now_ms(), worker=self.worker_id) is None:
                logger.info("document %s moved on while we worked on it; dropped our result", doc_id)
