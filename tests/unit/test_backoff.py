from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from dochooks.delivery.backoff import MAX_RETRIES, next_attempt_after_failure, retry_after_ms, retry_delay_ms


@pytest.mark.parametrize(
    ("retry", "base"), [(1, 1), (2, 32), (3, 243), (4, 1024), (5, 3125), (6, 7776), (7, 16807), (8, 32768)]
)
def test_retry_waits_n_to_the_fifth_seconds_plus_up_to_thirty_of_jitter(retry: int, base: int) -> None:
    rng = random.Random(retry)
    delays = [retry_delay_ms(retry, rng=rng) for _ in range(200)]
    assert all(base * 1000 <= d < (base + 30) * 1000 for d in delays)
    assert max(delays) - min(delays) > 20_000  # the jitter really spreads over the 30 s window


def test_time_scale_multiplies_the_whole_delay() -> None:
    assert retry_delay_ms(2, scale=0.001, rng=random.Random(7)) == round(retry_delay_ms(2, rng=random.Random(7)) / 1000)


def test_retry_is_counted_from_the_failure() -> None:
    due = next_attempt_after_failure(1, 50_000, rng=random.Random(1))
    assert due is not None and 51_000 <= due < 81_000


def test_after_the_eighth_retry_fails_there_is_no_next_attempt() -> None:
    assert MAX_RETRIES == 8
    assert next_attempt_after_failure(8, 0) is not None
    assert next_attempt_after_failure(9, 0) is None


NOW = 1_800_000_000_000  # ms
IN_TEN_SECONDS = formatdate(NOW / 1000 + 10, usegmt=True)
A_MINUTE_AGO = formatdate(NOW / 1000 - 60, usegmt=True)


@pytest.mark.parametrize(
    ("header", "wait"),
    [
        ("120", 120_000),
        (" 7 ", 7_000),
        ("0", 0),
        (IN_TEN_SECONDS, 10_000),
        (A_MINUTE_AGO, 0),
        ("99999999999999999999", 24 * 3600 * 1000),  # capped at a day
        ("soon", None),
        ("²", None),  # a digit to str.isdigit, not to int()
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date_and_capped(header: str | None, wait: int | None) -> None:
    assert retry_after_ms(header, NOW) == wait


def test_retry_after_only_ever_delays_the_schedule() -> None:
    rng = random.Random(1)
    later = next_attempt_after_failure(1, NOW, rng=rng, retry_after=3_600_000)
    assert later == NOW + 3_600_000
    sooner = next_attempt_after_failure(3, NOW, rng=random.Random(1), retry_after=0)
    assert sooner == next_attempt_after_failure(3, NOW, rng=random.Random(1))
    assert next_attempt_after_failure(MAX_RETRIES + 1, NOW, retry_after=5) is None  # retries stay counted
