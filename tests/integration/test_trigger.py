"""`dochooks trigger TOPIC` against a running service (its API over real HTTP) and a real
receiver, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from click.testing import CliRunner

from dochooks.cli import main
from dochooks.tenants import NewTenant
from tests.factories.clients import Api, webhook_doc
from tests.factories.peers import Receiver


def trigger(service: str, token: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["trigger", *args, "--api", service, "--token", token])
    return result.exit_code, result.output


def hook(api: Api, url: str, topics: list[str]) -> str:
    status, body = api.call("POST", "/v1/webhooks", webhook_doc(url, topics))
    assert status == 201, body
    return str(body["data"]["id"])


def test_trigger_sends_a_topic_to_each_webhook_subscribed_and_prints_the_answers(
    service: str, acme: NewTenant, receiver: Receiver
) -> None:
    api = Api(service, acme.token)
    first = hook(api, receiver.url("/ok/first"), ["document-received", "processing-finished"])
    second = hook(api, receiver.url("/ok/second"), ["document-received"])
    hook(api, receiver.url("/ok/other"), ["processing-failed"])
    code, output = trigger(service, acme.token, "document-received")
    assert code == 0, output
    for webhook in (first, second):
        assert f"to webhook {webhook}: succeeded: HTTP 200 in " in output
    for path in ("/ok/first", "/ok/second"):
        (got,) = receiver.wait_for(path, 1)
        assert json.loads(got.body)["topic"] == "document-received" and got.headers["webhook-signature"]
    assert receiver.at("/ok/other") == []


def test_trigger_to_a_failing_endpoint_says_so_and_exits_1(service: str, acme: NewTenant, receiver: Receiver) -> None:
    api = Api(service, acme.token)
    failing = hook(api, receiver.url("/status/500/t"), ["processing-finished"])
    code, output = trigger(service, acme.token, "processing-finished", "--webhook", failing)
    assert code == 1 and f"to webhook {failing}: failed: HTTP 500 in " in output and "retried at 20" in output


def test_trigger_explains_what_it_cannot_do(service: str, acme: NewTenant, receiver: Receiver) -> None:
    api = Api(service, acme.token)
    only = hook(api, receiver.url("/ok/x"), ["document-received"])
    code, output = trigger(service, acme.token, "processing-failed")
    assert code == 1 and "no enabled webhook of this tenant is subscribed to processing-failed" in output
    code, output = trigger(service, acme.token, "no-such-topic", "--webhook", only)
    assert code == 1 and f"POST /v1/webhooks/{only}/test: 422" in output
    code, output = trigger(service, "wrong-token", "document-received")
    assert code == 1 and "401" in output
    code, output = trigger("http://127.0.0.1:9", acme.token, "document-received")
    assert code == 1 and "cannot reach dochooks at http://127.0.0.1:9" in output
