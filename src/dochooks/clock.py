"""Time as integer milliseconds since the epoch, and monotonic seconds for waits and
durations; both injectable, so tests never sleep."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

Monotonic = Callable[[], float]  # seconds that only go forward, from any start: time.monotonic, or a test's


class Clock(Protocol):
    def now_ms(self) -> int: ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


def iso(ms: int | None) -> str | None:
    """ISO 8601 UTC with milliseconds and `Z`, as the payload shows times."""
    return None if ms is None else _iso(ms)


@functools.lru_cache(maxsize=4096)  # a document's topics, committed together, repeat its times
def _iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_iso(text: str) -> int:
    """The inverse of iso(); accepts any ISO 8601 form with a timezone (naive means UTC)."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - _EPOCH) // timedelta(milliseconds=1)  # exact: a float timestamp can lose the last ms
