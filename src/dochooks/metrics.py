"""Prometheus metrics. The dispatcher counts attempts as it makes them (per process); the
queue's depth, the age of its oldest due delivery and the leases workers hold are read
from the database at scrape time, so every process reports the same shared queue."""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

from dochooks.clock import Clock
from dochooks.db import Database

DELIVERY_OUTCOMES = Counter(
    "dochooks_delivery_attempts",
    "Delivery attempts by outcome: succeeded; retrying (failed, a retry is due); failed (no retry left).",
    ["outcome"],
)
ATTEMPT_SECONDS = Histogram(
    "dochooks_attempt_duration_seconds",
    "Time from sending a delivery request to its answer (or failure).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
)
WEBHOOK_FAILURES = Counter("dochooks_webhook_failed_attempts", "Failed delivery attempts per webhook.", ["webhook_id"])
OUTCOME = {name: DELIVERY_OUTCOMES.labels(name) for name in ("succeeded", "retrying", "failed")}


class QueueCollector:
    """The shared queue as it is now, read when Prometheus scrapes."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self._clock.now_ms()
        with self._db.read() as conn:
            depth = conn.one(
                "SELECT COUNT(*) AS pending, "
                "SUM(CASE WHEN next_attempt_at <= :now AND locked_by IS NULL THEN 1 ELSE 0 END) AS due, "
                "MIN(CASE WHEN locked_by IS NULL THEN next_attempt_at END) AS oldest "
                "FROM deliveries WHERE status = 'pending'",
                {"now": now},
            )
            leases = conn.all(
                "SELECT locked_by, COUNT(*) AS held FROM deliveries "
                "WHERE status = 'pending' AND locked_by IS NOT NULL GROUP BY locked_by"
            )
        assert depth is not None
        yield GaugeMetricFamily("dochooks_queue_pending", "Deliveries not yet settled.", value=depth["pending"])
        yield GaugeMetricFamily(
            "dochooks_queue_due", "Pending deliveries due now, not leased.", value=depth["due"] or 0
        )
        oldest = depth["oldest"]
        age = max(0.0, (now - oldest) / 1000) if oldest is not None and oldest <= now else 0.0
        yield GaugeMetricFamily(
            "dochooks_queue_oldest_due_age_seconds", "How long the oldest due delivery has waited.", value=age
        )
        held = GaugeMetricFamily(
            "dochooks_worker_leases", "Deliveries each worker holds a lease on.", labels=["worker"]
        )
        for row in leases:
            held.add_metric([row["locked_by"]], row["held"])
        yield held


class _ProcessMetrics:
    """This process's own metrics (attempts, and Python's process and GC figures)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def registry_for(db: Database, clock: Clock) -> CollectorRegistry:
    """What /metrics shows: this process's counters (with `serve`'s background process's,
    in multiprocess mode) and the shared queue."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # registers itself
    else:
        registry.register(_ProcessMetrics())
    registry.register(QueueCollector(db, clock))
    return registry
