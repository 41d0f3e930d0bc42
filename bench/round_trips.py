"""Round trips to PostgreSQL: how many times dochooks waits for the server, per upload, per
document's whole workflow and per delivery.

    .venv/bin/python bench/round_trips.py --database-url postgresql://postgres@127.0.0.1:5432/NAME
        [--documents 20] [--webhooks 5]

The database is created and dropped (as in the other benchmarks). dochooks talks to it
through a counting TCP proxy on loopback, which reads the protocol's messages (SSL off)
and counts, per phase:

- round trips: each time the client sends after the server answered, it waits once more
  (statements sent together, pipelined, count once);
- statements: the simple queries and the Executes of the extended protocol;
- connections opened.

The phases, each in the real code with a fake sender (nothing leaves the machine):
a token's authentication (as each API request does it), an upload (`accept_upload`), the
workflow runner moving `--documents` uploaded documents to the end (per document, with
the runner's last idle claim and look at what is due), the dispatcher sending what they
queued to `--webhooks` webhooks on every topic (per delivery) and sending one delivery alone.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from harness import fresh_runtime, run_loop

from dochooks.db import open_database
from dochooks.db.group_commit import GroupCommit
from dochooks.delivery.dispatcher import Dispatcher
from dochooks.delivery.publish import send_test
from dochooks.delivery.sender import SendResult
from dochooks.documents import config as workflow_config
from dochooks.documents.runner import WorkflowRunner
from dochooks.documents.uploads import accept_upload, staging
from dochooks.runtime import Runtime
from dochooks.tenants import create_tenant
from dochooks.tokens import bearer_of
from dochooks.topics import STAGES_WITH_LEVELS, TOPICS
from dochooks.webhooks.store import create_webhook

TRACE = os.environ.get("ROUND_TRIPS_TRACE") == "1"  # print each statement sent, to see where they go
INVOICE = b"INVOICE 4711\nTotal due: 99.50 EUR\n"


class Answering:
    """A sender that sends nothing and answers 200: the requests are not what is counted."""

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        return SendResult(200, b"ok", None)

    async def close(self) -> None:
        pass


@dataclass
class Tally:
    round_trips: int = 0
    statements: int = 0
    connections: int = 0

    def minus(self, other: Tally) -> Tally:
        return Tally(
            self.round_trips - other.round_trips,
            self.statements - other.statements,
            self.connections - other.connections,
        )


@dataclass
class _Side:
    """One proxied connection: who spoke last, and the frontend bytes not yet parsed."""

    last_from_server: bool = True
    started: bool = False
    buffer: bytearray = field(default_factory=bytearray)


class CountingProxy:
    """A TCP proxy to the PostgreSQL server that counts round trips and statements."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._lock = threading.Lock()
        self.tally = Tally()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def snapshot(self) -> Tally:
        with self._lock:
            return Tally(**vars(self.tally))

    def _accept(self) -> None:
        while True:
            client, _ = self._listener.accept()
            server = socket.create_connection(self._upstream)
            side = _Side()
            with self._lock:
                self.tally.connections += 1
            threading.Thread(target=self._pump, args=(client, server, side, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, side, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, side: _Side, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                with self._lock:
                    if from_client:
                        self._count(side, data)
                    else:
                        side.last_from_server = True
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def _count(self, side: _Side, data: bytes) -> None:
        if side.last_from_server:
            self.tally.round_trips += 1
            side.last_from_server = False
        side.buffer += data
        while True:
            if not side.started:  # the startup packet (and an SSL request) has no type byte
                if len(side.buffer) < 4:
                    return
                size = int.from_bytes(side.buffer[:4], "big")
                if len(side.buffer) < size:
                    return
                if side.buffer[4:8] != (80877103).to_bytes(4, "big"):  # not an SSLRequest: the startup
                    side.started = True
                del side.buffer[:size]
                continue
            if len(side.buffer) < 5:
                return
            kind, size = side.buffer[0:1], int.from_bytes(side.buffer[1:5], "big")
            if len(side.buffer) < 1 + size:
                return
            if kind in (b"Q", b"E"):
                self.tally.statements += 1
            if TRACE and kind in (b"Q", b"P"):
                print("  sql:", bytes(side.buffer[5 : 1 + size]).replace(b"\0", b" ")[:110], file=sys.stderr)
            del side.buffer[: 1 + size]


@contextmanager
def counted(proxy: CountingProxy, name: str, per: int, results: list[tuple[str, Tally, int]]) -> Iterator[Tally]:
    """Count what happens inside; the start can be moved later by updating the yielded tally."""
    before = proxy.snapshot()
    yield before
    time.sleep(0.2)  # let the last answers pass the proxy
    results.append((name, proxy.snapshot().minus(before), per))


def proxied(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username + '@' if parts.username else ''}127.0.0.1:{port}"
    query = "&".join(q for q in (parts.query, "sslmode=disable") if q)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def set_up(rt: Runtime, webhooks: int) -> tuple[int, str, list[int]]:
    """A tenant with a workflow that waits for nobody and `webhooks` webhooks on every topic."""
    with rt.db.transaction() as conn:
        made = create_tenant(conn, "round trips")
        tenant = made.tenant_id
        config = workflow_config.merged(
            workflow_config.checked(
                {
                    **{stage: [] for stage in STAGES_WITH_LEVELS},
                    "classification_rules": {"invoice": ["invoice", "total due"]},
                    "extraction_rules": {"invoice": {"total": r"Total due:\s*(\S+)"}},
                }
            ),
            workflow_config.load(conn, tenant),
        )
        workflow_config.save(conn, tenant, config, rt.clock.now_ms())
        hooks = [
            create_webhook(
                conn,
                rt.cipher,
                tenant_id=tenant,
                name=f"hook {i}",
                url=f"http://127.0.0.1:9/{i}",
                headers={},
                topics=tuple(t.value for t in TOPICS),
                enabled=True,
                now_ms=rt.clock.now_ms(),
            ).id
            for i in range(webhooks)
        ]
    return tenant, made.token, hooks


def upload(rt: Runtime, tenant: int) -> int:
    with staging(rt, tenant) as staged:
        file = staged.copy(io.BytesIO(INVOICE))
        doc = accept_upload(
            rt,
            GroupCommit(rt.db),
            tenant,
            staged=staged,
            files=[file],
            name="invoice.txt",
            external_id=None,
            custom_fields={},
        )
    return doc.id


async def run_until(
    loop_main: Callable[[asyncio.Event], Awaitable[None]],
    done: Callable[[], bool],
    *,
    when_idle: Callable[[], None] | None = None,
    limit: float = 120,
) -> None:
    """Run a background loop until `done()`; with `when_idle`, let it start and go idle
    first, then call `when_idle` (which starts the counting and queues work)."""
    stopping = asyncio.Event()
    task = asyncio.create_task(loop_main(stopping))
    if when_idle is not None:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(when_idle)
    started = time.monotonic()
    try:
        while not await asyncio.to_thread(done):
            if task.done():
                task.result()
                raise RuntimeError("stopped early")
            if time.monotonic() - started > limit:
                raise TimeoutError(f"not done within {limit} s")
            await asyncio.sleep(0.05)
    finally:
        stopping.set()
        await task


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--database-url", required=True, help="postgresql://…/NAME, created and dropped")
    p.add_argument("--documents", type=int, default=20)
    p.add_argument("--webhooks", type=int, default=5)
    args = p.parse_args(argv)
    if not args.database_url.startswith("postgresql"):
        p.error("round trips are counted on PostgreSQL")
    results: list[tuple[str, Tally, int]] = []
    # A long poll interval: idle loops look at the clock, not the database, while counted.
    with fresh_runtime(args.database_url, "round-trips", poll_interval=30.0) as direct:
        parts = urlsplit(direct.settings.database_url)
        proxy = CountingProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
        db = open_database(proxied(direct.settings.database_url, proxy.port))
        rt = Runtime(
            direct.settings, db, direct.cipher, direct.clock, direct.policy, direct.egress, direct.egress_cidrs
        )
        rt = rt.tuned()
        try:
            tenant, token, hooks = set_up(rt, args.webhooks)
            with counted(proxy, "authenticate a token (each API request)", 1, results), rt.db.read() as conn:
                assert bearer_of(conn, token) is not None
            with counted(proxy, "upload (accept_upload)", args.documents, results):
                ids = [upload(rt, tenant) for _ in range(args.documents)]

            def finished() -> bool:
                with direct.db.read() as conn:
                    row = conn.one(
                        "SELECT COUNT(*) AS n FROM documents WHERE state = 'finished' AND id = ANY(:ids)", {"ids": ids}
                    )
                return row is not None and row["n"] == len(ids)

            def settled() -> bool:
                with direct.db.read() as conn:
                    row = conn.one("SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending'")
                return row is not None and row["n"] == 0

            def queued() -> int:
                with direct.db.read() as conn:
                    row = conn.one("SELECT COUNT(*) AS n FROM deliveries")
                return int(row["n"]) if row else 0

            with counted(proxy, "a document's workflow (runner, to finished)", args.documents, results):
                run_loop(lambda: run_until(WorkflowRunner(rt).run, finished))
            deliveries = queued()
            sender = Answering()
            name = (
                "a delivery: claim, send, record (dispatcher)" if deliveries else "the dispatcher's start (none queued)"
            )
            with counted(proxy, name, max(deliveries, 1), results):
                run_loop(lambda: run_until(Dispatcher(rt, sender=sender).run, settled))
            if hooks:
                with counted(proxy, "one delivery alone (idle dispatcher, from its commit)", 1, results) as start:

                    def queue_one() -> None:
                        with rt.db.transaction() as conn:
                            send_test(
                                conn,
                                tenant_id=tenant,
                                webhook_id=hooks[0],
                                topic="document-received",
                                now_ms=rt.clock.now_ms(),
                            )

                    def queue_second() -> None:
                        queue_one()  # the first after start-up reads the webhooks: not counted
                        while not settled():
                            time.sleep(0.05)
                        time.sleep(0.5)
                        queue_one()
                        vars(start).update(vars(proxy.snapshot()))  # from the commit on

                    run_loop(lambda: run_until(Dispatcher(rt, sender=Answering()).run, settled, when_idle=queue_second))
        finally:
            db.close()
    print(f"{args.documents} documents, {args.webhooks} webhook(s) on every topic, {deliveries} deliveries")
    print(f"{'phase (per one)':<52} {'round trips':>12} {'statements':>11} {'connections':>12}")
    for name, t, per in results:
        print(f"{name:<52} {t.round_trips / per:>12.1f} {t.statements / per:>11.1f} {t.connections / per:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
