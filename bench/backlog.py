"""Dispatching from a deep backlog: 1,000,000 due deliveries waiting.

    .venv/bin/python bench/backlog.py [--backlog 1000000] [--measure 100000] [--database-url URL]

Two runs of the real dispatcher against the same receiver, each on a fresh database:
first with only `--measure` deliveries queued (the empty-queue rate), then with
`--backlog` deliveries queued, timed until `--measure` of them are delivered: counted by
the receiver (each delivery once) and recorded as answered 2xx in the attempts log. The
backlog is written with one INSERT ... SELECT (setup, not timed). While the dispatcher
runs, this process's resident memory is sampled every 50 ms. After each run, the
deliveries recorded as succeeded are checked against what the receiver got.
Targets: memory under 200 MB, the backlog rate within 20 % of the empty-queue rate
(`--memory-target`, `--ratio-target`); it exits 1 if one is missed.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

from harness import (
    add_webhook,
    bulk_deliveries,
    check_delivered,
    describe_database,
    dispatch_until,
    fresh_runtime,
    run_loop,
    sample_payload,
)
from receiver_process import Usage, receivers, usage
from verdict import Verdict, report

from dochooks.db import Connection
from dochooks.delivery.publish import publish
from dochooks.runtime import Runtime
from dochooks.tenants import create_tenant


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def queue_bulk(rt: Runtime, conn: Connection, count: int, port: int, webhooks: int) -> None:
    """`count` due deliveries of one event, spread over `webhooks` webhooks, one statement each."""
    now = rt.clock.now_ms()
    tenant = create_tenant(conn, "backlog", rt.clock).tenant_id
    ids = [
        add_webhook(conn, rt, tenant_id=tenant, url=f"http://127.0.0.1:{port}/hooks/{i}", name=f"backlog {i}").id
        for i in range(webhooks)
    ]
    # An event nobody subscribes to: its row, and no deliveries of its own.
    payload = sample_payload(tenant, 1, now)
    event = publish(conn, tenant_id=tenant, topic="processing-failed", payload=payload, now_ms=now).event_id
    per_webhook, rest = divmod(count, webhooks)
    for i, webhook in enumerate(ids):  # interleaved: webhook i's are due at now - count + i + k * webhooks
        mine = per_webhook + (i < rest)
        bulk_deliveries(
            conn, tenant=tenant, webhook=webhook, event=event, count=mine, now=now - count + i, step=webhooks
        )


def dispatch(rt: Runtime, port: int, measure: int, limit: float) -> tuple[float, float, Usage]:
    """Seconds until `measure` deliveries are delivered, the peak resident memory (MB)
    meanwhile, and what the receiver counted over the run."""
    peak = [rss_mb()]
    done = threading.Event()
    before = usage(port)

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], rss_mb())

    def delivered() -> bool:
        # The receiver's count first: it is cheap, and the log cannot be ahead of it. The log
        # is counted, not the deliveries' status: its size is the same in both runs.
        if usage(port).since(before).deliveries < measure:
            return False
        with rt.db.read() as conn:
            row = conn.one(
                "SELECT COUNT(DISTINCT delivery_id) AS n FROM attempts WHERE response_status BETWEEN 200 AND 299"
            )
        return row is not None and int(row["n"]) >= measure

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        seconds = run_loop(lambda: dispatch_until(rt, delivered, limit))
    finally:
        done.set()
        sampler.join()
    return seconds, peak[0], usage(port).since(before)


def one_run(
    args: argparse.Namespace, queued: int, port: int, name: str, verdict: Verdict
) -> tuple[str, float, float, float]:
    url = None if args.database_url is None else f"{args.database_url}_{name}"
    with fresh_runtime(url, name) as rt:
        began = time.perf_counter()
        with rt.db.transaction() as conn:
            queue_bulk(rt, conn, queued, port, args.webhooks)
        print(f"{name}: {queued:,} deliveries queued in {time.perf_counter() - began:.1f} s", flush=True)
        before = rss_mb()
        seconds, peak, seen = dispatch(rt, port, args.measure, args.time_limit)
        check_delivered(verdict, rt, seen, args.measure, or_more=True, run=name)
        print(
            f"{name}: {args.measure:,} sent in {seconds:.2f} s; memory {before:.0f} -> peak {peak:.0f} MB",
            flush=True,
        )
        return describe_database(rt), args.measure / seconds, before, peak


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--backlog", type=int, default=1_000_000)
    p.add_argument("--measure", type=int, default=100_000, help="deliveries timed in each run")
    p.add_argument("--webhooks", type=int, default=20)
    p.add_argument("--database-url", help="postgresql://…/NAME: NAME_empty and NAME_backlog are created and dropped")
    p.add_argument("--time-limit", type=float, default=600)
    p.add_argument("--ratio-target", type=float, default=0.8, help="backlog rate / empty (default %(default)s)")
    p.add_argument("--memory-target", type=float, default=200, help="MB to stay under (default %(default)s)")
    args = p.parse_args(argv)
    verdict = Verdict()
    with receivers() as (port,):
        engine, empty_rate, _, _ = one_run(args, args.measure, port, "empty", verdict)
        _, backlog_rate, before, peak = one_run(args, args.backlog, port, "backlog", verdict)
    ratio = backlog_rate / empty_rate
    rows = [
        ("database", engine),
        ("empty queue", f"{args.measure:,} queued: {empty_rate:,.0f} deliveries/s"),
        ("backlog", f"{args.backlog:,} queued: {backlog_rate:,.0f} deliveries/s over the first {args.measure:,}"),
        ("backlog / empty", verdict.at_least("backlog / empty", f"{ratio:.2f}", ratio, args.ratio_target)),
        (
            "process memory",
            f"{before:.0f} MB before dispatching, peak "
            + verdict.below("peak memory", f"{peak:.0f} MB", peak, args.memory_target, " MB"),
        ),
    ]
    return report(rows, verdict)


if __name__ == "__main__":
    sys.exit(main())
