"""What the next claim looks at while webhooks or tenants are left out of it: a window of
the oldest and newest due deliveries, the look past it, and the memory of a claim that
found nothing. A state machine over an injected monotonic clock: tests move time by hand."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from dochooks.clock import Monotonic
from dochooks.delivery.leases import Claimed

# With webhooks or tenants left out, a claim looks at the CLAIM_WINDOW x batch oldest and
# as many newest due deliveries only, and at all of them every DEEP_CLAIM_SECONDS, or
# whenever the window comes up short and looking past it may pay (below): a capped flood
# costs each claim a bounded scan, new work behind it is seen at once, and the rest of what
# waits behind a flood deeper than the window comes within seconds.
CLAIM_WINDOW = 4
DEEP_CLAIM_SECONDS = 5.0
# A look past the window that found nothing is repeated before DEEP_CLAIM_SECONDS only while
# claims leave out less than it did, and no sooner than its own duration / this share: those
# early fruitless looks take about this share of a dispatcher's time at most, however deep
# the backlog they scan.
FRUITLESS_DEEP_CLAIM_SHARE = 0.1


@dataclass(frozen=True)
class LeftOut:
    """The webhooks and tenants a claim leaves out: at their cap, or (webhooks) with their
    host's queue full."""

    webhooks: frozenset[int] = frozenset()
    tenants: frozenset[int] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.webhooks or self.tenants)

    def within(self, other: LeftOut) -> bool:
        """Whether `other` leaves out all that this leaves out (and maybe more)."""
        return self.webhooks <= other.webhooks and self.tenants <= other.tenants

    def leaves_out(self, item: Claimed) -> bool:
        return item.webhook_id in self.webhooks or item.tenant_id in self.tenants


class ClaimScope:
    """What the next claim looks at, from how the last ones went. Without anything left out
    a claim looks at every due delivery, oldest first; the window, the look past it and the
    memory of fruitless claims only come into play while something is left out."""

    def __init__(self, claim_batch: int, poll_interval: float, monotonic: Monotonic = time.monotonic) -> None:
        self._window = CLAIM_WINDOW * claim_batch
        self._poll_interval = poll_interval
        self._monotonic = monotonic
        self._last_deep_claim = -math.inf  # when a claim last looked past the window: never yet
        self._deep_claim_paid = True  # whether that claim found anything
        self._deep_claim_left_out = LeftOut()  # and what it left out
        self._deep_claim_seconds = 0.0  # and how long it took
        self._deep_claim_began: float | None = None  # when the look past the window under way began
        self._window_came_short = False  # whether a windowed claim has found fewer than it wanted
        # What the last claim left out, when it found nothing, and when.
        self._fruitless: tuple[LeftOut, float] | None = None

    def wait(self, left_out: LeftOut, *, news: bool) -> float:
        """Seconds to hold off claiming, 0 to claim now. A claim that found nothing while
        leaving out no more than this one would is not repeated until new deliveries are
        queued (`news`); meanwhile only time makes work due: look again after the poll
        interval, or when the look past the window is due."""
        if news:
            self._fruitless = None
            return 0.0
        if not left_out or self._fruitless is None:
            return 0.0
        before, when = self._fruitless
        if not before.within(left_out):
            return 0.0
        wait = min(when + self._poll_interval, self._last_deep_claim + DEEP_CLAIM_SECONDS) - self._monotonic()
        return max(wait, 0.0)

    def window(self, left_out: LeftOut) -> int | None:
        """How many of the oldest (and as many of the newest) due deliveries the claim looks
        at: None (all of them) when nothing is left out, or when the look past the window is
        due (every DEEP_CLAIM_SECONDS, or at once if the window came up short and looking
        past it may pay)."""
        if not left_out:
            return None
        deep = self._monotonic() - self._last_deep_claim >= DEEP_CLAIM_SECONDS
        if deep or (self._window_came_short and self._deep_claim_may_pay(left_out)):
            self._deep_claim_began = self._monotonic()
            return None
        return self._window

    def claimed(self, left_out: LeftOut, window: int | None, found: Sequence[Claimed], wanted: int) -> bool:
        """Remember how a claim went; True when the next one should follow at once: this one
        got all it wanted, or its window came up short and looking past it may pay (claims
        look past the window for as long as that finds work, then window again)."""
        if self._fruitless is not None and any(not self._fruitless[0].leaves_out(item) for item in found):
            self._fruitless = None  # work came due beside what was left out: claim freely again
        if len(found) == wanted:
            return True
        if not left_out:
            return False
        if window is None:
            self._last_deep_claim = self._monotonic()
            began, self._deep_claim_began = self._deep_claim_began, None
            self._deep_claim_seconds = 0.0 if began is None else self._last_deep_claim - began
            self._deep_claim_paid = bool(found)
            self._deep_claim_left_out = left_out
        else:
            self._window_came_short = True
            if self._deep_claim_may_pay(left_out):
                return True
        if not found:
            self._fruitless = (left_out, self._monotonic())
        return False

    def _deep_claim_may_pay(self, left_out: LeftOut) -> bool:
        """Whether looking past the window now may find work: it did last time, or that look
        left out something this claim does not (at start-up every webhook may be at its cap
        for a moment: that fruitless look says little once most of them have room again),
        and it is long enough ago for its cost (FRUITLESS_DEEP_CLAIM_SHARE)."""
        if self._deep_claim_paid:
            return True
        since = self._monotonic() - self._last_deep_claim
        return not self._deep_claim_left_out.within(left_out) and (
            since * FRUITLESS_DEEP_CLAIM_SHARE >= self._deep_claim_seconds
        )
