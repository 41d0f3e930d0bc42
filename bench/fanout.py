"""Fan-out: one event to 1,000 webhooks.

    .venv/bin/python bench/fanout.py [--webhooks 1000] [--events 10] [--hosts 10] [--database-url URL]

A tenant has `--webhooks` webhooks subscribed to one topic, spread over `--hosts` receiver
ports (each a host of its own). One at a time, `--events` events are published, each in
its own transaction; the real dispatcher runs alongside. Per event: how long the commit
took (the outbox writes one delivery row per webhook), and how long from the commit until
the last of its deliveries arrived, the first event apart from the rest (the dispatcher
starts with it: its sender process boots, its connections open). There is no target; it exits 1 if an event's deliveries
do not all arrive within `--wait` seconds, or a (webhook, event) pair is missing or
arrived twice without a retry recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from harness import (
    TOPIC,
    add_webhook,
    check_delivered,
    describe_database,
    fresh_runtime,
    percentile,
    run_loop,
    sample_payload,
)
from receiver_process import arrivals, receivers, usage
from verdict import Verdict, report

from dochooks.delivery.dispatcher import Dispatcher
from dochooks.delivery.publish import publish
from dochooks.tenants import create_tenant


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--webhooks", type=int, default=1000)
    p.add_argument("--events", type=int, default=10)
    p.add_argument("--hosts", type=int, default=10, help="receiver ports the webhooks spread over")
    p.add_argument("--database-url", help="default: SQLite in a temp dir; postgresql://…/NAME is created and dropped")
    p.add_argument("--wait", type=float, default=60, help="seconds one event's deliveries may take (default 60)")
    args = p.parse_args(argv)
    commits: list[float] = []  # seconds each fan-out commit took
    spans: list[float] = []  # seconds from each commit to its last arrival, of the events that all arrived
    first_span: float | None = None  # the first event's, apart: it includes the dispatcher's start
    short: list[str] = []  # the events whose deliveries did not all arrive in time
    verdict = Verdict()
    with receivers(ports=args.hosts, record=True) as ports, fresh_runtime(args.database_url, "fanout") as rt:
        engine = describe_database(rt)
        with rt.db.transaction() as conn:
            tenant = create_tenant(conn, "fanout", rt.clock).tenant_id
            for i in range(args.webhooks):
                url = f"http://127.0.0.1:{ports[i % len(ports)]}/hooks/{i}"
                add_webhook(conn, rt, tenant_id=tenant, url=url, name=f"fanout {i}")
        counts = ports[0]  # the ports share their counts and arrivals: any one reports them all
        before = usage(counts)

        def commit(event: int) -> int:
            with rt.db.transaction() as conn:
                published = publish(
                    conn,
                    tenant_id=tenant,
                    topic=TOPIC,
                    payload=sample_payload(tenant, event, rt.clock.now_ms()),
                    now_ms=rt.clock.now_ms(),
                )
            return published.deliveries

        async def run() -> None:
            nonlocal first_span
            stopping = asyncio.Event()
            task = asyncio.create_task(Dispatcher(rt).run(stopping))
            queued = 0  # over all events so far
            for event in range(args.events):
                began = time.perf_counter()
                queued += await asyncio.to_thread(commit, event)
                committed_ns = time.time_ns()
                commits.append(time.perf_counter() - began)
                deadline = time.monotonic() + args.wait
                while (await asyncio.to_thread(usage, counts)).since(before).deliveries < queued:
                    if time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.01)
                first: dict[str, int] = {}  # each webhook's first arrival of this event
                for at, path, ident in await asyncio.to_thread(arrivals, counts):
                    if ident == str(event):
                        first.setdefault(path, at)
                if len(first) == args.webhooks:
                    span = (max(first.values()) - committed_ns) / 1e9
                    if event == 0:
                        first_span = span
                    else:
                        spans.append(span)
                else:
                    short.append(f"event {event}: {len(first):,} of {args.webhooks:,}")
            stopping.set()
            await task

        run_loop(run)
        retries = check_delivered(verdict, rt, usage(counts).since(before), args.webhooks * args.events)
        got = arrivals(counts)

    n = args.webhooks
    verdict.check(f"every event's deliveries arrived within {args.wait:g} s", not short, "; ".join(short) or "all did")
    wanted = {(f"/hooks/{i}", str(event)) for i in range(n) for event in range(args.events)}
    pairs = {(path, event) for _, path, event in got}
    repeated = len(got) - len(pairs)
    verdict.check(
        f"each of the {len(wanted):,} (webhook, event) pairs arrived",
        pairs == wanted,
        f"{len(pairs & wanted):,} did; {len(pairs - wanted):,} pairs arrived that were not sent",
    )
    verdict.check(
        "no (webhook, event) pair arrived twice but for a retry the log records",
        repeated <= retries,
        f"{repeated:,} repeated arrivals, {retries:,} retries recorded",
    )
    median = percentile(spans, 50)
    rows = [
        ("database", engine),
        ("fan-out", f"{args.events} events, one at a time, each to {n} webhooks on {args.hosts} hosts"),
        ("commit of one event", f"median {percentile(commits, 50) * 1000:.0f} ms (writes {n} delivery rows)"),
        (
            "commit to last arrival",
            f"median {median * 1000:.0f} ms, worst {max(spans) * 1000:.0f} ms "
            f"({n / median:,.0f} deliveries/s; {len(spans)} of the {args.events - 1} after the first all arrived)"
            if spans
            else "- (no event's deliveries after the first all arrived)",
        ),
        (
            "the first event",
            "- (its deliveries did not all arrive)"
            if first_span is None
            else f"{first_span * 1000:.0f} ms to the last arrival: it includes the dispatcher's start "
            "(its connections open; a sender process of its own boots)",
        ),
        ("arrivals", f"{len(got):,}: {len(pairs):,} distinct (webhook, event) pairs, {repeated:,} repeated"),
    ]
    return report(rows, verdict)


if __name__ == "__main__":
    sys.exit(main())
