"""The background work of `serve` and `worker`: the dispatcher and the workflow runner."""

from __future__ import annotations

import asyncio

from dochooks.delivery.dispatcher import Dispatcher
from dochooks.documents.runner import WorkflowRunner
from dochooks.runtime import Runtime


async def run_background(rt: Runtime, stopping: asyncio.Event) -> None:
    """Dispatch deliveries and move documents until `stopping` is set."""
    await asyncio.gather(
        Dispatcher(rt.db, rt.cipher, rt.settings, clock=rt.clock).run(stopping),
        WorkflowRunner(rt).run(stopping),
    )
