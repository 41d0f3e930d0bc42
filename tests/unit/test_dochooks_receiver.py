"""dochooks-receiver (receiver/): verify() against signatures made by the service's own
signing code, its events parsed from the service's own payloads, and its topics kept equal
to the service's, so the two never drift; and its verdicts the same as the Standard Webhooks
library's (`standardwebhooks`, which examples/python-flask verifies with)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from dochooks_receiver import (
    OPERATIONAL_TOPICS,
    WORKFLOW_TOPICS,
    DeliveryExhaustedEvent,
    DocumentEvent,
    DocumentStatus,
    InvalidPayload,
    InvalidSignature,
    MissingHeaders,
    TimestampTooNew,
    TimestampTooOld,
    Topic,
    WebhookEvent,
    parse_event,
    verify,
)
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from dochooks import topics
from dochooks.delivery import operational
from dochooks.delivery.leases import body as delivery_body
from dochooks.delivery.publish import example_payload
from dochooks.delivery.signing import signature_header
from dochooks.webhooks.secrets import signing_key

SECRET = "whsec_" + base64.b64encode(b"the current signing key 0123456").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"the previous signing key 012345").decode()
REQUEST_ID = "ef083852541ff078340a516432aee2f4"
NOW = 1_764_540_000


def delivery(topic: str = "document-received", *secrets: str, at: int = NOW) -> tuple[bytes, dict[str, str]]:
    """A body and its headers exactly as the service sends them, signed with `secrets`."""
    payload = operational.example if topics.is_operational(topic) else example_payload
    body = delivery_body(json.dumps(payload(1385, topic, NOW * 1000)), REQUEST_ID, topic)
    keys = tuple(signing_key(s) for s in secrets or (SECRET,))
    return body, {
        "webhook-id": REQUEST_ID,
        "webhook-timestamp": str(at),
        "webhook-signature": signature_header(keys, REQUEST_ID, at, body),
    }


def test_a_delivery_is_verified_into_its_typed_event() -> None:
    body, headers = delivery()
    event = verify(SECRET, headers, body, now=NOW)
    assert isinstance(event, DocumentEvent)
    assert (event.id, event.request_id, event.topic) == ("0", REQUEST_ID, Topic.DOCUMENT_RECEIVED)
    assert event.attributes.status is DocumentStatus.PENDING and event.attributes.tenant_id == 1385
    assert event.attributes.created_at.timestamp() == NOW and event.attributes.external_id == "EX123456789"
    assert event.raw == json.loads(body)


def test_any_of_the_signatures_of_a_rotation_is_enough() -> None:
    body, headers = delivery("document-received", SECRET, OLD_SECRET)
    assert len(headers["webhook-signature"].split()) == 2
    assert verify(SECRET, headers, body, now=NOW).request_id == REQUEST_ID
    assert verify(OLD_SECRET, headers, body, now=NOW).request_id == REQUEST_ID
    other = "whsec_" + base64.b64encode(b"a third key").decode()
    with pytest.raises(InvalidSignature):
        verify(other, headers, body, now=NOW)


def test_the_secret_works_with_or_without_its_whsec_prefix() -> None:
    body, headers = delivery()
    assert verify(SECRET.removeprefix("whsec_"), headers, body, now=NOW).topic == "document-received"
    with pytest.raises(ValueError, match="not a whsec_ secret"):
        verify("whsec_not base64!", headers, body, now=NOW)


def test_five_minutes_either_way_are_tolerated_and_no_more() -> None:
    body, headers = delivery()
    for now in (NOW - 300, NOW + 300):
        verify(SECRET, headers, body, now=now)
    with pytest.raises(TimestampTooOld, match="signed 301 s ago"):
        verify(SECRET, headers, body, now=NOW + 301)
    with pytest.raises(TimestampTooNew, match="301 s ahead"):
        verify(SECRET, headers, body, now=NOW - 301)
    verify(SECRET, headers, body, now=NOW + 3600, tolerance=3600)


def test_a_changed_body_id_or_timestamp_breaks_the_signature() -> None:
    body, headers = delivery()
    with pytest.raises(InvalidSignature):
        verify(SECRET, headers, body.replace(b'"pending"', b'"done"'), now=NOW)
    with pytest.raises(InvalidSignature):
        verify(SECRET, {**headers, "webhook-id": "0" * 32}, body, now=NOW)
    with pytest.raises(InvalidSignature):
        verify(SECRET, {**headers, "webhook-timestamp": str(NOW + 1)}, body, now=NOW)


def test_headers_are_read_in_any_case_and_missing_ones_named() -> None:
    body, headers = delivery()
    assert verify(SECRET, {k.title(): v for k, v in headers.items()}, body, now=NOW).id == "0"
    with pytest.raises(MissingHeaders, match="webhook-signature"):
        verify(SECRET, {k: v for k, v in headers.items() if k != "webhook-signature"}, body, now=NOW)
    for stamp in ("yesterday", f"+{NOW}", f" {NOW}", f"{NOW}.0", "1_764_540_000"):
        with pytest.raises(MissingHeaders, match="not Unix seconds"):
            verify(SECRET, {**headers, "webhook-timestamp": stamp}, body, now=NOW)
    assert MissingHeaders.status == 400 and InvalidSignature.status == TimestampTooOld.status == 401


def test_a_signed_body_that_is_no_known_event_is_an_invalid_payload() -> None:
    for bad in (b"[]", b"not json", b'{"id": "1", "request_id": "x", "topic": "no-such-topic", "attributes": {}}'):
        with pytest.raises(InvalidPayload):
            parse_event(bad)
    body = delivery()[0].replace(REQUEST_ID.encode(), b"1" * 32)  # signed below for REQUEST_ID all the same
    headers = {
        "webhook-id": REQUEST_ID,
        "webhook-timestamp": str(NOW),
        "webhook-signature": signature_header((signing_key(SECRET),), REQUEST_ID, NOW, body),
    }
    with pytest.raises(InvalidPayload, match="request_id"):
        verify(SECRET, headers, body, now=NOW)


def test_every_topic_the_service_sends_parses_into_its_class() -> None:
    for topic in topics.ALL_TOPICS:
        event = parse_event(delivery(topic.value)[0])
        expected = {"delivery-exhausted": DeliveryExhaustedEvent}.get(
            topic.value, WebhookEvent if topic.kind == topics.OPERATIONAL else DocumentEvent
        )
        assert type(event) is expected and event.topic == topic.value
    exhausted = parse_event(delivery("delivery-exhausted")[0])
    assert isinstance(exhausted, DeliveryExhaustedEvent)
    assert exhausted.attributes.delivery_topic is Topic.DOCUMENT_RECEIVED
    assert exhausted.attributes.webhook.state == "failing"


def test_the_receivers_topics_are_the_services_in_the_same_order() -> None:
    assert [t.value for t in Topic] == [t.value for t in topics.ALL_TOPICS]
    assert [t.value for t in WORKFLOW_TOPICS] == [t.value for t in topics.TOPICS]
    assert [t.value for t in OPERATIONAL_TOPICS] == [t.value for t in topics.OPERATIONAL_TOPICS]
    assert all(Topic(t.value).operational == topics.is_operational(t.value) for t in topics.ALL_TOPICS)


def _library_accepts(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Whether the Standard Webhooks project's own Python library accepts the delivery now."""
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


def _receiver_accepts(secret: str, headers: dict[str, str], body: bytes) -> bool:
    try:
        verify(secret, headers, body)
    except (InvalidSignature, TimestampTooOld, TimestampTooNew):
        return False
    return True


@pytest.mark.parametrize("topic", ["document-received", "processing-finished", "delivery-exhausted"])
def test_the_standard_webhooks_library_and_verify_agree_on_the_services_signatures(topic: str) -> None:
    """The library examples/python-flask verifies with (its clock is the real one, so these
    deliveries are signed now) and dochooks-receiver accept and refuse the same deliveries."""
    now = int(time.time())
    body, headers = delivery(topic, at=now)
    rotating_body, rotating = delivery(topic, OLD_SECRET, SECRET, at=now)
    earlier, ago_6, ahead_6 = (delivery(topic, at=now + shift) for shift in (-240, -360, 360))
    other = "whsec_" + base64.b64encode(b"a third signing key, not ours").decode()
    cases = {
        "signed now": (SECRET, headers, body, True),
        "without the whsec_ prefix": (SECRET.removeprefix("whsec_"), headers, body, True),
        "the second signature of a rotation": (SECRET, rotating, rotating_body, True),
        "signed 4 minutes ago": (SECRET, earlier[1], earlier[0], True),
        "a tampered body": (SECRET, headers, body.replace(b'"request_id"', b'"request_Id"'), False),
        "another secret": (other, headers, body, False),
        "another webhook-id": (SECRET, {**headers, "webhook-id": "0" * 32}, body, False),
        "signed 6 minutes ago": (SECRET, ago_6[1], ago_6[0], False),
        "signed 6 minutes ahead": (SECRET, ahead_6[1], ahead_6[0], False),
    }
    verdicts = {
        case: (_library_accepts(secret, h, b), _receiver_accepts(secret, h, b))
        for case, (secret, h, b, _) in cases.items()
    }
    assert verdicts == {case: (accepted, accepted) for case, (*_, accepted) in cases.items()}
