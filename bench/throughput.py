"""Dispatcher throughput against a bare aiohttp client, on the same local receiver.

    .venv/bin/python bench/throughput.py [--deliveries 100000] [--database-url URL]

One run:

1. starts an HTTP receiver on 127.0.0.1 in a separate process (uvloop; a minimal
   HTTP/1.1 protocol by default, `--receiver aiohttp` for aiohttp.web), answering
   200 "ok" to every POST and counting them;
2. prepares a fresh database (SQLite in a temp dir by default, or a new PostgreSQL
   database created for the run and dropped after it), a tenant, a few webhooks pointing
   at the receiver, and queues N deliveries through `dochooks.delivery.publish.publish`
   (setup, not measured);
3. runs the real `Dispatcher` (uvloop, in this process; with more than one usable core it
   sends from a process of its own, as the service does: `DOCHOOKS_SENDER_PROCESS`) until no
   delivery is pending, timed from its start to the moment every outcome is recorded; its
   CPU counts the sender process's;
4. sends N POSTs of a same-sized body with one bare aiohttp session at the same
   concurrency (same connector limits) to the same receiver;
5. prints both rates, their ratio and the settings, and judges the run: the targets
   (>= 5,000 deliveries/s, >= 0.4 of the bare client: `--rate-target`, `--ratio-target`)
   and the checks (N succeeded deliveries, one attempt row each with masked headers, the
   receiver got each delivery once and N bare requests); it exits 1 if a target is missed
   or a check fails.

Only 127.0.0.1 is contacted. The whole run is bounded by --time-limit (10 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import uvloop
from harness import (
    TOPIC,
    add_webhook,
    check_delivered,
    database,
    describe_database,
    dispatch_until,
    measure_bare,
    run_loop,
    sample_payload,
)
from receiver_process import Usage, receiver, usage
from verdict import Verdict, report

from dochooks.db import Database
from dochooks.delivery.dispatcher import Dispatcher
from dochooks.delivery.leases import Claimed
from dochooks.delivery.publish import publish
from dochooks.runtime import Runtime, open_runtime
from dochooks.settings import Settings
from dochooks.tenants import create_tenant
from dochooks.webhooks.config import Webhook
from dochooks.webhooks.secrets import mask


@dataclass(frozen=True)
class Prepared:
    tenant_id: int
    webhooks: int
    body_size: int  # of one delivery request
    authorization: dict[int, str]  # the secret custom header of each webhook, by id


def prepare(
    rt: Runtime, *, deliveries: int, webhooks: int, base_url: str, deadline: float, batch: int = 500
) -> Prepared:
    """A tenant, `webhooks` webhooks on the receiver, and `deliveries` queued deliveries."""
    tenant, hooks = subscribe(rt, webhooks=webhooks, base_url=base_url)
    queue_deliveries(rt, tenant, hooks, deliveries=deliveries, deadline=deadline, batch=batch)
    now = rt.clock.now_ms()
    sample = Claimed(
        0,
        hooks[0].id,
        tenant,
        secrets.token_hex(16),
        TOPIC,
        1,
        orjson.dumps(sample_payload(1, 0, now)).decode(),
        lease_end=0,
        webhook_version=0,
    )
    return Prepared(tenant, webhooks, len(sample.body()), {h.id: h.headers["Authorization"] for h in hooks})


def subscribe(rt: Runtime, *, webhooks: int, base_url: str) -> tuple[int, list[Webhook]]:
    """A tenant and its `webhooks` webhooks on the receiver: the tenant's id, the webhooks."""
    with rt.db.transaction() as conn:
        tenant = create_tenant(conn, "bench", rt.clock).tenant_id
        hooks = [
            add_webhook(conn, rt, tenant_id=tenant, url=f"{base_url}/hooks/{i}", name=f"bench {i}")
            for i in range(webhooks)
        ]
    return tenant, hooks


def queue_deliveries(
    rt: Runtime, tenant: int, hooks: list[Webhook], *, deliveries: int, deadline: float, batch: int = 500
) -> None:
    """`deliveries` deliveries through the real `publish`: events to every webhook, `batch` to a
    transaction, then the remainder one delivery each."""
    now = rt.clock.now_ms()
    events, rest = divmod(deliveries, len(hooks))
    queued = 0
    for start in range(0, events, batch):
        if time.monotonic() > deadline:
            raise TimeoutError("queueing the deliveries ran out of time")
        with rt.db.transaction() as conn:
            for n in range(start, min(start + batch, events)):
                payload = sample_payload(tenant, n, now)
                queued += publish(conn, tenant_id=tenant, topic=TOPIC, payload=payload, now_ms=now).deliveries
    with rt.db.transaction() as conn:  # the remainder: one delivery each, to one webhook
        for i in range(rest):
            payload = sample_payload(tenant, events + i, now)
            queued += publish(
                conn, tenant_id=tenant, topic=TOPIC, payload=payload, now_ms=now, webhook_id=hooks[i].id
            ).deliveries
    if queued != deliveries:
        raise RuntimeError(f"queued {queued} deliveries, wanted {deliveries}")


# --- the measurements -----------------------------------------------------------------


def _all_recorded(db: Database, n: int) -> bool:
    """Cheap first (the newest attempt id), exact second (nothing pending)."""
    with db.read() as conn:
        top = conn.one("SELECT MAX(id) AS top FROM attempts")
        if top is None or top["top"] is None or top["top"] < n:
            return False
        left = conn.one("SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending'")
        return left is not None and left["n"] == 0


def _worker_main(settings: Settings, ready: Any, go: Any, stop: Any) -> None:
    """Another dispatcher, in a process of its own (as `dochooks worker` runs), on the same database."""
    rt = open_runtime(settings, run_migrations=False)

    async def run() -> None:
        stopping = asyncio.Event()
        ready.set()
        await asyncio.to_thread(go.wait)
        task = asyncio.create_task(Dispatcher(rt).run(stopping))
        await asyncio.to_thread(stop.wait)
        stopping.set()
        await task

    try:
        uvloop.run(run())
    finally:
        rt.close()


@contextlib.contextmanager
def more_workers(settings: Settings, count: int) -> Iterator[Callable[[], None]]:
    """`count` more dispatcher processes, started and ready; yields the function that lets them go."""
    ctx = multiprocessing.get_context("spawn")
    go, stop = ctx.Event(), ctx.Event()
    started = []
    for i in range(count):
        ready = ctx.Event()
        process = ctx.Process(target=_worker_main, args=(settings, ready, go, stop), name=f"bench-worker-{i}")
        process.start()
        if not ready.wait(60):
            raise RuntimeError("a worker process did not start")
        started.append(process)
    try:
        yield go.set
    finally:
        stop.set()
        for process in started:
            process.join(60)


async def measure_dispatcher(rt: Runtime, n: int, limit: float, workers: int = 1) -> float:
    """Seconds from the dispatchers' start (this process's and `workers - 1` more) until
    every delivery is settled and recorded."""
    with more_workers(rt.settings, workers - 1) as let_go:
        let_go()
        return await dispatch_until(rt, lambda: _all_recorded(rt.db, n), limit, poll=0.005)


# --- the command ----------------------------------------------------------------------


def arguments(argv: list[str] | None) -> argparse.Namespace:
    defaults = Settings()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--deliveries", type=int, default=100_000, help="deliveries to queue and send (default %(default)s)")
    p.add_argument(
        "--database-url",
        help="default: SQLite in a temp dir; postgresql://postgres@127.0.0.1:5432/NAME creates NAME, drops it after",
    )
    p.add_argument("--webhooks", type=int, default=4, help="webhooks the deliveries spread over (default %(default)s)")
    p.add_argument("--max-in-flight", type=int, default=defaults.max_in_flight)
    p.add_argument("--max-per-host", type=int, default=defaults.max_per_host)
    p.add_argument("--claim-batch", type=int, default=defaults.claim_batch)
    p.add_argument("--receiver", choices=("raw", "aiohttp"), default="raw", help="receiver implementation")
    p.add_argument("--skip-bare", action="store_true", help="measure the dispatcher only")
    p.add_argument(
        "--workers", type=int, default=1, help="dispatcher processes sharing the queue (PostgreSQL only; default 1)"
    )
    p.add_argument("--time-limit", type=float, default=600, help="seconds the whole run may take (default %(default)s)")
    p.add_argument("--rate-target", type=float, default=5000, help="deliveries/s to reach (default %(default)s)")
    p.add_argument(
        "--ratio-target", type=float, default=0.4, help="share of the bare client's rate to reach (default %(default)s)"
    )
    args = p.parse_args(argv)
    if args.deliveries < 1 or args.webhooks < 1:
        p.error("--deliveries and --webhooks must be positive")
    if args.workers > 1 and not (args.database_url or "").startswith("postgresql"):
        p.error("--workers above 1 needs PostgreSQL: SQLite allows one dispatcher per file")
    return args


def check_dispatched(verdict: Verdict, rt: Runtime, n: int, seen: Usage, prepared: Prepared) -> None:
    """The dispatcher's results: every delivery succeeded and arrived once (see check_delivered),
    with one attempt row each whose request headers are masked."""
    check_delivered(verdict, rt, seen, n)
    with rt.db.read() as conn:
        attempts = conn.one("SELECT COUNT(*) AS n FROM attempts")
        shown = conn.one(
            "SELECT a.request_headers, d.webhook_id FROM attempts a JOIN deliveries d ON d.id = a.delivery_id "
            "ORDER BY a.id LIMIT 1"
        )
    logged = int(attempts["n"]) if attempts else 0
    verdict.check(f"{n:,} attempt rows, one per delivery", logged == n, f"{logged:,}")
    headers = orjson.loads(shown["request_headers"]) if shown else {}
    secret = prepared.authorization[shown["webhook_id"]] if shown else ""
    as_expected = (
        headers.get("Authorization") == mask(secret) and secret not in str(headers) and "webhook-signature" in headers
    )
    verdict.check(
        "an attempt row's request headers: the secret masked, the signature there",
        as_expected,
        "as expected" if as_expected else f"{headers}",
    )


def cpu_note(seen: Usage, n: int) -> str:
    """CPU microseconds per request: the sending processes (a sender process included), the
    event loop thread, the receiver."""
    per = 1e6 / n
    return (
        f"CPU per request: {seen.own_cpu * per:.0f} µs in the sending processes, {seen.loop_cpu * per:.0f} µs of them "
        f"in the event loop thread; {seen.receiver_cpu * per:.0f} µs in the receiver"
    )


def cpu_per(seconds: float, n: int) -> str:
    return f"{seconds / n * 1e6:.0f} µs"


def cpu_cell(seen: Usage, n: int) -> str:
    return f"{cpu_per(seen.own_cpu, n)} (event loop thread: {cpu_per(seen.loop_cpu, n)})"


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    n = args.deliveries
    deadline = time.monotonic() + float(args.time_limit)

    def remaining() -> float:
        return max(deadline - time.monotonic(), 0.0)

    workdir = Path(tempfile.mkdtemp(prefix="dochooks-bench-"))
    verdict = Verdict()
    bare: Usage | None = None
    try:
        with receiver(args.receiver) as port, database(args.database_url, workdir) as url:
            base = f"http://127.0.0.1:{port}"
            settings = Settings(
                database_url=url,
                data_dir=workdir / "data",
                allow_private_targets=True,
                max_in_flight=args.max_in_flight,
                max_per_host=args.max_per_host,
                claim_batch=args.claim_batch,
            )
            rt = open_runtime(settings)
            try:
                engine = describe_database(rt)
                t0 = time.perf_counter()
                prepared = prepare(rt, deliveries=n, webhooks=args.webhooks, base_url=base, deadline=deadline)
                print(f"setup: {n} deliveries queued in {time.perf_counter() - t0:.1f} s", flush=True)

                gc.collect()
                before = usage(port)
                seconds = run_loop(lambda: measure_dispatcher(rt, n, remaining(), workers=args.workers))
                dispatched = usage(port).since(before)
                print(f"dochooks dispatcher: {n} deliveries in {seconds:.2f} s ({cpu_note(dispatched, n)})", flush=True)
                check_dispatched(verdict, rt, n, dispatched, prepared)

                if not args.skip_bare:
                    gc.collect()
                    bare_seconds, bare = measure_bare(
                        verdict, port, n, body_size=prepared.body_size, settings=settings, limit=remaining()
                    )
                    print(
                        f"bare aiohttp client: {n} requests in {bare_seconds:.2f} s ({cpu_note(bare, n)})", flush=True
                    )
            finally:
                rt.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rate = n / seconds
    bare_rate = None if bare is None else n / bare_seconds
    ratio = (
        "skipped (its target is not judged)"
        if bare_rate is None
        else verdict.at_least("ratio (dochooks / bare)", f"{rate / bare_rate:.2f}", rate / bare_rate, args.ratio_target)
    )
    rows = [
        ("database", engine),
        ("deliveries", f"{n} over {prepared.webhooks} webhooks, {prepared.body_size}-byte bodies"),
        ("dispatchers", f"{args.workers} (each its own process)" if args.workers > 1 else "1"),
        ("dochooks deliveries/s", verdict.at_least("dochooks deliveries/s", f"{rate:,.0f}", rate, args.rate_target)),
        ("bare aiohttp requests/s", "skipped" if bare_rate is None else f"{bare_rate:,.0f}"),
        ("ratio (dochooks / bare)", ratio),
        ("dochooks CPU per delivery", cpu_cell(dispatched, n)),
        ("bare CPU per request", "-" if bare is None else cpu_cell(bare, n)),
        ("max_in_flight", str(settings.max_in_flight)),
        ("max_per_host", str(settings.max_per_host)),
        ("claim_batch", str(settings.claim_batch)),
        ("receiver", f"{args.receiver} (uvloop, own process); CPU per request {cpu_per(dispatched.receiver_cpu, n)}"),
    ]
    return report(rows, verdict)


if __name__ == "__main__":
    sys.exit(main())
