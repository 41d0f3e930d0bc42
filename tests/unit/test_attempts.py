from __future__ import annotations

import asyncio
import json

from dochooks.delivery.attempts import attempt, unsent
from dochooks.delivery.sender import SendResult
from dochooks.delivery.signing import verify
from dochooks.delivery.targets import USER_AGENT, Target
from dochooks.webhooks.secrets import new_signing_secret, signing_key
from tests.factories.deliveries import FakeSender, FakeTime, claimed

SECRET = new_signing_secret()


def target(*, enabled: bool = True) -> Target:
    base = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    return Target(
        url="https://hooks.example.com/in",
        host="https://hooks.example.com",
        headers={**base, "Authorization": "Bearer s3cret-0"},
        shown_headers={**base, "Authorization": "********"},
        key=signing_key(SECRET),
        enabled=enabled,
        updated_at=1,
    )


def test_an_attempt_sends_the_signed_body_with_the_custom_headers_and_logs_them_masked() -> None:
    time = FakeTime()
    sender = FakeSender(SendResult(204, b"", None), time=time, takes=0.25)
    item = claimed(payload='{"id":"42"}')
    made = asyncio.run(attempt(sender, target(), item, clock=time, monotonic=time.monotonic))
    (sent,) = sender.sent
    assert sent.url == "https://hooks.example.com/in" and sent.body == item.body()
    assert json.loads(sent.body) == {"id": "42", "request_id": item.request_id, "topic": "document-received"}
    assert sent.headers["Authorization"] == "Bearer s3cret-0" and sent.headers["User-Agent"] == USER_AGENT
    assert sent.headers["webhook-id"] == item.request_id
    timestamp = int(sent.headers["webhook-timestamp"])
    assert timestamp == made.started // 1000
    assert verify(signing_key(SECRET), item.request_id, timestamp, sent.body, sent.headers["webhook-signature"])
    assert made.headers["Authorization"] == "********"
    assert made.headers["webhook-signature"] == sent.headers["webhook-signature"]
    assert made.result == SendResult(204, b"", None)
    assert (made.duration_ms, made.ended) == (250, made.started + 250)  # the sender's time, on the injected clock


def test_a_delivery_its_target_cannot_take_is_an_attempt_that_sent_nothing() -> None:
    made = unsent(target(enabled=False), "webhook is disabled; not sent", 1_000)
    assert (made.started, made.duration_ms, made.result.status) == (1_000, 0, None)
    assert made.result.error == "webhook is disabled; not sent"
    assert made.headers["Authorization"] == "********"
