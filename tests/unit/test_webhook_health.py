"""What a batch of attempts does to a webhook's health: pure decisions, no database."""

from __future__ import annotations

from dochooks.delivery import operational
from dochooks.delivery.leases import DeliveryStatus, Outcome
from dochooks.delivery.recorder import notices
from dochooks.topics import OPERATIONAL_TOPICS, is_operational, is_topic
from dochooks.webhooks.config import Health, HealthState
from dochooks.webhooks.health import Change, Recorded, Subject, Tally, after, tally

DAY = 24 * 3600 * 1000
NOW = 1_800_000_000_000


def test_a_tally_keeps_the_latest_success_and_the_failures_after_it() -> None:
    found = tally([(1, False, 10, "HTTP 500"), (1, True, 20, None), (1, False, 30, "HTTP 502"), (1, False, 40, "x")])
    assert found[1] == Tally(1, succeeded_at=20, failures=2, first_failure_at=30, last_error="x")
    assert tally([(2, False, 5, "HTTP 500")])[2] == Tally(2, None, 1, 5, "HTTP 500")


def test_a_first_failure_makes_a_healthy_webhook_failing_and_more_only_count() -> None:
    failing, change = after(Health(), Tally(1, None, 2, NOW - 5, "HTTP 500"), now_ms=NOW, disable_after_ms=DAY)
    assert change is Change.FAILING
    assert failing == Health(HealthState.FAILING, NOW - 5, 2, None, "HTTP 500")
    more, change = after(failing, Tally(1, None, 1, NOW, "timeout"), now_ms=NOW, disable_after_ms=DAY)
    assert change is None and (more.failing_since, more.consecutive_failures, more.last_error) == (
        NOW - 5,
        3,
        "timeout",
    )


def test_a_success_makes_a_failing_webhook_healthy_again() -> None:
    failing = Health(HealthState.FAILING, NOW - 5, 4, None, "HTTP 500")
    healthy, change = after(failing, Tally(1, succeeded_at=NOW), now_ms=NOW, disable_after_ms=DAY)
    assert change is Change.RECOVERED
    assert healthy == Health(HealthState.HEALTHY, None, 0, NOW, "HTTP 500")
    same, change = after(healthy, Tally(1, succeeded_at=NOW + 1), now_ms=NOW + 1, disable_after_ms=DAY)
    assert change is None and same.last_success_at == NOW + 1


def test_a_success_then_failures_in_one_batch_start_failing_afresh() -> None:
    failing = Health(HealthState.FAILING, NOW - DAY + 1, 40, None, "HTTP 500")
    again, change = after(failing, Tally(1, NOW - 10, 1, NOW - 5, "HTTP 503"), now_ms=NOW, disable_after_ms=DAY)
    assert change is None  # still failing, though since later: no notification either way
    assert (again.failing_since, again.consecutive_failures, again.last_success_at) == (NOW - 5, 1, NOW - 10)


def test_failing_for_the_whole_period_disables_the_webhook_saying_why() -> None:
    failing = Health(HealthState.FAILING, NOW - DAY, 40, None, "HTTP 500")
    disabled, change = after(failing, Tally(1, None, 1, NOW, "HTTP 500"), now_ms=NOW, disable_after_ms=DAY)
    assert change is Change.DISABLED
    assert (disabled.state, disabled.disabled_at, disabled.consecutive_failures) == (HealthState.DISABLED, NOW, 41)
    assert disabled.disabled_reason == (
        "every delivery attempt failed since 2027-01-14T08:00:00.000Z (41 in a row, the last: HTTP 500); "
        "enable the webhook again to resume"
    )
    kept, change = after(failing, Tally(1, None, 1, NOW, "HTTP 500"), now_ms=NOW, disable_after_ms=None)
    assert change is None and kept.state is HealthState.FAILING  # a period of 0 never disables


def test_a_disabled_webhooks_unsent_deliveries_leave_its_health_alone() -> None:
    disabled = Health(HealthState.DISABLED, disabled_at=NOW - 1, disabled_reason="gone")
    assert after(disabled, Tally(1, None, 3, NOW, "webhook is disabled; not sent"), now_ms=NOW, disable_after_ms=1) == (
        disabled,
        None,
    )


def test_operational_topics_are_topics_apart_from_the_workflow_ones() -> None:
    assert [t.value for t in OPERATIONAL_TOPICS] == [str(c) for c in Change] + ["delivery-exhausted"]
    assert all(is_topic(t.value) and is_operational(t.value) and t.stage is None for t in OPERATIONAL_TOPICS)
    assert not is_operational("document-received")


def test_every_operational_topic_has_an_example_for_test_sends() -> None:
    for topic in OPERATIONAL_TOPICS:
        example = operational.example(7, topic.value, NOW)
        assert example["id"] == "0" and example["attributes"]["tenant_id"] == 7
        assert example["type"] == ("deliveries" if topic.value == "delivery-exhausted" else "webhooks")
    assert operational.example(7, "webhook-disabled", NOW)["attributes"]["state"] == "disabled"


def _failed(delivery: int, webhook: int, topic: str) -> Outcome:
    return Outcome(delivery, webhook, 9, NOW, 5, "{}", 503, "", "HTTP 503", DeliveryStatus.FAILED, None, 0, topic)


def test_only_a_workflow_delivery_that_gives_up_while_its_webhook_is_enabled_is_told() -> None:
    enabled = Subject(1, 7, "ERP", Health(HealthState.FAILING, NOW - 9, 8))
    disabled = Subject(2, 7, "Old", Health(HealthState.DISABLED, disabled_at=NOW - 1))
    after_batch = {1: Health(HealthState.FAILING, NOW - 9, 9, last_error="HTTP 503"), 2: disabled.health}
    found = Recorded({1: enabled, 2: disabled}, after_batch, [])
    outcomes = [
        _failed(10, 1, "document-received"),
        _failed(11, 1, "webhook-failing"),  # an operational delivery: its giving up is told to nobody
        _failed(12, 2, "document-received"),  # failed unsent: its webhook is disabled
    ]
    (told,) = notices(outcomes, found, NOW)
    assert (told.tenant_id, told.topic, told.payload["id"]) == (7, "delivery-exhausted", "10")
    assert told.payload["attributes"]["consecutive_failures"] == 9
