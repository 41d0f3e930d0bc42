"""`dochooks listen --pull`: catch up from the tenant's event feed (`GET /v1/events`) and keep
polling it; print each event as `listen` prints a delivery, or forward it to a local app,
signed like a delivery. It talks to the service's API only, with the tenant's token."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import urlencode

from dochooks import __version__
from dochooks.cli_trigger import Api, ApiError
from dochooks.delivery.signing import signature_header
from dochooks.forwarding import Forwarder, Relayed
from dochooks.receiver import Verdict, one_line, relay_line, stamped, summary
from dochooks.webhooks.secrets import signing_key

PAGE_SIZE = 100  # the feed's default page
MAX_WAIT = 60.0  # seconds: the longest back-off after errors
FROM_FEED = Verdict("feed")


@dataclass(frozen=True)
class Page:
    events: list[dict[str, Any]]
    cursor: str


class FeedRefused(Exception):
    """The feed refused in a way that waiting does not mend (401, 404, 400, 410): the message
    says what to do, and `resume_from` where to go on from (410)."""

    def __init__(self, message: str, resume_from: str | None = None) -> None:
        super().__init__(message)
        self.message, self.resume_from = message, resume_from


def refusal(exc: ApiError, since: str | None) -> FeedRefused | None:
    """What an error answer of the feed means: a `FeedRefused`, or None when waiting may mend it
    (no answer, 429, 5xx)."""
    if exc.status == 410:
        meta = (exc.errors[0].get("meta") or {}) if exc.errors else {}
        resume = meta.get("resume_from")
        return FeedRefused(f"cursor {since} is older than the feed keeps: the events before it are gone", resume)
    if exc.status == 401:
        return FeedRefused("the token was refused (401): check --token or DOCHOOKS_TOKEN")
    if exc.status == 404:
        return FeedRefused(f"{exc.message}: the cursor is another tenant's, or this service has no event feed")
    if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
        return FeedRefused(exc.message)
    return None


def backoff(failures: int, interval: float) -> float:
    """Seconds to wait after `failures` failures in a row: the interval, doubled per failure, at most a minute."""
    return min(interval * 2.0 ** max(failures - 1, 0), MAX_WAIT)


def forwarded(event: dict[str, Any], secrets: Sequence[str], now: int) -> tuple[list[tuple[str, str]], bytes]:
    """The request an event is forwarded as: its payload with `request_id` = the event's id,
    which is also its `webhook-id`; signed with every secret given, as deliveries are."""
    event_id = str(event["id"])
    body = json.dumps({**event["attributes"]["payload"], "request_id": event_id}).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("User-Agent", f"dochooks-listen/{__version__}"),
        ("webhook-id", event_id),
        ("webhook-timestamp", str(now)),
        ("dochooks-request-ids", ",".join(event["attributes"]["request_ids"])),
    ]
    if secrets:
        keys = tuple(signing_key(s) for s in secrets)
        headers.append(("webhook-signature", signature_header(keys, event_id, now, body)))
    return headers, body


class Puller:
    """The loop: a page, each event printed (or forwarded until the app takes it), the next
    page at once while pages come full, else after `interval`. `resume` is always a cursor
    from which nothing unhandled is skipped."""

    def __init__(
        self,
        api: Api,
        *,
        since: str | None,
        interval: float,
        secrets: Sequence[str] = (),
        forward_to: str | None = None,
        as_json: bool = False,
        out: TextIO = sys.stdout,
    ) -> None:
        self.api, self.resume, self.interval = api, since, interval
        self.secrets, self.as_json, self.out = secrets, as_json, out
        self.notes = sys.stderr if as_json else out  # with --json, stdout holds only the JSON lines
        self.forwarder = Forwarder(forward_to) if forward_to else None
        self.stopping = asyncio.Event()

    def note(self, text: str) -> None:
        self.notes.write(stamped(datetime.now(UTC), [text]))
        self.notes.flush()

    def resume_note(self) -> None:
        if self.resume is not None:
            self.note(f"resume from here with: --since {self.resume}")

    async def page(self) -> Page:
        query = {"page[size]": str(PAGE_SIZE)} | ({"after": self.resume} if self.resume else {})
        doc = await asyncio.to_thread(self.api.call, "GET", "/v1/events?" + urlencode(query))
        try:
            return Page(list(doc["data"]), str(doc["meta"]["cursor"]))
        except (KeyError, TypeError):
            raise ApiError(
                f"{self.api.base} answered without the feed's data and meta.cursor: not dochooks' API?"
            ) from None

    async def run(self) -> None:
        """Until SIGINT or SIGTERM, or a `FeedRefused`."""
        self.note(
            f"pulling the event feed of {self.api.base} "
            + (f"after {self.resume}" if self.resume else "from its start")
        )
        failures = 0
        try:
            while not self.stopping.is_set():
                try:
                    page = await self.page()
                except ApiError as exc:
                    stop = refusal(exc, self.resume)
                    if stop is not None:
                        raise stop from None
                    failures += 1
                    wait = backoff(failures, self.interval)
                    self.note(f"{exc.message}; trying again in {wait:g} s")
                    await self.rest(wait)
                    continue
                failures = 0
                if await self.handle(page) and page.events:
                    self.resume = page.cursor
                    self.resume_note()
                if len(page.events) < PAGE_SIZE:  # caught up: poll
                    await self.rest(self.interval)
        finally:
            if self.forwarder is not None:
                await self.forwarder.close()
        self.note("stopped")
        self.resume_note()

    async def handle(self, page: Page) -> bool:
        """Each event of the page in turn; False when stopped before the page's end."""
        for n, event in enumerate(page.events):
            # the cursor to resume from once this event is done: its page's, after its last
            cursor = page.cursor if n == len(page.events) - 1 else self.resume
            if not await self.deliver(event, cursor):
                return False
        if not page.events and self.resume is None:
            self.resume = page.cursor
        return True

    async def deliver(self, event: dict[str, Any], cursor: str | None) -> bool:
        """Print the event, forwarding it first when asked, until the app answers 2xx; False if stopped meanwhile."""
        failures = 0
        while True:
            headers, body = forwarded(event, self.secrets, int(time.time()))
            relayed = await self.forwarder.relay("POST", headers, body) if self.forwarder else None
            self.show(event, dict((k.lower(), v) for k, v in headers), body, relayed, cursor)
            if relayed is None or 200 <= relayed.status < 300:
                return True
            failures += 1
            await self.rest(backoff(failures, self.interval))
            if self.stopping.is_set():
                return False

    def show(
        self, event: dict[str, Any], headers: dict[str, str], body: bytes, relayed: Relayed | None, cursor: str | None
    ) -> None:
        at = datetime.now(UTC)
        if self.as_json:
            line = summary(at, headers, body, FROM_FEED, relayed, event_id=str(event["id"]), cursor=cursor)
            self.out.write(line + "\n")
        else:
            lines = [one_line(headers, body, FROM_FEED)]
            if relayed is not None and self.forwarder is not None:
                lines.append(relay_line(relayed, self.forwarder.url))
            self.out.write(stamped(at, lines))
        self.out.flush()

    async def rest(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):  # the wait's end, unless stopped first
            await asyncio.wait_for(self.stopping.wait(), seconds)


def run_puller(api: Api, **options: Any) -> None:
    """Pull until SIGINT or SIGTERM (exit 0), or until the feed refuses (exit 1, with the
    cursor to resume from on 410)."""

    async def main() -> None:
        puller = Puller(api, **options)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, puller.stopping.set)
        try:
            await puller.run()
        except FeedRefused as stop:
            puller.note(f"error: {stop.message}")
            if stop.resume_from:
                puller.note(f"resume from the oldest event kept with: --since {stop.resume_from}")
            else:
                puller.resume_note()
            raise SystemExit(1) from None

    asyncio.run(main())
