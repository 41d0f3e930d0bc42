"""In-process wake-ups: a committed transaction tells the background loops there is work,
or that a webhook they hold a copy of changed."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable

from dochooks.db import Connection, Database


class Signal:
    """Callbacks to run after a transaction that queued work commits (from any thread);
    the same news goes to other processes as a notification on `channel` (PostgreSQL's NOTIFY)."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def connect(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Subscribe; returns the function that unsubscribes."""
        with self._lock:
            self._callbacks.append(callback)
        return lambda: self._disconnect(callback)

    def _disconnect(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._callbacks.remove(callback)

    def fire(self) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    def announce(self, conn: Connection) -> None:
        """Fire once this transaction commits: here, and in every process listening."""
        conn.notify(self.channel)
        conn.after_commit(self.fire)


deliveries_queued = Signal("dochooks_deliveries")  # the dispatcher has deliveries to send
work_queued = Signal("dochooks_documents")  # the workflow runner has documents to move
webhooks_changed = Signal("dochooks_webhooks")  # a webhook changed or went: held copies of it are stale


@contextlib.asynccontextmanager
async def listening(signal: Signal, db: Database, callback: Callable[[], None]) -> AsyncIterator[None]:
    """Run `callback` on this event loop whenever `signal` fires, here (from any thread) or,
    through `db`'s notifications, in another process, while inside."""
    loop = asyncio.get_running_loop()

    def from_any_thread() -> None:
        loop.call_soon_threadsafe(callback)

    disconnect = signal.connect(from_any_thread)
    listener = asyncio.create_task(db.listen(signal.channel, callback))
    try:
        yield
    finally:
        disconnect()
        listener.cancel()


class Wakeup:
    """What a background loop sleeps on: woken early by its signal (from any thread of
    this process), by NOTIFY on the signal's channel (other processes, PostgreSQL), by
    `stopping`, or by the loop's own code."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._news = False  # whether the signal (not the loop's own code) woke us since take_news()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def take_news(self) -> bool:
        """Whether the signal fired (here or through NOTIFY) since the last call: new work was queued."""
        news, self._news = self._news, False
        return news

    def _signalled(self) -> None:
        self._news = True
        self._event.set()

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds`, or less if woken."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout=seconds)

    @contextlib.asynccontextmanager
    async def watching(self, signal: Signal, db: Database, stopping: asyncio.Event) -> AsyncIterator[None]:
        """Be woken by `signal` (here and, through `db`, elsewhere) and by `stopping` while inside."""
        stop_waiter = asyncio.create_task(stopping.wait())
        stop_waiter.add_done_callback(lambda _: self._event.set())
        try:
            async with listening(signal, db, self._signalled):
                yield
        finally:
            stop_waiter.cancel()
