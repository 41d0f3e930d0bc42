"""The event feed (GET /v1/events and its siblings) over real HTTP, on SQLite and PostgreSQL:
every event once in commit order from a cursor, the answer's shape, its limits, tenant
isolation and retention's 410."""

from __future__ import annotations

import json
from typing import Any

from dochooks.delivery.publish import publish
from dochooks.runtime import Runtime
from dochooks.tenants import NewTenant
from dochooks.topics import TOPICS
from tests.factories.clients import Api, document_doc, webhook_doc
from tests.factories.deliveries import PAYLOAD
from tests.factories.documents import PLAIN_FLOW
from tests.factories.peers import Receiver

ALL_TOPICS = [t.value for t in TOPICS]


def read_all(api: Api, path: str = "/v1/events?page[size]=1000") -> tuple[list[dict[str, Any]], str]:
    """Every event from `path` on, page after page by `links.next`, and the last cursor."""
    events: list[dict[str, Any]] = []
    while True:
        status, body = api.call("GET", path)
        assert status == 200, body
        events += body["data"]
        if not body["data"]:
            return events, body["meta"]["cursor"]
        path = body["links"]["next"]


def publish_events(rt: Runtime, tenant_id: int, count: int, *, document_id: int | None = None) -> list[int]:
    with rt.db.transaction() as conn:
        return [
            publish(
                conn,
                tenant_id=tenant_id,
                topic="document-received",
                payload=PAYLOAD,
                now_ms=rt.clock.now_ms(),
                document_id=document_id,
            ).event_id
            for _ in range(count)
        ]


def test_an_event_carries_the_body_its_webhook_received_and_the_delivery_request_id(
    service: str, acme: NewTenant, receiver: Receiver
) -> None:
    api = Api(service, acme.token)
    assert api.call("POST", "/v1/webhooks", webhook_doc(receiver.url("/ok"), ALL_TOPICS))[0] == 201
    status, doc = api.call("POST", "/v1/documents", document_doc(b"Invoice 1\n"))
    assert status == 201
    received = [json.loads(r.body) for r in receiver.wait_for("/ok", len(PLAIN_FLOW))]
    events, _ = read_all(api)
    assert [e["attributes"]["topic"] for e in events] == list(PLAIN_FLOW)
    for event, body in zip(events, sorted(received, key=lambda b: PLAIN_FLOW.index(b["topic"])), strict=True):
        attributes = event["attributes"]
        assert attributes["request_ids"] == [body.pop("request_id")]
        assert attributes["payload"] == body
        assert attributes["document_id"] == doc["data"]["id"] and attributes["test"] is False
        assert event["links"]["self"] == f"/v1/events/{event['id']}"
        assert api.call("GET", f"/v1/events/{event['id']}")[1]["data"] == event
    status, mine = api.call("GET", f"/v1/documents/{doc['data']['id']}/events")
    assert status == 200 and mine["data"] == events
