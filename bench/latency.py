"""Latency from a state change's commit to the receiver, at a steady event rate.

    .venv/bin/python bench/latency.py [--rate 500] [--seconds 20] [--database-url URL]

Four publisher threads, taking turns, commit one event at a time at `--rate` events a
second in all (each its own transaction, as a workflow transition is), noting when each
commit returned; the real
dispatcher runs alongside in this process; a receiver in its own process notes when each
delivery arrives. Latency = arrival - commit, per event. Targets: p50 <= 5 ms, p99 <= 25 ms
(`--p50-target`, `--p99-target`). It exits 1 if one is missed, or if an event's delivery is
missing or arrived twice without a retry recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import threading
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

PUBLISHERS = 4  # threads taking turns, so a slow commit does not hold up the next event


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--rate", type=int, default=500, help="events committed per second (default %(default)s)")
    p.add_argument("--seconds", type=float, default=20, help="how long to publish (default %(default)s)")
    p.add_argument("--database-url", help="default: SQLite in a temp dir; postgresql://…/NAME is created and dropped")
    p.add_argument("--p50-target", type=float, default=5, help="ms the median may take (default %(default)s)")
    p.add_argument("--p99-target", type=float, default=25, help="ms the 99th percentile may take (default %(default)s)")
    args = p.parse_args(argv)
    total = int(args.rate * args.seconds)
    committed: dict[str, int] = {}
    verdict = Verdict()
    with receivers(record=True) as (port,), fresh_runtime(args.database_url, "latency") as rt:
        engine = describe_database(rt)
        with rt.db.transaction() as conn:
            tenant = create_tenant(conn, "latency", rt.clock).tenant_id
            add_webhook(conn, rt, tenant_id=tenant, url=f"http://127.0.0.1:{port}/hook", name="latency")
        before = usage(port)
        start = time.perf_counter() + 1.0  # the dispatcher is up by then

        def publisher(first: int) -> None:
            for i in range(first, total, PUBLISHERS):
                delay = start + i / args.rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                with rt.db.transaction() as conn:
                    publish(
                        conn,
                        tenant_id=tenant,
                        topic=TOPIC,
                        payload=sample_payload(tenant, i, rt.clock.now_ms()),
                        now_ms=rt.clock.now_ms(),
                    )
                committed[str(i)] = time.time_ns()

        async def run() -> float:
            stopping = asyncio.Event()
            task = asyncio.create_task(Dispatcher(rt).run(stopping))
            threads = [threading.Thread(target=publisher, args=(k,), daemon=True) for k in range(PUBLISHERS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                await asyncio.to_thread(thread.join)
            published_in = time.perf_counter() - start
            deadline = time.monotonic() + 60
            while (await asyncio.to_thread(usage, port)).since(before).deliveries < total:
                if time.monotonic() > deadline:
                    break  # the checks below say what is missing
                await asyncio.sleep(0.2)
            stopping.set()
            await task
            return published_in

        published_in = run_loop(run)
        got = arrivals(port)
        check_delivered(verdict, rt, usage(port).since(before), total)

    first: dict[str, int] = {}
    for at, _, event in got:
        first.setdefault(event, at)
    latencies = [(first[i] - committed[i]) / 1e6 for i in committed if i in first]
    verdict.check(f"each of the {total:,} events arrived", len(latencies) == total, f"{len(latencies):,} arrived")
    # Latency "at 500 events/s" only if the publishers kept that rate.
    achieved = total / published_in
    verdict.check(f"the events went out at {args.rate}/s", achieved >= 0.95 * args.rate, f"{achieved:,.0f}/s")
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    rows = [
        ("database", engine),
        ("events", f"{total}, one transaction each, at {args.rate}/s (achieved {achieved:,.0f}/s)"),
        ("latency p50", verdict.at_most("latency p50", f"{p50:.1f} ms", p50, args.p50_target, " ms")),
        ("latency p90", f"{percentile(latencies, 90):.1f} ms"),
        ("latency p99", verdict.at_most("latency p99", f"{p99:.1f} ms", p99, args.p99_target, " ms")),
        ("latency max", f"{max(latencies, default=math.nan):.1f} ms"),
    ]
    return report(rows, verdict)


if __name__ == "__main__":
    sys.exit(main())
