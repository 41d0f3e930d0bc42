"""dochooks against a Celery task per delivery (requests, Redis broker), on one receiver.

    .venv/bin/pip install -e ".[bench]"     # celery, redis, requests
    .venv/bin/python bench/celery_compare.py [--deliveries 100000] [--celery-concurrency 8]

One run: a receiver in its own process; a Redis server started for the run on a free
port (Debian's `redis-server`: apt-get install -y redis-server). Each side is timed the
same way, by the same code: its consumer is started and idle (a Celery worker, prefork
with `--celery-concurrency` processes, that has delivered one warm-up task; the real
dochooks dispatcher on SQLite), then the clock starts, the work is handed over (the
deliveries enqueued as Celery tasks; published through dochooks's outbox, 500 events of
4 deliveries to a transaction) and the clock stops when the receiver has counted the last
of them. The Celery tasks record nothing; dochooks writes every attempt durably.

There is no target (the ratio is reported); it exits 1 if either side's deliveries did not
all arrive within --time-limit, or one arrived twice (for dochooks: but for a retry its log
records), or dochooks's records disagree with the receiver.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
from harness import (
    TOPIC,
    check_delivered,
    free_port,
    run_loop,
    sample_payload,
)
from receiver_process import Usage, receivers, usage
from throughput import queue_deliveries, subscribe
from verdict import Verdict, report

from dochooks.delivery.dispatcher import Dispatcher
from dochooks.delivery.leases import body
from dochooks.runtime import Runtime, open_runtime
from dochooks.settings import Settings

BENCH = Path(__file__).resolve().parent
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer celery-bench"}


def until_arrived(port: int, n: int, hand_over: Callable[[], None], limit: float) -> tuple[float, Usage]:
    """Seconds from the start of `hand_over` (which gives `n` deliveries to a consumer already
    running) until the receiver has counted all of them, or `limit` passed; and what the
    receiver counted meanwhile. Both sides of the comparison are timed by this."""
    before = usage(port)
    began = time.perf_counter()
    hand_over()
    while (seen := usage(port).since(before)).deliveries < n and time.perf_counter() - began < limit:
        time.sleep(0.005)
    return time.perf_counter() - began, seen


def short(timed: Usage, n: int) -> str:
    """What a rate's cell says when the clock stopped at --time-limit, not at the last arrival."""
    return "" if timed.deliveries >= n else f", over {timed.deliveries:,} of {n:,} (--time-limit reached)"


def celery_body(n: int, now_ms: int) -> bytes:
    """A task's request body: a dochooks delivery's (same payload, size and shape), with a
    request id of its own, by which the receiver counts it."""
    return body(orjson.dumps(sample_payload(1, n, now_ms)).decode(), f"celery-{n:010d}", TOPIC)


def stop(worker: subprocess.Popen[bytes]) -> None:
    """A warm shutdown (SIGTERM), then a cold one (SIGQUIT: a run cut short by --time-limit
    leaves tasks it would otherwise wait for), then SIGKILL."""
    for stopping in (worker.terminate, lambda: worker.send_signal(signal.SIGQUIT), worker.kill):
        stopping()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(30)
            return


@contextlib.contextmanager
def celery_worker(receiver_port: int, concurrency: int, workdir: Path) -> Iterator[Any]:
    """A Redis server and a Celery worker of its own, the worker idle after one warm-up task
    has arrived; yields the task to enqueue."""
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        raise SystemExit("redis-server is not installed: apt-get install -y redis-server")
    redis_port = free_port()
    redis = subprocess.Popen(
        [redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    env = {**os.environ, "BENCH_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0"}
    try:
        os.environ["BENCH_BROKER_URL"] = env["BENCH_BROKER_URL"]
        sys.path.insert(0, str(BENCH))
        from celery_app import deliver

        time.sleep(0.5)
        with open(workdir / "celery.log", "wb") as log:
            worker = subprocess.Popen(
                [
                    *(sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool", "prefork"),
                    *("--concurrency", str(concurrency), "--loglevel", "warning"),
                ],
                cwd=BENCH,
                env=env,
                stdout=log,
                stderr=log,
            )
        try:
            url = f"http://127.0.0.1:{receiver_port}/celery"
            started, _ = until_arrived(receiver_port, 1, lambda: deliver.delay(url, celery_body(-1, 0), HEADERS), 60)
            print(f"celery: worker up, its warm-up task delivered in {started:.1f} s", flush=True)
            yield deliver
        finally:
            stop(worker)
    finally:
        redis.terminate()
        redis.wait(10)


async def dochooks_side(rt: Runtime, port: int, n: int, limit: float) -> tuple[float, Usage]:
    """The dispatcher running and idle, then `until_arrived` with `n` deliveries published."""
    tenant, hooks = subscribe(rt, webhooks=4, base_url=f"http://127.0.0.1:{port}")
    stopping = asyncio.Event()
    task = asyncio.create_task(Dispatcher(rt).run(stopping))
    try:
        await asyncio.sleep(0.5)  # up and waiting for work, as the Celery worker is

        def hand_over() -> None:
            queue_deliveries(rt, tenant, hooks, deliveries=n, deadline=time.monotonic() + limit)

        return await asyncio.to_thread(until_arrived, port, n, hand_over, limit)
    finally:
        stopping.set()  # it finishes what it holds and records it before the checks
        await task


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--deliveries", type=int, default=100_000)
    p.add_argument("--celery-concurrency", type=int, default=8)
    p.add_argument("--time-limit", type=float, default=1800, help="seconds each side may take (default 1800)")
    args = p.parse_args(argv)
    n = args.deliveries
    verdict = Verdict()
    workdir = Path(tempfile.mkdtemp(prefix="dochooks-celery-"))
    try:
        with receivers() as (port,):
            with celery_worker(port, args.celery_concurrency, workdir) as deliver:
                url = f"http://127.0.0.1:{port}/celery"
                now = int(time.time() * 1000)
                bodies = [celery_body(i, now) for i in range(n)]  # made before the clock starts, as dochooks's rows

                def enqueue() -> None:
                    for task_body in bodies:
                        deliver.delay(url, task_body, HEADERS)

                before = usage(port)
                celery_seconds, celery_timed = until_arrived(port, n, enqueue, args.time_limit)
            celery_seen = usage(port).since(before)  # with whatever came after the clock stopped
            verdict.check(
                f"Celery: each of the {n:,} deliveries arrived, once",
                celery_seen.deliveries == n and celery_seen.repeats == 0,
                f"{celery_seen.deliveries:,} arrived, {celery_seen.repeats:,} repeated",
            )
            print(f"celery: {celery_timed.deliveries:,} deliveries in {celery_seconds:.1f} s", flush=True)
            settings = Settings(
                database_url=f"sqlite:///{workdir / 'bench.db'}", data_dir=workdir / "data", allow_private_targets=True
            )
            rt = open_runtime(settings)
            try:
                before = usage(port)
                seconds, timed = run_loop(lambda: dochooks_side(rt, port, n, args.time_limit))
                check_delivered(verdict, rt, usage(port).since(before), n, run="dochooks")
            finally:
                rt.close()
            print(f"dochooks: {timed.deliveries:,} deliveries in {seconds:.1f} s", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    celery, dochooks = celery_timed.deliveries / celery_seconds, timed.deliveries / seconds
    for side, done in (("Celery", celery_timed), ("dochooks", timed)):
        verdict.check(
            f"{side}: all {n:,} arrived within --time-limit ({args.time_limit:g} s)",
            done.deliveries >= n,
            f"{done.deliveries:,} arrived in time",
        )
    celery_how = f"prefork, {args.celery_concurrency} processes, a task each, enqueued one by one; records nothing"
    dochooks_how = "published, 500 events to a transaction; every attempt recorded"
    rows = [
        ("deliveries", f"{n:,} to one receiver on loopback; each side timed from handing them over to the last one"),
        ("Celery + requests + Redis", f"{celery:,.0f} deliveries/s{short(celery_timed, n)} ({celery_how})"),
        ("dochooks (SQLite)", f"{dochooks:,.0f} deliveries/s{short(timed, n)} ({dochooks_how})"),
        ("dochooks / Celery", f"{dochooks / celery:.1f}x"),
    ]
    return report(rows, verdict)


if __name__ == "__main__":
    sys.exit(main())
