"""Operational notifications, as Svix's operational webhooks: what a tenant's webhooks
subscribed to `webhook-failing`, `webhook-disabled`, `webhook-recovered` or
`delivery-exhausted` receive about its other webhooks. Pure: the recorder publishes them
through the outbox, in the transaction that records what caused them.

No loop: only workflow deliveries cause notifications. An operational delivery's attempts
feed no webhook's health and its giving up is no `delivery-exhausted`, so a webhook that
fails to receive a notification, about itself or another, causes no further one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dochooks.clock import iso
from dochooks.delivery.leases import DeliveryStatus, Outcome
from dochooks.topics import DELIVERY_EXHAUSTED, WEBHOOK_DISABLED, WEBHOOK_FAILING
from dochooks.webhooks.config import Health, HealthState
from dochooks.webhooks.health import Subject, Transition, shown


@dataclass(frozen=True)
class Notice:
    """An event to publish: the body without `request_id` and `topic`, which each delivery adds."""

    tenant_id: int
    topic: str
    payload: dict[str, Any]


def _webhook(webhook_id: int, name: str, tenant_id: int, health: Health) -> dict[str, Any]:
    """A webhook's health as every notification carries it."""
    return {"webhook_id": webhook_id, "webhook_name": name, "tenant_id": tenant_id, **shown(health)}


def _about(w: Subject, health: Health, now_ms: int) -> dict[str, Any]:
    attributes = {**_webhook(w.webhook_id, w.name, w.tenant_id, health), "changed_at": iso(now_ms)}
    return {"id": str(w.webhook_id), "type": "webhooks", "attributes": attributes}


def changed(t: Transition, now_ms: int) -> Notice:
    """A webhook went failing, recovered or was disabled: `webhook-<change>`."""
    return Notice(t.webhook.tenant_id, str(t.change), _about(t.webhook, t.health, now_ms))


def exhausted(o: Outcome, webhook: Subject, health: Health, now_ms: int) -> Notice:
    """A delivery failed for good (its retries used up, or its endpoint gone): `delivery-exhausted`."""
    attributes = {
        "delivery_id": o.delivery_id,
        "delivery_topic": o.topic,
        "attempts": o.number,
        "last_error": o.error,
        "failed_at": iso(now_ms),
        **_webhook(webhook.webhook_id, webhook.name, webhook.tenant_id, health),
    }
    return Notice(
        webhook.tenant_id,
        DELIVERY_EXHAUSTED.value,
        {"id": str(o.delivery_id), "type": "deliveries", "attributes": attributes},
    )


def example(tenant_id: int, topic: str, now_ms: int) -> dict[str, Any]:
    """A notification of `topic` about webhook 0 (delivery 0), for test sends."""
    since = now_ms - 3_600_000
    failing = Health(HealthState.FAILING, since, 3, since - 60_000, "HTTP 503")
    health = {
        WEBHOOK_FAILING.value: failing,
        WEBHOOK_DISABLED.value: Health(
            HealthState.DISABLED, since, 3, since - 60_000, "HTTP 503", now_ms, "an example of why: none, it is a test"
        ),
        DELIVERY_EXHAUSTED.value: failing,
    }.get(topic, Health(last_success_at=now_ms))
    subject = Subject(0, tenant_id, "Example webhook", health)
    if topic == DELIVERY_EXHAUSTED.value:
        o = Outcome(0, 0, 9, now_ms, 0, "{}", 503, "", "HTTP 503", DeliveryStatus.FAILED, None, 0, "document-received")
        return exhausted(o, subject, health, now_ms).payload
    return _about(subject, health, now_ms)
