"""Where a webhook's deliveries go: its URL and origin, the headers on the wire and as the
log shows them, its signing keys; decrypted once per version of the webhook."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from dochooks import __version__
from dochooks.db import Row
from dochooks.delivery.leases import Claimed
from dochooks.delivery.signing import signature_header
from dochooks.errors import DochooksError
from dochooks.webhooks import store as webhook_rows
from dochooks.webhooks.config import origin
from dochooks.webhooks.secrets import Cipher, mask, signing_key

logger = logging.getLogger("dochooks.dispatcher")
USER_AGENT = f"dochooks/{__version__}"


@dataclass(frozen=True)
class Target:
    """A webhook as the dispatcher needs it, secrets decrypted once per webhook version."""

    url: str
    host: str  # the URL's origin: deliveries to one origin share its connection cap (aiohttp pools by it)
    headers: dict[str, str]  # what goes on the wire, custom headers included
    shown_headers: dict[str, str]  # the same, secret values masked, for the delivery log
    key: bytes
    enabled: bool
    updated_at: int
    broken: str | None = None  # why deliveries to this webhook cannot be sent at all
    previous_key: bytes | None = None  # a rotated-away secret's key, signing too until previous_until
    previous_until: int = 0

    def not_sendable(self) -> str | None:
        """Why deliveries to this webhook cannot be sent at all (disabled, secret unreadable), if so."""
        return self.broken or (None if self.enabled else "webhook is disabled; not sent")

    def keys_at(self, now_ms: int) -> tuple[bytes, ...]:
        return (self.key, self.previous_key) if self.previous_key and now_ms < self.previous_until else (self.key,)

    def signed(self, item: Claimed, body: bytes, now_ms: int) -> dict[str, str]:
        """The Standard Webhooks headers of one attempt at `now_ms`, signed with every key valid then."""
        timestamp = now_ms // 1000
        return {
            "webhook-id": item.request_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(self.keys_at(now_ms), item.request_id, timestamp, body),
        }


class Targets:
    """Decrypted webhooks, cached until the webhook changes."""

    def __init__(self, cipher: Cipher) -> None:
        self._cipher = cipher
        self._cache: dict[int, Target] = {}
        self.versions: dict[int, int] = {}  # webhook id -> the updated_at its cached target is of
        self._stale = False  # whether a webhook changed or went since the held ones were read
        self._rereading = asyncio.Lock()  # one read of them at a time, for every send that waits on it

    def refresh(self, rows: Sequence[Row]) -> None:
        for row in rows:
            self.versions[row["id"]] = row["updated_at"]
            cached = self._cache.get(row["id"])
            if cached is None or cached.updated_at != row["updated_at"]:
                try:
                    self._cache[row["id"]] = self._target(row)
                except DochooksError as exc:  # one webhook's bad secret must not hold up the batch
                    logger.error("webhook %s cannot be sent to: %s", row["id"], exc.detail)
                    self._cache[row["id"]] = Target(
                        url=row["url"],
                        host=origin(row["url"]),
                        headers={},
                        shown_headers={},
                        key=b"",
                        enabled=bool(row["enabled"]),
                        updated_at=row["updated_at"],
                        broken=f"{exc.detail}; not sent",
                    )

    def reread(self, asked: Sequence[int], rows: Sequence[Row]) -> None:
        """The current rows of the webhooks `asked` for: changed ones are decrypted again,
        those that are gone forgotten."""
        self.refresh(rows)
        for gone in set(asked) - {row["id"] for row in rows}:
            self._cache.pop(gone, None)
            self.versions.pop(gone, None)

    def mark_stale(self) -> None:
        """A webhook changed or went (`webhooks_changed`, here or in another process)."""
        self._stale = True

    async def current(
        self, webhook_id: int, held: Callable[[], list[int]], read: Callable[[list[int]], Awaitable[list[Row]]]
    ) -> Target | None:
        """Where a delivery to the webhook goes now; None if it is gone. After `mark_stale`,
        the `held` webhooks are `read` again first: a change that committed is seen by the next send."""
        if not self._stale and not self._rereading.locked():
            return self._cache.get(webhook_id)  # nothing changed, nor is being read: no lock to take
        async with self._rereading:
            if self._stale:
                self._stale = False
                asked = held()
                try:
                    rows = await read(asked)
                except Exception:
                    self._stale = True  # read them at the next send
                    raise
                self.reread(asked, rows)
        return self._cache.get(webhook_id)

    def get(self, webhook_id: int) -> Target | None:
        return self._cache.get(webhook_id)

    def _target(self, row: Row) -> Target:
        hook = webhook_rows.decoded(row, self._cipher)
        # Accept: the direct sender's reqwest adds it to every request, so both senders send it and the log shows it.
        base = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Accept": "*/*"}
        return Target(
            url=hook.url,
            host=origin(hook.url),
            headers={**base, **hook.headers},
            shown_headers={**base, **{k: mask(v) for k, v in hook.headers.items()}},
            key=signing_key(hook.secret),
            enabled=hook.enabled,
            updated_at=hook.updated_at,
            previous_key=signing_key(hook.previous_secret) if hook.previous_secret else None,
            previous_until=hook.previous_secret_expires_at or 0,
        )
