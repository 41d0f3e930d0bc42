"""The event feed (GET /v1/events and its siblings) over real HTTP, on SQLite and PostgreSQL:
every event once in commit order from a cursor, the answer's shape, its limits, tenant
isolation and retention's 410."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dochooks.clock import iso
from dochooks.delivery.publish import publish
from dochooks.events import feed
from dochooks.retention import DAY_MS, prune
from dochooks.runtime import Runtime, open_runtime
from dochooks.tenants import NewTenant
from dochooks.topics import TOPICS
from tests.factories.clients import Api, document_doc, live_service, webhook_doc
from tests.factories.deliveries import PAYLOAD
from tests.factories.documents import PLAIN_FLOW
from tests.factories.peers import Receiver, free_port
from tests.factories.stores import make_settings, make_tenant, postgres_database

ALL_TOPICS = [t.value for t in TOPICS]


def read_all(
    api: Api, path: str = "/v1/events?page[size]=1000", *, expect: int = 0
) -> tuple[list[dict[str, Any]], str]:
    """Every event from `path` on, page after page by `links.next`, until at least `expect`
    came (for up to 30 s: on PostgreSQL a transaction open elsewhere on the server holds the
    feed back until it ends), and the cursor after them."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while True:
        status, body = api.call("GET", path)
        assert status == 200, body
        events += body["data"]
        path = body["links"]["next"]
        if not body["data"]:
            if len(events) >= expect or time.monotonic() > deadline:
                return events, body["meta"]["cursor"]
            time.sleep(0.05)


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
    events, _ = read_all(api, expect=len(PLAIN_FLOW))
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


def wait_until_done(api: Api, doc_ids: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for doc_id in doc_ids:
        while api.call("GET", f"/v1/documents/{doc_id}")[1]["data"]["attributes"]["status"] != "done":
            assert time.monotonic() < deadline, f"document {doc_id} did not finish"
            time.sleep(0.05)


class Reader:
    """A client catching up from the feed: follows `links.next`, keeps every event it got."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.path = "/v1/events?page[size]=37"  # pages that end anywhere, also mid-transaction
        self.events: list[dict[str, Any]] = []

    def read_on(self) -> int:
        status, body = self.api.call("GET", self.path)
        assert status == 200, body
        self.events += body["data"]
        self.path = body["links"]["next"]
        return len(body["data"])


def test_a_reader_gets_every_one_of_1000_events_once_in_commit_order_while_they_commit(
    runtime: Runtime, service: str, acme: NewTenant
) -> None:
    api = Api(service, acme.token)
    down = f"http://127.0.0.1:{free_port()}/down"  # no receiver answers: every delivery fails
    for topics in (ALL_TOPICS, ["document-received", "processing-finished"], ALL_TOPICS):
        assert api.call("POST", "/v1/webhooks", webhook_doc(down, topics))[0] == 201
    uploaded = [api.call("POST", "/v1/documents", document_doc(f"Invoice {n}\n".encode()))[1] for n in range(5)]
    uploaded_ids = [d["data"]["id"] for d in uploaded]

    def write(first_document: int, batches: int) -> None:
        # 955 events by two writers at once (their commits interleave on PostgreSQL), 5 a
        # transaction, each numbered per document in the order its transaction commits.
        for batch in range(batches):
            with runtime.db.transaction() as conn:
                for k in range(5):
                    document = first_document + k % 4
                    publish(
                        conn,
                        tenant_id=acme.tenant_id,
                        topic="document-received",
                        payload={**PAYLOAD, "id": str(document), "n": batch * 5 + k},
                        now_ms=runtime.clock.now_ms(),
                        document_id=document,
                    )

    writers = [threading.Thread(target=write, args=args) for args in ((1_000_001, 96), (2_000_001, 95))]
    reader = Reader(api)
    for writer in writers:
        writer.start()
    while any(w.is_alive() for w in writers):
        reader.read_on()
        time.sleep(0.02)  # a client polls; the token's rate is 100 requests a second
    wait_until_done(api, uploaded_ids)
    with runtime.db.read() as conn:  # and the operational notifications the failures caused
        written = {r["id"] for r in conn.all("SELECT id FROM events")}
    assert len(written) >= 1000
    deadline = time.monotonic() + 30  # a transaction still open elsewhere on the server holds the feed back
    while not written <= {int(e["id"]) for e in reader.events} and time.monotonic() < deadline:
        if not reader.read_on():
            time.sleep(0.05)

    ids = [int(e["id"]) for e in reader.events]
    assert len(ids) == len(set(ids)) and set(ids) >= written
    with runtime.db.read() as conn:
        assert {r["id"] for r in conn.all("SELECT id FROM events")} == set(ids)
        deliveries = conn.all("SELECT event_id, request_id FROM deliveries ORDER BY id")
    request_ids: dict[int, list[str]] = {}
    for row in deliveries:
        request_ids.setdefault(row["event_id"], []).append(row["request_id"])
    assert {int(e["id"]): e["attributes"]["request_ids"] for e in reader.events} == {
        i: request_ids.get(i, []) for i in ids
    }
    by_document: dict[str, list[dict[str, Any]]] = {}
    for event in reader.events:
        by_document.setdefault(event["attributes"]["document_id"], []).append(event["attributes"])
    for doc_id in uploaded_ids:
        assert tuple(a["topic"] for a in by_document[doc_id]) == PLAIN_FLOW
        assert all(
            len(a["request_ids"]) == 2 + (a["topic"] in ("document-received", "processing-finished"))
            for a in by_document[doc_id]
        )
    published = [d for d in by_document if d not in (*uploaded_ids, None)]  # None: the notifications
    assert len(published) == 8
    for doc_id in published:
        numbers = [a["payload"]["n"] for a in by_document[doc_id]]
        assert numbers == sorted(numbers)


@pytest.fixture
def postgres_runtime(tmp_path: Path) -> Iterator[tuple[Runtime, str]]:
    with postgres_database() as url:
        rt = open_runtime(make_settings(tmp_path, url))
        try:
            yield rt, url
        finally:
            rt.close()


def _insert_event(conn: psycopg.Connection[Any], tenant_id: int) -> int:
    row = conn.execute(
        "INSERT INTO events (tenant_id, topic, payload, created_at) VALUES (%s, 'document-received', '{}', 0) "
        "RETURNING id",
        (tenant_id,),
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.postgres
def test_an_event_committed_after_a_later_one_is_not_skipped(postgres_runtime: tuple[Runtime, str]) -> None:
    rt, url = postgres_runtime
    tenant = make_tenant(rt.db)
    with live_service(rt) as base, psycopg.connect(url) as first, psycopg.connect(url) as second:
        api = Api(base, tenant.token)
        early = _insert_event(first, tenant.tenant_id)  # the lower id, committed last
        late = _insert_event(second, tenant.tenant_id)
        assert early < late
        second.commit()
        status, body = api.call("GET", "/v1/events")
        # A cursor past `late` would skip `early` for good: neither shows while `first` is open.
        assert status == 200 and body["data"] == []
        cursor = body["links"]["next"]
        first.commit()
        deadline = time.monotonic() + 30  # other transactions on the shared server hold the feed back too
        got: list[int] = []
        while len(got) < 2 and time.monotonic() < deadline:
            status, body = api.call("GET", cursor)
            got += [int(e["id"]) for e in body["data"]]
            cursor = body["links"]["next"]
        assert got == [early, late]


def test_every_feed_route_keeps_to_its_tenant_and_a_cursor_to_the_tenant_it_was_given(
    runtime: Runtime, service: str, acme: NewTenant
) -> None:
    other = make_tenant(runtime.db, "globex")
    mine, theirs = Api(service, acme.token), Api(service, other.token)
    doc = mine.call("POST", "/v1/documents", document_doc(b"Invoice 1\n"))[1]["data"]
    publish_events(runtime, other.tenant_id, 2)
    events, cursor = read_all(mine, expect=len(PLAIN_FLOW))
    assert {e["attributes"]["document_id"] for e in events} == {doc["id"]} and len(events) == len(PLAIN_FLOW)
    assert len(read_all(theirs, expect=2)[0]) == 2
    event = events[0]["id"]
    for path in (f"/v1/events/{event}", f"/v1/documents/{doc['id']}/events", f"/v1/events?after={cursor}"):
        status, body = theirs.call("GET", path)
        assert status == 404 and body["errors"][0]["status"] == "404", path
        assert mine.call("GET", path)[0] == 200, path
    assert theirs.call("GET", f"/v1/documents/{doc['id']}/events?after={cursor}")[0] == 404
    assert theirs.call("GET", "/v1/events", token="dh_not-a-token")[0] == 401


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("after=not-a-cursor", "after"),
        ("after=WzEsMSwwXQ", "after"),  # base64url JSON, but not a cursor: [1, 1, 0]
        ("after=WzEsMSwwLDE4NDQ2NzQ0MDczNzA5NTUxNjE2XQ", "after"),  # [1, 1, 0, 2**64]: no SQL integer
        ("after=" + "A" * 300, "after"),
        ("page[size]=1001", "page[size]"),
        ("page[size]=0", "page[size]"),
        ("filter[topic]=document-received,no-such-topic", "filter[topic]"),
        ("filter[created_after]=yesterday", "filter[created_after]"),
        ("filter[document_id]=x", "filter[document_id]"),
    ],
)
def test_a_bad_parameter_is_a_400_that_names_it(service: str, acme: NewTenant, query: str, parameter: str) -> None:
    status, body = Api(service, acme.token).call("GET", f"/v1/events?{query}")
    assert status == 400, body
    (error,) = body["errors"]
    assert error["source"] == {"parameter": parameter} and error["status"] == "400"


def test_pages_are_stable_and_filters_narrow_the_feed_with_links_that_keep_them(
    runtime: Runtime, service: str, acme: NewTenant
) -> None:
    api = Api(service, acme.token)
    now = runtime.clock.now_ms()
    with runtime.db.transaction() as conn:
        for n, (topic, document) in enumerate(
            [("document-received", 7), ("processing-finished", 7), ("document-received", 8), ("webhook-failing", None)]
        ):
            publish(
                conn,
                tenant_id=acme.tenant_id,
                topic=topic,
                payload={**PAYLOAD, "n": n},
                now_ms=now - 60_000 + n * 10_000,
                document_id=document,
            )
    assert len(read_all(api, expect=4)[0]) == 4  # once the feed shows them (PostgreSQL: see read_all)
    status, first = api.call("GET", "/v1/events?page[size]=2")
    assert status == 200 and len(first["data"]) == 2
    assert api.call("GET", "/v1/events?page[size]=2")[1] == first  # read twice, the same page
    assert first["links"]["next"] == f"/v1/events?page%5Bsize%5D=2&after={first['meta']['cursor']}"
    status, second = api.call("GET", first["links"]["next"])
    assert [e["attributes"]["payload"]["n"] for e in first["data"] + second["data"]] == [0, 1, 2, 3]
    assert second["data"][1]["attributes"]["document_id"] is None

    def topics(query: str) -> list[str]:
        return [e["attributes"]["topic"] + str(e["attributes"]["payload"]["n"]) for e in read_all(api, query)[0]]

    assert topics("/v1/events?filter[topic]=document-received,webhook-failing") == [
        "document-received0",
        "document-received2",
        "webhook-failing3",
    ]
    assert topics("/v1/events?filter[document_id]=7") == ["document-received0", "processing-finished1"]
    assert topics(f"/v1/events?filter[created_after]={iso(now - 45_000)}") == ["document-received2", "webhook-failing3"]
    status, narrowed = api.call("GET", "/v1/events?filter[topic]=processing-finished&page[size]=1")
    assert "filter%5Btopic%5D=processing-finished" in narrowed["links"]["next"]
    assert api.call("GET", narrowed["links"]["next"])[1]["data"] == []


def test_an_empty_feed_still_answers_a_cursor_to_poll_from(runtime: Runtime, service: str, acme: NewTenant) -> None:
    api = Api(service, acme.token)
    status, empty = api.call("GET", "/v1/events")
    assert status == 200 and empty["data"] == [] and empty["meta"]["cursor"]
    assert api.call("GET", empty["links"]["next"])[1]["meta"]["cursor"] == empty["meta"]["cursor"]
    (event,) = publish_events(runtime, acme.tenant_id, 1)
    assert [int(e["id"]) for e in read_all(api, empty["links"]["next"], expect=1)[0]] == [event]


def test_a_test_send_is_in_the_feed_marked_as_one(service: str, acme: NewTenant) -> None:
    api = Api(service, acme.token)
    down = f"http://127.0.0.1:{free_port()}/down"
    hook = api.call("POST", "/v1/webhooks", webhook_doc(down))[1]["data"]
    test_doc = {"data": {"type": "webhook_tests", "attributes": {"topic": "processing-finished"}}}
    status, queued = api.call("POST", f"/v1/webhooks/{hook['id']}/test", test_doc)
    assert status == 202, queued
    event, *notifications = read_all(api, expect=1)[0]  # then webhook-failing, if the attempt failed by now
    assert [e["attributes"]["topic"] for e in notifications] in ([], ["webhook-failing"])
    assert event["attributes"]["test"] is True and event["attributes"]["topic"] == "processing-finished"
    assert event["attributes"]["request_ids"] == [queued["data"]["attributes"]["request_id"]]


def test_a_cursor_behind_what_retention_deleted_is_gone_and_says_where_to_resume(
    runtime: Runtime, service: str, acme: NewTenant
) -> None:
    api = Api(service, acme.token)
    now = runtime.clock.now_ms()
    # No webhook: events without deliveries go with the cut-off. (Younger than the service's
    # own retention, 30 days, so that its background pass leaves them to this test's.)
    with runtime.db.transaction() as conn:
        deleted = [
            publish(conn, tenant_id=acme.tenant_id, topic="document-received", payload=PAYLOAD, now_ms=made).event_id
            for made in (now - 20 * DAY_MS, now - 10 * DAY_MS, now - 10 * DAY_MS)
        ]
    _, caught_up = read_all(api, expect=3)  # once the feed shows them (PostgreSQL: see read_all)
    early = api.call("GET", "/v1/events?page[size]=1")[1]["meta"]["cursor"]  # after the first
    kept = publish_events(runtime, acme.tenant_id, 2)

    def prune_older_than(days: int) -> int:
        settings = runtime.tuned(delivery_retention_days=days, prune_pause=0).settings
        return prune(runtime.db, settings, runtime.clock, pause=lambda _: None).events

    assert prune_older_than(15) == 1
    # Its reader had read up to the deleted event, and lost nothing.
    assert [int(e["id"]) for e in read_all(api, f"/v1/events?after={early}", expect=4)[0]] == deleted[1:] + kept
    assert prune_older_than(5) == 2  # the horizon moves on
    status, body = api.call("GET", f"/v1/events?after={early}")
    assert status == 410, body
    (error,) = body["errors"]
    assert error["status"] == "410" and "document API" in error["detail"]
    resume = error["meta"]["resume_from"]
    assert error["links"]["resume"] == f"/v1/events?after={resume}"
    assert [int(e["id"]) for e in read_all(api, error["links"]["resume"], expect=2)[0]] == kept
    assert [int(e["id"]) for e in read_all(api, f"/v1/events?after={caught_up}", expect=2)[0]] == kept
    assert [int(e["id"]) for e in read_all(api, expect=2)[0]] == kept  # no cursor: from the oldest kept
    assert api.call("GET", f"/v1/events/{deleted[0]}")[0] == 404
    assert prune_older_than(5) == 0  # a pass that deletes nothing leaves the horizon
    assert api.call("GET", f"/v1/events?after={resume}")[0] == 200
    # Another tenant keeps its own horizon: nothing of it was deleted, its start cursor is good.
    other = make_tenant(runtime.db, "globex")
    start = api.call("GET", "/v1/events", token=other.token)[1]["meta"]["cursor"]
    assert api.call("GET", f"/v1/events?after={start}", token=other.token)[0] == 200


def test_a_filter_that_rarely_matches_looks_at_a_bounded_stretch_a_page_and_moves_on(
    runtime: Runtime, service: str, acme: NewTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filter checked row by row looks at `MAX_LOOKED_AT` events a page at most: the page
    comes back short (here empty), its cursor past what was looked at, and polling on from
    it reaches the match; nothing is skipped and the walk never starts over."""
    monkeypatch.setattr(feed, "MAX_LOOKED_AT", 5)
    api = Api(service, acme.token)
    publish_events(runtime, acme.tenant_id, 12)
    with runtime.db.transaction() as conn:
        rare = publish(
            conn, tenant_id=acme.tenant_id, topic="processing-failed", payload=PAYLOAD, now_ms=runtime.clock.now_ms()
        ).event_id
    read_all(api, expect=13)  # once the feed shows them all (PostgreSQL: see read_all)
    path, cursors, found = "/v1/events?filter[topic]=processing-failed", [], []
    for _ in range(4):
        status, body = api.call("GET", path)
        assert status == 200, body
        found += [int(e["id"]) for e in body["data"]]
        cursors.append(body["meta"]["cursor"])
        path = body["links"]["next"]
    assert found == [rare]
    assert len(set(cursors[:3])) == 3  # each short page moved on: after 5, after 10, after the match
    assert cursors[3] == cursors[2]  # caught up: an empty page keeps its cursor


def test_without_a_cursor_the_feed_shows_every_event_kept_even_behind_the_horizon(
    runtime: Runtime, service: str, acme: NewTenant
) -> None:
    """Retention deletes an old event only once its deliveries are gone, so an older event
    whose delivery is still pending outlives a later one that is deleted, and the horizon
    passes it: a reader without a cursor still gets it."""
    api = Api(service, acme.token)
    down = f"http://127.0.0.1:{free_port()}/down"
    assert api.call("POST", "/v1/webhooks", webhook_doc(down, ["document-received"]))[0] == 201
    now = runtime.clock.now_ms()
    with runtime.db.transaction() as conn:
        held, gone = (
            publish(conn, tenant_id=acme.tenant_id, topic=topic, payload=PAYLOAD, now_ms=made).event_id
            for topic, made in (("document-received", now - 20 * DAY_MS), ("processing-finished", now - 10 * DAY_MS))
        )  # younger than the service's own retention (30 days): its background pass leaves them
    read_all(api, expect=2)
    settings = runtime.tuned(delivery_retention_days=5, prune_pause=0).settings
    assert prune(runtime.db, settings, runtime.clock, pause=lambda _: None).events == 1
    assert api.call("GET", f"/v1/events/{gone}")[0] == 404
    shown = [int(e["id"]) for e in read_all(api, expect=1)[0]]  # (and webhook-failing, once the attempt failed)
    assert shown[0] == held and gone not in shown
