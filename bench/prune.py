"""Pruning a large delivery log while new deliveries flow.

    .venv/bin/python bench/prune.py [--settled 1000000] [--deliveries 50000] [--database-url URL]

One run:

1. starts an HTTP receiver on 127.0.0.1 in a separate process (as bench/throughput.py);
2. prepares a fresh database (SQLite in a temp dir by default, or a new PostgreSQL
   database created for the run and dropped after it), a tenant and a few webhooks on the
   receiver, and seeds, by bulk INSERT ... SELECT (not the API), N settled deliveries made
   40 days ago, one event per webhook-set (an event goes to every webhook) and one attempt
   each, plus 1,000 deliveries of that age still pending (their retry due in ten days);
3. measures the database's size;
4. after a warm-up run (not counted: the first on cold caches), alternates runs A and B,
   A B A B A (`--rounds` runs B), each with M new deliveries
   queued through the real `publish`: run A runs the real `Dispatcher` alone until every
   one is recorded; run B runs it with a pruning pass (the real `Pruner`, 30 days'
   retention, its default batch and pause) beside it in the same event loop, as `serve`'s
   background process and `worker` run them, stopped after its batch once the dispatcher
   is done; alternating spreads the shared machine's drift over both;
5. lets pruning finish the rest alone (its rows and seconds count too);
6. measures the database's size again (and on PostgreSQL, the dead rows left, and the
   vacuums that ran: a pass runs `VACUUM` itself where autovacuum is off);
7. judges: the mean rate of runs B >= 0.9 of the mean of runs A (`--ratio-target`), rows
   pruned/s >= `--prune-rate-target`; checks that every seeded
   settled delivery, its attempt and its event are gone, the pending ones and their events
   stayed, every new delivery succeeded and stayed, and that pruning was still going when
   each run B's dispatcher finished. Exits 1 if a target is missed or a check fails.

Only 127.0.0.1 is contacted. The whole run is bounded by --time-limit (30 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness import TOPIC, database, describe_database, dispatch_until, run_loop
from receiver_process import receiver
from throughput import queue_deliveries, subscribe
from verdict import Verdict, report

from dochooks.db import Connection
from dochooks.retention import DAY_MS, Pruned, Pruner
from dochooks.runtime import Runtime, open_runtime
from dochooks.settings import Settings
from dochooks.webhooks.config import Webhook

RETENTION_DAYS = 30
AGE_DAYS = 40  # of the seeded deliveries
PENDING = 1000  # seeded deliveries past retention still pending: never pruned
PAYLOAD = (
    '{"id": "1", "type": "documents", "attributes": {"status": "done", "tenant_id": 1, "sla_deadline": null, '
    '"custom_fields": {"department": "accounts-payable", "priority": "normal"}, "external_id": "INV-000000001", '
    '"created_at": "2026-10-21T10:00:00.000Z", "updated_at": "2026-10-21T10:00:00.000Z", "document_id": 1}}'
)
HEADERS = (
    '{"Content-Type": "application/json", "User-Agent": "dochooks/0.1.0", "Authorization": "Bear********", '
    '"webhook-id": "0123456789abcdef0123456789abcdef", "webhook-timestamp": "1792000000", '
    '"webhook-signature": "v1,********"}'
)


# --- seeding --------------------------------------------------------------------------


def numbers(conn: Connection, count_param: str) -> str:
    """A row source `n(x)` of x = 0 .. :count - 1, in this engine's words."""
    if conn.dialect.name == "sqlite":
        return f"WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x + 1 < :{count_param}) "
    return f"WITH n(x) AS (SELECT generate_series(0, CAST(:{count_param} AS BIGINT) - 1)) "


def random_id(conn: Connection) -> str:
    return "lower(hex(randomblob(16)))" if conn.dialect.name == "sqlite" else "md5(random()::text)"


def seed(rt: Runtime, tenant: int, hooks: list[Webhook], *, settled: int, chunk: int = 100_000) -> None:
    """`settled` settled deliveries made AGE_DAYS ago (each event to every webhook, one attempt
    each), then PENDING pending ones of the same age, in chunks of `chunk` deliveries."""
    start = rt.clock.now_ms() - AGE_DAYS * DAY_MS
    per_event = len(hooks)
    events = settled // per_event
    made = 0
    for first in range(0, events, chunk // per_event):
        count = min(chunk // per_event, events - first)
        _seed_chunk(rt, tenant, start + first * 2, count, "succeeded")
        made += count * per_event
        print(f"seeded {made:,} settled deliveries", flush=True)
    _seed_chunk(rt, tenant, start + events * 2, PENDING // per_event, "pending")


def _seed_chunk(rt: Runtime, tenant: int, at: int, events: int, status: str) -> None:
    """`events` events 2 ms apart from `at`, a delivery of each to every webhook, an attempt each."""
    with rt.db.transaction() as conn:
        top = conn.one("SELECT COALESCE(MAX(id), 0) AS top FROM events")
        after = int(top["top"]) if top else 0
        conn.run(
            "INSERT INTO events (tenant_id, topic, document_id, payload, created_at) "
            + numbers(conn, "count")
            + "SELECT :tenant, :topic, x, :payload, :at + 2 * x FROM n",
            {"count": events, "tenant": tenant, "topic": TOPIC, "payload": PAYLOAD, "at": at},
        )
        top = conn.one("SELECT COALESCE(MAX(id), 0) AS top FROM deliveries")
        first_delivery = int(top["top"]) if top else 0
        pending = status == "pending"
        conn.run(
            "INSERT INTO deliveries (tenant_id, webhook_id, event_id, topic, request_id, status, attempt_count, "
            "next_attempt_at, created_at, updated_at) "
            "SELECT e.tenant_id, w.id, e.id, e.topic, "
            + random_id(conn)
            + ", :status, 1, :next, e.created_at, e.created_at + 1000 "
            "FROM events e CROSS JOIN webhooks w WHERE e.id > :after AND w.tenant_id = :tenant ORDER BY e.id, w.id",
            {
                "after": after,
                "tenant": tenant,
                "status": status,
                "next": rt.clock.now_ms() + 10 * DAY_MS if pending else None,
            },
        )
        conn.run(
            "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, request_headers, response_status, "
            "response_body, error) SELECT id, 1, created_at, 12, :headers, :code, :body, NULL "
            "FROM deliveries WHERE id > :first ORDER BY id",
            {
                "first": first_delivery,
                "headers": HEADERS,
                "code": 503 if pending else 200,
                "body": "busy" if pending else "ok",
            },
        )


def analyze(rt: Runtime) -> str:
    """On PostgreSQL, the statistics autovacuum would gather over days of traffic (the shared
    server the benchmark may run on has it off); SQLite plans without them."""
    with rt.db.transaction() as conn:
        if conn.dialect.name == "sqlite":
            return "-"
        autovacuum = conn.one("SELECT current_setting('autovacuum') AS on_off")
        for table in ("events", "deliveries", "attempts"):
            conn.run(f"ANALYZE {table}")
    return f"ANALYZE after seeding; autovacuum {autovacuum['on_off'] if autovacuum else '?'} on the server"


# --- measuring ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Size:
    total: int  # bytes the database takes
    free: int  # of them, bytes free for reuse (SQLite's free pages; PostgreSQL: unknown, 0)
    note: str = ""

    def shown(self) -> str:
        extra = f", {self.free / 2**20:,.0f} MiB of it free pages SQLite reuses" if self.free else ""
        return f"{self.total / 2**20:,.0f} MiB{extra}{self.note}"


def size(rt: Runtime) -> Size:
    with rt.db.read() as conn:
        if conn.dialect.name == "sqlite":
            page = conn.one("PRAGMA page_size")
            pages = conn.one("PRAGMA page_count")
            free = conn.one("PRAGMA freelist_count")
            assert page and pages and free
            path = rt.settings.database_url.removeprefix("sqlite:///")
            wal = os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0
            return Size(
                int(pages["page_count"]) * int(page["page_size"]),
                int(free["freelist_count"]) * int(page["page_size"]),
                f" (+ {wal / 2**20:,.0f} MiB WAL)",
            )
        row = conn.one("SELECT pg_database_size(current_database()) AS bytes")
        dead = conn.one(
            "SELECT COALESCE(SUM(n_dead_tup), 0) AS dead, COALESCE(SUM(n_live_tup), 0) AS live, "
            "COALESCE(SUM(autovacuum_count), 0) AS vacuums, COALESCE(SUM(vacuum_count), 0) AS by_hand "
            "FROM pg_stat_user_tables "
            "WHERE relname IN ('deliveries', 'attempts', 'events')"
        )
        assert row and dead
        note = (
            f" ({int(dead['live']):,} live and {int(dead['dead']):,} dead rows in deliveries, attempts and events; "
            f"{int(dead['vacuums'])} autovacuums and {int(dead['by_hand'])} VACUUMs of them so far)"
        )
        return Size(int(row["bytes"]), 0, note)


def count(rt: Runtime, sql: str, **params: object) -> int:
    with rt.db.read() as conn:
        row = conn.one(sql, params)
    return int(row["n"]) if row else 0


def all_sent(rt: Runtime) -> bool:
    """Nothing pending but the seeded deliveries whose retry is days away (a count over the
    pending rows' own index: cheap however large the log)."""
    return count(rt, "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending'") <= PENDING


@dataclasses.dataclass
class PruneRun:
    """What pruning did over the run: rows, seconds it was running, whether it was still
    going at the end of every run B."""

    pruned: Pruned = dataclasses.field(default_factory=Pruned)
    seconds: float = 0.0
    going_when_dispatch_ended: bool = True

    async def prune(self, rt: Runtime, stopping: asyncio.Event) -> None:
        """A pruning pass (the real `Pruner`'s) until it is done or `stopping` is set."""
        started = time.perf_counter()
        self.pruned += await Pruner(rt.db, rt.settings, rt.clock).pass_once(stopping)
        self.seconds += time.perf_counter() - started


async def dispatch_while_pruning(rt: Runtime, limit: float, outcome: PruneRun) -> float:
    """Run B: the dispatcher until every new delivery is sent, a pruning pass beside it
    (stopped, after its batch, when the dispatcher is done)."""
    stopping = asyncio.Event()
    pruning = asyncio.create_task(outcome.prune(rt, stopping))
    seconds = await dispatch_until(rt, lambda: all_sent(rt), limit, poll=0.05)
    outcome.going_when_dispatch_ended &= not pruning.done()
    stopping.set()
    await pruning
    return seconds


def run_plain(rt: Runtime, tenant: int, hooks: list[Webhook], n: int, deadline: float) -> float:
    """Run A: `n` new deliveries queued, then the dispatcher alone until every one is sent."""
    queue_deliveries(rt, tenant, hooks, deliveries=n, deadline=deadline)
    gc.collect()
    return float(run_loop(lambda: dispatch_until(rt, lambda: all_sent(rt), deadline - time.monotonic(), poll=0.05)))


def run_pruning(rt: Runtime, tenant: int, hooks: list[Webhook], n: int, deadline: float, outcome: PruneRun) -> float:
    """Run B: `n` new deliveries queued, then the dispatcher with pruning beside it."""
    queue_deliveries(rt, tenant, hooks, deliveries=n, deadline=deadline)
    gc.collect()
    return float(run_loop(lambda: dispatch_while_pruning(rt, deadline - time.monotonic(), outcome)))


# --- the command ----------------------------------------------------------------------


def arguments(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument(
        "--settled", type=int, default=1_000_000, help="settled deliveries past retention (default %(default)s)"
    )
    p.add_argument("--deliveries", type=int, default=50_000, help="new deliveries in each run (default %(default)s)")
    p.add_argument(
        "--database-url",
        help="default: SQLite in a temp dir; postgresql://postgres@127.0.0.1:5432/NAME creates NAME, drops it after",
    )
    p.add_argument(
        "--rounds", type=int, default=2, help="runs B, each between two runs A: A B A B A (default %(default)s)"
    )
    p.add_argument("--webhooks", type=int, default=4, help="webhooks (each event goes to all; default %(default)s)")
    p.add_argument("--prune-batch", type=int, default=Settings().prune_batch)
    p.add_argument("--prune-pause", type=float, default=Settings().prune_pause)
    p.add_argument("--prune-share", type=float, default=Settings().prune_share)
    p.add_argument(
        "--time-limit", type=float, default=1800, help="seconds the whole run may take (default %(default)s)"
    )
    p.add_argument(
        "--ratio-target", type=float, default=0.9, help="throughput while pruning / without (default %(default)s)"
    )
    p.add_argument("--prune-rate-target", type=float, default=5000, help="rows pruned/s (default %(default)s)")
    args = p.parse_args(argv)
    if args.settled < args.webhooks or args.deliveries < 1:
        p.error("--settled must be at least --webhooks, --deliveries positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    n = args.deliveries
    deadline = time.monotonic() + float(args.time_limit)
    workdir = Path(tempfile.mkdtemp(prefix="dochooks-bench-prune-"))
    verdict = Verdict()
    outcome = PruneRun()
    try:
        with receiver("raw") as port, database(args.database_url, workdir) as url:
            settings = Settings(
                database_url=url,
                data_dir=workdir / "data",
                allow_private_targets=True,
                delivery_retention_days=RETENTION_DAYS,
                prune_batch=args.prune_batch,
                prune_pause=args.prune_pause,
                prune_share=args.prune_share,
            )
            rt = open_runtime(settings)
            try:
                engine = describe_database(rt)
                tenant, hooks = subscribe(rt, webhooks=args.webhooks, base_url=f"http://127.0.0.1:{port}")
                t0 = time.perf_counter()
                seed(rt, tenant, hooks, settled=args.settled)
                seeded = count(rt, "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'succeeded'")
                pending = count(rt, "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending'")
                print(
                    f"setup: {seeded:,} settled and {pending:,} pending deliveries in {time.perf_counter() - t0:.1f} s"
                )
                analyzed = analyze(rt)
                before = size(rt)
                print(f"size before: {before.shown()}", flush=True)
                cutoff_ms = rt.clock.now_ms() - RETENTION_DAYS * DAY_MS

                # The first dispatch after seeding runs on cold caches and pools (it once went
                # at a fifth of the next runs' rate): a warm-up, not counted.
                warm = run_plain(rt, tenant, hooks, n, deadline)
                print(f"warm-up: {n:,} deliveries in {warm:.2f} s ({n / warm:,.0f}/s), not counted", flush=True)
                a_runs = [run_plain(rt, tenant, hooks, n, deadline)]
                print(f"run A1: {n:,} deliveries in {a_runs[-1]:.2f} s ({n / a_runs[-1]:,.0f}/s)", flush=True)
                b_runs: list[float] = []
                for r in range(1, args.rounds + 1):
                    b_runs.append(run_pruning(rt, tenant, hooks, n, deadline, outcome))
                    print(f"run B{r}: {n:,} deliveries in {b_runs[-1]:.2f} s ({n / b_runs[-1]:,.0f}/s) while pruning")
                    a_runs.append(run_plain(rt, tenant, hooks, n, deadline))
                    print(f"run A{r + 1}: {n:,} deliveries in {a_runs[-1]:.2f} s ({n / a_runs[-1]:,.0f}/s)", flush=True)
                during = outcome.pruned.rows
                run_loop(lambda: outcome.prune(rt, asyncio.Event()))  # the rest, alone
                print(f"pruned {outcome.pruned.summary()} in {outcome.seconds:.1f} s ({during:,} rows beside runs B)")
                total_new = n * (2 * args.rounds + 2)  # the warm-up's too
                after = size(rt)
                print(f"size after: {after.shown()}", flush=True)

                old = count(rt, "SELECT COUNT(*) AS n FROM deliveries WHERE created_at < :c", c=cutoff_ms)
                old_events = count(rt, "SELECT COUNT(*) AS n FROM events WHERE created_at < :c", c=cutoff_ms)
                new = count(
                    rt,
                    "SELECT COUNT(*) AS n FROM deliveries WHERE created_at >= :c AND status = 'succeeded'",
                    c=cutoff_ms,
                )
                attempts = count(rt, "SELECT COUNT(*) AS n FROM attempts")
                verdict.check(
                    f"the {seeded:,} settled deliveries past retention are gone, the {pending:,} pending ones stayed",
                    old == pending and outcome.pruned.deliveries == seeded,
                    f"{outcome.pruned.deliveries:,} pruned, {old:,} of that age left",
                )
                verdict.check(
                    "their events are gone but for those of the pending ones",
                    old_events == pending // args.webhooks and outcome.pruned.events == seeded // args.webhooks,
                    f"{outcome.pruned.events:,} pruned, {old_events:,} of that age left",
                )
                verdict.check(
                    f"{total_new:,} new deliveries succeeded and stayed, with their attempts",
                    new == total_new and attempts == total_new + pending and outcome.pruned.attempts == seeded,
                    f"{new:,} new, {attempts:,} attempt rows left, {outcome.pruned.attempts:,} pruned",
                )
                verdict.check(
                    "pruning was still going when each run B's dispatcher finished",
                    outcome.going_when_dispatch_ended,
                    "yes" if outcome.going_when_dispatch_ended else "no: a ratio measured pruning part of a run",
                )
            finally:
                rt.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    baseline = statistics.mean(n / a for a in a_runs)
    rate_b = statistics.mean(n / b for b in b_runs)
    ratio = rate_b / baseline
    prune_rate = outcome.pruned.rows / outcome.seconds
    rows = [
        ("database", engine),
        (
            "seeded",
            f"{seeded:,} settled deliveries {AGE_DAYS} days old over {args.webhooks} webhooks, an attempt each, "
            f"{seeded // args.webhooks:,} events; {pending:,} pending of that age",
        ),
        ("statistics", analyzed),
        (
            "retention",
            f"{RETENTION_DAYS} days; batch {args.prune_batch} rows, pause {args.prune_pause:g} s, "
            f"share {args.prune_share:g}",
        ),
        ("deliveries/s without pruning (A)", f"{', '.join(f'{n / a:,.0f}' for a in a_runs)}: mean {baseline:,.0f}"),
        ("deliveries/s while pruning (B)", f"{', '.join(f'{n / b:,.0f}' for b in b_runs)}: mean {rate_b:,.0f}"),
        ("ratio (mean B / mean A)", verdict.at_least("ratio", f"{ratio:.2f}", ratio, args.ratio_target)),
        ("pruned", f"{outcome.pruned.summary()} in {outcome.seconds:.1f} s"),
        ("rows pruned/s", verdict.at_least("rows pruned/s", f"{prune_rate:,.0f}", prune_rate, args.prune_rate_target)),
        ("database size before", before.shown()),
        ("database size after", after.shown()),
    ]
    return report(rows, verdict)


if __name__ == "__main__":
    sys.exit(main())
