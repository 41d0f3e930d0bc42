from __future__ import annotations

import pytest

from dochooks.api.rate_limit import RateLimiter
from dochooks.errors import TooManyRequests


def test_a_token_gets_its_burst_then_its_rate_and_others_are_not_affected() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, 3, clock=lambda: now[0])
    for _ in range(3):
        limiter.take("a")
    with pytest.raises(TooManyRequests) as refused:
        limiter.take("a")
    assert refused.value.status == 429 and refused.value.retry_after == 1
    limiter.take("b")  # its own bucket
    now[0] += 0.5  # one request's worth at 2 a second
    limiter.take("a")
    with pytest.raises(TooManyRequests):
        limiter.take("a")
    now[0] += 60  # refills to the burst, no further
    for _ in range(3):
        limiter.take("a")
    with pytest.raises(TooManyRequests):
        limiter.take("a")


def test_a_rate_of_zero_means_no_limit() -> None:
    limiter = RateLimiter(0, 1)
    for _ in range(1000):
        limiter.take("a")
