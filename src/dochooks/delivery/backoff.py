"""The published retry schedule: retry n (n = 1..8) is due n**5 seconds plus a uniform
jitter in [0, 30) seconds after attempt n failed; then the delivery has failed. A receiver
answering 429 or 503 with a later Retry-After moves its retry later, never earlier."""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime

MAX_RETRIES = 8
JITTER_SECONDS = 30.0
RETRY_AFTER_STATUSES = frozenset({429, 503})
MAX_RETRY_AFTER_MS = 24 * 3600 * 1000  # a receiver may hold a delivery back this long at most


def retry_delay_ms(retry: int, *, scale: float = 1.0, rng: random.Random | None = None) -> int:
    """Milliseconds from the failure of attempt `retry` to retry number `retry`."""
    jitter = (rng or random).uniform(0, JITTER_SECONDS)
    return round((retry**5 + jitter) * 1000 * scale)


def retry_after_ms(header: str | None, now_ms: int) -> int | None:
    """The wait a Retry-After header asks for, as delta-seconds or an HTTP date, capped at
    MAX_RETRY_AFTER_MS; None when there is none or it cannot be read."""
    value = (header or "").strip()
    if value.isascii() and value.isdigit():  # "²".isdigit() holds too
        wait = int(value[:12]) * 1000
    else:
        try:
            wait = round(parsedate_to_datetime(value).timestamp() * 1000) - now_ms
        except (TypeError, ValueError, OverflowError):
            return None
    return min(max(wait, 0), MAX_RETRY_AFTER_MS)


def next_attempt_after_failure(
    attempts_made: int,
    failed_at_ms: int,
    *,
    scale: float = 1.0,
    rng: random.Random | None = None,
    retry_after: int | None = None,
) -> int | None:
    """When to try again after `attempts_made` attempts, the last one failed; None when
    the retries are used up. `retry_after` (ms, from the receiver) can only delay it."""
    if attempts_made > MAX_RETRIES:
        return None
    scheduled = failed_at_ms + retry_delay_ms(attempts_made, scale=scale, rng=rng)
    return max(scheduled, failed_at_ms + retry_after) if retry_after is not None else scheduled
