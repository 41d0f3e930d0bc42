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
3. runs the real `Dispatcher` (uvloop, in this process) until no delivery is pending,
   timed from its start to the moment every outcome is recorded;
4. sends N POSTs of a same-sized body with one bare aiohttp session at the same
   concurrency (same connector limits) to the same receiver;
5. prints both rates, their ratio and the settings, verifies the results (N succeeded
   deliveries, N attempt rows, the receiver saw N requests per phase) and exits 1 if not.

Only 127.0.0.1 is contacted. Each phase is bounded by --time-limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import http.client
import multiprocessing
import multiprocessing.connection
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import orjson
import uvloop

from dochooks.clock import iso
from dochooks.db import Database
from dochooks.delivery.dispatcher import Dispatcher, body_of
from dochooks.delivery.publish import publish
from dochooks.delivery.queue import Claimed
from dochooks.runtime import Runtime, open_runtime
from dochooks.settings import Settings
from dochooks.tenants import create_tenant
from dochooks.webhooks.store import create_webhook

TOPIC = "document-received"
COUNT_PATH = "/__count"
LOOPBACK = ("127.0.0.1", "localhost", "::1")

# --- the receiver (runs in its own process) ------------------------------------------


class _Tally:
    def __init__(self) -> None:
        self.posts = 0


_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class _RawHttp(asyncio.Protocol):
    """Just enough HTTP/1.1 for keep-alive clients sending Content-Length bodies
    (pipelining included); anything else gets a 400 and the connection closed."""

    def __init__(self, tally: _Tally) -> None:
        self._tally = tally
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        buffer = self._buffer
        buffer += data
        replies: list[bytes] = []
        close = False
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(buffer[:end]).lower()
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                line_end = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : line_end if line_end >= 0 else len(head)])
            if b"\r\ntransfer-encoding:" in head:
                replies.append(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                close = True
                break
            total = end + 4 + length
            if len(buffer) < total:
                break
            del buffer[:total]
            if head.startswith(b"get " + COUNT_PATH.encode()):
                text = str(self._tally.posts).encode()
                replies.append(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(text), text))
            else:
                self._tally.posts += 1
                replies.append(_OK)
            if b"\r\nconnection: close" in head:
                close = True
                break
        if replies:
            self._transport.write(b"".join(replies))
        if close:
            self._transport.close()


async def _serve_raw(tally: _Tally) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _RawHttp(tally), "127.0.0.1", 0, backlog=4096)


async def _serve_aiohttp(tally: _Tally) -> tuple[Any, int]:
    from aiohttp import web

    async def post(request: web.Request) -> web.Response:
        await request.read()
        tally.posts += 1
        return web.Response(text="ok")

    async def count(request: web.Request) -> web.Response:
        return web.Response(text=str(tally.posts))

    app = web.Application()
    app.router.add_get(COUNT_PATH, count)
    app.router.add_post("/{tail:.*}", post)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    return runner, server.sockets[0].getsockname()[1]


def receiver_main(kind: str, conn: multiprocessing.connection.Connection) -> None:
    """The receiver process: report the port, then serve until terminated."""

    async def serve() -> None:
        tally = _Tally()
        if kind == "raw":
            server = await _serve_raw(tally)
            port = server.sockets[0].getsockname()[1]
        else:
            _, port = await _serve_aiohttp(tally)
        conn.send(port)
        await asyncio.Event().wait()

    uvloop.run(serve())


@contextlib.contextmanager
def receiver(kind: str) -> Iterator[int]:
    """A receiver process for the duration of the block; yields its port."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=receiver_main, args=(kind, child), daemon=True, name="bench-receiver")
    process.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("the receiver did not start")
        yield int(parent.recv())
    finally:
        process.terminate()
        process.join(10)


def received(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", COUNT_PATH)
        return int(conn.getresponse().read())
    finally:
        conn.close()


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
        raise SystemExit("name a database to create for the run, e.g. postgresql://postgres@127.0.0.1:5432/dochooks_bench")
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


@dataclass(frozen=True)
class Prepared:
    tenant_id: int
    webhooks: int
    body_size: int  # of one delivery request


def prepare(rt: Runtime, *, deliveries: int, webhooks: int, base_url: str, batch: int = 500) -> Prepared:
    """A tenant, `webhooks` webhooks on the receiver, and `deliveries` queued deliveries."""
    now = rt.clock.now_ms()
    with rt.db.transaction() as conn:
        tenant = create_tenant(conn, "bench", rt.clock)
        hooks = [
            create_webhook(
                conn,
                rt.cipher,
                tenant_id=tenant.tenant_id,
                name=f"bench {i}",
                url=f"{base_url}/hooks/{i}",
                headers={"Authorization": f"Bearer {secrets.token_urlsafe(24)}"},
                topics=(TOPIC,),
                enabled=True,
                now_ms=now,
            )
            for i in range(webhooks)
        ]
    events, rest = divmod(deliveries, webhooks)
    queued = 0
    for start in range(0, events, batch):
        with rt.db.transaction() as conn:
            for n in range(start, min(start + batch, events)):
                payload = sample_payload(tenant.tenant_id, n, now)
                queued += publish(conn, tenant_id=tenant.tenant_id, topic=TOPIC, payload=payload, now_ms=now).deliveries
    with rt.db.transaction() as conn:  # the remainder: one delivery each, to one webhook
        for i in range(rest):
            payload = sample_payload(tenant.tenant_id, events + i, now)
            queued += publish(
                conn, tenant_id=tenant.tenant_id, topic=TOPIC, payload=payload, now_ms=now, webhook_id=hooks[i].id
            ).deliveries
    if queued != deliveries:
        raise RuntimeError(f"queued {queued} deliveries, wanted {deliveries}")
    sample = Claimed(0, hooks[0].id, secrets.token_hex(16), TOPIC, 1, orjson.dumps(sample_payload(1, 0, now)).decode())
    return Prepared(tenant.tenant_id, webhooks, len(body_of(sample)))


# --- the measurements -----------------------------------------------------------------


def _all_recorded(db: Database, n: int) -> bool:
    """Cheap first (the newest attempt id), exact second (nothing pending)."""
    with db.read() as conn:
        top = conn.one("SELECT MAX(id) AS top FROM attempts")
        if top is None or top["top"] is None or top["top"] < n:
            return False
        left = conn.one("SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending'")
        return left is not None and left["n"] == 0


async def measure_dispatcher(rt: Runtime, n: int, limit: float, poll: float = 0.005) -> float:
    """Seconds from the dispatcher's start until every delivery is settled and recorded
    (resolution: `poll`)."""
    stopping = asyncio.Event()
    dispatcher = Dispatcher(rt.db, rt.cipher, rt.settings, clock=rt.clock)
    started = time.perf_counter()
    task = asyncio.create_task(dispatcher.run(stopping))
    try:
        while True:
            await asyncio.sleep(poll)
            if task.done():
                task.result()
                raise RuntimeError("the dispatcher stopped early")
            if await asyncio.to_thread(_all_recorded, rt.db, n):
                return time.perf_counter() - started
            if time.perf_counter() - started > limit:
                raise TimeoutError(f"the dispatcher did not finish within {limit:g} s")
    finally:
        stopping.set()
        await asyncio.wait_for(task, timeout=60)


async def measure_bare(url: str, n: int, *, body_size: int, settings: Settings, limit: float) -> tuple[float, int]:
    """Seconds for one aiohttp session to POST `n` bodies at the dispatcher's
    concurrency (max_in_flight requests over the same connector limits); and how many got a 200."""
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
        workers = [worker(session) for _ in range(min(settings.max_in_flight, n))]
        await asyncio.wait_for(asyncio.gather(*workers), timeout=limit)
        return time.perf_counter() - started, ok


def run_loop(main: Callable[[], Any]) -> Any:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


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
    p.add_argument("--time-limit", type=float, default=600, help="seconds each phase may take at most")
    args = p.parse_args(argv)
    if args.deliveries < 1 or args.webhooks < 1:
        p.error("--deliveries and --webhooks must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    n = args.deliveries
    workdir = Path(tempfile.mkdtemp(prefix="dochooks-bench-"))
    failures: list[str] = []
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
                t0 = time.perf_counter()
                prepared = prepare(rt, deliveries=n, webhooks=args.webhooks, base_url=base)
                print(f"setup: {n} deliveries queued in {time.perf_counter() - t0:.1f} s", flush=True)

                gc.collect()
                before = received(port)
                seconds = run_loop(lambda: measure_dispatcher(rt, n, args.time_limit))
                dispatched = received(port) - before
                rate = n / seconds
                print(f"dochooks dispatcher: {n} deliveries in {seconds:.2f} s", flush=True)

                with rt.db.read() as conn:
                    succeeded = conn.one("SELECT COUNT(*) AS n FROM deliveries WHERE status = 'succeeded'")
                    attempts = conn.one("SELECT COUNT(*) AS n FROM attempts")
                    shown = conn.one("SELECT request_headers FROM attempts ORDER BY id LIMIT 1")
                succeeded_n = succeeded["n"] if succeeded else 0
                attempts_n = attempts["n"] if attempts else 0
                if succeeded_n != n:
                    failures.append(f"{succeeded_n} deliveries succeeded, not {n}")
                if attempts_n != n:
                    failures.append(f"{attempts_n} attempt rows, not {n}")
                if dispatched < n:
                    failures.append(f"the receiver got {dispatched} deliveries, fewer than {n}")
                logged = orjson.loads(shown["request_headers"]) if shown else {}
                if not logged.get("Authorization", "").startswith("••••") or "webhook-signature" not in logged:
                    failures.append(f"an attempt row's request headers are not as expected: {logged}")

                bare_rate = None
                if not args.skip_bare:
                    gc.collect()
                    before = received(port)
                    bare_seconds, ok = run_loop(
                        lambda: measure_bare(
                            f"{base}/bare", n, body_size=prepared.body_size, settings=settings, limit=args.time_limit
                        )
                    )
                    bare_received = received(port) - before
                    bare_rate = n / bare_seconds
                    print(f"bare aiohttp client: {n} requests in {bare_seconds:.2f} s", flush=True)
                    if ok != n or bare_received < n:
                        failures.append(f"bare client: {ok} of {n} got a 200, the receiver counted {bare_received}")
                engine = "PostgreSQL" if settings.database_url.startswith("postgres") else "SQLite"
            finally:
                rt.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rows = [
        ("database", f"{engine} (synchronous=FULL, WAL)" if engine == "SQLite" else engine),
        ("deliveries", f"{n} over {prepared.webhooks} webhooks, {prepared.body_size}-byte bodies"),
        ("dochooks deliveries/s", f"{rate:,.0f}"),
        ("bare aiohttp requests/s", "skipped" if bare_rate is None else f"{bare_rate:,.0f}"),
        ("ratio (dochooks / bare)", "-" if bare_rate is None else f"{rate / bare_rate:.2f}"),
        ("max_in_flight", str(settings.max_in_flight)),
        ("max_per_host", str(settings.max_per_host)),
        ("claim_batch", str(settings.claim_batch)),
        ("receiver", f"{args.receiver} (uvloop, separate process)"),
        ("python", f"{platform.python_version()} ({platform.python_implementation()}), uvloop {uvloop.__version__}"),
        ("cpus", f"{os.cpu_count()} (usable: {len(os.sched_getaffinity(0))})"),
        ("checks", "ok" if not failures else "FAILED"),
    ]
    width = max(len(k) for k, _ in rows)
    print()
    print(f"| {'measure':<{width}} | value |")
    print(f"| {'-' * width} | ----- |")
    for key, value in rows:
        print(f"| {key:<{width}} | {value} |")
    for failure in failures:
        print(f"CHECK FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
