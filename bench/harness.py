"""What the benchmarks share: a fresh database for the run, payloads in the reference's
shape, webhooks and deliveries set up in bulk, the dispatcher run until done, the bare
aiohttp client they are measured against, the event loop and the cores a process runs on,
and the checks of a run's deliveries. The receiver they deliver to is in
receiver_process.py; `dochooks serve` as a subprocess, in serve_process.py; how a run is
judged and printed, in verdict.py."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import uvloop
from receiver_process import Usage, usage
from verdict import Verdict

from dochooks.clock import iso
from dochooks.db import Connection
from dochooks.delivery.dispatcher import Dispatcher
from dochooks.runtime import Runtime, open_runtime
from dochooks.settings import Settings
from dochooks.webhooks.config import Webhook
from dochooks.webhooks.store import create_webhook

TOPIC = "document-received"
LOOPBACK = ("127.0.0.1", "localhost", "::1")

# --- the database ---------------------------------------------------------------------


@contextlib.contextmanager
def database(url: str | None, workdir: Path) -> Iterator[str]:
    """A fresh database for the run: SQLite in the work dir, or a new PostgreSQL
    database (created through the `postgres` database, dropped afterwards)."""
    if url is None or url.startswith("sqlite:///"):
        yield url or f"sqlite:///{workdir / 'bench.db'}"
        return
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK:
        raise SystemExit(f"only a PostgreSQL on 127.0.0.1 is used; got host {parts.hostname!r}")
    name = parts.path.lstrip("/")
    if not name or name == "postgres":
        raise SystemExit(
            "name a database to create for the run, e.g. postgresql://postgres@127.0.0.1:5432/dochooks_bench"
        )
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            raise SystemExit(f"database {name!r} already exists; drop it or pick another name (never reused)")
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def fresh_runtime(url: str | None, name: str, **settings: Any) -> Iterator[Runtime]:
    """A runtime for one run: a fresh database (see `database`) and data directory, loopback
    receivers allowed, `settings` on top; all of it removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=f"dochooks-{name}-"))
    try:
        with database(url, workdir) as db_url:
            rt = open_runtime(
                Settings(database_url=db_url, data_dir=workdir / "data", allow_private_targets=True, **settings)
            )
            try:
                yield rt
            finally:
                rt.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def sample_payload(tenant_id: int, n: int, now_ms: int) -> dict[str, Any]:
    """A document payload in the reference's shape."""
    return {
        "id": str(n),
        "type": "documents",
        "attributes": {
            "status": "pending",
            "tenant_id": tenant_id,
            "sla_deadline": iso(now_ms + 86_400_000),
            "custom_fields": {"department": "accounts-payable", "priority": "normal"},
            "external_id": f"INV-{n:09d}",
            "created_at": iso(now_ms),
            "updated_at": iso(now_ms),
            "document_id": n,
        },
    }


def run_loop(main: Callable[[], Any]) -> Any:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


@contextlib.contextmanager
def on_cores(cores: set[int] | None) -> Iterator[None]:
    """This thread, and the processes and threads it starts meanwhile (they inherit it), on
    `cores` for the block, then back where it was; None: left as it is."""
    if cores is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def describe_database(rt: Runtime) -> str:
    with rt.db.read() as conn:
        if conn.dialect.name == "sqlite":
            row = conn.one("SELECT sqlite_version() AS v")
            return f"SQLite {row and row['v']} (WAL, synchronous=FULL), file in a temp dir"
        row = conn.one("SELECT current_setting('server_version') AS v")
        return f"PostgreSQL {row and row['v']} on 127.0.0.1, a database created for the run"


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile `p` (0 to 100) of the values; NaN (which meets no target)
    if there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


_BULK_COLUMNS = (
    "tenant_id, webhook_id, event_id, topic, request_id, status, attempt_count, next_attempt_at, created_at, updated_at"
)
_BULK_VALUES = ":tenant, :webhook, :event, :topic, {request_id}, 'pending', 0, :due + x * :step, :now, :now"


def bulk_deliveries(
    conn: Connection, *, tenant: int, webhook: int, event: int, count: int, now: int, step: int = 1, topic: str = TOPIC
) -> None:
    """`count` pending deliveries of one event to one webhook, due from `now` on (one every
    `step` ms), written by one INSERT ... SELECT: setup for runs with a deep queue."""
    params = {"tenant": tenant, "webhook": webhook, "event": event, "topic": topic, "due": now, "step": step}
    params.update(now=now, count=count)
    if conn.dialect.name == "sqlite":
        conn.run(
            f"INSERT INTO deliveries ({_BULK_COLUMNS}) "
            "WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x + 1 < :count) "
            f"SELECT {_BULK_VALUES.format(request_id='lower(hex(randomblob(16)))')} FROM n",
            params,
        )
    else:
        conn.run(
            f"INSERT INTO deliveries ({_BULK_COLUMNS}) "
            f"SELECT {_BULK_VALUES.format(request_id='md5(random()::text || x)')} "
            "FROM generate_series(0, CAST(:count AS BIGINT) - 1) AS x",
            params,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def add_webhook(conn: Connection, rt: Runtime, *, tenant_id: int, url: str, name: str) -> Webhook:
    """A webhook subscribed to TOPIC with a secret Authorization header, as a tenant sets one up."""
    return create_webhook(
        conn,
        rt.cipher,
        tenant_id=tenant_id,
        name=name,
        url=url,
        headers={"Authorization": f"Bearer {secrets.token_urlsafe(24)}"},
        topics=(TOPIC,),
        enabled=True,
        now_ms=rt.clock.now_ms(),
    )


async def dispatch_until(rt: Runtime, done: Callable[[], bool], limit: float, poll: float = 0.01) -> float:
    """Run the real dispatcher in this process until `done()` (checked in a thread) holds;
    returns the seconds from its start. Fails if it stops early or takes over `limit` s."""
    stopping = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(Dispatcher(rt).run(stopping))
    try:
        while True:
            await asyncio.sleep(poll)
            if task.done():
                task.result()
                raise RuntimeError("the dispatcher stopped early")
            if await asyncio.to_thread(done):
                return time.perf_counter() - started
            if time.perf_counter() - started > limit:
                raise TimeoutError(f"not done within {limit:g} s")
    finally:
        stopping.set()
        await asyncio.wait_for(task, timeout=60)


def measure_bare(
    verdict: Verdict, port: int, n: int, *, body_size: int, settings: Settings, limit: float
) -> tuple[float, Usage]:
    """The bare aiohttp client's run to the receiver at `port` (`_post_bare`): its seconds and
    the receiver's counts over it; the check that each request got a 200 and was counted."""
    before = usage(port)
    url = f"http://127.0.0.1:{port}/bare"
    seconds, ok = run_loop(lambda: _post_bare(url, n, body_size=body_size, settings=settings, limit=limit))
    seen = usage(port).since(before)
    verdict.check(
        f"each of the bare client's {n:,} requests got a 200, and the receiver counted it",
        ok == n == seen.requests,
        f"{ok:,} got a 200, the receiver counted {seen.requests:,}",
    )
    return seconds, seen


async def _post_bare(url: str, n: int, *, body_size: int, settings: Settings, limit: float) -> tuple[float, int]:
    """Seconds for one aiohttp session to POST `n` bodies at the dispatcher's concurrency,
    and how many got a 200. The receiver is one host, so at most max_per_host requests
    are on the wire at once for either client; more workers would only queue in the
    connector (where aiohttp lets a newcomer take a freed connection before a waiter)."""
    body = b'{"x":"' + b"y" * (body_size - 8) + b'"}'
    assert len(body) == body_size
    headers = {"Content-Type": "application/json"}
    left, ok = n, 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal left, ok
        while left > 0:
            left -= 1
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                ok += response.status == 200

    connector = aiohttp.TCPConnector(limit=settings.max_in_flight, limit_per_host=settings.max_per_host)
    timeout = aiohttp.ClientTimeout(total=settings.delivery_timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        workers = [worker(session) for _ in range(min(settings.max_in_flight, settings.max_per_host, n))]
        await asyncio.wait_for(asyncio.gather(*workers), timeout=limit)
        return time.perf_counter() - started, ok


def check_delivered(
    verdict: Verdict, rt: Runtime, seen: Usage, expected: int, *, or_more: bool = False, run: str = ""
) -> int:
    """The checks every benchmark makes of its deliveries: `expected` of them (at least, with
    `or_more`) are recorded as succeeded, each with its attempts in the log; the receiver got
    each of them (`seen`: its counts over the run); and none arrived twice but for a retry the
    log records, which at-least-once delivery allows. `run` names the run in a benchmark of
    several. Returns the retries recorded."""
    with rt.db.read() as conn:
        row = conn.one(
            "SELECT COUNT(*) AS delivered, COALESCE(SUM(n), 0) AS attempts, "
            "COALESCE(SUM(CASE WHEN n = 0 THEN 1 ELSE 0 END), 0) AS unlogged "
            "FROM (SELECT (SELECT COUNT(*) FROM attempts a WHERE a.delivery_id = d.id) AS n "
            "FROM deliveries d WHERE d.status = 'succeeded') AS counted"
        )
    delivered, attempts, unlogged = (int(row[k]) for k in ("delivered", "attempts", "unlogged")) if row else (0, 0, 0)
    retries = attempts - delivered
    run = f"{run}: " if run else ""
    wanted = f"at least {expected:,}" if or_more else f"{expected:,}"
    verdict.check(
        f"{run}{wanted} deliveries recorded as succeeded, each with its attempt logged",
        (delivered >= expected if or_more else delivered == expected) and unlogged == 0,
        f"{delivered:,} succeeded, {unlogged:,} of them without an attempt row",
    )
    verdict.check(
        f"{run}the receiver got every delivery recorded as succeeded",
        seen.deliveries == delivered,
        f"{seen.deliveries:,} distinct deliveries arrived",
    )
    verdict.check(
        f"{run}no delivery arrived twice but for a retry the log records",
        seen.repeats <= retries,
        f"{seen.repeats:,} repeated arrivals, {retries:,} retries recorded",
    )
    return retries
