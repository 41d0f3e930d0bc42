"""Ingest: document uploads per second through the HTTP API, and events per second
through `publish` (the transactional outbox).

    .venv/bin/python bench/ingest.py [--uploads 2000] [--concurrency 16] [--tenants 2] [--events 20000]
                                     [--file-bytes N] [--database-url URL]

1. Uploads: `dochooks serve` runs as a subprocess (its API, workflow runner and
   dispatcher, as in production; rate limit off); an aiohttp client POSTs JSON:API
   uploads of a small text file (or one of `--file-bytes`), `--concurrency` at a time spread over `--tenants` tenants
   (one tenant holds half the upload slots at most), tries a 503 again after its
   Retry-After as a client should, and counts each upload's last answer and the 503s.
   Afterwards every accepted upload (201) is looked up: its document row, and its file
   whole in the file store (size and sha256; on disk, or in the database).
2. Publish: in this process, `--events` events are published to one subscribed webhook,
   each in its own transaction, then the same number 100 to a transaction. Afterwards the
   events and their deliveries are counted in the database.

There is no target; it exits 1 if an upload is not accepted or an accepted one is not
stored whole, or a published event lacks its row or its delivery.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from harness import (
    TOPIC,
    add_webhook,
    database,
    describe_database,
    run_loop,
    sample_payload,
)
from serve_process import DOCUMENT, Uploads, check_accepted, served, service_env, tenant_token, upload_documents
from verdict import Verdict, report

from dochooks.delivery.publish import publish
from dochooks.runtime import open_runtime
from dochooks.settings import Settings
from dochooks.tenants import create_tenant


@contextlib.contextmanager
def half(name: str, database_url: str | None) -> Iterator[tuple[str, Path]]:
    """A work dir and a fresh database (NAME_`name` for PostgreSQL) for one half of the run."""
    workdir = Path(tempfile.mkdtemp(prefix=f"dochooks-ingest-{name}-"))
    try:
        with database(None if database_url is None else f"{database_url}_{name}", workdir) as url:
            yield url, workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure_uploads(url: str, workdir: Path, uploads: int, concurrency: int, tenants: int, document: bytes) -> Uploads:
    """Uploads of `document` through a `dochooks serve` subprocess from `concurrency` clients
    of `tenants` tenants, and what they were answered."""
    env = service_env(url, workdir)
    tokens = [tenant_token(env, f"ingest{n}") for n in range(tenants)]
    with served(env, workdir) as service:
        return run_loop(lambda: upload_documents(service.base, tokens, uploads, concurrency, document))  # type: ignore[no-any-return]


def sized(size: int | None) -> bytes:
    """The benchmark's text file, repeated or cut to `size` bytes (None: as it is)."""
    return DOCUMENT if size is None else (DOCUMENT * (size // len(DOCUMENT) + 1))[:size]


def check_uploads(verdict: Verdict, url: str, workdir: Path, uploads: Uploads, document: bytes) -> None:
    """Every upload was accepted, and every accepted one is stored: its document row, and its
    file in the file store, whole; nothing stored that was not accepted."""
    accepted = check_accepted(verdict, uploads)
    data_dir = workdir / "data"
    rt = open_runtime(Settings(database_url=url, data_dir=data_dir), run_migrations=False)
    with rt.db.read() as conn:
        rows = conn.all(
            "SELECT d.id, f.path, f.size_bytes, f.sha256 FROM documents d "
            "LEFT JOIN document_files f ON f.document_id = d.id"
        )
    files: dict[str, list[tuple[str, int, str]]] = {}
    for row in rows:
        stored = files.setdefault(str(row["id"]), [])
        if row["path"] is not None:
            stored.append((row["path"], row["size_bytes"], row["sha256"]))
    expected = (len(document), hashlib.sha256(document).hexdigest())

    def whole(document_id: str) -> bool:
        stored = files.get(document_id, [])
        return len(stored) == 1 and all(
            (size, sha) == expected and rt.files.open([path]) == [document] for path, size, sha in stored
        )

    try:
        intact = sum(whole(d) for d in set(uploads.documents))
    finally:
        rt.close()
    verdict.check(
        f"each of the {accepted:,} accepted uploads is stored: its document, its file whole; nothing else stored",
        intact == accepted == len(files),
        f"{intact:,} stored whole; {len(files):,} documents in the database",
    )


def measure_publish(verdict: Verdict, url: str, workdir: Path, events: int) -> tuple[str, float, float]:
    """Events per second through publish: one per transaction, then 100 per transaction; then
    the check that each event and its delivery are stored."""
    rt = open_runtime(Settings(database_url=url, data_dir=workdir / "data", allow_private_targets=True))
    try:
        now = rt.clock.now_ms()
        with rt.db.transaction() as conn:
            tenant = create_tenant(conn, "publish", rt.clock).tenant_id
            add_webhook(conn, rt, tenant_id=tenant, url="http://127.0.0.1:9/hook", name="subscribed")
        payloads = [sample_payload(tenant, i, now) for i in range(events)]
        queued = 0  # the deliveries publish said it wrote
        began = time.perf_counter()
        for payload in payloads:
            with rt.db.transaction() as conn:
                queued += publish(conn, tenant_id=tenant, topic=TOPIC, payload=payload, now_ms=now).deliveries
        single = events / (time.perf_counter() - began)
        began = time.perf_counter()
        for start in range(0, events, 100):
            with rt.db.transaction() as conn:
                for payload in payloads[start : start + 100]:
                    queued += publish(conn, tenant_id=tenant, topic=TOPIC, payload=payload, now_ms=now).deliveries
        batched = events / (time.perf_counter() - began)
        with rt.db.read() as conn:
            row = conn.one(
                "SELECT (SELECT COUNT(*) FROM events WHERE tenant_id = :tenant) AS events, "
                "(SELECT COUNT(*) FROM deliveries WHERE tenant_id = :tenant) AS deliveries",
                {"tenant": tenant},
            )
        stored, deliveries = (int(row["events"]), int(row["deliveries"])) if row else (0, 0)
        verdict.check(
            f"each of the {2 * events:,} published events is stored with its delivery to the subscribed webhook",
            stored == deliveries == queued == 2 * events,
            f"{stored:,} events and {deliveries:,} deliveries stored; publish reported {queued:,} deliveries",
        )
        return describe_database(rt), single, batched
    finally:
        rt.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--uploads", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--tenants", type=int, default=2, help="the clients' tenants (default %(default)s)")
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--file-bytes", type=int, help="the size of each upload's file (default: a text of 840 bytes)")
    p.add_argument("--database-url", help="postgresql://…/NAME: NAME_api and NAME_publish are created and dropped")
    args = p.parse_args(argv)
    verdict = Verdict()
    document = sized(args.file_bytes)
    with half("api", args.database_url) as (url, workdir):
        uploads = measure_uploads(url, workdir, args.uploads, args.concurrency, args.tenants, document)
        check_uploads(verdict, url, workdir, uploads, document)
    with half("publish", args.database_url) as (url, workdir):
        engine, single, batched = measure_publish(verdict, url, workdir, args.events)
    rows = [
        ("database", engine),
        (
            "uploads through the API",
            f"{uploads.rate:,.0f}/s ({args.uploads:,} uploads of {len(document):,} bytes, {args.concurrency} at a "
            f"time from {args.tenants} tenants; {uploads.retried:,} answers of 503 tried again)",
        ),
        ("upload answers", ", ".join(f"{n:,} × {status}" for status, n in sorted(uploads.answers.items()))),
        ("events through publish", f"{single:,.0f}/s one per transaction; {batched:,.0f}/s 100 per transaction"),
    ]
    return report(rows, verdict)


if __name__ == "__main__":
    sys.exit(main())
