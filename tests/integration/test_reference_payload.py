"""The body of a delivery is the reference's payload, exactly, as a receiver gets it over
real HTTP: for documents uploaded through the API and moved by the workflow, on SQLite and
PostgreSQL. The rules below are written from the reference's example
(/work/shared/reference/use-webhooks.txt), not from the code that builds the payload."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

from dochooks.runtime import Runtime
from dochooks.tenants import NewTenant
from tests.factories.clients import Api, document_doc, live_service, webhook_doc
from tests.factories.documents import PLAIN_FLOW
from tests.factories.peers import Received, Receiver
from tests.factories.reference import ATTRIBUTES, REFERENCE_TIME, REQUEST_ID, TOP_LEVEL

STATUSES = {"pending", "in_progress", "done", "failed"}


def parsed(got: Received) -> dict[str, Any]:
    """The body as JSON, refusing a key given twice (json.loads would keep the last one silently)."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), f"a key appears twice in {keys}"
        return dict(pairs)

    body = json.loads(got.body, object_pairs_hook=unique)
    assert isinstance(body, dict)
    return body


def assert_reference_shape(got: Received, tenant_id: int) -> dict[str, Any]:
    payload = parsed(got)
    assert set(payload) == TOP_LEVEL, sorted(payload)
    attributes = payload["attributes"]
    assert set(attributes) == ATTRIBUTES, sorted(attributes)
    assert payload["type"] == "documents"
    assert isinstance(payload["id"], str) and type(attributes["document_id"]) is int
    assert payload["id"] == str(attributes["document_id"])
    assert attributes["tenant_id"] == tenant_id and type(attributes["tenant_id"]) is int
    assert attributes["status"] in STATUSES
    for key in ("created_at", "updated_at"):
        assert isinstance(attributes[key], str) and REFERENCE_TIME.match(attributes[key]), attributes[key]
    deadline = attributes["sla_deadline"]
    assert deadline is None or (isinstance(deadline, str) and REFERENCE_TIME.match(deadline)), deadline
    assert isinstance(payload["request_id"], str) and REQUEST_ID.match(payload["request_id"]), payload["request_id"]
    assert got.headers["webhook-id"] == payload["request_id"]
    assert payload["topic"] in PLAIN_FLOW
    assert got.headers["content-type"] == "application/json"
    return payload


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")


def wait_until(check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_real_document_events_arrive_in_the_reference_payload_exactly(
    runtime: Runtime, acme: NewTenant, receiver: Receiver
) -> None:
    # Retries a thousand times sooner than the schedule: the failed first attempt comes again within ~31 ms.
    with live_service(runtime.tuned(retry_time_scale=0.001)) as base:
        api = Api(base, acme.token)
        everything = webhook_doc(receiver.url("/ok/all"), list(PLAIN_FLOW))
        assert api.call("POST", "/v1/webhooks", everything)[0] == 201
        first_fails = webhook_doc(receiver.url("/fail/1/received"), ["document-received"])
        assert api.call("POST", "/v1/webhooks", first_fails)[0] == 201

        fields = {"customer": "ACME", "nested": {"n": 1}}
        status, plain = api.call("POST", "/v1/documents", document_doc(b"Invoice 1\n", external_id="EX-1"))
        assert status == 201, plain
        plain = plain["data"]
        target = {"data": {"type": "workflows", "attributes": {"processing_target_seconds": 3600}}}
        assert api.call("PUT", "/v1/workflow", target)[0] == 200
        status, with_sla = api.call("POST", "/v1/documents", document_doc(b"Invoice 2\n", custom_fields=fields))
        assert status == 201, with_sla
        with_sla = with_sla["data"]

        def finished() -> bool:
            ends = [parsed(r) for r in receiver.at("/ok/all")]
            return sum(p["topic"] == "processing-finished" for p in ends) == 2

        wait_until(finished)
        receiver.wait_for("/fail/1/received", 3)  # two documents, one of them twice

    by_document: dict[str, list[dict[str, Any]]] = {plain["id"]: [], with_sla["id"]: []}
    for got in receiver.at("/ok/all"):
        payload = assert_reference_shape(got, acme.tenant_id)
        by_document[payload["id"]].append(payload)
    for doc_id, payloads in by_document.items():
        assert sorted(p["topic"] for p in payloads) == sorted(PLAIN_FLOW), doc_id
        assert len({p["request_id"] for p in payloads}) == len(PLAIN_FLOW)  # one per delivery
        assert len({p["attributes"]["created_at"] for p in payloads}) == 1
    first, second = by_document[plain["id"]], by_document[with_sla["id"]]
    assert {p["attributes"]["sla_deadline"] for p in first} == {None}
    assert {p["attributes"]["external_id"] for p in first} == {"EX-1"}
    assert {json.dumps(p["attributes"]["custom_fields"]) for p in first} == {"{}"}
    for p in second:  # the processing target after the upload
        created, deadline = (at(p["attributes"][k]) for k in ("created_at", "sla_deadline"))
        assert deadline - created == timedelta(hours=1)
    assert all(p["attributes"]["external_id"] is None for p in second)
    assert all(p["attributes"]["custom_fields"] == fields for p in second)

    # The receiver failed the first request it got: the retry carries the same request_id and webhook-id.
    retried = receiver.at("/fail/1/received")
    for got in retried:
        assert_reference_shape(got, acme.tenant_id)
    failed, again = retried[0], next(r for r in retried[1:] if parsed(r)["id"] == parsed(retried[0])["id"])
    assert parsed(failed)["request_id"] == parsed(again)["request_id"] == failed.headers["webhook-id"]
    assert again.headers["webhook-id"] == failed.headers["webhook-id"]
    assert failed.body == again.body
    other = next(r for r in retried[1:] if parsed(r)["id"] != parsed(failed)["id"])
    assert parsed(other)["request_id"] != parsed(failed)["request_id"]
