from __future__ import annotations

import pytest

from dochooks.errors import TooManyRequests
from dochooks.web.rate_limit import AuthFailures, RateLimiter, address_key


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


def test_a_check_counts_nothing_and_refuses_once_the_bucket_is_empty() -> None:
    now = [0.0]
    limiter = RateLimiter(0.5, 2, clock=lambda: now[0])
    for _ in range(10):
        limiter.check("a")
    limiter.take("a")
    limiter.take("a")
    with pytest.raises(TooManyRequests) as refused:
        limiter.check("a")
    assert refused.value.retry_after == 2  # one request's worth at 0.5 a second
    now[0] += 2
    limiter.check("a")


def test_buckets_that_refilled_are_forgotten_and_those_that_did_not_are_kept() -> None:
    now = [0.0]
    limiter = RateLimiter(1.0, 1, clock=lambda: now[0])
    for n in range(10_000):  # callers that came once
        limiter.take(f"once-{n}")
    now[0] += 5  # they have all refilled
    limiter.take("over")  # one more bucket than the table keeps before it sweeps
    with pytest.raises(TooManyRequests):
        limiter.check("over")
    assert list(limiter._buckets) == ["over"]


def test_an_address_counts_as_itself_and_an_ipv6_address_as_its_slash_64() -> None:
    assert address_key("203.0.113.7") == "203.0.113.7"
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("testclient") == "testclient"


def test_failed_authentications_refuse_an_address_over_its_budget_until_it_refills() -> None:
    now = [0.0]
    failures = AuthFailures(0.1, 3, clock=lambda: now[0])
    for _ in range(3):
        failures.check("198.51.100.1")
        failures.count("198.51.100.1")
    with pytest.raises(TooManyRequests) as refused:
        failures.check("198.51.100.1")
    assert refused.value.retry_after == 10 and "failed authentications" in refused.value.detail
    failures.check("198.51.100.2")  # another address has its own budget
    for _ in range(3):
        failures.count("2001:db8::1")
    with pytest.raises(TooManyRequests):
        failures.check("2001:db8::ffff")  # the same /64
    now[0] += 10
    failures.check("198.51.100.1")
