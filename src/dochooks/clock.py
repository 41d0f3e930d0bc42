"""Time as integer milliseconds since the epoch, and monotonic seconds for waits and
durations; both injectable, so tests never sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

Monotonic = Callable[[], float]  # seconds that only go forward, from any start: time.monotonic, or a test's


class Clock(Protocol):
    def now_ms(self) -> int: ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


def iso(ms: int | None) -> str | None:
    """ISO 8601 UTC with milliseconds and `Z`, as the payload shows times."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(text: str) -> int:
    """The inverse of iso(); accepts any ISO 8601 form with a timezone (naive means UTC)."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)
