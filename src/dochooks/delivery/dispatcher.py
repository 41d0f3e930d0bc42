"""The dispatcher: the loop that claims due deliveries in batches, sends many at once
(lanes per host), settles each by what its answer means and hands it to the recorder.
The decisions are other modules': who may take more (shares.py), what a claim looks at
(claims.py), where a delivery goes (targets.py), what an answer means (outcomes.py)."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import socket
import time

from dochooks.clock import Monotonic
from dochooks.db import Row
from dochooks.delivery import leases
from dochooks.delivery.attempts import Attempt, attempt, unsent
from dochooks.delivery.backoff import RETRY_AFTER_STATUSES
from dochooks.delivery.claims import ClaimScope, LeftOut
from dochooks.delivery.hosts import Host, Hosts
from dochooks.delivery.leases import Claimed
from dochooks.delivery.outcomes import Verdict, judge, not_sent, recorded
from dochooks.delivery.recorder import FLUSH_SECONDS, Recorder, write
from dochooks.delivery.reports import report
from dochooks.delivery.sender import Sender, SendResult, open_sender
from dochooks.delivery.shares import Shares
from dochooks.delivery.targets import Target, Targets
from dochooks.runtime import Runtime
from dochooks.signals import Wakeup, deliveries_queued, listening, webhooks_changed
from dochooks.webhooks import store as webhook_rows

logger = logging.getLogger("dochooks.dispatcher")
WRITE_SLACK_SECONDS = 15  # what a lease allows for writing the attempt (WRITE_TRIES tries, a second apart)


class Dispatcher:
    """Claims due deliveries in batches and sends them, at most `max_in_flight` claimed and
    unsettled at once. Each host gets at most `max_per_host` lanes: tasks that send its
    waiting deliveries one after another, oldest claim first. A delivery that waited a whole
    `delivery_timeout` for a lane times out unsent, as a request does that takes that long."""

    def __init__(
        self,
        rt: Runtime,
        *,
        sender: Sender | None = None,
        monotonic: Monotonic = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        db, settings = rt.db, rt.settings
        self._db = db
        self._settings = settings
        self._sender = sender or open_sender(settings, rt.egress)
        self._clock = rt.clock
        self._monotonic = monotonic  # waits and durations; tests move it by hand
        self._rng = rng or random.Random()
        self._targets = Targets(rt.cipher)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        # A lease outlives the longest wait for a lane and the longest attempt after it (each
        # at most the delivery timeout), plus the wait for its result to be written.
        self._lease_ms = int((2 * settings.delivery_timeout + WRITE_SLACK_SECONDS) * 1000)
        self._min_claim = max(1, min(settings.claim_batch, settings.max_in_flight) // 4)
        # Claimed deliveries not yet settled (waiting for a lane or being sent), per webhook and tenant.
        self._shares = Shares(settings.max_per_webhook, settings.max_per_tenant)
        self._hosts = Hosts()
        self._lanes: set[asyncio.Task[None]] = set()
        self._wake = Wakeup()
        self._recorder = Recorder(
            functools.partial(
                write,
                db,
                self._clock,
                self.worker_id,
                disable_after_ms=int(settings.disable_failing_after * 1000) or None,
            ),
            gather=settings.claim_batch,
            retry_wait=min(settings.poll_interval, 1.0),
            busy=lambda: self._shares.total > 0,
            wake=self._wake.set,
        )
        self._scope = ClaimScope(settings.claim_batch, settings.poll_interval, monotonic)
        self._awaiting_room = False  # whether the loop sleeps until settled deliveries make room

    # --- the loop --------------------------------------------------------------------

    async def run(self, stopping: asyncio.Event) -> None:
        """Dispatch until `stopping` is set, then finish what is claimed and record it."""
        recording = asyncio.create_task(self._recorder.run())  # never cancelled
        try:
            async with (
                self._wake.watching(deliveries_queued, self._db, stopping),
                listening(webhooks_changed, self._db, self._targets.mark_stale),
            ):
                while not stopping.is_set():
                    try:
                        await self._step()
                    except Exception:
                        # A database hiccup must not end dispatching: log, wait, try again.
                        logger.exception("dispatcher step failed; retrying in %.1f s", self._settings.poll_interval)
                        await self._wake.sleep(self._settings.poll_interval)
        finally:
            for item in self._hosts.drain():  # what waits for a lane or its webhook goes back to the queue unsent
                self._recorder.release(item)
                self._shares.remove(item)
            while self._lanes:  # each lane finishes the request it is sending
                await asyncio.gather(*self._lanes, return_exceptions=True)
            self._recorder.close()  # it writes what the last requests returned, then ends
            await recording
            await self._sender.close()

    async def _step(self) -> None:
        self._wake.clear()
        room = self._settings.max_in_flight - self._shares.total
        if room < self._min_claim and self._shares.total:
            self._awaiting_room = True  # a settled delivery wakes us once there is room
            await self._wake.sleep(self._settings.poll_interval)
            self._awaiting_room = False
            return
        want = min(room, self._settings.claim_batch)
        left_out = LeftOut(self._busy_webhooks(), frozenset(self._shares.full_tenants()))
        if wait := self._scope.wait(left_out, news=self._wake.take_news()):
            await self._wake.sleep(wait)  # claiming again now would find nothing, at a full scan's cost
            return
        window = self._scope.window(left_out)
        claimed, webhooks, due = await asyncio.to_thread(self._claim, want, left_out, window)
        self._targets.refresh(webhooks)
        logger.debug("claimed %d of %d (window %s, %d left out)", len(claimed), want, window, len(left_out.webhooks))
        claimed_at = self._monotonic()
        for item in claimed:
            self._dispatch(item, claimed_at)
        if self._scope.claimed(left_out, window, claimed, want):
            return  # it got all it wanted, or its window came up short: claim again rather than sleep
        delay = self._settings.poll_interval
        if due is not None and not (left_out and not claimed):  # they wake us when they have room
            delay = min(delay, max((due - self._clock.now_ms()) / 1000, 0.0 if claimed else 0.01))
        if left_out:  # what is due may all be theirs: do not spin on it
            delay = max(delay, FLUSH_SECONDS)
        await self._wake.sleep(delay)

    def _dispatch(self, item: Claimed, claimed_at: float) -> None:
        """Queue a claimed delivery for a lane to its host, opening a lane if the host may have another."""
        target = self._targets.get(item.webhook_id)
        if target is None:  # the webhook was deleted after the claim; so was the delivery
            return
        if why := target.not_sendable():
            self._not_sent(item, target, why)
            return
        if not self._shares.has_room(item, held=self._hosts.held_of(target.host, item.webhook_id)):
            if self._shares.struggling(item.webhook_id):
                # Claimed over the cap of an endpoint that stopped answering: back to the queue
                # unsent, due after a timeout, so its backlog neither waits here holding the
                # in-flight budget nor stands at the head of the queue to be claimed again at once.
                self._recorder.release(item, after_ms=int(self._settings.delivery_timeout * 1000))
                return
            # Over a healthy webhook's cap, a claim's surplus waits here, unsent, until one of
            # the webhook's requests settles: its cap bounds the requests it has in flight.
            self._hosts.of(target.host).hold((item, claimed_at))
            self._shares.add(item)
            return
        host = self._hosts.of(target.host)
        host.waiting.append((item, claimed_at))
        self._shares.add(item)
        self._open_lanes(host, 1)

    def _open_lanes(self, host: Host, wanted: int) -> None:
        """Start up to `wanted` more lanes to the host, as many as it may have."""
        for _ in range(min(wanted, self._settings.max_per_host - host.lanes)):
            host.lanes += 1
            lane = asyncio.create_task(self._lane(host))
            self._lanes.add(lane)
            lane.add_done_callback(self._lanes.discard)

    async def _lane(self, host: Host) -> None:
        try:
            while host.waiting:
                item, claimed_at = host.waiting.popleft()
                if len(host.waiting) == self._settings.max_per_host - 1:
                    self._wake.set()  # no longer busy: its webhooks may be claimed again
                answered = None
                try:
                    target = await self._targets.current(item.webhook_id, self._shares.webhooks, self._read_webhooks)
                    if target is None:
                        pass  # deleted since the claim, with its deliveries: nothing to send or record
                    elif why := target.not_sendable():
                        self._not_sent(item, target, why)
                    else:
                        result = await self._deliver(item, target, claimed_at)
                        # An answer grows the webhook's cap; none, or 429/503 (asking for less), shrinks it.
                        answered = None if result is None else result.status not in (None, *RETRY_AFTER_STATUSES)
                except Exception:  # its lease runs out and it is tried again
                    logger.exception("delivery %d crashed", item.delivery_id)
                # Wake the loop only when this makes room it waits for: a left-out webhook or
                # tenant, or a claim's worth of the in-flight budget (a wake-up costs a claim).
                freed = self._shares.remove(item, answered=answered)
                self._open_lanes(host, host.unhold(item.webhook_id, self._shares.has_room))
                room = self._settings.max_in_flight - self._shares.total
                if freed or (self._awaiting_room and room >= self._min_claim):
                    self._wake.set()
        finally:
            host.lanes -= 1
            self._hosts.forget_if_idle(host)

    def _busy_webhooks(self) -> frozenset[int]:
        """Webhooks at their own cap, or whose host has a full queue already: claiming more
        of theirs would only let one slow endpoint take the in-flight budget from the others."""
        behind_full_hosts = self._hosts.webhooks_behind_full(self._settings.max_per_host)
        return frozenset(behind_full_hosts | self._shares.full_webhooks())

    def _claim(self, limit: int, left_out: LeftOut, window: int | None) -> tuple[list[Claimed], list[Row], int | None]:
        """The claim, its webhooks, and (when it came up short) when the next delivery falls due."""
        with self._db.transaction() as conn:
            claimed, webhooks = leases.claim(
                conn,
                worker=self.worker_id,
                now_ms=self._clock.now_ms(),
                lease_ms=self._lease_ms,
                limit=limit,
                skip=sorted(left_out.webhooks),
                skip_tenants=sorted(left_out.tenants),
                window=window,
                known=self._targets.versions,
            )
            # Asked here rather than in a transaction of its own: a statement, not a transaction.
            due = leases.next_due(conn) if len(claimed) < limit else None
        return claimed, webhooks, due

    async def _read_webhooks(self, webhook_ids: list[int]) -> list[Row]:
        def rows() -> list[Row]:
            with self._db.read() as conn:
                return webhook_rows.rows_of(conn, webhook_ids)

        return await asyncio.to_thread(rows)

    # --- one delivery ----------------------------------------------------------------

    async def _deliver(self, item: Claimed, target: Target, claimed_at: float) -> SendResult | None:
        """Send one delivery and settle it; returns what the attempt got, None if it was not sent."""
        if self._monotonic() - claimed_at >= self._settings.delivery_timeout:
            # Never sent, so no attempt: back to the queue, due now, with its retries intact.
            self._recorder.release(item)
            return None
        made = await attempt(self._sender, target, item, clock=self._clock, monotonic=self._monotonic)
        scale = self._settings.retry_time_scale
        self._settle(item, made, judge(item, made.result, made.ended, scale=scale, rng=self._rng))
        return made.result

    def _not_sent(self, item: Claimed, target: Target, why: str) -> None:
        self._settle(item, unsent(target, why, self._clock.now_ms()), not_sent(why), sent=False)

    def _settle(self, item: Claimed, made: Attempt, verdict: Verdict, *, sent: bool = True) -> None:
        report(item, made, verdict, sent=sent)
        self._recorder.add(recorded(item, made, verdict), verdict.found)
