"""Requests per caller (an API token, a web UI session, a sign-in address): a token bucket
each, `rate` a second on average and `burst` at once. Kept in the process: with several API
processes, each allows a caller its own rate."""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable

from dochooks.errors import TooManyRequests

_SWEEP_FLOOR = 10_000  # buckets kept before the full ones are forgotten


class RateLimiter:
    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        refusal: str | None = None,
    ) -> None:
        """`refusal` is what a 429 says before "try again in N s"."""
        self._rate = rate
        self._burst = float(max(burst, 1))
        self._clock = clock
        self._refusal = refusal or f"over the rate of {rate:g} requests a second"
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (requests left, when counted)
        self._lock = threading.Lock()  # sync routes run in a thread pool
        self._sweep_at = _SWEEP_FLOOR

    def check(self, key: str) -> None:
        """TooManyRequests when `key` has no request left, without counting one."""
        self._count(key, take=False)

    def take(self, key: str) -> None:
        """Count one request of `key`; TooManyRequests (with the seconds to wait) when over."""
        self._count(key, take=True)

    def _count(self, key: str, *, take: bool) -> None:
        if self._rate <= 0:
            return
        now = self._clock()
        with self._lock:
            left = self._left(key, now)
            if left < 1:
                if take:
                    self._buckets[key] = (left, now)
                raise self._refused(left)
            if take:
                self._buckets[key] = (left - 1, now)
                if len(self._buckets) > self._sweep_at:
                    self._forget_full(now)

    def _left(self, key: str, now: float) -> float:
        left, then = self._buckets.get(key, (self._burst, now))
        return min(self._burst, left + (now - then) * self._rate)

    def _refused(self, left: float) -> TooManyRequests:
        wait = math.ceil((1 - left) / self._rate)
        return TooManyRequests(f"{self._refusal}; try again in {wait} s", retry_after=wait)

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled (a new one starts full anyway), so callers
        that came once, such as many addresses, do not grow the table for ever."""
        self._buckets = {k: v for k, v in self._buckets.items() if self._left(k, now) < self._burst}
        self._sweep_at = max(_SWEEP_FLOOR, 2 * len(self._buckets))


def address_key(address: str) -> str:
    """Whom a caller's address counts as: an IPv4 address itself (also when IPv4-mapped),
    an IPv6 address by its /64, which one machine usually holds whole."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP address (a test client, a Unix socket): itself
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class AuthFailures:
    """Failed authentications (wrong API tokens) per caller address, one budget shared by
    the API and the sign-in form. An address over it gets 429 before its token is looked
    up, a valid one included, until the budget refills."""

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._limiter = RateLimiter(
            rate, burst, clock=clock, refusal="too many failed authentications from this address"
        )

    def check(self, address: str) -> None:
        """TooManyRequests when `address` is over its budget; counts nothing."""
        self._limiter.check(address_key(address))

    def count(self, address: str) -> None:
        """Count a wrong token from `address`."""
        self._limiter.take(address_key(address))
