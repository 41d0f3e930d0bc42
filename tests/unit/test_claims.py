from __future__ import annotations

import pytest

from dochooks.delivery.claims import (
    CLAIM_WINDOW,
    DEEP_CLAIM_SECONDS,
    FRUITLESS_DEEP_CLAIM_SHARE,
    ClaimScope,
    LeftOut,
)
from tests.factories.deliveries import FakeTime, claimed

BATCH = 50
POLL = 1.0
WANT = BATCH
CAPPED = LeftOut(webhooks=frozenset({1}))  # webhook 1 (tenant 1) at its cap


def scope_at(time: FakeTime) -> ClaimScope:
    return ClaimScope(BATCH, POLL, time.monotonic)


def test_with_nothing_left_out_every_claim_looks_at_all_due_deliveries_and_none_is_held_off() -> None:
    time = FakeTime()
    scope = scope_at(time)
    for _ in range(3):
        assert scope.window(LeftOut()) is None
        assert scope.claimed(LeftOut(), None, [], WANT) is False
        assert scope.wait(LeftOut(), news=False) == 0.0


def test_while_some_are_left_out_claims_look_past_the_window_every_five_seconds() -> None:
    time = FakeTime()
    scope = scope_at(time)
    assert scope.window(CAPPED) is None  # never looked past it yet
    assert scope.claimed(CAPPED, None, [], WANT) is False
    for _ in range(3):
        time.advance(1.25)
        assert scope.window(CAPPED) == CLAIM_WINDOW * BATCH
        assert scope.claimed(CAPPED, CLAIM_WINDOW * BATCH, [claimed(2)] * WANT, WANT) is True  # full: go on
    time.advance(DEEP_CLAIM_SECONDS - 3 * 1.25 - 0.25)
    assert scope.window(CAPPED) == CLAIM_WINDOW * BATCH
    time.advance(0.25)
    assert scope.window(CAPPED) is None


def test_a_window_that_comes_up_short_is_looked_past_at_once_for_as_long_as_that_finds_work() -> None:
    time = FakeTime()
    scope = scope_at(time)
    scope.claimed(CAPPED, None, [claimed(2)], WANT)  # the first look past the window found some
    window = scope.window(CAPPED)
    assert window == CLAIM_WINDOW * BATCH
    assert scope.claimed(CAPPED, window, [claimed(2)], WANT) is True  # short: claim again, now
    assert scope.window(CAPPED) is None
    assert scope.claimed(CAPPED, None, [claimed(3)], WANT) is False  # found work: not full, so sleep
    assert scope.window(CAPPED) is None  # and look past the window again next time
    assert scope.claimed(CAPPED, None, [], WANT) is False  # found nothing
    time.advance(0.1)
    assert scope.window(CAPPED) == CLAIM_WINDOW * BATCH  # the window again ...
    assert scope.claimed(CAPPED, CLAIM_WINDOW * BATCH, [claimed(2)], WANT) is False  # ... short, not looked past
    time.advance(DEEP_CLAIM_SECONDS)
    assert scope.window(CAPPED) is None  # ... until the five seconds are up


def test_a_fruitless_look_past_the_window_while_more_was_left_out_does_not_stop_the_next() -> None:
    # At start-up the first claim fills every webhook to its cap: the look past the window
    # that follows leaves all of them out and finds nothing. Once most have room again, a
    # short window must be looked past at once, not five seconds later (bench/isolation.py).
    time = FakeTime()
    scope = scope_at(time)
    everyone = LeftOut(webhooks=frozenset({1, 2, 3}))
    assert scope.claimed(everyone, None, [], WANT) is False
    time.advance(0.2)
    assert scope.window(CAPPED) == CLAIM_WINDOW * BATCH
    assert scope.claimed(CAPPED, CLAIM_WINDOW * BATCH, [claimed(2)], WANT) is True  # short: claim again, now
    assert scope.window(CAPPED) is None  # past the window
    # Leaving out as much as the fruitless look did (or more), the window stays until the five seconds are up.
    assert scope.claimed(CAPPED, None, [], WANT) is False
    time.advance(0.2)
    assert scope.claimed(everyone, CLAIM_WINDOW * BATCH, [claimed(4)], WANT) is False
    assert scope.window(everyone) == CLAIM_WINDOW * BATCH


def test_an_early_look_past_the_window_waits_until_the_fruitless_one_is_worth_its_cost() -> None:
    # A deep backlog behind what is left out: looking past the window took 0.25 s and found
    # nothing. Looking again early, even with less left out, may cost as much again.
    time = FakeTime()
    scope = scope_at(time)
    everyone = LeftOut(webhooks=frozenset({1, 2, 3}))
    assert scope.window(everyone) is None
    time.advance(0.25)
    scope.claimed(everyone, None, [], WANT)
    soon = 0.25 / FRUITLESS_DEEP_CLAIM_SHARE * 0.9
    time.advance(soon)
    assert scope.window(CAPPED) == CLAIM_WINDOW * BATCH
    assert scope.claimed(CAPPED, CLAIM_WINDOW * BATCH, [claimed(2)], WANT) is False  # short, but not yet
    assert scope.window(CAPPED) == CLAIM_WINDOW * BATCH
    time.advance(0.25 / FRUITLESS_DEEP_CLAIM_SHARE - soon + 0.01)
    assert scope.window(CAPPED) is None
    assert DEEP_CLAIM_SECONDS > 0.25 / FRUITLESS_DEEP_CLAIM_SHARE + 0.01  # what was shown: earlier than the 5 s


def test_a_claim_that_found_nothing_is_not_repeated_until_news_or_the_poll_interval() -> None:
    time = FakeTime()
    scope = scope_at(time)
    scope.claimed(CAPPED, None, [], WANT)  # looked past the window: nothing beside the capped webhook
    assert scope.wait(CAPPED, news=False) == POLL
    time.advance(0.4)
    assert scope.wait(CAPPED, news=False) == pytest.approx(POLL - 0.4)
    more = LeftOut(webhooks=frozenset({1, 2}), tenants=frozenset({9}))
    assert scope.wait(more, news=False) == pytest.approx(POLL - 0.4)  # leaving out more would find nothing either
    assert scope.wait(LeftOut(tenants=frozenset({1})), news=False) == 0.0  # other than what found nothing
    assert scope.wait(LeftOut(), news=False) == 0.0  # nothing left out: claim
    time.advance(0.6)
    assert scope.wait(CAPPED, news=False) == 0.0  # the poll interval is up
    assert scope.wait(CAPPED, news=True) == 0.0


def test_news_of_queued_deliveries_ends_the_holding_off() -> None:
    time = FakeTime()
    scope = scope_at(time)
    scope.claimed(CAPPED, None, [], WANT)
    assert scope.wait(CAPPED, news=True) == 0.0
    assert scope.wait(CAPPED, news=False) == 0.0  # forgotten, not just skipped once


def test_holding_off_ends_when_the_look_past_the_window_is_due() -> None:
    time = FakeTime()
    scope = ClaimScope(BATCH, 60.0, time.monotonic)  # a long poll interval
    scope.claimed(CAPPED, None, [claimed(2)], WANT)  # looked past at t: found some
    time.advance(3.0)
    window = scope.window(CAPPED)
    assert window is not None
    scope.claimed(CAPPED, window, [], WANT)  # windowed, short, found nothing ...
    assert scope.claimed(CAPPED, None, [], WANT) is False  # ... and past it, at t + 3 s, nothing either
    time.advance(1.0)
    assert scope.wait(CAPPED, news=False) == pytest.approx(DEEP_CLAIM_SECONDS - 1.0)  # not the minute


def test_work_found_beside_what_was_left_out_ends_the_holding_off() -> None:
    time = FakeTime()
    scope = scope_at(time)
    scope.claimed(CAPPED, None, [], WANT)
    assert scope.wait(CAPPED, news=False) > 0
    scope.claimed(LeftOut(), None, [claimed(1)], WANT)  # only the capped webhook's: still fruitless
    assert scope.wait(CAPPED, news=False) > 0
    scope.claimed(LeftOut(), None, [claimed(1), claimed(2, tenant=2)], WANT)
    assert scope.wait(CAPPED, news=False) == 0.0


def test_left_out_says_what_it_covers() -> None:
    assert not LeftOut() and CAPPED and LeftOut(tenants=frozenset({3}))
    assert CAPPED.within(LeftOut(webhooks=frozenset({1, 2}))) and not LeftOut(webhooks=frozenset({1, 2})).within(CAPPED)
    assert CAPPED.leaves_out(claimed(1)) and not CAPPED.leaves_out(claimed(2))
    assert LeftOut(tenants=frozenset({3})).leaves_out(claimed(2, tenant=3))
