"""dochooks against a Celery task per delivery (requests, Redis broker), on one receiver.

    .venv/bin/pip install -e ".[bench]"     # celery, redis, requests
    .venv/bin/python bench/celery_compare.py [--deliveries 100000] [--celery-concurrency 8]

One run: a receiver in its own process; a Redis server started for the run on a free
port (Debian's `redis-server`: apt-get install -y redis-server); the deliveries enqueued
as Celery tasks (setup, not timed), then a Celery worker (prefork, `--celery-concurrency`
processes) started and timed from its first delivery to its last; then the same number of
deliveries through the real dochooks dispatcher (SQLite), timed until every attempt is
recorded. The Celery tasks record nothing; dochooks writes every attempt durably.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import (
    free_port,
    run_loop,
)
from receiver_process import receivers, usage
from throughput import measure_dispatcher, prepare
from verdict import Verdict, report

from dochooks.runtime import open_runtime
from dochooks.settings import Settings

BENCH = Path(__file__).resolve().parent


def celery_rate(receiver_port: int, n: int, concurrency: int, workdir: Path) -> float:
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
        body = b'{"id":"1","type":"documents","attributes":{},"request_id":"x","topic":"document-received"}'
        headers = {"Content-Type": "application/json", "Authorization": "Bearer celery-bench"}
        url = f"http://127.0.0.1:{receiver_port}/celery"
        began = time.perf_counter()
        for _ in range(n):
            deliver.delay(url, body, headers)
        print(f"celery: {n} tasks enqueued in {time.perf_counter() - began:.1f} s", flush=True)
        start = usage(receiver_port).requests
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
            while usage(receiver_port).requests == start:
                time.sleep(0.005)
            first = time.perf_counter()
            seen_first = usage(receiver_port).requests - start
            deadline = time.monotonic() + 1800
            while (got := usage(receiver_port).requests - start) < n:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"celery delivered {got} of {n}")
                time.sleep(0.05)
            return (n - seen_first) / (time.perf_counter() - first)
        finally:
            worker.terminate()
            worker.wait(30)
    finally:
        redis.terminate()
        redis.wait(10)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--deliveries", type=int, default=100_000)
    p.add_argument("--celery-concurrency", type=int, default=8)
    args = p.parse_args(argv)
    n = args.deliveries
    workdir = Path(tempfile.mkdtemp(prefix="dochooks-celery-"))
    try:
        with receivers() as (port,):
            celery = celery_rate(port, n, args.celery_concurrency, workdir)
            print(f"celery: {celery:,.0f} deliveries/s", flush=True)
            settings = Settings(
                database_url=f"sqlite:///{workdir / 'bench.db'}", data_dir=workdir / "data", allow_private_targets=True
            )
            rt = open_runtime(settings)
            try:
                prepare(
                    rt, deliveries=n, webhooks=4, base_url=f"http://127.0.0.1:{port}", deadline=time.monotonic() + 600
                )
                seconds = run_loop(lambda: measure_dispatcher(rt, n, 600))
            finally:
                rt.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    dochooks = n / seconds
    rows = [
        ("deliveries", f"{n:,} to one receiver on loopback"),
        (
            "Celery + requests + Redis",
            f"{celery:,.0f} deliveries/s (prefork, {args.celery_concurrency} processes; records nothing)",
        ),
        ("dochooks (SQLite)", f"{dochooks:,.0f} deliveries/s (every attempt recorded)"),
        ("dochooks / Celery", f"{dochooks / celery:.1f}x"),
    ]
    return report(rows, Verdict())


if __name__ == "__main__":
    sys.exit(main())
