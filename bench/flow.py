"""Flow: documents through the whole workflow of a running `dochooks serve`, uploaded through
its HTTP API, with their webhooks delivered to a receiver; against a bare aiohttp client.

    .venv/bin/python bench/flow.py [--documents 600] [--clients 8] [--webhooks 0] [--database-url URL]
    .venv/bin/python bench/flow.py --webhooks 5     # 5 webhooks on every topic: 46 deliveries a document
    .venv/bin/python bench/flow.py --sequential     # 200 uploads one after another, 25 webhooks on every topic

One run:

1. starts the receiver (raw HTTP/1.1, uvloop, its own process; it notes when each POST
   arrived) on one core and `dochooks serve` (API, workflow runner and dispatcher in one
   process, as in production) on another, when the machine has two;
2. through the API: a workflow without validation levels (no document waits for a person)
   with rules for invoices; `--webhooks` K webhooks on every topic and one on
   processing-finished, all at the receiver;
3. uploads `--documents` small text invoices from `--clients` clients at a time (on the
   receiver's core), timing each upload, until every delivery has arrived;
4. stops the service (SIGTERM) and checks the run in its database;
5. sends as many POSTs of a delivery's size (5,000 at least) from a bare aiohttp client, on
   the service's core, to the same receiver;
6. prints documents/s (from the first upload to the last document's processing-finished
   arrival), deliveries/s (to the last arrival), upload latency p50/p99, the bare client's
   rate and the share of it the deliveries reached, and judges the targets of its workload
   (issue 13; `--rate-target`, `--ratio-target`, `--p50-target`, `--p99-target` override).

It exits 1 if a target is missed or a check fails: an upload not accepted, a document that
did not reach processing-finished, an expected delivery missing, stored twice, or arriving
twice without a retry recorded.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from harness import (
    check_delivered,
    database,
    describe_database,
    measure_bare,
    on_cores,
    percentile,
    run_loop,
)
from receiver_process import arrivals, receivers, usage
from serve_process import (
    DOCUMENT,
    Service,
    Uploads,
    check_accepted,
    cpu_seconds,
    served,
    service_env,
    tenant_token,
    upload_documents,
)
from verdict import Verdict, report

from dochooks.delivery.leases import body
from dochooks.runtime import Runtime, open_runtime
from dochooks.settings import Settings
from dochooks.topics import STAGES_WITH_LEVELS, TOPICS

# The topics a document emits on its way through a workflow that waits for nobody.
PLAIN_FLOW = tuple(t.value for t in TOPICS if not t.value.startswith("ready-for-") and t.value != "processing-failed")
FINISHED = "processing-finished"
FINISHED_PATH = "/finished"  # where the webhook on processing-finished alone delivers
WORKFLOW = {
    **{stage: [] for stage in STAGES_WITH_LEVELS},
    "classification_rules": {"invoice": ["invoice", "total due"]},
    "extraction_rules": {"invoice": {"total": r"Total due:\s*(\S+)"}},
}
BARE_AT_LEAST = 5_000  # requests, so that the bare client's rate is not mostly its start


@dataclass(frozen=True)
class Targets:
    """What a workload must reach; None: not judged."""

    rate: float | None = None  # documents/s through the whole workflow
    ratio: float | None = None  # deliveries/s as a share of the bare client's requests/s
    p50: float | None = None  # upload latency, ms
    p99: float | None = None


# Issue 13's targets by workload, on SQLite and on PostgreSQL.
TARGETS = {
    "alone": (Targets(rate=250), Targets(rate=120)),
    "webhooks": (Targets(rate=60, p50=30, p99=150), Targets(rate=40, p50=30, p99=150)),
    "sequential": (Targets(ratio=0.6), Targets(ratio=0.5)),
}
WORKLOADS = {
    "alone": "the workflow alone: one webhook, on processing-finished",
    "webhooks": "{k} webhook(s) on every topic, and one on processing-finished",
    "sequential": "one upload at a time; {k} webhook(s) on every topic, and one on processing-finished",
}


def arguments(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--documents", type=int, help="documents uploaded (default 600; 200 with --sequential)")
    p.add_argument("--clients", type=int, help="clients uploading at a time (default 8; 1 with --sequential)")
    p.add_argument("--webhooks", type=int, help="K webhooks on every topic (default 0; 25 with --sequential)")
    p.add_argument("--sequential", action="store_true", help="one client, one upload at a time")
    p.add_argument("--database-url", help="default: SQLite in a temp dir; postgresql://…/NAME is created and dropped")
    p.add_argument("--time-limit", type=float, default=600, help="seconds the run may take (default %(default)s)")
    p.add_argument("--rate-target", type=float, help="documents/s to reach (default: the workload's)")
    p.add_argument("--ratio-target", type=float, help="share of the bare client's rate (default: the workload's)")
    p.add_argument("--p50-target", type=float, help="ms the median upload may take (default: the workload's)")
    p.add_argument("--p99-target", type=float, help="ms the 99th percentile may take (default: the workload's)")
    args = p.parse_args(argv)
    if args.sequential and args.clients not in (None, 1):
        p.error("--sequential uploads with one client")
    for name, alone, sequential in (("documents", 600, 200), ("clients", 8, 1), ("webhooks", 0, 25)):
        if getattr(args, name) is None:
            setattr(args, name, sequential if args.sequential else alone)
    if args.documents < 1 or args.clients < 1 or args.webhooks < 0:
        p.error("--documents and --clients must be positive, --webhooks not negative")
    args.workload = "sequential" if args.sequential else "webhooks" if args.webhooks else "alone"
    postgres = (args.database_url or "").startswith("postgresql")
    given = {k: getattr(args, f"{k}_target") for k in ("rate", "ratio", "p50", "p99")}
    args.targets = dataclasses.replace(
        TARGETS[args.workload][postgres], **{k: v for k, v in given.items() if v is not None}
    )
    return args


def pinning() -> tuple[set[int] | None, set[int] | None, str]:
    """The service's core and the receiver's (the upload clients share it); none on one core."""
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) < 2:
        return None, None, "none: one usable core"
    far, near = usable[:2]
    return {far}, {near}, f"serve and the bare client on core {far}; the receiver and the upload clients on core {near}"


def set_up(service: Service, token: str, webhooks: int, receiver: str) -> dict[str, int]:
    """The workflow and the webhooks, through the API: the webhooks' ids by the path they deliver to."""
    service.call(token, "PUT", "/v1/workflow", {"data": {"type": "workflows", "attributes": WORKFLOW}})
    every = [t["id"] for t in service.call(token, "GET", "/v1/topics")["data"]]
    hooks = {f"/hooks/{i}": every for i in range(webhooks)} | {FINISHED_PATH: [FINISHED]}
    ids = {}
    for path, topics in hooks.items():
        headers = {"Authorization": f"Bearer {secrets.token_urlsafe(24)}"}  # a secret: encrypted, masked in the log
        attributes = {"name": path, "url": receiver + path, "topics": topics, "headers": headers}
        made = service.call(token, "POST", "/v1/webhooks", {"data": {"type": "webhooks", "attributes": attributes}})
        ids[path] = int(made["data"]["id"])
    return ids


def wait_for_deliveries(service: Service, port: int, expected: int, deadline: float) -> bool:
    """Until the receiver has got `expected` deliveries (True), or the time is up (False)."""
    while usage(port).deliveries < expected:
        if service.process.poll() is not None:
            raise RuntimeError(f"dochooks serve exited with {service.process.returncode}")
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def check_flow(verdict: Verdict, rt: Runtime, uploads: Uploads, finished: set[str], hooks: dict[str, int]) -> int:
    """Every upload accepted; every document done, its processing-finished arrived; every
    expected delivery (a webhook, a document, a topic) stored once and succeeded. Returns the
    mean size of a delivery's body."""
    check_accepted(verdict, uploads)
    with rt.db.read() as conn:
        counted = conn.all("SELECT status, COUNT(*) AS n FROM documents GROUP BY status")
        rows = conn.all(
            "SELECT d.webhook_id, e.document_id, d.topic, d.status, d.request_id, e.payload "
            "FROM deliveries d JOIN events e ON e.id = d.event_id"
        )
    statuses = {r["status"]: int(r["n"]) for r in counted}
    documents = set(uploads.documents)
    verdict.check(
        f"each of the {len(documents):,} documents reached processing-finished, and its webhook got it",
        statuses.get("done", 0) == len(documents) == sum(statuses.values()) and finished == documents,
        f"{', '.join(f'{n:,} {s}' for s, n in sorted(statuses.items())) or 'none stored'}; "
        f"processing-finished arrived for {len(finished & documents):,}",
    )
    wanted = {
        (webhook, int(document), topic)
        for path, webhook in hooks.items()
        for document in documents
        for topic in ((FINISHED,) if path == FINISHED_PATH else PLAIN_FLOW)
    }
    stored = Counter((r["webhook_id"], r["document_id"], r["topic"]) for r in rows)
    unsettled = sum(r["status"] != "succeeded" for r in rows)
    verdict.check(
        f"each of the {len(wanted):,} expected deliveries (webhook, document, topic) stored once, succeeded",
        set(stored) == wanted and max(stored.values(), default=1) == 1 and unsettled == 0,
        f"{len(wanted - set(stored)):,} missing, {len(set(stored) - wanted):,} unexpected, "
        f"{sum(n > 1 for n in stored.values()):,} stored more than once, {unsettled:,} not succeeded",
    )
    sizes = [len(body(r["payload"], r["request_id"], r["topic"])) for r in rows]
    return round(sum(sizes) / len(sizes)) if sizes else 300  # none stored (the run failed): a typical size


@dataclass(frozen=True)
class Flow:
    """What a run measured."""

    engine: str
    uploads: Uploads
    deliveries: int  # expected: per_document for each document accepted
    per_document: int
    documents_seconds: float  # from the first upload to the last document's processing-finished arrival
    deliveries_seconds: float  # from the first upload to the last arrival
    serve_cpu: float  # seconds serve used from the first upload until every delivery arrived
    body_size: int  # of a delivery, on average
    bare_requests: int
    bare_seconds: float


def measure_flow(args: argparse.Namespace, verdict: Verdict, far: set[int] | None, near: set[int] | None) -> Flow:
    """The run: the service on `far`, the receiver and the upload clients on `near`, then the
    bare client on `far`; the checks made on the way."""
    per_document = args.webhooks * len(PLAIN_FLOW) + 1
    deadline = time.monotonic() + args.time_limit
    workdir = Path(tempfile.mkdtemp(prefix="dochooks-flow-"))
    try:
        with database(args.database_url, workdir) as url, on_cores(near), receivers(record=True) as (port,):
            env = service_env(url, workdir)
            token = tenant_token(env, "flow")
            with served(env, workdir, cores=far) as service:
                hooks = set_up(service, token, args.webhooks, f"http://127.0.0.1:{port}")
                cpu_before = cpu_seconds(service.process.pid)
                uploads = run_loop(lambda: upload_documents(service.base, [token], args.documents, args.clients))
                print(f"uploads: {args.documents:,} in {uploads.seconds:.2f} s", flush=True)
                deliveries = len(uploads.documents) * per_document
                arrived = wait_for_deliveries(service, port, deliveries, deadline)
                serve_cpu = cpu_seconds(service.process.pid) - cpu_before
            seen, times = usage(port), arrivals(port)
            finished = {document for _, path, document in times if path == FINISHED_PATH}
            last_finished = max((t for t, path, _ in times if path == FINISHED_PATH), default=None)
            documents_seconds = seconds_to(last_finished if finished >= set(uploads.documents) else None, uploads)
            deliveries_seconds = seconds_to(max(t for t, _, _ in times) if arrived else None, uploads)
            print(f"deliveries: {seen.deliveries:,} of {deliveries:,} in {deliveries_seconds:.2f} s", flush=True)
            rt = open_runtime(Settings(database_url=url, data_dir=workdir / "data"), run_migrations=False)
            try:
                engine = describe_database(rt)
                check_delivered(verdict, rt, seen, deliveries)
                body_size = check_flow(verdict, rt, uploads, finished, hooks)
            finally:
                rt.close()
            bare_requests = max(deliveries, BARE_AT_LEAST)
            with on_cores(far):
                limit = max(deadline - time.monotonic(), 10.0)
                bare_seconds, _ = measure_bare(
                    verdict, port, bare_requests, body_size=body_size, settings=Settings(), limit=limit
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    measured = (documents_seconds, deliveries_seconds, serve_cpu, body_size, bare_requests, bare_seconds)
    return Flow(engine, uploads, deliveries, per_document, *measured)


def seconds_to(last_ns: int | None, uploads: Uploads) -> float:
    """Seconds from the first upload to `last_ns` (the receiver's clock); NaN if it never came."""
    return math.nan if last_ns is None else (last_ns - uploads.began_ns) / 1e9


def table(args: argparse.Namespace, flow: Flow, verdict: Verdict, pinned: str) -> list[tuple[str, str]]:
    """The run's rows, each measure with a target judged against it."""
    targets: Targets = args.targets

    def judged(measure: str, shown: str, value: float, target: float | None, at_most: bool = False) -> str:
        if target is None:
            return shown
        return (verdict.at_most if at_most else verdict.at_least)(measure, shown, value, target)

    rate = args.documents / flow.documents_seconds
    deliveries = flow.deliveries / flow.deliveries_seconds
    bare = flow.bare_requests / flow.bare_seconds
    ratio = deliveries / bare
    p50, p99 = (percentile(flow.uploads.latencies, p) * 1000 for p in (50, 99))
    busy = flow.serve_cpu / flow.deliveries_seconds
    documents = f"{args.documents:,} text invoices of {len(DOCUMENT):,} bytes, {args.clients} client(s) at a time"
    return [
        ("database", flow.engine),
        ("workload", WORKLOADS[args.workload].format(k=args.webhooks)),
        ("documents", documents),
        (
            "deliveries",
            f"{flow.deliveries:,} ({flow.per_document} a document), {flow.body_size:,}-byte bodies",
        ),
        ("documents/s", judged("documents/s", f"{rate:,.1f}", rate, targets.rate)),
        ("deliveries/s", f"{deliveries:,.0f}"),
        ("upload p50", judged("upload p50", f"{p50:.1f} ms", p50, targets.p50, at_most=True)),
        ("upload p99", judged("upload p99", f"{p99:.1f} ms", p99, targets.p99, at_most=True)),
        ("uploads/s", f"{flow.uploads.rate:,.1f}; {flow.uploads.retried:,} answers of 503 tried again"),
        ("bare aiohttp requests/s", f"{bare:,.0f} ({flow.bare_requests:,} requests)"),
        ("ratio (deliveries / bare)", judged("ratio (deliveries / bare)", f"{ratio:.2f}", ratio, targets.ratio)),
        ("serve CPU", f"{flow.serve_cpu / args.documents * 1000:.1f} ms a document; {busy:.0%} of a core"),
        ("pinning", pinned),
    ]


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    far, near, pinned = pinning()
    verdict = Verdict()
    flow = measure_flow(args, verdict, far, near)
    return report(table(args, flow, verdict, pinned), verdict)


if __name__ == "__main__":
    sys.exit(main())
