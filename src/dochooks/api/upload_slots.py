"""How many uploads are received at once: each takes a slot before its body is read, and
with none free the answer is 503 at once. A queue would only move the wait (and the
clients' connections) into the server; a slot bounds the memory and disk work in flight."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request

from dochooks.errors import Busy

RETRY_AFTER_SECONDS = 2  # about the time a 25 MiB upload takes on a fast link


class UploadSlots:
    """At most `size` uploads hold a slot; taking one never waits."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.taken = 0
        self._lock = threading.Lock()  # sync routes' dependencies may run in threads

    @contextmanager
    def hold(self) -> Iterator[None]:
        """A slot for the block; Busy (503) when every slot is taken."""
        with self._lock:
            if self.taken >= self.size:
                raise Busy(
                    f"{self.size} uploads are being received; try again in {RETRY_AFTER_SECONDS} s",
                    retry_after=RETRY_AFTER_SECONDS,
                )
            self.taken += 1
        try:
            yield
        finally:
            with self._lock:
                self.taken -= 1


async def upload_slot(request: Request) -> AsyncIterator[None]:
    """A dependency: the upload route runs holding a slot. Declare it before anything that reads the body."""
    slots: UploadSlots = request.app.state.upload_slots
    with slots.hold():
        yield


UploadSlot = Annotated[None, Depends(upload_slot)]
