"""Requests per caller (an API token, a web UI session, a sign-in address): a token bucket
each, `rate` a second on average and `burst` at once. Kept in the process: with several API
processes, each allows a caller its own rate."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from dochooks.errors import TooManyRequests


class RateLimiter:
    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = float(max(burst, 1))
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (requests left, when counted)
        self._lock = threading.Lock()  # sync routes run in a thread pool

    def take(self, key: str) -> None:
        """Count one request of `key`; TooManyRequests (with the seconds to wait) when over."""
        if self._rate <= 0:
            return
        now = self._clock()
        with self._lock:
            left, then = self._buckets.get(key, (self._burst, now))
            left = min(self._burst, left + (now - then) * self._rate)
            if left < 1:
                self._buckets[key] = (left, now)
                wait = math.ceil((1 - left) / self._rate)
                raise TooManyRequests(
                    f"over the rate of {self._rate:g} requests a second; try again in {wait} s",
                    retry_after=wait,
                )
            self._buckets[key] = (left - 1, now)
