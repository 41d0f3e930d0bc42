"""Isolation of slow endpoints: with 20 % of webhooks hanging, the healthy ones' throughput.

    .venv/bin/python bench/isolation.py [--webhooks 50] [--hanging 10] [--per-webhook 1000] [--timeout 2]

Each webhook is its own tenant and its own host (a port of the receiver process); the
hanging ones read requests and never answer, so each attempt to them lasts the whole
delivery timeout. Two runs of the real dispatcher, each on a fresh database with every
webhook's `--per-webhook` deliveries due: first the healthy webhooks alone, then all of
them. Each run is timed until every healthy delivery is recorded, then checked: every
healthy delivery arrived (the hanging ports count apart), none twice but for a retry
the attempts log records.
Target: with the hanging webhooks present, the healthy ones keep >= 90 % of their rate
(`--kept-target`); it exits 1 if it is missed or a check fails.
"""

from __future__ import annotations

import argparse
import sys

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
from receiver_process import receivers, usage
from verdict import Verdict, report

from dochooks.delivery.publish import publish
from dochooks.runtime import Runtime
from dochooks.tenants import create_tenant


def queue(rt: Runtime, ports: list[int], per_webhook: int) -> list[int]:
    """One tenant and webhook per port, each with `per_webhook` due deliveries; the webhook ids."""
    now = rt.clock.now_ms()
    hooks = []
    with rt.db.transaction() as conn:
        for i, port in enumerate(ports):
            tenant = create_tenant(conn, f"tenant {i}", rt.clock).tenant_id
            hooks.append(
                add_webhook(conn, rt, tenant_id=tenant, url=f"http://127.0.0.1:{port}/hook", name=f"hook {i}").id
            )
            payload = sample_payload(tenant, i, now)
            event = publish(conn, tenant_id=tenant, topic="processing-failed", payload=payload, now_ms=now).event_id
            # Interleaved in time: no webhook's deliveries all come before another's.
            start = now - per_webhook * len(ports) + i
            bulk_deliveries(
                conn, tenant=tenant, webhook=hooks[-1], event=event, count=per_webhook, now=start, step=len(ports)
            )
    return hooks


def healthy_rate(rt: Runtime, healthy: list[int], per_webhook: int, limit: float) -> float:
    """Healthy deliveries recorded per second, from the dispatcher's start until all are."""
    want = len(healthy) * per_webhook
    marks = ",".join(str(h) for h in healthy)

    def done() -> int:
        with rt.db.read() as conn:
            row = conn.one(
                f"SELECT COUNT(*) AS n FROM deliveries WHERE status = 'succeeded' AND webhook_id IN ({marks})"
            )
        return int(row["n"]) if row else 0

    return want / float(run_loop(lambda: dispatch_until(rt, lambda: done() >= want, limit, poll=0.02)))


def one_run(
    args: argparse.Namespace, ports: list[int], healthy_count: int, name: str, verdict: Verdict
) -> tuple[str, float]:
    url = None if args.database_url is None else f"{args.database_url}_{name}"
    with fresh_runtime(url, name, delivery_timeout=args.timeout) as rt:
        hooks = queue(rt, ports, args.per_webhook)
        before = usage(ports[0])  # the healthy ports' counts: the hanging ones count apart
        rate = healthy_rate(rt, hooks[:healthy_count], args.per_webhook, args.time_limit)
        # A hanging webhook's delivery never succeeds: the succeeded ones are the healthy ones.
        check_delivered(verdict, rt, usage(ports[0]).since(before), healthy_count * args.per_webhook, run=name)
        print(f"{name}: {len(ports)} webhooks, healthy deliveries at {rate:,.0f}/s", flush=True)
        return describe_database(rt), rate


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--webhooks", type=int, default=50)
    p.add_argument("--hanging", type=int, default=10)
    p.add_argument("--per-webhook", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=2.0, help="delivery timeout, seconds (default %(default)s)")
    p.add_argument("--database-url", help="postgresql://…/NAME: NAME_alone and NAME_mixed are created and dropped")
    p.add_argument("--time-limit", type=float, default=600)
    p.add_argument("--kept-target", type=float, default=0.9, help="healthy rate beside / alone (default %(default)s)")
    args = p.parse_args(argv)
    healthy = args.webhooks - args.hanging
    verdict = Verdict()
    with receivers(ports=args.webhooks, hanging=args.hanging) as ports:
        engine, alone = one_run(args, ports[:healthy], healthy, "alone", verdict)
        _, mixed = one_run(args, ports, healthy, "mixed", verdict)
    ratio = mixed / alone
    rows = [
        ("database", engine),
        ("webhooks", f"{args.webhooks}, each its own tenant and host; {args.hanging} never answer"),
        ("deliveries", f"{args.per_webhook:,} per webhook, all due; delivery timeout {args.timeout:g} s"),
        ("healthy alone", f"{alone:,.0f} deliveries/s"),
        ("healthy beside the hanging", f"{mixed:,.0f} deliveries/s"),
        ("kept", verdict.at_least("kept", f"{ratio:.2f}", ratio, args.kept_target)),
    ]
    return report(rows, verdict)


if __name__ == "__main__":
    sys.exit(main())
