"""The receivers in examples/ for other languages (Node with Express and the `standardwebhooks`
package, Java with the JDK alone), each run as a real process on loopback against a live
dochooks: a real signed delivery is handled once, and a bad signature, a timestamp older
than 5 minutes and a replay of an accepted delivery are refused or ignored; the Node one,
started again after it was down, catches up from the event feed."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from dochooks.delivery.signing import sign
from dochooks.tenants import NewTenant
from tests.factories.clients import Api, post_delivery, settled_delivery, webhook_doc
from tests.factories.commands import listening_process
from tests.factories.missing import missing
from tests.factories.peers import free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TEST_SEND = {"data": {"type": "webhook_tests", "attributes": {"topic": "document-received"}}}
# The examples are what is under test, not the store: SQLite alone keeps this short.
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def require(tool: str, install: str) -> str:
    """The tool's path; outside CI its absence skips the test, in CI it fails it."""
    found = shutil.which(tool)
    if found is None:
        missing(f"`{tool}` is not on PATH: {install} (scripts/test does it when run as root)")
    return found


def npm_installed(example: Path) -> None:
    """`npm ci` in the example, again only when its package-lock.json changed since the last one."""
    lock = example / "package-lock.json"
    stamp = example / "node_modules" / ".dochooks-lock-sha256"
    with lock.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # two test runs at once must not install over each other
        wanted = hashlib.sha256(held.read()).hexdigest()
        if stamp.exists() and stamp.read_text() == wanted:
            return
        npm = require("npm", "apt-get install -y npm")
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=example,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
        stamp.write_text(wanted)


def node_command() -> list[str]:
    node = require("node", "apt-get install -y nodejs npm")
    npm_installed(EXAMPLES / "node-express")
    return [node, "server.js"]


def java_command() -> list[str]:
    return [require("java", "apt-get install -y default-jdk-headless"), "Receiver.java"]


EXAMPLE_COMMANDS: dict[str, tuple[Path, Callable[[], list[str]]]] = {
    "node-express": (EXAMPLES / "node-express", node_command),
    "java": (EXAMPLES / "java", java_command),
}


@dataclass
class Example:
    """A running example receiver: its URL and what it printed."""

    base: str
    output: Path

    def post(self, headers: dict[str, str], body: bytes) -> int:
        return post_delivery(self.base + "/webhooks", body, headers)

    def handled(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.base + "/handled", timeout=10) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def handled_soon(self, count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 30
        while len(found := self.handled()) < count:
            assert time.monotonic() < deadline, f"handled {found}; printed:\n{self.output.read_text()}"
            time.sleep(0.1)
        return found


@contextmanager
def started(example: str, argv: list[str], port: int, secret: str, tmp_path: Path, **more: str) -> Iterator[Example]:
    """The example as a process of its own on `port`, with the secret (and `more`) in its
    environment; its output appended to `<example>.out`."""
    output = tmp_path / f"{example}.out"
    env = {**os.environ, "WEBHOOK_SECRET": secret, "PORT": str(port), "HOST": "127.0.0.1", **more}
    # The JDK compiles Receiver.java first: seconds on a busy machine.
    with listening_process(argv, cwd=EXAMPLE_COMMANDS[example][0], env=env, port=port, log=output, timeout=60):
        yield Example(f"http://127.0.0.1:{port}", output)


def signed_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, msg_id, timestamp, body),
    }


@pytest.fixture
def command(example: str) -> list[str]:
    """How to run the example; first, so a missing toolchain is found before the service starts."""
    return EXAMPLE_COMMANDS[example][1]()


@SQLITE_ONLY
@pytest.mark.timeout(300)
@pytest.mark.parametrize("example", list(EXAMPLE_COMMANDS))
def test_example_handles_a_real_delivery_once_and_refuses_bad_old_and_replayed_ones(
    example: str, command: list[str], service: str, acme: NewTenant, tmp_path: Path
) -> None:
    api = Api(service, acme.token)
    port = free_port()
    status, made = api.call("POST", "/v1/webhooks", webhook_doc(f"http://127.0.0.1:{port}/webhooks"))
    assert status == 201, made
    hook_id, secret = made["data"]["id"], made["data"]["attributes"]["secret"]
    with started(example, command, port, secret, tmp_path) as receiver:
        # A real delivery from dochooks is verified and handled.
        status, queued = api.call("POST", f"/v1/webhooks/{hook_id}/test", TEST_SEND)
        assert status in (200, 201, 202), queued
        delivery = settled_delivery(api, queued["data"]["id"], 1)
        assert delivery["status"] == "succeeded", delivery
        [first] = receiver.handled_soon(1)
        assert first["webhook_id"] == delivery["request_id"]
        assert first["topic"] == "document-received"
        assert str(first["document_id"]) == str(delivery["payload"]["attributes"]["document_id"])
        assert f"handled document-received document={first['document_id']}" in receiver.output.read_text()

        # The same bytes and headers sent again (a replay, or a retry whose answer was lost): 200, not handled again.
        sent = delivery["attempts"][0]["request_headers"]
        replay = {name: sent[name] for name in ("webhook-id", "webhook-timestamp", "webhook-signature")}
        body = orjson.dumps(delivery["payload"])
        assert receiver.post(replay, body) == 200
        # dochooks' own redelivery of it (same webhook-id, signed anew) is answered 200 and not handled either.
        assert api.call("POST", f"/v1/deliveries/{queued['data']['id']}/retry")[0] in (200, 201, 202)
        assert settled_delivery(api, queued["data"]["id"], 2)["status"] == "succeeded"

        # A delivery signed with another secret, or one whose timestamp is over 5 minutes old: refused.
        now = int(time.time())
        other = "whsec_" + base64.b64encode(b"not the webhook's secret, no....").decode()
        assert receiver.post(signed_headers(other, "msg_forged", now, body), body) == 401
        assert receiver.post(signed_headers(secret, "msg_stale", now - 301, body), body) == 401
        assert receiver.post({"webhook-id": "msg_unsigned"}, body) == 400
        # A tampered body under a genuine delivery's headers: refused.
        assert receiver.post(replay, body.replace(b"document-received", b"document-deleted")) == 401

        # While a secret rotates, a delivery carries several signatures: any valid one will do.
        rotating = signed_headers(secret, "msg_rotating", now, body)
        rotating["webhook-signature"] = signed_headers(other, "msg_rotating", now, body)["webhook-signature"] + (
            " " + rotating["webhook-signature"]
        )
        assert receiver.post(rotating, body) == 200
        handled = receiver.handled_soon(2)
        assert [h["webhook_id"] for h in handled] == [delivery["request_id"], "msg_rotating"], handled


@SQLITE_ONLY
@pytest.mark.timeout(300)
def test_the_node_example_started_again_after_an_outage_catches_up_from_the_feed_once(
    service: str, acme: NewTenant, tmp_path: Path
) -> None:
    from tests.factories.clients import document_doc
    from tests.factories.documents import PLAIN_FLOW, make_pdf

    command = node_command()
    api, port = Api(service, acme.token), free_port()
    status, made = api.call("POST", "/v1/webhooks", webhook_doc(f"http://127.0.0.1:{port}/webhooks"))
    assert status == 201, made
    hook_id, secret = made["data"]["id"], made["data"]["attributes"]["secret"]
    files = {
        "DOCHOOKS_API_URL": service,
        "DOCHOOKS_TOKEN": acme.token,
        "PROCESSED_IDS_FILE": str(tmp_path / "processed.txt"),
        "FEED_CURSOR_FILE": str(tmp_path / "cursor.txt"),
    }
    with started("node-express", command, port, secret, tmp_path, **files) as receiver:
        status, queued = api.call("POST", f"/v1/webhooks/{hook_id}/test", TEST_SEND)
        assert status == 202, queued
        assert settled_delivery(api, queued["data"]["id"], 1)["status"] == "succeeded"
    # Down: a document goes through the workflow; its document-received delivery fails.
    status, uploaded = api.call("POST", "/v1/documents", document_doc(make_pdf("while down")))
    assert status == 201, uploaded
    document = int(uploaded["data"]["id"])
    deadline = time.monotonic() + 30
    while len(api.call("GET", f"/v1/webhooks/{hook_id}/deliveries")[1]["data"]) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    with started("node-express", command, port, secret, tmp_path, **files) as receiver:
        deadline = time.monotonic() + 30
        while "caught up from the feed: " not in receiver.output.read_text().split("listening on")[-1]:
            assert time.monotonic() < deadline, receiver.output.read_text()
            time.sleep(0.1)
        mine = [h for h in receiver.handled() if h["document_id"] == document]
        assert [h["topic"] for h in mine] == list(PLAIN_FLOW) and {h["source"] for h in mine} <= {"feed", "webhook"}
        assert "caught up from the feed: 0 handled" not in receiver.output.read_text().split("listening on")[-1]
    with started("node-express", command, port, secret, tmp_path, **files) as receiver:  # from the stored cursor
        deadline = time.monotonic() + 30
        while "caught up from the feed: " not in receiver.output.read_text().split("listening on")[-1]:
            assert time.monotonic() < deadline, receiver.output.read_text()
            time.sleep(0.1)
        assert ", 0 already processed" in receiver.output.read_text().split("listening on")[-1]
        assert not [h for h in receiver.handled() if h["document_id"] == document]
