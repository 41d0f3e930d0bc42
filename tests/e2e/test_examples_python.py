"""The Python examples (examples/python-fastapi, examples/python-flask), each run as its own
process on loopback, receiving real deliveries from a running dochooks: they handle each
one once, answer a repeat 200 without handling it again, and refuse a bad signature and an
old timestamp; the FastAPI one, started again after it was down, catches up from the event
feed and handles what it missed once. Their answers do not depend on the store, so these run
on SQLite only."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dochooks.delivery.signing import signature_header
from dochooks.tenants import NewTenant
from dochooks.webhooks.secrets import signing_key
from tests.factories.clients import Api, document_doc, post_delivery, settled_delivery, webhook_doc
from tests.factories.commands import REPO, listening_process, wait_until
from tests.factories.documents import PLAIN_FLOW, make_pdf
from tests.factories.peers import free_port

EXAMPLES = REPO / "examples"
COMMANDS = {
    "python-fastapi": ["-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port"],
    "python-flask": ["-m", "flask", "--app", "app", "run", "--host", "127.0.0.1", "--port"],
}
TOPICS = ["document-received", "webhook-failing", "delivery-exhausted"]

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@dataclass
class Example:
    url: str
    log: Path
    secret: str
    webhook_id: str

    def handled(self, request_id: str) -> list[str]:
        """The example's log lines for handling `request_id` (repeats are logged otherwise)."""
        lines = self.log.read_text().splitlines()
        return [line for line in lines if line.startswith("handled ") and f"webhook-id={request_id}" in line]

    def post(self, body: bytes, headers: dict[str, str]) -> int:
        return post_delivery(self.url, body, headers)


def running(name: str, port: int, log: Path, env: dict[str, str]) -> AbstractContextManager[object]:
    """The example `name` as a process of its own on `port`, its output appended to `log`."""
    return listening_process(
        [sys.executable, *COMMANDS[name], str(port)],
        cwd=EXAMPLES / name,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        port=port,
        log=log,
    )


def delivered(api: Api, delivery_id: str, attempts: int = 1) -> dict[str, Any]:
    """The delivery once `attempts` attempts of it are recorded; each must have succeeded."""
    found = settled_delivery(api, delivery_id, attempts)
    assert [a["response_status"] for a in found["attempts"]] == [200] * attempts, found["attempts"]
    return found


@pytest.fixture(params=sorted(COMMANDS))
def example(request: pytest.FixtureRequest, service: str, acme: NewTenant, tmp_path: Path) -> Iterator[Example]:
    """The example as a process of its own, with a webhook of acme's on every topic it is tested with."""
    name: str = request.param
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks"
    status, created = Api(service, acme.token).call("POST", "/v1/webhooks", webhook_doc(url, TOPICS))
    assert status == 201, created
    secret = created["data"]["attributes"]["secret"]
    log = tmp_path / f"{name}.log"
    env = {"WEBHOOK_SECRET": secret, "PROCESSED_DB": str(tmp_path / "processed.sqlite3")}
    with running(name, port, log, env):
        yield Example(url, log, secret, created["data"]["id"])


def test_sends_of_every_kind_are_handled_once_and_a_resend_is_answered_without_handling(
    example: Example, service: str, acme: NewTenant
) -> None:
    api = Api(service, acme.token)
    delivery_of: dict[str, str] = {}
    for topic in TOPICS:
        status, queued = api.call(
            "POST",
            f"/v1/webhooks/{example.webhook_id}/test",
            {"data": {"type": "webhook_tests", "attributes": {"topic": topic}}},
        )
        assert status == 202, queued
        delivery_of[topic] = queued["data"]["id"]
        sent = delivered(api, delivery_of[topic])
        (line,) = example.handled(sent["request_id"])
        assert line.startswith(f"handled {topic} ")
    assert "handled document-received document=0 " in example.log.read_text()
    # A resend by hand keeps the webhook-id: dochooks sends it again, the example answers 200, handles nothing.
    first = delivery_of["document-received"]
    assert api.call("POST", f"/v1/deliveries/{first}/retry")[0] == 202
    resent = delivered(api, first, 2)
    assert len(example.handled(resent["request_id"])) == 1
    assert f"repeat of webhook-id={resent['request_id']} ignored" in example.log.read_text()


def test_an_uploaded_documents_delivery_is_handled_with_its_document_id(
    example: Example, service: str, acme: NewTenant
) -> None:
    api = Api(service, acme.token)
    status, uploaded = api.call("POST", "/v1/documents", document_doc(make_pdf("invoice"), external_id="INV-7"))
    assert status == 201, uploaded
    document_id = uploaded["data"]["id"]
    wait_until(lambda: f"handled document-received document={document_id} " in example.log.read_text(), timeout=30)


def _finished(request_id: str) -> bytes:
    """A processing-finished body as dochooks sends it."""
    attributes = {
        "status": "done",
        "tenant_id": 1,
        "sla_deadline": None,
        "custom_fields": {},
        "external_id": None,
        "created_at": "2026-11-30T21:00:00.000Z",
        "updated_at": "2026-11-30T21:00:01.000Z",
        "document_id": 42,
    }
    payload = {"id": "42", "type": "documents", "attributes": attributes, "request_id": request_id}
    return json.dumps({**payload, "topic": "processing-finished"}).encode()


def test_a_bad_signature_and_an_old_timestamp_are_refused_and_a_repeat_is_ignored(example: Example) -> None:
    def signed(
        request_id: str, *, secret: str = example.secret, age: int = 0, body: bytes | None = None
    ) -> tuple[bytes, dict[str, str]]:
        body = _finished(request_id) if body is None else body
        timestamp = int(time.time()) - age
        signature = signature_header((signing_key(secret),), request_id, timestamp, body)
        return body, {"webhook-id": request_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}

    # Signed as dochooks signs, by its own signing code: handled, and a repeat only answered.
    assert example.post(*signed("a" * 32)) == 200
    assert example.post(*signed("a" * 32)) == 200
    assert len(example.handled("a" * 32)) == 1
    other_secret = "whsec_" + "b" * 32
    assert example.post(*signed("b" * 32, secret=other_secret)) == 401
    body, headers = signed("c" * 32)
    assert example.post(body.replace(b'"done"', b'"failed"'), headers) == 401
    assert example.post(*signed("d" * 32, age=301)) == 401
    assert example.post(*signed("e" * 32, age=-301)) == 401
    assert example.post(body, {"webhook-id": "c" * 32}) == 400
    assert example.post(body, {**headers, "webhook-signature": "not a signature"}) == 401
    assert example.post(*signed("f" * 32, body=b"not json")) == 400  # signed, but no payload
    for refused in ("b", "c", "d", "e", "f"):
        assert example.handled(refused * 32) == []


def test_started_again_after_an_outage_the_fastapi_example_catches_up_from_the_feed_once(
    service: str, acme: NewTenant, tmp_path: Path
) -> None:
    api, port = Api(service, acme.token), free_port()
    status, created = api.call("POST", "/v1/webhooks", webhook_doc(f"http://127.0.0.1:{port}/hooks", TOPICS))
    assert status == 201, created
    webhook = created["data"]["id"]
    env = {
        "WEBHOOK_SECRET": created["data"]["attributes"]["secret"],
        "PROCESSED_DB": str(tmp_path / "processed.sqlite3"),
        "DOCHOOKS_API_URL": service,
        "DOCHOOKS_TOKEN": acme.token,
    }
    log = tmp_path / "python-fastapi.log"

    def catch_ups() -> list[str]:
        return [line for line in log.read_text().splitlines() if line.startswith("caught up from the feed")]

    with running("python-fastapi", port, log, env):
        wait_until(lambda: len(catch_ups()) == 1, timeout=30)
        test = {"data": {"type": "webhook_tests", "attributes": {"topic": "document-received"}}}
        status, queued = api.call("POST", f"/v1/webhooks/{webhook}/test", test)
        assert status == 202, queued
        delivered(api, queued["data"]["id"])
    # Down: a document goes through the workflow, and its document-received delivery fails.
    status, uploaded = api.call("POST", "/v1/documents", document_doc(make_pdf("while down")))
    assert status == 201, uploaded
    document = uploaded["data"]["id"]

    def missed() -> list[dict]:  # type: ignore[type-arg]
        deliveries = api.call("GET", f"/v1/webhooks/{webhook}/deliveries")[1]["data"]
        return [d for d in deliveries if d["attributes"]["request_id"] != queued["data"]["attributes"]["request_id"]]

    wait_until(lambda: bool(missed()) and bool(missed()[-1]["attributes"]["attempts"]), timeout=30)
    assert missed()[-1]["attributes"]["attempts"][0]["response_status"] is None  # nobody listened
    with running("python-fastapi", port, log, env):
        wait_until(lambda: len(catch_ups()) == 2, timeout=30)
        # Its delivery sent again now is a repeat: the feed's event listed its webhook-id.
        (delivery,) = [d for d in missed() if d["attributes"]["topic"] == "document-received"]
        assert api.call("POST", f"/v1/deliveries/{delivery['id']}/retry")[0] == 202
        wait_until(lambda: f"repeat of webhook-id={delivery['attributes']['request_id']} ignored" in log.read_text())
    lines = log.read_text().splitlines()
    for topic in PLAIN_FLOW:  # each topic of the document once, though only document-received was subscribed
        (line,) = [line for line in lines if line.startswith(f"handled {topic} document={document} ")]
        assert topic == "document-received" or line.endswith("from the feed"), line
    assert catch_ups()[1].endswith(", 1 already processed")  # the test send, which came by webhook
    with running("python-fastapi", port, log, env):  # again: from the stored cursor on, nothing twice
        wait_until(lambda: len(catch_ups()) == 3, timeout=30)
    assert catch_ups()[2].endswith(", 0 already processed")
    assert len([line for line in log.read_text().splitlines() if f"document={document} " in line]) == len(PLAIN_FLOW)
