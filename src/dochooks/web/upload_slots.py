"""How many uploads are received at once: each takes a slot before its body is read, and
with none free the answer is 503 at once. A queue would only move the wait (and the
clients' connections) into the server; a slot bounds the memory and disk work in flight.
One tenant holds at most half the slots, so its uploads (slow ones included: the body
limit's deadline ends those) cannot shut out every other tenant's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from dochooks.errors import Busy

RETRY_AFTER_SECONDS = 2  # about the time a 25 MiB upload takes on a fast link


class UploadSlots:
    """At most `size` uploads hold a slot, and at most half of them (one at least) one
    owner's; taking one never waits."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.per_owner = max(1, size // 2)
        self.taken = 0
        self._owners: dict[int, int] = {}
        self._lock = threading.Lock()  # sync routes' dependencies may run in threads

    @contextmanager
    def hold(self, owner: int) -> Iterator[None]:
        """A slot for the block; Busy (503) when every slot, or the owner's share, is taken."""
        with self._lock:
            if self.taken >= self.size:
                raise Busy(
                    f"{self.size} uploads are being received; try again in {RETRY_AFTER_SECONDS} s",
                    retry_after=RETRY_AFTER_SECONDS,
                )
            if self._owners.get(owner, 0) >= self.per_owner:
                raise Busy(
                    f"{self.per_owner} of your uploads are being received; try again in {RETRY_AFTER_SECONDS} s",
                    retry_after=RETRY_AFTER_SECONDS,
                )
            self.taken += 1
            self._owners[owner] = self._owners.get(owner, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self.taken -= 1
                self._owners[owner] -= 1
                if not self._owners[owner]:
                    del self._owners[owner]
