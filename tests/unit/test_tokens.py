"""When a token's use is worth a write: at most once a minute."""

from __future__ import annotations

from dochooks.tokens import LAST_USED_PRECISION_MS, use_worth_noting


def test_a_first_use_is_always_written() -> None:
    assert use_worth_noting(None, 5)


def test_a_use_within_the_minute_of_the_last_written_one_is_not() -> None:
    assert not use_worth_noting(1_000_000, 1_000_000 + LAST_USED_PRECISION_MS - 1)
    assert use_worth_noting(1_000_000, 1_000_000 + LAST_USED_PRECISION_MS)
