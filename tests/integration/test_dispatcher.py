"""The dispatcher against real receivers on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time

from cryptography.fernet import Fernet

from dochooks.clock import iso
from dochooks.db import Row
from dochooks.delivery import log
from dochooks.delivery.claims import LeftOut
from dochooks.delivery.dispatcher import Dispatcher
from dochooks.delivery.leases import Claimed
from dochooks.delivery.publish import publish
from dochooks.delivery.sender import SendResult
from dochooks.delivery.signing import verify
from dochooks.documents.store import create_document
from dochooks.runtime import Runtime
from dochooks.webhooks import store
from dochooks.webhooks.secrets import Cipher, signing_key
from tests.factories.deliveries import PAYLOAD, FakeSender, FakeTime, dispatch_until, queue_delivery, status_of
from tests.factories.peers import Receiver, running_receiver
from tests.factories.stores import make_tenant, make_webhook


def test_a_document_event_arrives_in_the_reference_shape_signed_with_custom_headers_and_is_logged(
    runtime: Runtime, receiver: Receiver
) -> None:
    tenant = make_tenant(runtime.db).tenant_id
    hook = make_webhook(runtime.db, runtime.cipher, tenant, receiver.url("/ok/a"))
    uploaded_at = 1_620_813_946_229  # 2021-05-12T10:05:46.229Z, the reference's created_at
    with runtime.db.transaction() as conn:  # the service builds the event from the document row
        doc = create_document(
            conn,
            tenant_id=tenant,
            name="invoice.pdf",
            external_id="EX123456789",
            custom_fields={"SomeCustomField": "These custom fields cannot be queried."},
            files=[],
            sla_deadline=uploaded_at + 86_400_000,
            now_ms=uploaded_at,
        )
        (delivery,) = log.list_deliveries(conn, tenant_id=tenant, webhook_id=hook.id, limit=2)
    dispatch_until(runtime, lambda: status_of(runtime, tenant, delivery.id).status == "succeeded")
    (got,) = receiver.at("/ok/a")
    assert got.headers["authorization"] == "Bearer receiver-token-0123456789"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"].startswith("dochooks/")
    assert verify(
        signing_key(hook.secret),
        got.headers["webhook-id"],
        int(got.headers["webhook-timestamp"]),
        got.body,
        got.headers["webhook-signature"],
    )
    # The reference's body, written out here from the document's attributes, not taken from the service.
    assert json.loads(got.body) == {
        "id": str(doc.id),
        "type": "documents",
        "attributes": {
            "status": "pending",
            "tenant_id": tenant,
            "sla_deadline": "2021-05-13T10:05:46.229Z",
            "custom_fields": {"SomeCustomField": "These custom fields cannot be queried."},
            "external_id": "EX123456789",
            "created_at": "2021-05-12T10:05:46.229Z",
            "updated_at": "2021-05-12T10:05:46.229Z",
            "document_id": doc.id,
        },
        "request_id": delivery.request_id,
        "topic": "document-received",
    }
    assert got.headers["webhook-id"] == delivery.request_id
    logged = status_of(runtime, tenant, delivery.id)
    assert logged.payload == json.loads(got.body)  # the delivery log shows the body as it was sent
    (attempt,) = logged.attempts
    assert attempt.response_status == 200 and attempt.response_body == "received" and attempt.error is None
    assert attempt.request_headers["Authorization"].startswith("****")
    assert "receiver-token" not in json.dumps(attempt.request_headers)


def test_failures_are_retried_with_the_same_request_id_until_success(runtime: Runtime, receiver: Receiver) -> None:
    tenant, delivery, _ = queue_delivery(runtime, receiver.url("/fail/2/b"))
    dispatch_until(runtime, lambda: status_of(runtime, tenant, delivery).status == "succeeded", retry_time_scale=0.001)
    got = receiver.at("/fail/2/b")
    assert len(got) == 3
    assert len({r.headers["webhook-id"] for r in got}) == 1
    assert len({json.loads(r.body)["request_id"] for r in got}) == 1
    attempts = status_of(runtime, tenant, delivery).attempts
    assert [(a.number, a.response_status) for a in attempts] == [(1, 500), (2, 500), (3, 200)]
    assert attempts[0].error == "HTTP 500"


def test_after_eight_retries_the_delivery_fails_and_a_manual_retry_sends_it_again(
    runtime: Runtime, receiver: Receiver
) -> None:
    tenant, delivery, _ = queue_delivery(runtime, receiver.url("/status/503/c"))
    dispatch_until(runtime, lambda: status_of(runtime, tenant, delivery).status == "failed", retry_time_scale=0.00001)
    assert len(receiver.at("/status/503/c")) == 9
    failed = status_of(runtime, tenant, delivery)
    assert [a.number for a in failed.attempts] == list(range(1, 10)) and failed.next_attempt_at is None
    with runtime.db.transaction() as conn:
        log.retry_delivery(conn, tenant_id=tenant, delivery_id=delivery, now_ms=runtime.clock.now_ms())
    dispatch_until(runtime, lambda: len(status_of(runtime, tenant, delivery).attempts) == 10)
    again = status_of(runtime, tenant, delivery)
    assert again.status == "failed" and again.request_id == failed.request_id
    assert len(receiver.at("/status/503/c")) == 10


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(runtime: Runtime, receiver: Receiver) -> None:
    tenant, delivery, _ = queue_delivery(runtime, receiver.url("/redirect/d"))
    dispatch_until(runtime, lambda: len(status_of(runtime, tenant, delivery).attempts) >= 1)
    (attempt, *_) = status_of(runtime, tenant, delivery).attempts
    assert attempt.response_status == 302 and "redirect" in (attempt.error or "")
    assert receiver.at("/ok/redirected") == []
    assert status_of(runtime, tenant, delivery).status == "pending"


def test_a_receiver_slower_than_the_timeout_is_a_failed_attempt(runtime: Runtime, receiver: Receiver) -> None:
    tenant, delivery, _ = queue_delivery(runtime, receiver.url("/slow/2/e"))
    started = time.monotonic()
    dispatch_until(runtime, lambda: len(status_of(runtime, tenant, delivery).attempts) >= 1, delivery_timeout=0.5)
    assert time.monotonic() - started < 4
    (attempt,) = status_of(runtime, tenant, delivery).attempts
    assert attempt.response_status is None and "timed out" in (attempt.error or "")


def test_deliveries_of_a_disabled_webhook_fail_without_a_request(runtime: Runtime, receiver: Receiver) -> None:
    tenant, delivery, _ = queue_delivery(runtime, receiver.url("/ok/f"))
    hook_id = status_of(runtime, tenant, delivery).webhook_id
    with runtime.db.transaction() as conn:
        store.update_webhook(conn, runtime.cipher, tenant, hook_id, {"enabled": False}, runtime.clock.now_ms())
    dispatch_until(runtime, lambda: status_of(runtime, tenant, delivery).status == "failed")
    assert receiver.at("/ok/f") == []
    assert "disabled" in (status_of(runtime, tenant, delivery).attempts[0].error or "")


def test_a_huge_answer_is_stored_bounded_and_a_trickling_one_is_cut_at_the_timeout(
    runtime: Runtime, receiver: Receiver
) -> None:
    tenant, big, _ = queue_delivery(runtime, receiver.url("/big/g"))
    hook = make_webhook(runtime.db, runtime.cipher, tenant, receiver.url("/trickle/g"))
    with runtime.db.transaction() as conn:
        published = publish(
            conn, tenant_id=tenant, topic="document-received", payload=PAYLOAD, now_ms=runtime.clock.now_ms()
        )
    with runtime.db.read() as conn:
        slow = next(
            d.id
            for d in log.deliveries_of_event(conn, tenant_id=tenant, event_id=published.event_id)
            if d.webhook_id == hook.id
        )
    started = time.monotonic()
    dispatch_until(
        runtime,
        lambda: bool(status_of(runtime, tenant, big).attempts and status_of(runtime, tenant, slow).attempts),
        delivery_timeout=1.0,
    )
    assert time.monotonic() - started < 5
    (huge,) = status_of(runtime, tenant, big).attempts
    assert huge.response_status == 200 and len(huge.response_body or "") == 64 * 1024
    (trickled,) = status_of(runtime, tenant, slow).attempts
    assert trickled.response_status is None and "timed out" in (trickled.error or "")
    assert trickled.duration_ms < 3000


def test_a_webhook_whose_secret_does_not_decrypt_fails_alone(runtime: Runtime, receiver: Receiver) -> None:
    tenant, good, _ = queue_delivery(runtime, receiver.url("/ok/h"))
    bad_hook = make_webhook(runtime.db, runtime.cipher, tenant, receiver.url("/ok/bad"))
    foreign = Cipher(Fernet.generate_key())
    with runtime.db.transaction() as conn:
        conn.run("UPDATE webhooks SET secret = :s WHERE id = :id", {"s": foreign.encrypt("whsec_x"), "id": bad_hook.id})
        published = publish(
            conn, tenant_id=tenant, topic="document-received", payload=PAYLOAD, now_ms=runtime.clock.now_ms()
        )
        (bad,) = [
            d.id
            for d in log.deliveries_of_event(conn, tenant_id=tenant, event_id=published.event_id)
            if d.webhook_id == bad_hook.id
        ]
    dispatch_until(runtime, lambda: status_of(runtime, tenant, bad).status == "failed")
    assert "decrypt" in (status_of(runtime, tenant, bad).attempts[0].error or "")
    dispatch_until(runtime, lambda: status_of(runtime, tenant, good).status == "succeeded")
    assert receiver.at("/ok/bad") == []


def test_a_hanging_host_does_not_hold_up_the_others(runtime: Runtime, receiver: Receiver) -> None:
    tenant = make_tenant(runtime.db).tenant_id
    hanging = make_webhook(
        runtime.db, runtime.cipher, tenant, receiver.url("/slow/3/hang"), topics=("preprocessing-done",)
    )
    with running_receiver() as other:
        make_webhook(runtime.db, runtime.cipher, tenant, other.url("/ok/fast"), topics=("document-received",))
        with runtime.db.transaction() as conn:
            for _ in range(40):  # the hanging host's backlog, due first
                publish(conn, tenant_id=tenant, topic="preprocessing-done", payload=PAYLOAD, now_ms=1)
            for _ in range(5):
                publish(conn, tenant_id=tenant, topic="document-received", payload=PAYLOAD, now_ms=2)
        started = time.monotonic()
        dispatch_until(
            runtime,
            lambda: len(other.at("/ok/fast")) == 5,
            max_in_flight=20,
            claim_batch=10,
            max_per_host=2,
            delivery_timeout=3.0,
        )
        arrived = max(r.at for r in other.at("/ok/fast"))
        assert arrived - started < 2.5  # before the hanging host's first timeout
    with runtime.db.read() as conn:
        logged = conn.one(
            "SELECT COUNT(*) AS n FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.webhook_id = :w",
            {"w": hanging.id},
        )
        pending = conn.one(
            "SELECT COUNT(*) AS n FROM deliveries WHERE webhook_id = :w AND locked_by IS NULL", {"w": hanging.id}
        )
    # Only requests really sent are attempts; what waited for a lane went back to the queue unsent.
    assert logged == {"n": len(receiver.at("/slow/3/hang"))}
    assert pending == {"n": 40}


def test_a_webhook_at_its_cap_leaves_room_for_the_others_on_the_same_host(runtime: Runtime, receiver: Receiver) -> None:
    tenant = make_tenant(runtime.db).tenant_id
    make_webhook(runtime.db, runtime.cipher, tenant, receiver.url("/slow/2/capped"), topics=("preprocessing-done",))
    make_webhook(runtime.db, runtime.cipher, tenant, receiver.url("/ok/beside"), topics=("document-received",))
    with runtime.db.transaction() as conn:
        for _ in range(60):  # the slow webhook's backlog, due first
            publish(conn, tenant_id=tenant, topic="preprocessing-done", payload=PAYLOAD, now_ms=1)
        for _ in range(10):
            publish(conn, tenant_id=tenant, topic="document-received", payload=PAYLOAD, now_ms=2)
    started = time.monotonic()
    dispatch_until(
        runtime,
        lambda: len(receiver.at("/ok/beside")) == 10,
        max_in_flight=100,
        claim_batch=20,
        max_per_webhook=5,
        delivery_timeout=3.0,
    )
    assert max(r.at for r in receiver.at("/ok/beside")) - started < 1.5  # before the first slow answer
    # Its cap bounds its requests in flight: none answers within the test, so no more than 5
    # were sent, though the first claim took 20 of its deliveries.
    assert len(receiver.at("/slow/2/capped")) <= 5


def test_one_tenants_flood_does_not_starve_another_tenants_single_event(runtime: Runtime, receiver: Receiver) -> None:
    flooding = make_tenant(runtime.db, "flood").tenant_id
    for i in range(30):  # many webhooks, each under its own cap: only the tenant's cap holds them
        make_webhook(runtime.db, runtime.cipher, flooding, receiver.url(f"/slow/2/flood{i}"))
    quiet = make_tenant(runtime.db, "quiet").tenant_id
    make_webhook(runtime.db, runtime.cipher, quiet, receiver.url("/ok/quiet"))
    with runtime.db.transaction() as conn:
        for _ in range(20):  # 600 deliveries, due before the quiet tenant's one
            publish(conn, tenant_id=flooding, topic="document-received", payload=PAYLOAD, now_ms=1)
        publish(conn, tenant_id=quiet, topic="document-received", payload=PAYLOAD, now_ms=2)
    started = time.monotonic()
    dispatch_until(
        runtime,
        lambda: len(receiver.at("/ok/quiet")) == 1,
        max_in_flight=200,
        claim_batch=50,
        max_per_webhook=20,
        max_per_tenant=100,
        delivery_timeout=3.0,
    )
    (got,) = receiver.at("/ok/quiet")
    assert got.at - started < 1.5  # not behind the flood's first slow answers
    # None of the flood answers within the test, so what it was sent is what it has in flight:
    # the tenant's cap exactly (two claims of 50 land on it; a claim never starts at the cap).
    assert len(receiver.at("/slow/2/flood")) <= 100


def test_an_event_queued_behind_a_capped_flood_deeper_than_the_claim_window_goes_out_at_once(
    runtime: Runtime, receiver: Receiver
) -> None:
    flooding = make_tenant(runtime.db, "flood").tenant_id
    for i in range(30):
        make_webhook(runtime.db, runtime.cipher, flooding, receiver.url(f"/slow/3/flood{i}"))
    quiet = make_tenant(runtime.db, "quiet").tenant_id
    make_webhook(runtime.db, runtime.cipher, quiet, receiver.url("/ok/quiet"))
    with runtime.db.transaction() as conn:
        for _ in range(40):  # 1,200 deliveries: six claim windows deep
            publish(conn, tenant_id=flooding, topic="document-received", payload=PAYLOAD, now_ms=1)
    rests = threading.Event()

    class Resting(Dispatcher):
        """The real dispatcher, telling the test when it goes to rest: after a claim that looked
        past the window and found nothing while something was left out, it sleeps the poll
        interval, which only the publish's wake-up (or a settled delivery) cuts short."""

        def _claim(
            self, limit: int, left_out: LeftOut, window: int | None
        ) -> tuple[list[Claimed], list[Row], int | None]:
            claimed, webhooks, due = super()._claim(limit, left_out, window)
            if left_out and window is None and not claimed:
                rests.set()
            return claimed, webhooks, due

    published: list[float] = []

    def quiet_event_sent() -> bool:
        if not published and rests.is_set():  # the flooding tenant is at its cap, the loop asleep
            now = runtime.clock.now_ms()
            with runtime.db.transaction() as conn:
                publish(conn, tenant_id=quiet, topic="document-received", payload=PAYLOAD, now_ms=now)
            published.append(time.monotonic())
        return len(receiver.at("/ok/quiet")) == 1

    dispatch_until(
        runtime,
        quiet_event_sent,
        dispatcher=Resting,
        max_in_flight=200,
        claim_batch=50,
        max_per_webhook=20,
        max_per_tenant=100,
        delivery_timeout=5.0,
        poll_interval=600.0,
    )
    (got,) = receiver.at("/ok/quiet")
    # Only the publish's wake-up comes this soon: the flood's first answers take 3 s, the next
    # look past the window is 5 s after the one that found nothing, and the poll is minutes away.
    assert got.at - published[0] < 1.0


# --- through a fake sender, on fake clocks ---------------------------------------------


def test_what_the_sender_answers_is_recorded_with_the_time_it_took(runtime: Runtime) -> None:
    tenant, delivery, secret = queue_delivery(runtime, "https://hooks.example.com/in")
    fake_time = FakeTime(runtime.clock.now_ms())
    sender = FakeSender(SendResult(503, b"busy", None, retry_after="120"), time=fake_time, takes=0.25)
    dispatch_until(
        runtime, lambda: status_of(runtime, tenant, delivery).attempts != (), sender=sender, fake_time=fake_time
    )
    (sent,) = sender.sent
    assert sent.url == "https://hooks.example.com/in"
    stamp = int(sent.headers["webhook-timestamp"])
    assert verify(signing_key(secret), sent.headers["webhook-id"], stamp, sent.body, sent.headers["webhook-signature"])
    retrying = status_of(runtime, tenant, delivery)
    (attempt,) = retrying.attempts
    assert (attempt.started_at, attempt.duration_ms) == (fake_time.start_ms, 250)
    assert (attempt.response_status, attempt.response_body) == (503, "busy")
    assert attempt.error == "HTTP 503 (Retry-After: 120 s)" and attempt.request_headers["Authorization"].startswith("*")
    assert retrying.status == "pending" and retrying.next_attempt_at == fake_time.start_ms + 250 + 120_000
    assert sender.closed  # by the dispatcher, as it stopped


def test_an_endpoint_gone_disables_its_webhook_saying_when(runtime: Runtime) -> None:
    tenant, delivery, _ = queue_delivery(runtime, "https://hooks.example.com/gone")
    fake_time = FakeTime(runtime.clock.now_ms())
    sender = FakeSender(SendResult(410, b"", None), time=fake_time, takes=0.5)
    dispatch_until(
        runtime, lambda: status_of(runtime, tenant, delivery).status == "failed", sender=sender, fake_time=fake_time
    )
    failed = status_of(runtime, tenant, delivery)
    (attempt,) = failed.attempts
    assert attempt.error == "HTTP 410 (the endpoint is gone; webhook disabled)" and failed.next_attempt_at is None
    with runtime.db.read() as conn:
        hook = store.get_webhook(conn, runtime.cipher, tenant, failed.webhook_id)
    gone_at = iso(fake_time.start_ms + 500)
    assert not hook.enabled
    assert hook.disabled_reason == f"the endpoint answered 410 Gone at {gone_at}; enable the webhook again to resume"
    assert len(sender.sent) == 1
