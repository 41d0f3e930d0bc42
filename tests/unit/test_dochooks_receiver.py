"""dochooks-receiver (receiver/): verify() against signatures made by the service's own
signing code, its events parsed from the service's own payloads, and its topics kept equal
to the service's, so the two never drift; its verdicts the same as the Standard Webhooks
library's (`standardwebhooks`, which examples/python-flask verifies with); its feed client
against a real HTTP server on loopback that serves pages in the feed's shape."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from dochooks_receiver import (
    OPERATIONAL_TOPICS,
    WORKFLOW_TOPICS,
    DeliveryExhaustedEvent,
    DocumentEvent,
    DocumentStatus,
    Feed,
    FeedError,
    FeedGone,
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


# --- the feed client ---------------------------------------------------------------------

TOKEN = "dh_feed-test-token"


def feed_event(n: int) -> dict[str, Any]:
    """Event n of the feed as the service shows it: its payload is a delivery's body without request_id."""
    topic = "document-received" if n % 2 else "processing-finished"
    payload = json.loads(delivery_body(json.dumps(example_payload(1385, topic, NOW * 1000)), REQUEST_ID, topic))
    del payload["request_id"]
    return {
        "type": "events",
        "id": str(1000 + n),
        "attributes": {
            "topic": topic,
            "created_at": "2026-11-30T21:00:00.000Z",
            "test": False,
            "document_id": "0",
            "payload": payload,
            "request_ids": [f"{n:032x}"],
        },
        "links": {"self": f"/v1/events/{1000 + n}"},
    }


@contextmanager
def serving_feed(count: int, *, gone_before: int = 0) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A feed of `count` events whose cursor is "c<position>"; a cursor before `gone_before` is
    410 with where to resume. Yields the base URL and the query of every request."""
    asked: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            asked.append(query)
            if self.headers["Authorization"] != f"Bearer {TOKEN}":
                return self.answer(401, {"errors": [{"status": "401", "title": "Unauthorized", "detail": "no"}]})
            after = int(query.get("after", "c0")[1:])
            if after < gone_before:
                gone = {"status": "410", "title": "Gone", "detail": "older than kept", "meta": {"resume_from": "c5"}}
                return self.answer(410, {"errors": [gone]})
            end = min(count, after + int(query["page[size]"]))
            data = [feed_event(n) for n in range(after, end)]
            self.answer(
                200, {"data": data, "links": {"next": f"/v1/events?after=c{end}"}, "meta": {"cursor": f"c{end}"}}
            )

        def answer(self, status: int, doc: dict[str, Any]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.api+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def test_the_feed_is_read_page_by_page_in_order_and_ends_once_caught_up() -> None:
    with serving_feed(7) as (url, asked):
        got = list(Feed(url, TOKEN, page_size=3).events())
    assert [item.id for item, _ in got] == [str(1000 + n) for n in range(7)]
    # a page's last event carries its cursor; the others the cursor the page was asked with
    assert [cursor for _, cursor in got] == [None, None, "c3", "c3", "c3", "c6", "c7"]
    assert [q.get("after") for q in asked] == [None, "c3", "c6"]  # the third page is short: caught up
    first = got[0][0]
    assert isinstance(first.event, DocumentEvent) and first.event.topic is Topic.PROCESSING_FINISHED
    assert first.event.request_id == first.id == "1000" and first.handled_ids == ("1000", f"{0:032x}")
    assert first.created_at.year == 2026 and first.document_id == "0" and first.test is False


def test_resuming_from_a_yielded_cursor_skips_nothing_and_filters_are_passed_on() -> None:
    with serving_feed(7) as (url, asked):
        feed = Feed(url, TOKEN, page_size=3)
        seen = [item.id for item, cursor in feed.events(since="c4", topic="document-received")]
        again = [item.id for item, _ in feed.events(since="c3")]
    assert seen == ["1004", "1005", "1006"] and again == ["1003", "1004", "1005", "1006"]
    assert asked[0] == {"after": "c4", "page[size]": "3", "filter[topic]": "document-received"}


def test_a_cursor_older_than_the_feed_keeps_is_feed_gone_with_where_to_resume() -> None:
    with serving_feed(9, gone_before=5) as (url, _):
        with pytest.raises(FeedGone) as gone:
            list(Feed(url, TOKEN).events(since="c2"))
        assert gone.value.status == 410 and gone.value.resume_from == "c5" and "older than kept" in gone.value.detail
        assert [item.id for item, _ in Feed(url, TOKEN).events(since=gone.value.resume_from)] == [
            "1005",
            "1006",
            "1007",
            "1008",
        ]


def test_a_refused_token_and_a_service_that_does_not_answer_are_feed_errors() -> None:
    with serving_feed(1) as (url, _), pytest.raises(FeedError) as refused:
        list(Feed(url, "dh_wrong").events())
    assert refused.value.status == 401 and "Unauthorized" in refused.value.detail
    assert not isinstance(refused.value, FeedGone)
    with pytest.raises(FeedError, match="cannot reach") as down:
        list(Feed(url, TOKEN, timeout=2).events())  # the server is gone
    assert down.value.status is None
