"""The security promises of the API and the dispatcher, on SQLite and PostgreSQL: tenant
isolation on every route, hostile receivers, secret rotation, rate limits, body limits,
and no secret at rest or in the logs in plain text."""

from __future__ import annotations

import dataclasses
import email.utils
import http.client
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dochooks.cli import main
from dochooks.clock import iso, parse_iso
from dochooks.db import Connection, Database
from dochooks.delivery.signing import verify
from dochooks.runtime import Runtime, open_runtime
from dochooks.tenants import NewTenant
from dochooks.webhooks import store
from dochooks.webhooks.secrets import KEY_FILE, Cipher, signing_key
from tests.factories.clients import Api, document_doc, live_service, webhook_doc
from tests.factories.commands import served, tenant
from tests.factories.deliveries import dispatch_until, queue_delivery, status_of
from tests.factories.peers import Receiver
from tests.factories.stores import TEST_KEY, make_settings, make_tenant, make_webhook

TEST_SEND = {"data": {"type": "webhook_tests", "attributes": {"topic": "document-received"}}}


@pytest.fixture
def api(service: str, acme: NewTenant) -> Api:
    return Api(service, acme.token)


def create_hook(api: Api, url: str, **attributes: Any) -> dict[str, Any]:
    status, body = api.call("POST", "/v1/webhooks", webhook_doc(url, **attributes))
    assert status == 201, body
    return body["data"]  # type: ignore[no-any-return]


# --- isolation -------------------------------------------------------------------------


def test_every_route_with_an_id_answers_another_tenant_as_if_it_did_not_exist(
    api: Api, runtime: Runtime, receiver: Receiver
) -> None:
    hook = create_hook(api, receiver.url("/ok/iso"))
    delivery = api.call("POST", f"/v1/webhooks/{hook['id']}/test", TEST_SEND)[1]["data"]
    status, doc = api.call("POST", "/v1/documents", document_doc(b"mine"))
    assert status == 201, doc
    recover = {"data": {"type": "recoveries", "attributes": {"since": "2026-01-01T00:00:00Z"}}}
    recovery = api.call("POST", f"/v1/webhooks/{hook['id']}/recover", recover)[1]["data"]
    with runtime.db.read() as conn:  # the test send's event (the feed may not show it yet on PostgreSQL)
        event = conn.one("SELECT MIN(id) AS id FROM events")
    assert event is not None and event["id"] is not None
    ids = {
        "event_id": event["id"],
        "webhook_id": hook["id"],
        "delivery_id": delivery["id"],
        "document_id": doc["data"]["id"],
        "recovery_id": recovery["id"],
    }
    bodies = {
        ("POST", "/v1/webhooks/{webhook_id}/recover"): recover,
        ("PATCH", "/v1/webhooks/{webhook_id}"): {"data": {"type": "webhooks", "attributes": {"name": "theirs"}}},
        ("POST", "/v1/webhooks/{webhook_id}/test"): TEST_SEND,
        ("POST", "/v1/documents/{document_id}/validations"): {"data": {"type": "validations"}},
    }
    spec = api.call("GET", "/openapi.json")[1]
    routes = [(m.upper(), p) for p, ops in spec["paths"].items() if "{" in p for m in ops]
    assert len(routes) >= 11  # every route that names a resource, as the service itself lists them
    other = Api(api.base, make_tenant(runtime.db, "other").token)
    for method, template in routes:
        body = bodies.get((method, template))
        theirs = other.call(method, template.format(**ids), body)
        missing = other.call(method, template.format(**{k: "987654321" for k in ids}), body)
        assert theirs[0] == missing[0] == 404, (method, template, theirs)
        # The same answer as for an id that does not exist: not even the wording tells them apart.
        assert re.sub(r"\d+", "N", str(theirs[1])) == re.sub(r"\d+", "N", str(missing[1])), (method, template)
    assert other.call("GET", "/v1/webhooks")[1]["data"] == []
    assert other.call("GET", "/v1/documents")[1]["data"] == []
    assert api.call("GET", f"/v1/webhooks/{hook['id']}")[1]["data"]["attributes"]["name"] == "ERP"


# --- hostile receivers -------------------------------------------------------------------


def test_a_410_disables_the_webhook_and_the_api_says_why(api: Api, receiver: Receiver) -> None:
    hook = create_hook(api, receiver.url("/status/410/gone"))
    delivery = api.call("POST", f"/v1/webhooks/{hook['id']}/test", TEST_SEND)[1]["data"]
    deadline = time.monotonic() + 15
    while api.call("GET", f"/v1/deliveries/{delivery['id']}")[1]["data"]["attributes"]["status"] == "pending":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    shown = api.call("GET", f"/v1/deliveries/{delivery['id']}")[1]["data"]["attributes"]
    assert shown["status"] == "failed" and shown["next_attempt_at"] is None and len(shown["attempts"]) == 1
    (attempt,) = shown["attempts"]
    assert attempt["error"] == "HTTP 410 (the endpoint is gone; webhook disabled)"
    ended = iso(parse_iso(attempt["started_at"]) + attempt["duration_ms"])
    attrs = api.call("GET", f"/v1/webhooks/{hook['id']}")[1]["data"]["attributes"]
    assert attrs["enabled"] is False
    assert attrs["disabled_reason"] == f"the endpoint answered 410 Gone at {ended}; enable the webhook again to resume"
    enabled = {"data": {"type": "webhooks", "attributes": {"enabled": True}}}
    attrs = api.call("PATCH", f"/v1/webhooks/{hook['id']}", enabled)[1]["data"]["attributes"]
    assert attrs["enabled"] is True and attrs["disabled_reason"] is None


def _first_failure(runtime: Runtime, url: str, **settings: Any) -> tuple[int, int | None]:
    """Send one delivery to `url`; returns when the attempt ended and when the retry is due."""
    tenant, delivery, _ = queue_delivery(runtime, url)
    dispatch_until(runtime, lambda: status_of(runtime, tenant, delivery).attempts != (), **settings)
    shown = status_of(runtime, tenant, delivery)
    (attempt,) = shown.attempts
    return attempt.started_at + attempt.duration_ms, shown.next_attempt_at


def test_a_later_retry_after_moves_the_retry_later(runtime: Runtime, receiver: Receiver) -> None:
    ended, due = _first_failure(runtime, receiver.url("/retry-after/429/5/a"), retry_time_scale=0.001)
    assert due is not None and 5000 <= due - ended <= 5000 + 31  # the schedule alone: about 31 ms
    in_an_hour = email.utils.formatdate(time.time() + 3600, usegmt=True).replace(" ", "_")
    ended, due = _first_failure(runtime, receiver.url(f"/retry-after/503/{in_an_hour}/b"), retry_time_scale=0.001)
    assert due is not None and 3590_000 <= due - ended <= 3601_000


def test_an_earlier_or_unreadable_retry_after_keeps_the_schedule(runtime: Runtime, receiver: Receiver) -> None:
    ended, due = _first_failure(runtime, receiver.url("/retry-after/429/0/c"))
    assert due is not None and 1000 <= due - ended <= 31_000  # retry 1: 1 s plus up to 30 s of jitter
    ended, due = _first_failure(runtime, receiver.url("/retry-after/503/soon/d"))
    assert due is not None and 1000 <= due - ended <= 31_000
    ended, due = _first_failure(runtime, receiver.url("/retry-after/500/99999/e"))  # not 429 or 503: ignored
    assert due is not None and due - ended <= 31_000


# --- secrets -----------------------------------------------------------------------------


def test_a_rotated_secret_signs_beside_the_new_one_for_a_day(api: Api, receiver: Receiver) -> None:
    hook = create_hook(api, receiver.url("/ok/rotate"))
    old = hook["attributes"]["secret"]
    status, body = api.call("POST", f"/v1/webhooks/{hook['id']}/secret/rotate")
    assert status == 200, body
    new = body["data"]["attributes"]["secret"]
    assert new.startswith("whsec_") and new != old
    until = body["data"]["attributes"]["previous_secret_expires_at"]
    hours = (email.utils.parsedate_to_datetime(_http_date(until)).timestamp() - time.time()) / 3600
    assert 23.9 < hours <= 24
    shown = api.call("GET", f"/v1/webhooks/{hook['id']}")[1]["data"]["attributes"]
    assert shown["secret"] != new and shown["secret"].startswith("********")
    api.call("POST", f"/v1/webhooks/{hook['id']}/test", TEST_SEND)
    (got,) = receiver.wait_for("/ok/rotate", 1)
    header = got.headers["webhook-signature"]
    assert len(header.split()) == 2
    msg_id, stamp = got.headers["webhook-id"], int(got.headers["webhook-timestamp"])
    for secret in (new, old):
        assert verify(signing_key(secret), msg_id, stamp, got.body, header)


def _http_date(iso_text: str) -> str:
    from datetime import datetime

    return email.utils.format_datetime(datetime.fromisoformat(iso_text.replace("Z", "+00:00")), usegmt=True)


def test_the_key_file_is_rotated_and_every_secret_still_reads(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url, secret_key=None)
    rt = open_runtime(settings)
    tenant = make_tenant(rt.db)
    hook = make_webhook(rt.db, rt.cipher, tenant.tenant_id, "http://127.0.0.1:9/")
    rt.close()
    key_file = settings.data_dir / KEY_FILE
    old_keys = key_file.read_text()
    flags = ["--database-url", db_url, "--data-dir", str(settings.data_dir)]
    result = CliRunner().invoke(main, ["key", "rotate", *flags], env={"DOCHOOKS_SECRET_KEY": ""})
    if not db_url.startswith("sqlite"):  # a key file belongs to one machine: PostgreSQL's processes share a key
        assert result.exit_code == 1 and "DOCHOOKS_SECRET_KEY" in result.output
        assert key_file.read_text() == old_keys
        return
    assert result.exit_code == 0, result.output
    assert "re-encrypted the secrets of 1 webhooks" in result.output
    new_keys = key_file.read_text()
    assert len(new_keys.split()) == 1 and new_keys != old_keys and key_file.stat().st_mode & 0o777 == 0o600
    rt = open_runtime(settings)
    try:
        with rt.db.read() as conn:
            again = store.get_webhook(conn, rt.cipher, tenant.tenant_id, hook.id)
            row = conn.one("SELECT headers FROM webhooks WHERE id = :id", {"id": hook.id})
        assert (again.headers, again.secret) == (hook.headers, hook.secret)
        assert row is not None
        with pytest.raises(Exception, match="does not decrypt"):
            Cipher(old_keys).decrypt(row["headers"])
    finally:
        rt.close()


def test_an_operator_key_rotates_from_old_to_new(tmp_path: Path, db_url: str) -> None:
    rt = open_runtime(make_settings(tmp_path, db_url))  # encrypted with TEST_KEY
    tenant = make_tenant(rt.db)
    hook = make_webhook(rt.db, rt.cipher, tenant.tenant_id, "http://127.0.0.1:9/")
    rt.close()
    new_key = CliRunner().invoke(main, ["key", "generate"]).output.strip()
    flags = ["key", "rotate", "--database-url", db_url, "--data-dir", str(tmp_path / "data")]
    alone = CliRunner().invoke(main, [*flags, "--secret-key", new_key])
    assert alone.exit_code == 1 and "NEW,OLD" in alone.output  # one key: nothing to rotate from
    both = CliRunner().invoke(main, [*flags, "--secret-key", f"{new_key},{TEST_KEY}"])
    assert both.exit_code == 0, both.output
    rt = open_runtime(make_settings(tmp_path, db_url, secret_key=new_key))
    try:
        with rt.db.read() as conn:
            assert store.get_webhook(conn, rt.cipher, tenant.tenant_id, hook.id).headers == hook.headers
    finally:
        rt.close()


def test_no_custom_header_value_or_signing_secret_is_stored_or_logged_in_plain_text(
    tmp_path: Path, db_url: str, receiver: Receiver
) -> None:
    value = "Bearer plain-text-canary-7d1f0c9e"
    # `dochooks serve` itself, logging at debug: the log is all it writes, whichever logger
    # wrote it (uvicorn's access log does not propagate to the root logger, for one).
    with served(db_url, tmp_path, DOCHOOKS_LOG_LEVEL="debug") as service:
        acme = tenant(db_url, "acme", service.env)
        api = Api(service.base, str(acme["token"]))
        hook = create_hook(api, receiver.url("/fail/1/canary"), headers={"Authorization": value})
        rotated = api.call("POST", f"/v1/webhooks/{hook['id']}/secret/rotate")[1]["data"]["attributes"]
        assert api.call("GET", f"/v1/webhooks/{hook['id']}/secret")[0] == 200
        api.call("POST", f"/v1/webhooks/{hook['id']}/test", TEST_SEND)
        got = receiver.wait_for("/fail/1/canary", 2)
        log_page = api.call("GET", f"/v1/webhooks/{hook['id']}/deliveries")[1]
    assert got[0].headers["authorization"] == value  # the receiver did get it
    assert value not in str(log_page) and "********" in str(log_page)
    written = service.log.read_text()
    lines = [json.loads(line) for line in written.splitlines()]  # JSON lines, off a terminal
    # The capture saw the process log: the requests that carried and revealed the secrets,
    # the webhook's changes (of its health too) and its failed attempt.
    requests = {
        (line["method"], line["route"], line["status"], line.get("tenant")) for line in lines if "route" in line
    }
    assert ("POST", "/v1/webhooks/{webhook_id}/secret/rotate", 200, acme["tenant_id"]) in requests
    assert ("GET", "/v1/webhooks/{webhook_id}/secret", 200, acme["tenant_id"]) in requests
    changes = [line["change"] for line in lines if line.get("webhook") == int(hook["id"]) and "change" in line]
    assert changes == ["created", "secret rotated", "failing", "recovered"]  # its health changed twice
    (failed,) = [line for line in lines if line["logger"] == "dochooks.deliveries"]
    assert failed["status"] == 500 and failed["attempt"] == 1 and failed["next_attempt"]
    canaries = [value, hook["attributes"]["secret"], rotated["secret"], api.token]
    assert [canary for canary in canaries if canary and canary in written] == []
    rt = open_runtime(make_settings(tmp_path, db_url, secret_key=None))
    try:
        for text in _everything_stored(rt, tmp_path):
            for canary in canaries:
                assert canary.encode() not in text
    finally:
        rt.close()


def _everything_stored(rt: Runtime, tmp_path: Path) -> Iterator[bytes]:
    """Every file under the test's directory (database, WAL, data dir), and on PostgreSQL
    every row of every table, as text."""
    for path in tmp_path.rglob("*"):
        if path.is_file():
            yield path.read_bytes()
    if rt.db.dialect.name == "postgresql":
        with rt.db.read() as conn:
            tables = conn.all("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
            for table in tables:
                for row in conn.all(f"SELECT CAST(t.* AS text) AS line FROM {table['table_name']} t"):
                    yield row["line"].encode()


def test_an_existing_data_directory_and_database_are_made_private_at_start(tmp_path: Path) -> None:
    data, db = tmp_path / "data", tmp_path / "dochooks.db"
    data.mkdir(mode=0o755)
    for path in (db, tmp_path / "dochooks.db-wal", tmp_path / "dochooks.db-shm"):
        path.touch()
        path.chmod(0o644)  # as versions before 0600 left them
    rt = open_runtime(make_settings(tmp_path, f"sqlite:///{db}", data_dir=data, secret_key=None))
    try:  # open: SQLite removes the WAL and shared memory when the last connection closes
        assert {p.name: mode(p) for p in tmp_path.glob("dochooks.db*")} == {
            "dochooks.db": 0o600,
            "dochooks.db-wal": 0o600,
            "dochooks.db-shm": 0o600,
            "dochooks.db.write.lock": 0o600,  # where processes sharing the file queue to write
        }
    finally:
        rt.close()
    assert mode(data) == 0o700
    assert mode(data / KEY_FILE) == 0o600


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


# --- limits --------------------------------------------------------------------------------


def test_a_token_over_its_rate_gets_429_with_retry_after(tmp_path: Path, db_url: str) -> None:
    rt = open_runtime(make_settings(tmp_path, db_url, rate_limit=0.5, rate_burst=3))
    try:
        busy, calm = make_tenant(rt.db), make_tenant(rt.db, "calm")
        with live_service(rt) as base:
            api = Api(base, busy.token)
            assert [api.call("GET", "/v1/webhooks")[0] for _ in range(3)] == [200, 200, 200]
            status, body = api.call("GET", "/v1/webhooks")
            assert status == 429 and body["errors"][0]["status"] == "429"
            assert 1 <= int(api.last_headers["retry-after"]) <= 2
            assert Api(base, calm.token).call("GET", "/v1/webhooks")[0] == 200  # each token has its own
    finally:
        rt.close()


class CountingDatabase:
    """A database that counts the reads and transactions asked of it."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.dialect = db.dialect
        self.uses = 0

    def read(self) -> AbstractContextManager[Connection]:
        self.uses += 1
        return self._db.read()

    def transaction(self) -> AbstractContextManager[Connection]:
        self.uses += 1
        return self._db.transaction()

    async def listen(self, channel: str, on_notify: Callable[[], None]) -> None:
        await self._db.listen(channel, on_notify)

    def close(self) -> None:
        self._db.close()


def test_wrong_tokens_from_an_address_end_in_429_before_any_lookup_until_the_budget_refills(
    tmp_path: Path, db_url: str
) -> None:
    rt = open_runtime(make_settings(tmp_path, db_url, auth_failure_rate=0.5, auth_failure_burst=3))
    now = [0.0]
    counting = CountingDatabase(rt.db)
    try:
        valid = make_tenant(rt.db).token
        # No dispatcher: every use of the database is a request's.
        with live_service(dataclasses.replace(rt, db=counting), dispatch=False, limiter_clock=lambda: now[0]) as base:
            assert [Api(base).call("GET", "/v1/webhooks")[0] for _ in range(10)] == [401] * 10  # no header: not counted
            wrong = [Api(base, f"dh_guess-{n}").call("GET", "/v1/webhooks")[0] for n in range(3)]
            assert wrong == [401, 401, 401]
            uses = counting.uses
            api = Api(base, "dh_guess-3")
            status, body = api.call("GET", "/v1/webhooks")
            assert status == 429 and body["errors"][0]["status"] == "429"
            assert api.last_headers["retry-after"] == "2"  # one failure's worth at 0.5 a second
            assert "failed authentications" in body["errors"][0]["detail"]
            assert Api(base, valid).call("GET", "/v1/webhooks")[0] == 429  # the price of a per-address limit
            assert counting.uses == uses  # refused before the token was looked up
            now[0] += 2
            assert Api(base, valid).call("GET", "/v1/webhooks")[0] == 200
            assert Api(base, "dh_guess-4").call("GET", "/v1/webhooks")[0] == 401
            assert Api(base, valid).call("GET", "/v1/webhooks")[0] == 429
    finally:
        rt.close()


def test_a_body_over_the_limit_gets_413_also_when_sent_chunked(service: str, acme: NewTenant) -> None:
    host, port = service.removeprefix("http://").split(":")
    big = b'{"data": {"type": "webhooks", "attributes": {"name": "' + b"x" * (2 * 1024 * 1024) + b'"}}}'
    headers = {"Authorization": f"Bearer {acme.token}", "Content-Type": "application/vnd.api+json"}
    # A declared length over the limit: refused on the header, before the body is sent.
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", "/v1/webhooks")
    for name, value in {**headers, "Content-Length": str(len(big))}.items():
        conn.putheader(name, value)
    conn.endheaders(big[: 64 * 1024])
    response = conn.getresponse()
    assert response.status == 413, response.read()
    conn.close()
    # Chunked, no length: refused once the bytes read pass the limit (1 MiB and 64 KiB sent, all read).
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    sent = big[: 1024 * 1024 + 64 * 1024]
    body = (sent[i : i + 65536] for i in range(0, len(sent), 65536))
    conn.request("POST", "/v1/webhooks", body=body, headers=headers, encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 413, response.read()
    conn.close()
    # Both Content-Length and chunked: the length must not let the body past the limit.
    with socket.create_connection((host, int(port)), timeout=30) as raw:
        head = (
            f"POST /v1/webhooks HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {acme.token}\r\n"
            "Content-Type: application/vnd.api+json\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        # The first 64 KiB of a 2 MiB chunk: the answer must come without the rest (sending it
        # all would race the server closing the connection, and lose the answer to a reset).
        raw.sendall(head.encode() + f"{len(big):x}\r\n".encode() + big[: 64 * 1024])
        answer = raw.recv(65536).split(b"\r\n", 1)[0]
    assert answer.split()[1] in (b"400", b"413"), answer  # the server or the limit refuses it; the app never sees it


def test_ip_ranges_lists_the_egress_cidrs(tmp_path: Path, db_url: str) -> None:
    rt = open_runtime(make_settings(tmp_path, db_url, egress_cidrs="34.65.0.0/16, 2001:db8:1::/48"))
    try:
        tenant = make_tenant(rt.db)
        with live_service(rt) as base:
            status, body = Api(base, tenant.token).call("GET", "/v1/ip-ranges")
            assert status == 200
            assert [r["attributes"]["cidr"] for r in body["data"]] == ["34.65.0.0/16", "2001:db8:1::/48"]
            assert Api(base).call("GET", "/v1/ip-ranges")[0] == 401
    finally:
        rt.close()


def test_without_egress_cidrs_ip_ranges_is_empty(api: Api) -> None:
    status, body = api.call("GET", "/v1/ip-ranges")
    assert status == 200 and body["data"] == []
