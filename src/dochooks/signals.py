"""In-process wake-ups: a committed transaction tells the background loops there is work."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Signal:
    """Callbacks to run after a transaction that queued work commits (from any thread)."""

    def __init__(self) -> None:
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


deliveries_queued = Signal()  # the dispatcher has deliveries to send
work_queued = Signal()  # the workflow runner has documents to move
