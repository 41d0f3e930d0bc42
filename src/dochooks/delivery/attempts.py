"""One attempt: a claimed delivery's signed request to its target, sent through a `Sender`
and timed on the monotonic clock. What the answer means is outcomes.py's to say."""

from __future__ import annotations

from dataclasses import dataclass

from dochooks.clock import Clock, Monotonic
from dochooks.delivery.leases import Claimed
from dochooks.delivery.sender import Sender, SendResult
from dochooks.delivery.targets import Target
from dochooks.metrics import ATTEMPT_SECONDS


@dataclass(frozen=True)
class Attempt:
    """What one attempt sent and got."""

    started: int  # ms since the epoch
    duration_ms: int
    headers: dict[str, str]  # the request's, as the delivery log shows them (secrets masked)
    result: SendResult

    @property
    def ended(self) -> int:
        return self.started + self.duration_ms


async def attempt(sender: Sender, target: Target, item: Claimed, *, clock: Clock, monotonic: Monotonic) -> Attempt:
    """Sign the delivery's body for `target`, send it, and note how long that took."""
    started = clock.now_ms()
    body = item.body()
    signed = target.signed(item, body, started)
    sent_at = monotonic()
    result = await sender.send(target.url, {**target.headers, **signed}, body)
    elapsed = monotonic() - sent_at
    ATTEMPT_SECONDS.observe(elapsed)
    return Attempt(started, round(elapsed * 1000), {**target.shown_headers, **signed}, result)


def unsent(target: Target, why: str, now_ms: int) -> Attempt:
    """A delivery its target cannot take (disabled, its secret unreadable), as an attempt
    that sent nothing and took no time."""
    return Attempt(now_ms, 0, target.shown_headers, SendResult(None, b"", why))
