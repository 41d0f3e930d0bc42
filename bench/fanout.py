"""Fan-out: one event to 1,000 webhooks.

    .venv/bin/python bench/fanout.py [--webhooks 1000] [--events 10] [--hosts 10] [--database-url URL]

A tenant has `--webhooks` webhooks subscribed to one topic, spread over `--hosts` receiver
ports (each a host of its own). One at a time, `--events` events are published, each in
its own transaction; the real dispatcher runs alongside. Per event: how long the commit
took (the outbox writes one delivery row per webhook), and how long from the commit until
the last of its deliveries arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from harness import (
    TOPIC,
    add_webhook,
    describe_database,
    fresh_runtime,
    percentile,
    run_loop,
    sample_payload,
)
from receiver_process import arrivals, receivers
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
    args = p.parse_args(argv)
    commits: list[float] = []  # seconds each fan-out commit took
    spans: list[float] = []  # seconds from each commit to its last arrival
    verdict = Verdict()
    with receivers(ports=args.hosts, record=True) as ports, fresh_runtime(args.database_url, "fanout") as rt:
        engine = describe_database(rt)
        with rt.db.transaction() as conn:
            tenant = create_tenant(conn, "fanout", rt.clock).tenant_id
            for i in range(args.webhooks):
                url = f"http://127.0.0.1:{ports[i % len(ports)]}/hooks/{i}"
                add_webhook(conn, rt, tenant_id=tenant, url=url, name=f"fanout {i}")

        def arrived(event: int) -> list[int]:
            return [at for port in ports for at, _, ident in arrivals(port) if ident == str(event)]

        async def run() -> None:
            stopping = asyncio.Event()
            task = asyncio.create_task(Dispatcher(rt).run(stopping))
            for event in range(args.events):
                began = time.perf_counter()

                def commit(event: int = event) -> int:
                    with rt.db.transaction() as conn:
                        published = publish(
                            conn,
                            tenant_id=tenant,
                            topic=TOPIC,
                            payload=sample_payload(tenant, event, rt.clock.now_ms()),
                            now_ms=rt.clock.now_ms(),
                        )
                    return published.deliveries

                queued = await asyncio.to_thread(commit)
                committed_ns = time.time_ns()
                commits.append(time.perf_counter() - began)
                deadline = time.monotonic() + 60
                while len(got := await asyncio.to_thread(arrived, event)) < queued:
                    if time.monotonic() > deadline:
                        verdict.check(f"event {event}: each delivery arrived", False, f"{len(got)} of {queued}")
                        break
                    await asyncio.sleep(0.01)
                spans.append((max(got) - committed_ns) / 1e9)
            stopping.set()
            await task

        run_loop(run)

    n = args.webhooks
    rows = [
        ("database", engine),
        ("fan-out", f"{args.events} events, one at a time, each to {n} webhooks on {args.hosts} hosts"),
        ("commit of one event", f"median {percentile(commits, 50) * 1000:.0f} ms (writes {n} delivery rows)"),
        (
            "commit to last arrival",
            f"median {percentile(spans, 50) * 1000:.0f} ms, worst {max(spans) * 1000:.0f} ms "
            f"({n / percentile(spans, 50):,.0f} deliveries/s)",
        ),
    ]
    return report(rows, verdict)


if __name__ == "__main__":
    sys.exit(main())
