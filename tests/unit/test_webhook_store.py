from __future__ import annotations

from dochooks.webhooks.store import Gone, Refused, disabled_reason

AT = 1_800_000_000_123  # ms: 2027-01-15T08:00:00.123Z


def test_a_webhook_whose_endpoint_is_gone_says_when_and_how_to_resume() -> None:
    assert disabled_reason(Gone(1, AT)) == (
        "the endpoint answered 410 Gone at 2027-01-15T08:00:00.123Z; enable the webhook again to resume"
    )


def test_a_webhook_whose_address_is_refused_says_since_when_why_and_what_to_change() -> None:
    why = "refused: 10.0.0.1 is not a public address (private-use)"
    assert disabled_reason(Refused(1, AT, why)) == (
        f"deliveries are refused since 2027-01-15T08:00:00.123Z: {why}; change the URL (or have the operator open "
        "its range) and enable the webhook again"
    )
