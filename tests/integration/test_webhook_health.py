"""Failing endpoints: each webhook's health from its deliveries' attempts, disabling after a
period of failures, and the operational notifications, on both stores with real receivers."""

from __future__ import annotations

import json
import time
from typing import Any

from dochooks.clock import parse_iso
from dochooks.delivery import log
from dochooks.delivery.leases import DeliveryStatus
from dochooks.delivery.publish import publish
from dochooks.runtime import Runtime
from dochooks.tenants import NewTenant
from dochooks.webhooks import store
from dochooks.webhooks.config import HealthState, Webhook
from tests.factories.clients import Api, webhook_doc
from tests.factories.deliveries import PAYLOAD, dispatch_until, status_of
from tests.factories.peers import Receiver
from tests.factories.stores import make_tenant, make_webhook

OPERATIONAL = ["webhook-failing", "webhook-disabled", "webhook-recovered", "delivery-exhausted"]
NEVER = 10**6  # seconds: no webhook is disabled for failing within a test


def _publish(rt: Runtime, tenant: int, topic: str = "document-received") -> int:
    """One workflow event for the tenant's subscribed webhooks; returns its delivery to the first."""
    with rt.db.transaction() as conn:
        published = publish(conn, tenant_id=tenant, topic=topic, payload=PAYLOAD, now_ms=rt.clock.now_ms())
        return log.deliveries_of_event(conn, tenant_id=tenant, event_id=published.event_id)[0].id


def _webhook(rt: Runtime, tenant: int, webhook_id: int) -> Webhook:
    with rt.db.read() as conn:
        return store.get_webhook(conn, rt.cipher, tenant, webhook_id)


def _notices(receiver: Receiver, prefix: str) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.at(prefix)]


def _watched_and_watcher(rt: Runtime, receiver: Receiver, path: str) -> tuple[int, Webhook, Webhook]:
    """A tenant with a workflow webhook at `path` and another subscribed to every operational topic."""
    tenant = make_tenant(rt.db).tenant_id
    watched = make_webhook(rt.db, rt.cipher, tenant, receiver.url(path), name="ERP")
    watcher = make_webhook(rt.db, rt.cipher, tenant, receiver.url("/ok/ops"), name="ops", topics=tuple(OPERATIONAL))
    return tenant, watched, watcher


def test_a_failing_endpoint_is_failing_with_its_count_and_last_error_then_a_success_makes_it_healthy(
    runtime: Runtime, receiver: Receiver
) -> None:
    tenant, watched, watcher = _watched_and_watcher(runtime, receiver, "/fail/2/a")
    started = runtime.clock.now_ms()
    delivery = _publish(runtime, tenant)
    dispatch_until(
        runtime,
        lambda: (
            len(receiver.at("/fail/2/a")) == 2
            and _webhook(runtime, tenant, watched.id).health.consecutive_failures == 2
        ),
        retry_time_scale=0.05,
        disable_failing_after=NEVER,
    )
    failing = _webhook(runtime, tenant, watched.id).health
    assert failing.state is HealthState.FAILING
    assert (failing.consecutive_failures, failing.last_error, failing.last_success_at) == (2, "HTTP 500", None)
    assert failing.failing_since is not None and failing.failing_since >= started

    dispatch_until(
        runtime,
        lambda: status_of(runtime, tenant, delivery).status == "succeeded" and len(receiver.at("/ok/ops")) == 2,
        retry_time_scale=0.05,
        disable_failing_after=NEVER,
    )
    healthy = _webhook(runtime, tenant, watched.id).health
    assert healthy.state is HealthState.HEALTHY
    assert (healthy.failing_since, healthy.consecutive_failures) == (None, 0)
    assert (
        healthy.last_success_at is not None and healthy.last_error == "HTTP 500"
    )  # the last error stays, for the record
    failing_notice, recovered = _notices(receiver, "/ok/ops")
    assert failing_notice["topic"] == "webhook-failing" and recovered["topic"] == "webhook-recovered"
    assert failing_notice["type"] == "webhooks" and failing_notice["id"] == str(watched.id)
    assert failing_notice["attributes"] == {
        "webhook_id": watched.id,
        "webhook_name": "ERP",
        "tenant_id": tenant,
        "state": "failing",
        "failing_since": failing_notice["attributes"]["failing_since"],
        "consecutive_failures": 1,
        "last_success_at": None,
        "last_error": "HTTP 500",
        "disabled_at": None,
        "disabled_reason": None,
        "changed_at": failing_notice["attributes"]["changed_at"],
    }
    assert parse_iso(failing_notice["attributes"]["failing_since"]) == failing.failing_since
    assert recovered["attributes"]["state"] == "healthy" and recovered["attributes"]["last_success_at"] is not None
    assert len(recovered["request_id"]) == 32
    # Signed and logged like every delivery: the watcher's log holds both.
    with runtime.db.read() as conn:
        logged = log.list_deliveries(conn, tenant_id=tenant, webhook_id=watcher.id, limit=10)
    assert sorted(d.topic for d in logged) == ["webhook-failing", "webhook-recovered"]
    assert all(d.status == "succeeded" for d in logged)
    assert all("webhook-signature" in r.headers for r in receiver.at("/ok/ops"))


def test_an_endpoint_failing_longer_than_the_period_is_disabled_saying_why_and_its_deliveries_stay(
    runtime: Runtime, receiver: Receiver
) -> None:
    tenant, watched, _ = _watched_and_watcher(runtime, receiver, "/status/500/b")
    first, second = _publish(runtime, tenant), _publish(runtime, tenant)
    dispatch_until(
        runtime,
        lambda: not _webhook(runtime, tenant, watched.id).enabled and len(receiver.at("/ok/ops")) == 2,
        retry_time_scale=0.01,
        disable_failing_after=0.2,
    )
    hook = _webhook(runtime, tenant, watched.id)
    health = hook.health
    assert health.state is HealthState.DISABLED and health.disabled_at is not None
    assert health.failing_since is not None and health.disabled_at - health.failing_since >= 200
    assert hook.disabled_reason is not None and hook.disabled_reason.startswith("every delivery attempt failed since ")
    assert "enable the webhook again to resume" in hook.disabled_reason
    failing_notice, disabled = _notices(receiver, "/ok/ops")
    assert failing_notice["topic"] == "webhook-failing"
    assert disabled["topic"] == "webhook-disabled" and disabled["attributes"]["state"] == "disabled"
    assert disabled["attributes"]["disabled_reason"] == hook.disabled_reason
    # Its deliveries stay in the log, each with its request id, to be sent again once it is enabled.
    for delivery in (first, second):
        assert status_of(runtime, tenant, delivery).request_id
    with runtime.db.transaction() as conn:
        enabled = store.update_webhook(
            conn, runtime.cipher, tenant, watched.id, {"enabled": True}, runtime.clock.now_ms()
        )
        log.retry_delivery(conn, tenant_id=tenant, delivery_id=first, now_ms=runtime.clock.now_ms())
    assert enabled.health.state is HealthState.HEALTHY and enabled.disabled_reason is None
    assert (enabled.health.failing_since, enabled.health.consecutive_failures, enabled.health.disabled_at) == (
        None,
        0,
        None,
    )
    sent_before = len(receiver.at("/status/500/b"))
    dispatch_until(runtime, lambda: len(receiver.at("/status/500/b")) > sent_before, disable_failing_after=NEVER)


def test_a_delivery_that_gives_up_is_told_as_delivery_exhausted(runtime: Runtime, receiver: Receiver) -> None:
    tenant, watched, _ = _watched_and_watcher(runtime, receiver, "/status/503/c")
    delivery = _publish(runtime, tenant)
    dispatch_until(
        runtime,
        lambda: any(n["topic"] == "delivery-exhausted" for n in _notices(receiver, "/ok/ops")),
        retry_time_scale=0.00001,
        disable_failing_after=NEVER,
    )
    (exhausted,) = [n for n in _notices(receiver, "/ok/ops") if n["topic"] == "delivery-exhausted"]
    assert exhausted["type"] == "deliveries" and exhausted["id"] == str(delivery)
    attributes = exhausted["attributes"]
    assert (attributes["delivery_id"], attributes["delivery_topic"], attributes["attempts"]) == (
        delivery,
        "document-received",
        9,
    )
    assert attributes["last_error"] == "HTTP 503" and attributes["webhook_id"] == watched.id
    assert (attributes["state"], attributes["consecutive_failures"]) == ("failing", 9)
    assert status_of(runtime, tenant, delivery).status == "failed"


def test_a_webhook_that_cannot_receive_notifications_about_itself_causes_no_more_of_them(
    runtime: Runtime, receiver: Receiver
) -> None:
    """Only workflow deliveries cause notifications: the ones about W that W fails to receive
    count for nothing, so they neither change W's health nor cause notifications in turn."""
    tenant = make_tenant(runtime.db).tenant_id
    hook = make_webhook(
        runtime.db, runtime.cipher, tenant, receiver.url("/status/500/self"), topics=("document-received", *OPERATIONAL)
    )
    delivery = _publish(runtime, tenant)

    def settled() -> bool:
        with runtime.db.read() as conn:
            pending = log.list_deliveries(
                conn, tenant_id=tenant, webhook_id=hook.id, limit=50, status=DeliveryStatus.PENDING
            )
        return status_of(runtime, tenant, delivery).status == "failed" and not pending

    dispatch_until(runtime, settled, retry_time_scale=0.00001, disable_failing_after=NEVER)
    with runtime.db.read() as conn:
        logged = log.list_deliveries(conn, tenant_id=tenant, webhook_id=hook.id, limit=50)
    assert sorted(d.topic for d in logged) == ["delivery-exhausted", "document-received", "webhook-failing"]
    assert all(d.status == "failed" and len(d.attempts) == 9 for d in logged)
    health = _webhook(runtime, tenant, hook.id).health
    assert (health.state, health.consecutive_failures) == (HealthState.FAILING, 9)  # its workflow attempts alone


def test_a_webhook_shows_its_health_in_the_api(
    service: str, acme: NewTenant, receiver: Receiver, runtime: Runtime
) -> None:
    api = Api(service, acme.token)
    status, made = api.call("POST", "/v1/webhooks", webhook_doc(receiver.url("/status/500/api"), [*OPERATIONAL[:1]]))
    assert status == 201 and made["data"]["attributes"]["health"] == {
        "state": "healthy",
        "failing_since": None,
        "consecutive_failures": 0,
        "last_success_at": None,
        "last_error": None,
        "disabled_at": None,
        "disabled_reason": None,
    }
    status, made = api.call("POST", "/v1/webhooks", webhook_doc(receiver.url("/status/500/api2")))
    webhook_id = int(made["data"]["id"])
    _publish(runtime, acme.tenant_id)  # the service's own dispatcher sends it

    def health_now() -> dict[str, Any]:
        return api.call("GET", f"/v1/webhooks/{webhook_id}")[1]["data"]["attributes"]["health"]  # type: ignore[no-any-return]

    deadline = time.monotonic() + 30
    while health_now()["state"] != "failing":
        assert time.monotonic() < deadline, "the webhook did not go failing"
        time.sleep(0.05)
    health = health_now()
    assert health["consecutive_failures"] >= 1 and health["last_error"] == "HTTP 500"
    assert parse_iso(health["failing_since"]) > 0 and health["disabled_at"] is None
    status, changed = api.call(
        "PATCH", f"/v1/webhooks/{webhook_id}", {"data": {"type": "webhooks", "attributes": {"enabled": False}}}
    )
    shown = changed["data"]["attributes"]["health"]
    assert status == 200 and shown["state"] == "disabled" and parse_iso(shown["disabled_at"]) > 0
    assert shown["failing_since"] is None and shown["last_error"] == "HTTP 500"
    status, changed = api.call(
        "PATCH", f"/v1/webhooks/{webhook_id}", {"data": {"type": "webhooks", "attributes": {"enabled": True}}}
    )
    assert changed["data"]["attributes"]["health"]["state"] == "healthy"


def test_a_test_send_of_an_operational_topic_carries_its_own_payload(
    service: str, acme: NewTenant, receiver: Receiver
) -> None:
    api = Api(service, acme.token)
    _, made = api.call("POST", "/v1/webhooks", webhook_doc(receiver.url("/ok/test-ops"), ["webhook-disabled"]))
    body = {"data": {"type": "webhook_tests", "attributes": {"topic": "webhook-disabled"}}}
    status, _ = api.call("POST", f"/v1/webhooks/{made['data']['id']}/test", body)
    assert status == 202
    (got,) = receiver.wait_for("/ok/test-ops", 1)
    sent = json.loads(got.body)
    assert (sent["topic"], sent["type"], sent["id"]) == ("webhook-disabled", "webhooks", "0")
    assert sent["attributes"]["state"] == "disabled" and sent["attributes"]["tenant_id"] == acme.tenant_id
