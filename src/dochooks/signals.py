"""In-process wake-ups: a committed transaction tells the background loops there is work."""

from __future__ import annotations

import threading
from collections.abc import Callable

from dochooks.db import Connection


class Signal:
    """Callbacks to run after a transaction that queued work commits (from any thread);
    on PostgreSQL the same news goes to other processes as NOTIFY on `channel`."""

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
        if conn.dialect == "postgresql":
            conn.run(f"NOTIFY {self.channel}")  # PostgreSQL sends it at commit, not before
        conn.after_commit(self.fire)


deliveries_queued = Signal("dochooks_deliveries")  # the dispatcher has deliveries to send
work_queued = Signal("dochooks_documents")  # the workflow runner has documents to move
