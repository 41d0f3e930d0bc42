"""The published retry schedule: retry n (n = 1..8) is due n**5 seconds plus a uniform
jitter in [0, 30) seconds after attempt n failed; then the delivery has failed."""

from __future__ import annotations

import random

MAX_RETRIES = 8
JITTER_SECONDS = 30.0


def retry_delay_ms(retry: int, *, scale: float = 1.0, rng: random.Random | None = None) -> int:
    """Milliseconds from the failure of attempt `retry` to retry number `retry`."""
    jitter = (rng or random).uniform(0, JITTER_SECONDS)
    return round((retry**5 + jitter) * 1000 * scale)


def next_attempt_after_failure(
    attempts_made: int, failed_at_ms: int, *, scale: float = 1.0, rng: random.Random | None = None
) -> int | None:
    """When to try again after `attempts_made` attempts, the last one failed; None when
    the retries are used up."""
    if attempts_made > MAX_RETRIES:
        return None
    return failed_at_ms + retry_delay_ms(attempts_made, scale=scale, rng=rng)
