"""The dispatcher: claims due deliveries in batches, sends many at once, records outcomes
in batches, and schedules retries on the published backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from dochooks import __version__
from dochooks.clock import Clock, SystemClock
from dochooks.db import Database, Row
from dochooks.delivery import queue
from dochooks.delivery.backoff import next_attempt_after_failure
from dochooks.delivery.publish import deliveries_queued
from dochooks.delivery.queue import Claimed, Outcome
from dochooks.delivery.sender import HttpSender, Sender, SendResult
from dochooks.delivery.signing import sign
from dochooks.settings import Settings
from dochooks.webhooks.secrets import Cipher, mask, signing_key

log = logging.getLogger("dochooks.dispatcher")
USER_AGENT = f"dochooks/{__version__}"
FLUSH_SECONDS = 0.02  # how long finished attempts may gather before one write records them all


@dataclass(frozen=True)
class Target:
    """A webhook as the dispatcher needs it, secrets decrypted once per webhook version."""

    url: str
    headers: dict[str, str]  # what goes on the wire, custom headers included
    shown_headers: dict[str, str]  # the same, secret values masked, for the delivery log
    key: bytes
    enabled: bool
    updated_at: int


class Targets:
    """Decrypted webhooks, cached until the webhook changes."""

    def __init__(self, cipher: Cipher) -> None:
        self._cipher = cipher
        self._cache: dict[int, Target] = {}

    def refresh(self, rows: Sequence[Row]) -> None:
        for row in rows:
            cached = self._cache.get(row["id"])
            if cached is None or cached.updated_at != row["updated_at"]:
                self._cache[row["id"]] = self._target(row)

    def get(self, webhook_id: int) -> Target | None:
        return self._cache.get(webhook_id)

    def _target(self, row: Row) -> Target:
        custom: dict[str, str] = orjson.loads(self._cipher.decrypt(row["headers"]))
        base = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        return Target(
            url=row["url"],
            headers={**base, **custom},
            shown_headers={**base, **{k: mask(v) for k, v in custom.items()}},
            key=signing_key(self._cipher.decrypt(row["secret"])),
            enabled=bool(row["enabled"]),
            updated_at=row["updated_at"],
        )


def body_of(item: Claimed) -> bytes:
    # The stored payload is a JSON object; request_id (hex) and topic (a known value) need no escaping.
    return f'{item.payload[:-1]},"request_id":"{item.request_id}","topic":"{item.topic}"}}'.encode()


class Dispatcher:
    def __init__(
        self,
        db: Database,
        cipher: Cipher,
        settings: Settings,
        *,
        sender: Sender | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._sender = sender or HttpSender(
            timeout=settings.delivery_timeout,
            max_connections=settings.max_in_flight,
            max_per_host=settings.max_per_host,
        )
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._targets = Targets(cipher)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        # A lease outlives the longest attempt plus the wait for its result to be written.
        self._lease_ms = int((settings.delivery_timeout + 60) * 1000)
        self._min_claim = max(1, min(settings.claim_batch, settings.max_in_flight) // 4)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._outcomes: list[Outcome] = []
        self._wake = asyncio.Event()
        self._outcomes_ready = asyncio.Event()

    # --- the loop --------------------------------------------------------------------

    async def run(self, stopping: asyncio.Event) -> None:
        """Dispatch until `stopping` is set, then finish what is in flight and record it."""
        loop = asyncio.get_running_loop()
        disconnect = deliveries_queued.connect(lambda: self._wake_from(loop))
        stop_waiter = asyncio.create_task(stopping.wait())
        stop_waiter.add_done_callback(lambda _: self._wake.set())
        flusher = asyncio.create_task(self._flush_forever())
        try:
            while not stopping.is_set():
                try:
                    await self._step()
                except Exception:
                    # A database hiccup must not end dispatching: log, wait, try again.
                    log.exception("dispatcher step failed; retrying in %.1f s", self._settings.poll_interval)
                    await self._sleep(self._settings.poll_interval)
        finally:
            disconnect()
            stop_waiter.cancel()
            if self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)
            flusher.cancel()
            await self._flush()
            await self._sender.close()

    def _wake_from(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wake the loop from whichever thread committed new deliveries."""
        loop.call_soon_threadsafe(self._wake.set)

    async def _step(self) -> None:
        self._wake.clear()
        room = self._settings.max_in_flight - len(self._in_flight)
        if room < self._min_claim and self._in_flight:
            await self._sleep(self._settings.poll_interval)  # a finished send wakes us
            return
        want = min(room, self._settings.claim_batch)
        claimed, webhooks = await asyncio.to_thread(self._claim, want)
        self._targets.refresh(webhooks)
        for item in claimed:
            task = asyncio.create_task(self._deliver(item))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)
        if len(claimed) == want:
            return
        due = await asyncio.to_thread(self._next_due)
        delay = self._settings.poll_interval
        if due is not None:
            delay = min(delay, max((due - self._clock.now_ms()) / 1000, 0.0 if claimed else 0.01))
        await self._sleep(delay)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task crashed", exc_info=task.exception())
        if self._settings.max_in_flight - len(self._in_flight) >= self._min_claim:
            self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    def _claim(self, limit: int) -> tuple[list[Claimed], list[Row]]:
        with self._db.transaction() as conn:
            return queue.claim(
                conn, worker=self.worker_id, now_ms=self._clock.now_ms(), lease_ms=self._lease_ms, limit=limit
            )

    def _next_due(self) -> int | None:
        with self._db.read() as conn:
            return queue.next_due(conn)

    # --- one delivery ----------------------------------------------------------------

    async def _deliver(self, item: Claimed) -> None:
        target = self._targets.get(item.webhook_id)
        started = self._clock.now_ms()
        if target is None:  # the webhook was deleted after the claim; so was the delivery
            return
        if not target.enabled:
            self._settle(
                item,
                started,
                0,
                target.shown_headers,
                SendResult(None, b"", "webhook is disabled; not sent"),
                final=True,
            )
            return
        body = body_of(item)
        timestamp = started // 1000
        signed = {
            "webhook-id": item.request_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(target.key, item.request_id, timestamp, body),
        }
        clock_start = time.perf_counter()
        result = await self._sender.send(target.url, {**target.headers, **signed}, body)
        duration = round((time.perf_counter() - clock_start) * 1000)
        self._settle(item, started, duration, {**target.shown_headers, **signed}, result)

    def _settle(
        self,
        item: Claimed,
        started: int,
        duration: int,
        shown_headers: dict[str, str],
        result: SendResult,
        *,
        final: bool = False,
    ) -> None:
        ok = result.status is not None and 200 <= result.status < 300
        error = result.error
        if not ok and error is None:
            error = f"HTTP {result.status}" + (
                " (redirects are not followed)" if 300 <= (result.status or 0) < 400 else ""
            )
        next_at = None
        if not ok and not final:
            next_at = next_attempt_after_failure(
                item.attempt_number,
                started + duration,
                scale=self._settings.retry_time_scale,
                rng=self._rng,
            )
        status = queue.SUCCEEDED if ok else (queue.PENDING if next_at is not None else queue.FAILED)
        self._outcomes.append(
            Outcome(
                delivery_id=item.delivery_id,
                number=item.attempt_number,
                started_at=started,
                duration_ms=duration,
                request_headers=orjson.dumps(shown_headers).decode(),
                response_status=result.status,
                response_body=result.body.decode("utf-8", "replace") if result.status is not None else None,
                error=None if ok else error,
                status=status,
                next_attempt_at=next_at,
            )
        )
        self._outcomes_ready.set()

    # --- recording -------------------------------------------------------------------

    async def _flush_forever(self) -> None:
        while True:
            await self._outcomes_ready.wait()
            if len(self._outcomes) < self._settings.claim_batch:
                await asyncio.sleep(FLUSH_SECONDS)
            await self._flush()

    async def _flush(self) -> None:
        self._outcomes_ready.clear()
        batch, self._outcomes = self._outcomes, []
        if not batch:
            return
        try:
            await asyncio.to_thread(self._record, batch)
        except Exception:
            # The leases run out and these deliveries are tried again: at least once, never lost.
            log.exception("could not record %d delivery attempts; they will be retried", len(batch))
        self._wake.set()  # a retry may now be due sooner than the loop planned

    def _record(self, batch: list[Outcome]) -> None:
        with self._db.transaction() as conn:
            queue.record(conn, worker=self.worker_id, outcomes=batch, now_ms=self._clock.now_ms())
