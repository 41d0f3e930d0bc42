"""Deliveries for tests: queued in a real database and dispatched for real, or claimed and
sent without I/O through a fake sender and a fake time."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dochooks.delivery import log
from dochooks.delivery.dispatcher import Dispatcher
from dochooks.delivery.leases import Claimed
from dochooks.delivery.publish import publish
from dochooks.delivery.sender import Sender, SendResult
from dochooks.runtime import Runtime
from tests.factories.stores import make_tenant, make_webhook

PAYLOAD = {
    "id": "42",
    "type": "documents",
    "attributes": {
        "status": "pending",
        "tenant_id": 1,
        "sla_deadline": None,
        "custom_fields": {"a": "b"},
        "external_id": "EX-1",
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
        "document_id": 42,
    },
}


def dispatch_until(
    rt: Runtime,
    done: Callable[[], bool],
    timeout: float = 30,
    *,
    sender: Sender | None = None,
    fake_time: FakeTime | None = None,
    dispatcher: type[Dispatcher] = Dispatcher,
    **settings: Any,
) -> None:
    """Run a real dispatcher until `done()` holds (checked in a worker thread) or time runs out;
    with `sender` it sends nothing itself, with `fake_time` it reads that fake time's clocks;
    `dispatcher` may be a subclass that tells the test what the loop does."""
    tuned = rt.tuned(**settings)
    if fake_time:
        tuned = dataclasses.replace(tuned, clock=fake_time)
    monotonic: dict[str, Any] = {"monotonic": fake_time.monotonic} if fake_time else {}

    async def main() -> None:
        stopping = asyncio.Event()
        task = asyncio.create_task(dispatcher(tuned, sender=sender, **monotonic).run(stopping))
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(done):
            assert time.monotonic() < deadline, "the dispatcher did not finish in time"
            await asyncio.sleep(0.02)
        stopping.set()
        await task

    asyncio.run(main())


def queue_delivery(rt: Runtime, url: str, **webhook: Any) -> tuple[int, int, str]:
    """A tenant, a webhook at `url` and one published event; returns (tenant, delivery id, secret)."""
    tenant = make_tenant(rt.db, f"tenant-{uuid.uuid4().hex[:8]}")  # names are unique; a test may queue several
    hook = make_webhook(rt.db, rt.cipher, tenant.tenant_id, url, **webhook)
    with rt.db.transaction() as conn:
        published = publish(
            conn, tenant_id=tenant.tenant_id, topic="document-received", payload=PAYLOAD, now_ms=rt.clock.now_ms()
        )
        (delivery,) = log.deliveries_of_event(conn, tenant_id=tenant.tenant_id, event_id=published.event_id)
    return tenant.tenant_id, delivery.id, hook.secret


def status_of(rt: Runtime, tenant: int, delivery: int) -> log.Delivery:
    with rt.db.read() as conn:
        return log.get_delivery(conn, tenant_id=tenant, delivery_id=delivery)


def claimed(webhook: int = 1, tenant: int = 1, *, attempt: int = 1, delivery: int = 0, **fields: Any) -> Claimed:
    """A claimed delivery as a claim returns it, without a database."""
    values: dict[str, Any] = {
        "request_id": "0123456789abcdef0123456789abcdef",
        "topic": "document-received",
        "payload": '{"id":"42"}',
        "lease_end": 0,
        "webhook_version": 0,
        **fields,
    }
    return Claimed(delivery, webhook, tenant, attempt_number=attempt, **values)


class FakeTime:
    """Both clocks the delivery engine reads (monotonic seconds, wall-clock ms), moved by the
    test alone: what takes time in production takes none here."""

    def __init__(self, now_ms: int = 1_800_000_000_000) -> None:
        self.seconds = 1000.0  # monotonic: any start will do, as long as it only goes forward
        self.start_ms = now_ms

    def monotonic(self) -> float:
        return self.seconds

    def now_ms(self) -> int:
        return self.start_ms + round((self.seconds - 1000.0) * 1000)

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


OK = SendResult(200, b"ok", None)


@dataclass(frozen=True)
class Sent:
    url: str
    headers: dict[str, str]
    body: bytes


class FakeSender:
    """A `Sender` that sends nothing: it notes each request and answers `answer`, taking
    `takes` seconds of `time` if given."""

    def __init__(self, answer: SendResult = OK, *, time: FakeTime | None = None, takes: float = 0.0) -> None:
        self._answer = answer
        self._time = time
        self._takes = takes
        self.sent: list[Sent] = []
        self.closed = False

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        self.sent.append(Sent(url, headers, body))
        if self._time is not None:
            self._time.advance(self._takes)
        return self._answer

    async def close(self) -> None:
        self.closed = True
