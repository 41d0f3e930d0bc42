"""How background batch work yields to the dispatcher and the runner: a rest after each
batch in proportion to what it took, and waits that end early when the loop is stopped.
Pruning and bulk recovery pace themselves with both."""

from __future__ import annotations

import asyncio
import contextlib


def rest(pause: float, worked: float, share: float) -> float:
    """Seconds to rest after a batch that took `worked` seconds: `pause` at least, and enough
    that the batches take `share` of the time at most (of the writer, of a core), however
    slow the disk."""
    share = min(1.0, max(0.01, share))
    return max(pause, worked * (1 - share) / share)


async def wait_unless_stopped(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or until `stopping` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
