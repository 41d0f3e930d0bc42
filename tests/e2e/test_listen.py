"""`dochooks listen` as a subprocess between a running dochooks and a real local app:
relayed as received, the app's answer recorded by dochooks, --json, several secrets, hints."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dochooks.delivery.signing import verify
from dochooks.tenants import NewTenant
from dochooks.webhooks.secrets import new_signing_secret, signing_key
from tests.factories.clients import Api, webhook_doc
from tests.factories.commands import DOCHOOKS, wait_until
from tests.factories.peers import Receiver, free_port


@dataclass
class Listener:
    url: str
    out: Path

    def lines(self) -> list[str]:
        return self.out.read_text().splitlines()


@contextmanager
def listening(tmp_path: Path, *args: str, port: int = 0, **env: str) -> Iterator[Listener]:
    port = port or free_port()
    out, err = tmp_path / f"listen-{port}.out", tmp_path / f"listen-{port}.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        command = [DOCHOOKS, "listen", "--port", str(port), *args]
        proc = subprocess.Popen(command, stdout=stdout, stderr=stderr, env={**os.environ, **env})
    try:
        wait_until(lambda: "listening on" in out.read_text() + err.read_text(), timeout=20)
        yield Listener(f"http://127.0.0.1:{port}/hooks", out)
    finally:
        proc.terminate()
        proc.wait(10)


def hooked(api: Api, url: str) -> tuple[str, str]:
    """A webhook to `url`, with a custom header: its id and its secret."""
    doc = webhook_doc(url, ["document-received"], headers={"Authorization": "Bearer app-token"})
    status, body = api.call("POST", "/v1/webhooks", doc)
    assert status == 201, body
    return str(body["data"]["id"]), str(body["data"]["attributes"]["secret"])


def settled_attempt(api: Api, webhook: str) -> dict[str, Any]:
    """A test delivery to the webhook, once its first attempt is recorded."""
    test = {"data": {"type": "webhook_tests", "attributes": {"topic": "document-received"}}}
    status, body = api.call("POST", f"/v1/webhooks/{webhook}/test", test)
    assert status == 202, body
    path = f"/v1/deliveries/{body['data']['id']}"
    wait_until(lambda: bool(api.call("GET", path)[1]["data"]["attributes"]["attempts"]), timeout=30)
    return dict(api.call("GET", path)[1]["data"]["attributes"])


def test_a_forwarded_delivery_reaches_the_app_as_sent_and_verifies_there(
    service: str, acme: NewTenant, receiver: Receiver, tmp_path: Path
) -> None:
    api, port = Api(service, acme.token), free_port()
    webhook, secret = hooked(api, f"http://127.0.0.1:{port}/hooks")
    with listening(tmp_path, "--forward-to", receiver.url("/ok/app"), "--secret", secret, port=port) as listener:
        delivery = settled_attempt(api, webhook)
        (got,) = receiver.wait_for("/ok/app", 1)
        wait_until(lambda: any("answered 200" in line for line in listener.lines()))
    h = got.headers
    assert verify(signing_key(secret), h["webhook-id"], int(h["webhook-timestamp"]), got.body, h["webhook-signature"])
    assert h["content-type"] == "application/json" and h["host"] == f"127.0.0.1:{receiver.port}"
    assert h["authorization"] == "Bearer app-token" and h["user-agent"].startswith("dochooks/")
    assert json.loads(got.body)["topic"] == "document-received"
    assert delivery["status"] == "succeeded" and delivery["attempts"][0]["response_status"] == 200
    assert delivery["attempts"][0]["response_body"] == "received"
    output = listener.lines()
    assert all(re.match(r"\d\d:\d\d:\d\d\.\d{3} ", line) for line in output), output
    assert any("signature: valid" in line for line in output)


def test_the_apps_failure_goes_back_to_dochooks_which_retries(
    service: str, acme: NewTenant, receiver: Receiver, tmp_path: Path
) -> None:
    api = Api(service, acme.token)
    with listening(tmp_path, "--forward-to", receiver.url("/status/500/app")) as listener:
        webhook, _ = hooked(api, listener.url)
        delivery = settled_attempt(api, webhook)
    assert (
        delivery["attempts"][0]["response_status"] == 500 and delivery["attempts"][0]["response_body"] == "status 500"
    )
    assert delivery["status"] == "pending" and delivery["next_attempt_at"]
    assert len(receiver.at("/status/500/app")) >= 1


def test_json_lines_and_several_secrets_of_which_the_second_matches(
    service: str, acme: NewTenant, receiver: Receiver, tmp_path: Path
) -> None:
    api, port = Api(service, acme.token), free_port()
    webhook, secret = hooked(api, f"http://127.0.0.1:{port}/hooks")
    args = ("--json", "--forward-to", receiver.url("/ok/json"), "--secret", new_signing_secret(), "--secret", secret)
    with listening(tmp_path, *args, port=port) as listener:
        settled_attempt(api, webhook)
        wait_until(lambda: bool(listener.lines()))
        (line,) = [json.loads(text) for text in listener.lines()]
    assert line["verified"] == "yes" and line["forwarded"] == 200 and isinstance(line["duration_ms"], int)
    assert line["topic"] == "document-received" and line["webhook_id"] and line["time"].endswith("Z")
    assert set(line) == {"time", "webhook_id", "topic", "document_id", "verified", "forwarded", "duration_ms"}


def test_wrong_secrets_from_the_environment_hint_at_another_webhook_and_an_app_down_is_a_502(
    service: str, acme: NewTenant, tmp_path: Path
) -> None:
    api = Api(service, acme.token)
    down = f"http://127.0.0.1:{free_port()}/hooks"
    wrong = f"{new_signing_secret()} {new_signing_secret()}"
    with listening(tmp_path, "--forward-to", down, DOCHOOKS_LISTEN_SECRET=wrong) as listener:
        webhook, _ = hooked(api, listener.url)
        delivery = settled_attempt(api, webhook)
        wait_until(lambda: any("502 to dochooks" in line for line in listener.lines()))
    output = "\n".join(listener.lines())
    assert "signature: INVALID" in output
    assert "none of the 2 secrets given (whsec_" in output and "GET /v1/webhooks/{id}/secret" in output
    assert f"cannot reach {down} (" in output and "is the app running?" in output
    assert delivery["attempts"][0]["response_status"] == 502 and delivery["status"] == "pending"
