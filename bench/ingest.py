"""Ingest: document uploads per second through the HTTP API, and events per second
through `publish` (the transactional outbox).

    .venv/bin/python bench/ingest.py [--uploads 2000] [--concurrency 16] [--tenants 2] [--events 20000]
                                     [--database-url URL]

1. Uploads: `dochooks serve` runs as a subprocess (its API, workflow runner and
   dispatcher, as in production; rate limit off); an aiohttp client POSTs JSON:API
   uploads of a small text file, `--concurrency` at a time spread over `--tenants` tenants
   (one tenant holds half the upload slots at most), tries a 503 again after its
   Retry-After as a client should, and counts the 201s and the 503s.
2. Publish: in this process, `--events` events are published to one subscribed webhook,
   each in its own transaction, then the same number 100 to a transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
from harness import (
    TOPIC,
    add_webhook,
    database,
    describe_database,
    free_port,
    run_loop,
    sample_payload,
)
from verdict import Verdict, report

from dochooks.delivery.publish import publish
from dochooks.runtime import open_runtime
from dochooks.settings import Settings
from dochooks.tenants import create_tenant

DOCHOOKS = str(Path(sys.executable).parent / "dochooks")


def measure_uploads(url: str, workdir: Path, uploads: int, concurrency: int, tenants: int) -> tuple[float, int, int]:
    """Uploads per second through a `dochooks serve` subprocess from `concurrency` clients of
    `tenants` tenants; how many got a 201, and how many 503s were tried again."""
    env = {**os.environ, "DOCHOOKS_DATA_DIR": str(workdir / "data"), "DOCHOOKS_RATE_LIMIT": "0"}
    env["DOCHOOKS_DATABASE_URL"] = url
    tokens = []
    for n in range(tenants):
        made = subprocess.run(
            [DOCHOOKS, "tenant", "create", f"ingest{n}", "--json"], capture_output=True, env=env, check=True
        )
        tokens.append(json.loads(made.stdout)["token"])
    port = free_port()
    with open(workdir / "serve.log", "wb") as log:
        serve = subprocess.Popen([DOCHOOKS, "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        content = base64.b64encode(b"Invoice 2026-0042\nTotal due: 1,250.00 EUR\n" * 20).decode()
        body = json.dumps({"data": {"type": "documents", "attributes": {"files": [{"base64_file": content}]}}})
        headers = [{"Authorization": f"Bearer {t}", "Content-Type": "application/vnd.api+json"} for t in tokens]
        url_ = f"http://127.0.0.1:{port}/v1/documents"

        async def run() -> tuple[float, int, int]:
            left, created, refused = uploads, 0, 0

            async def client(session: aiohttp.ClientSession, headers: dict[str, str]) -> None:
                nonlocal left, created, refused
                while left > 0:
                    left -= 1
                    while True:  # as a client should: a 503 is tried again after its Retry-After
                        async with session.post(url_, data=body, headers=headers) as r:
                            await r.read()
                        if r.status != 503:
                            created += r.status == 201
                            break
                        refused += 1
                        await asyncio.sleep(float(r.headers.get("Retry-After", "1")))

            async with aiohttp.ClientSession() as session:
                began = time.perf_counter()
                await asyncio.gather(*(client(session, headers[i % len(headers)]) for i in range(concurrency)))
                return uploads / (time.perf_counter() - began), created, refused

        return run_loop(run)  # type: ignore[no-any-return]
    finally:
        serve.terminate()
        serve.wait(30)


def measure_publish(url: str, workdir: Path, events: int) -> tuple[str, float, float]:
    """Events per second through publish: one per transaction, then 100 per transaction."""
    rt = open_runtime(Settings(database_url=url, data_dir=workdir / "data", allow_private_targets=True))
    try:
        now = rt.clock.now_ms()
        with rt.db.transaction() as conn:
            tenant = create_tenant(conn, "publish", rt.clock).tenant_id
            add_webhook(conn, rt, tenant_id=tenant, url="http://127.0.0.1:9/hook", name="subscribed")
        payloads = [sample_payload(tenant, i, now) for i in range(events)]
        began = time.perf_counter()
        for payload in payloads:
            with rt.db.transaction() as conn:
                publish(conn, tenant_id=tenant, topic=TOPIC, payload=payload, now_ms=now)
        single = events / (time.perf_counter() - began)
        began = time.perf_counter()
        for start in range(0, events, 100):
            with rt.db.transaction() as conn:
                for payload in payloads[start : start + 100]:
                    publish(conn, tenant_id=tenant, topic=TOPIC, payload=payload, now_ms=now)
        batched = events / (time.perf_counter() - began)
        return describe_database(rt), single, batched
    finally:
        rt.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--uploads", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--tenants", type=int, default=2, help="the clients' tenants (default %(default)s)")
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--database-url", help="postgresql://…/NAME: NAME_api and NAME_publish are created and dropped")
    args = p.parse_args(argv)
    results = {}
    for name in ("api", "publish"):
        workdir = Path(tempfile.mkdtemp(prefix=f"dochooks-ingest-{name}-"))
        url = None if args.database_url is None else f"{args.database_url}_{name}"
        try:
            with database(url, workdir) as db_url:
                if name == "api":
                    results[name] = measure_uploads(db_url, workdir, args.uploads, args.concurrency, args.tenants)
                else:
                    results[name] = measure_publish(db_url, workdir, args.events)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    upload_rate, created, refused = results["api"]
    engine, single, batched = results["publish"]
    verdict = Verdict()
    verdict.check(f"each of the {args.uploads:,} uploads got a 201", created == args.uploads, f"{created:,} did")
    rows = [
        ("database", engine),
        (
            "uploads through the API",
            f"{upload_rate:,.0f}/s ({args.uploads:,} uploads, {args.concurrency} at a time from {args.tenants} "
            f"tenants; {refused:,} answers of 503 tried again)",
        ),
        ("events through publish", f"{single:,.0f}/s one per transaction; {batched:,.0f}/s 100 per transaction"),
    ]
    return report(rows, verdict)


if __name__ == "__main__":
    sys.exit(main())
