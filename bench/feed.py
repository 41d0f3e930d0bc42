"""Feed: reading a tenant's event feed from the start of 1,000,000 events through the HTTP API
of a running `dochooks serve`, a page of 1,000 at a time.

    .venv/bin/python bench/feed.py [--events 1000000] [--page 1000] [--database-url URL]

One run:

1. prepares a fresh database (SQLite in a temp dir by default, or a new PostgreSQL database
   created for the run and dropped after it), a tenant and a webhook, and seeds, by bulk
   INSERT ... SELECT (not the API) in transactions of 100,000, `--events` events of the
   tenant (payloads in the reference's shape, ~450 bytes, the 9 topics of a document's
   workflow in turn) and a settled delivery of each, with another tenant's events (a tenth
   as many) in between, then ANALYZE (statistics as autovacuum would have them);
2. starts `dochooks serve` on one core and reads the tenant's feed from the start on the
   other, by `links.next`, over one kept-alive HTTP connection, timing each page, until an
   empty page;
3. prints events/s (all pages) and the p50 and p99 of a page, and judges them against the
   targets (`--rate-target`, `--p99-target`); checks that every event of the tenant came
   once, in feed order, each with its delivery's request id, and none of the other tenant's.

It exits 1 if a target is missed or a check fails. Only 127.0.0.1 is contacted.

The targets: a receiver back from an outage must catch up much faster than events are made.
`bench/flow.py` publishes at most ~300 documents/s, 9 events each: ~2,700 events/s. Reading
at 10,000 events/s or more, over 3 times that, a reader catches up on an outage at that peak
in about a third of its length while events keep coming (faster at any ordinary rate); a
page within 250 ms (p99) keeps a client's request well inside any HTTP timeout.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness import add_webhook, database, describe_database, on_cores, percentile, sample_payload
from serve_process import served, service_env
from verdict import Verdict, report

from dochooks.db import Connection
from dochooks.runtime import open_runtime
from dochooks.settings import Settings
from dochooks.tenants import create_tenant

BATCH = 100_000  # events a seeding transaction writes
WORKFLOW_TOPICS = (
    "document-received",
    "preprocessing-done",
    "automatic-separation-done",
    "automatic-classification-done",
    "ready-for-extraction",
    "automatic-extraction-done",
    "outbound-started",
    "outbound-done",
    "processing-finished",
)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=1_000_000, help="the tenant's events (default %(default)s)")
    p.add_argument("--page", type=int, default=1000, help="page[size] (default %(default)s)")
    p.add_argument("--database-url", help="default: SQLite in a temp dir; postgresql://…/NAME is created and dropped")
    p.add_argument("--rate-target", type=float, default=10_000, help="events/s to reach (default %(default)s)")
    p.add_argument("--p99-target", type=float, default=250, help="ms a page may take, p99 (default %(default)s)")
    return p.parse_args(argv)


def _topic_of_row(conn: Connection) -> str:
    if conn.dialect.name == "sqlite":
        return "json_extract(:topics, '$[' || (x % 9) || ']')"
    return "CAST(:topics AS jsonb) ->> CAST(x % 9 AS INTEGER)"


def _rows(conn: Connection) -> str:
    """Rows x = :first .. :last, in each engine's words."""
    if conn.dialect.name == "sqlite":
        return "(WITH RECURSIVE n(x) AS (SELECT :first UNION ALL SELECT x + 1 FROM n WHERE x < :last) SELECT x FROM n)"
    return "(SELECT x FROM generate_series(CAST(:first AS BIGINT), CAST(:last AS BIGINT)) AS x)"


def seed_events(conn: Connection, *, tenant: int, webhook: int | None, first: int, last: int, now: int) -> None:
    """Events first..last of a tenant (document x // 9, topic x % 9), each with a settled
    delivery to `webhook` if given; one INSERT ... SELECT each."""
    payload = json.dumps(sample_payload(tenant, 123456789, now)).replace("123456789", "@N@")
    before = conn.one("SELECT COALESCE(MAX(id), 0) AS id FROM events")
    conn.run(
        "INSERT INTO events (tenant_id, topic, document_id, payload, created_at) "
        f"SELECT :tenant, {_topic_of_row(conn)}, x / 9, replace(:payload, '@N@', CAST(x / 9 AS TEXT)), :now "
        f"FROM {_rows(conn)} AS r",
        {"tenant": tenant, "topics": json.dumps(WORKFLOW_TOPICS), "payload": payload, "now": now}
        | {"first": first, "last": last},
    )
    if webhook is None:
        return
    request_id = "lower(hex(randomblob(16)))" if conn.dialect.name == "sqlite" else "md5(random()::text || e.id)"
    conn.run(
        "INSERT INTO deliveries (tenant_id, webhook_id, event_id, topic, request_id, status, attempt_count, "
        f"created_at, updated_at) SELECT e.tenant_id, :webhook, e.id, e.topic, {request_id}, 'succeeded', 1, "
        ":now, :now FROM events e WHERE e.id > :after AND e.tenant_id = :tenant",
        {"webhook": webhook, "after": before["id"] if before else 0, "now": now, "tenant": tenant},
    )


def seed(url: str, workdir: Path, events: int) -> tuple[int, str]:
    """The tenants, the webhook and the events; the reading tenant's id and token."""
    rt = open_runtime(Settings(database_url=url, data_dir=workdir / "data", allow_private_targets=True))
    try:
        now = rt.clock.now_ms()
        with rt.db.transaction() as conn:
            reader = create_tenant(conn, "reader")
            other = create_tenant(conn, "other")
            hook = add_webhook(conn, rt, tenant_id=reader.tenant_id, url="http://127.0.0.1:9/", name="erp")
        started = time.monotonic()
        for first in range(0, events, BATCH):
            last = min(events, first + BATCH) - 1
            with rt.db.transaction() as conn:
                seed_events(conn, tenant=reader.tenant_id, webhook=hook.id, first=first, last=last, now=now)
                tenth = (last - first + 1) // 10
                if tenth:
                    seed_events(conn, tenant=other.tenant_id, webhook=None, first=0, last=tenth - 1, now=now)
        with rt.db.transaction() as conn:
            conn.run("ANALYZE")
        print(f"seeded {events:,} events (+{events // 10:,} of another tenant) in {time.monotonic() - started:.0f} s")
        print(describe_database(rt))
        return reader.tenant_id, reader.token
    finally:
        rt.close()


def read_feed(base: str, token: str, page: int) -> tuple[list[dict[str, Any]], list[float], float]:
    """The whole feed from the start: the events, each page's seconds, the total seconds."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/v1/events?page[size]={page}"
    events: list[dict[str, Any]] = []
    timings: list[float] = []
    started = time.perf_counter()
    while True:
        began = time.perf_counter()
        conn.request("GET", path, headers=headers)
        answer = conn.getresponse()
        body = answer.read()
        timings.append(time.perf_counter() - began)
        if answer.status != 200:
            raise RuntimeError(f"GET {path} answered {answer.status}: {body[:500]!r}")
        doc = json.loads(body)
        if not doc["data"]:
            return events, timings, time.perf_counter() - started
        events += doc["data"]
        path = doc["links"]["next"]


def check(verdict: Verdict, url: str, workdir: Path, tenant: int, events: list[dict[str, Any]], expected: int) -> None:
    ids = [int(e["id"]) for e in events]
    verdict.check(
        f"each of the tenant's {expected:,} events came once",
        len(set(ids)) == len(ids) == expected,
        f"{len(ids):,} came, {len(set(ids)):,} distinct",
    )
    verdict.check("in feed order (one transaction per 100,000: id order)", ids == sorted(ids), "ids ascending")
    rt = open_runtime(
        Settings(database_url=url, data_dir=Path(tempfile.gettempdir()) / "unused", allow_private_targets=True)
    )
    try:
        with rt.db.read() as conn:
            rows = conn.all("SELECT event_id, request_id FROM deliveries WHERE tenant_id = :t", {"t": tenant})
    finally:
        rt.close()
    stored = {r["event_id"]: [r["request_id"]] for r in rows}
    matched = sum(1 for e in events if stored.get(int(e["id"])) == e["attributes"]["request_ids"])
    verdict.check("each event with its delivery's request id", matched == expected, f"{matched:,} matched")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    workdir = Path(tempfile.mkdtemp(prefix="dochooks-feed-"))
    verdict = Verdict()
    try:
        with database(args.database_url, workdir) as url:
            tenant, token = seed(url, workdir, args.events)
            env = service_env(url, workdir)
            with served(env, workdir, {0}) as service, on_cores({1}):
                events, timings, seconds = read_feed(service.base, token, args.page)
            check(verdict, url, workdir, tenant, events, args.events)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rate = len(events) / seconds
    p50, p99 = percentile(timings, 50) * 1000, percentile(timings, 99) * 1000
    rows = [
        ("events", f"{args.events:,} of the tenant, +{args.events // 10:,} of another; a delivery each"),
        ("pages", f"{len(timings):,} of page[size]={args.page} (the last one empty), {seconds:.1f} s"),
        ("events/s", verdict.at_least("events/s", f"{rate:,.0f}", rate, args.rate_target)),
        ("page p50", f"{p50:.1f} ms"),
        ("page p99", verdict.at_most("page p99", f"{p99:.1f} ms", p99, args.p99_target, " ms")),
        ("pinning", "serve on core 0, the reader on core 1"),
    ]
    return report(rows, verdict)


if __name__ == "__main__":
    sys.exit(main())
