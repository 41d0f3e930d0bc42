"""What the benchmarks share: a fresh database for the run, payloads in the reference's
shape, webhooks and deliveries set up in bulk, the dispatcher run until done, the event
loop, and the printed table. The receiver they deliver to is in receiver_process.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import uvloop

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


def describe_database(rt: Runtime) -> str:
    with rt.db.read() as conn:
        if conn.dialect.name == "sqlite":
            row = conn.one("SELECT sqlite_version() AS v")
            return f"SQLite {row and row['v']} (WAL, synchronous=FULL), file in a temp dir"
        row = conn.one("SELECT current_setting('server_version') AS v")
        return f"PostgreSQL {row and row['v']} on 127.0.0.1, a database created for the run"


def machine_rows() -> list[tuple[str, str]]:
    return [
        ("python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("aiohttp, uvloop", f"{version('aiohttp')}, {version('uvloop')}"),
        ("cpus", f"{os.cpu_count()} (usable: {len(os.sched_getaffinity(0))})"),
    ]


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    print()
    print(f"| {'measure':<{width}} | value |")
    print(f"| {'-' * width} | ----- |")
    for key, value in rows:
        print(f"| {key:<{width}} | {value} |")


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile `p` (0 to 100) of the values."""
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


def report(rows: list[tuple[str, str]], failures: list[str]) -> int:
    """Print the table (with the machine and the checks), then what failed; the exit status."""
    print_table([*rows, *machine_rows(), ("checks", "ok" if not failures else "FAILED")])
    for failure in failures:
        print(f"CHECK FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0
