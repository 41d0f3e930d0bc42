"""The workflow runner: moves documents through their automatic steps in the background,
durably. Due work lives in the documents table (run_at) under a lease, so a process killed
mid-step leaves the document to be picked up again; a step's state change and its topics
commit together, so no topic is emitted twice for one transition.

It works in batches: one transaction claims up to BATCH due documents, their automatic
steps run in memory (a document goes on to its next automatic stage at once, up to CHAIN
steps, until it waits for a person or finishes), and one transaction commits where every
document of the batch went, with all its topics in order. A crash before that commit
loses nothing: the leases run out and the batch runs again."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from dochooks.documents import config as workflow_config
from dochooks.documents import store
from dochooks.documents.config import WorkflowConfig
from dochooks.documents.processors import Processors, load_processors
from dochooks.documents.steps import automatic_step
from dochooks.documents.workflow import Transition
from dochooks.runtime import Runtime
from dochooks.signals import Wakeup, work_queued

logger = logging.getLogger("dochooks.workflow")
# A lease is short and renewed while the work runs, so a dead worker's documents come back
# within seconds on PostgreSQL too (on SQLite they come back at once, at start-up).
LEASE_MS = 10_000
RENEW_SECONDS = 3.0
BATCH = 32  # documents claimed, run and committed together
CHAIN = 8  # automatic steps one document may take in one batch (a workflow without people takes 5)


class WorkflowRunner:
    def __init__(self, rt: Runtime, processors: Processors | None = None, *, batch: int = BATCH) -> None:
        self._rt = rt
        self._processors = processors or load_processors(rt.settings.processors)
        self._batch = batch
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
            logger.debug("advancing documents %s", claimed)
            await self._advance(claimed)
            return
        due = await asyncio.to_thread(self._next_due)
        delay = self._rt.settings.poll_interval
        if due is not None:
            delay = min(delay, max((due - self._rt.clock.now_ms()) / 1000, 0.01))
        await self._wake.sleep(delay)

    def _claim(self) -> list[int]:
        with self._rt.db.transaction() as conn:
            claimed = store.claim_due(
                conn, worker=self.worker_id, now_ms=self._rt.clock.now_ms(), lease_ms=LEASE_MS, limit=self._batch
            )
        return [doc_id for doc_id, _ in claimed]

    async def _advance(self, doc_ids: list[int]) -> None:
        """Advance the claimed documents, renewing their leases while the work runs."""
        work = asyncio.ensure_future(asyncio.to_thread(self.advance, doc_ids))
        while True:
            done, _ = await asyncio.wait({work}, timeout=RENEW_SECONDS)
            if done:
                await work
                return
            await asyncio.to_thread(self._renew, doc_ids)

    def _renew(self, doc_ids: list[int]) -> None:
        with self._rt.db.transaction() as conn:
            store.renew_leases(conn, doc_ids, worker=self.worker_id, lease_end=self._rt.clock.now_ms() + LEASE_MS)

    def _next_due(self) -> int | None:
        with self._rt.db.read() as conn:
            return store.next_due(conn)

    def advance(self, doc_ids: list[int]) -> None:
        """Run the automatic steps due for leased documents and commit where they go."""
        with self._rt.db.read() as conn:
            docs = store.documents_by_id(conn, doc_ids)
            configs = {t: workflow_config.load(conn, t) for t in {doc.tenant_id for doc in docs.values()}}
            paths = store.file_paths(conn, list(docs))
        walks = [(doc, self._walk(doc, configs[doc.tenant_id], paths[doc.id])) for doc in docs.values()]
        with self._rt.db.transaction() as conn:
            now = self._rt.clock.now_ms()
            for doc, transitions in walks:
                if not transitions:
                    store.drop_lease(conn, doc.id, worker=self.worker_id)
                elif store.apply(conn, doc, transitions, now, worker=self.worker_id) is None:
                    logger.info("document %s moved on while we worked on it; dropped our result", doc.id)

    def _walk(self, doc: store.Document, config: WorkflowConfig, paths: list[str]) -> list[Transition]:
        """The automatic steps `doc` takes from where it is, one after another, until it
        waits for a person, ends, or has taken CHAIN steps."""
        transitions: list[Transition] = []
        while len(transitions) < CHAIN:
            transition = automatic_step(doc, config, self._processors, lambda: self._rt.files.open(paths))
            if transition is None:
                break
            transitions.append(transition)
            if not transition.run_now:
                break
            doc = doc.moved(transition, doc.updated_at)
        return transitions
