from __future__ import annotations

from dochooks.delivery.shares import Shares
from tests.factories.deliveries import claimed


def test_a_webhook_that_never_answers_soon_holds_one_request_and_one_that_answers_grows() -> None:
    shares = Shares(per_webhook=50, per_tenant=1000)
    assert shares.cap_of(7) == Shares.START_CAP
    for _ in range(5):
        shares.add(claimed(7))
        shares.remove(claimed(7), answered=False)
    assert shares.cap_of(7) == 1 and shares.struggling(7)
    shares.add(claimed(7))
    assert shares.full_webhooks() == {7}  # one in flight: left out of claims
    for _ in range(100):
        shares.add(claimed(8))
        shares.remove(claimed(8), answered=True)
    assert shares.cap_of(8) == 50 and not shares.struggling(8)  # grown to the configured cap, no further
    assert not Shares(per_webhook=5, per_tenant=10).struggling(9)  # a low configured cap is not a struggle


def test_settling_reports_when_it_makes_room_for_a_webhook_or_a_tenant() -> None:
    shares = Shares(per_webhook=2, per_tenant=3)
    for webhook in (1, 1, 2):
        shares.add(claimed(webhook))
    assert shares.full_webhooks() == {1} and shares.full_tenants() == [1]
    assert shares.remove(claimed(2), answered=None) is True  # the tenant had its 3
    assert shares.remove(claimed(1), answered=None) is True  # webhook 1 had its 2
    assert shares.remove(claimed(1), answered=None) is False
    assert shares.total == 0 and shares.full_webhooks() == set()


def test_learned_caps_are_kept_for_the_most_recently_sent_webhooks_only() -> None:
    shares = Shares(per_webhook=50, per_tenant=10**6)
    for webhook in range(Shares.REMEMBERED + 1):  # each answered once: cap START_CAP + 1
        shares.add(claimed(webhook))
        shares.remove(claimed(webhook), answered=True)
    assert shares.cap_of(0) == Shares.START_CAP  # the oldest is forgotten and starts over
    assert shares.cap_of(1) == shares.cap_of(Shares.REMEMBERED) == Shares.START_CAP + 1


def test_held_deliveries_keep_a_webhook_out_of_claims_but_not_from_sending() -> None:
    shares = Shares(per_webhook=2, per_tenant=10)
    for _ in range(5):  # one claim took 5 of its deliveries: 2 are sent, 3 held
        shares.add(claimed(1))
    assert shares.full_webhooks() == {1}  # claimed and unsettled: left out of claims
    assert not shares.has_room(claimed(1), held=3)  # its 2 in flight are its cap
    shares.remove(claimed(1), answered=None)
    assert shares.has_room(claimed(1), held=3)  # one settled: the next held one may go
    assert not shares.has_room(claimed(1), held=2)
