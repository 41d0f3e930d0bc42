"""Who may take more: claimed, unsettled deliveries counted per webhook and per tenant
against their caps, and each webhook's cap learned from how its endpoint answers."""

from __future__ import annotations

from collections import Counter, OrderedDict

from dochooks.delivery.leases import Claimed


class Shares:
    """Claimed, unsettled deliveries counted per webhook and per tenant, against their caps.
    A webhook or tenant at its cap is left out of claims until one of its deliveries settles:
    one flood (or one slow endpoint) cannot take the whole in-flight budget, and another
    tenant's single event is claimed beside it.

    A webhook's cap adapts to its endpoint (additive increase, multiplicative decrease): it
    starts at START_CAP, grows by one with every answer, and halves with every attempt that
    got none (a timeout, a refused connection). An endpoint that hangs soon holds one
    request at a time; one that answers grows to `max_per_webhook`."""

    START_CAP = 10
    REMEMBERED = 10_000  # webhooks whose learned cap is kept; the least recently sent to start over

    def __init__(self, per_webhook: int, per_tenant: int) -> None:
        self._caps = (per_webhook, per_tenant)
        self._webhooks: Counter[int] = Counter()
        self._tenants: Counter[int] = Counter()
        self._webhook_caps: OrderedDict[int, int] = OrderedDict()
        self.total = 0

    def cap_of(self, webhook_id: int) -> int:
        return self._webhook_caps.get(webhook_id, min(self.START_CAP, self._caps[0]))

    def add(self, item: Claimed) -> None:
        self._webhooks[item.webhook_id] += 1
        self._tenants[item.tenant_id] += 1
        self.total += 1

    def remove(self, item: Claimed, *, answered: bool | None = None) -> bool:
        """Count a delivery settled, after an attempt that got an answer (True) or none
        (False), or no attempt (None); True when that makes room for its webhook or tenant."""
        webhook = item.webhook_id
        was_full = self._webhooks[webhook] >= self.cap_of(webhook)
        if answered is not None:
            cap = self.cap_of(webhook)
            self._webhook_caps[webhook] = min(cap + 1, self._caps[0]) if answered else max(cap // 2, 1)
            self._webhook_caps.move_to_end(webhook)
            if len(self._webhook_caps) > self.REMEMBERED:
                self._webhook_caps.popitem(last=False)
        freed = self._tenants[item.tenant_id] == self._caps[1]
        for counts, key in ((self._webhooks, webhook), (self._tenants, item.tenant_id)):
            counts[key] -= 1
            if not counts[key]:
                del counts[key]
        self.total -= 1
        return freed or (was_full and self._webhooks[webhook] < self.cap_of(webhook))

    def struggling(self, webhook_id: int) -> bool:
        """Whether the webhook's cap has fallen below where it started: it stopped answering."""
        return self.cap_of(webhook_id) < min(self.START_CAP, self._caps[0])

    def has_room(self, item: Claimed, held: int = 0) -> bool:
        """Whether the delivery's webhook may have one more in flight; `held` of the
        deliveries counted for it are claimed but not sent (they wait for that room)."""
        return self._webhooks[item.webhook_id] - held < self.cap_of(item.webhook_id)

    def webhooks(self) -> list[int]:
        """The webhooks with claimed, unsettled deliveries."""
        return sorted(self._webhooks)

    def full_webhooks(self) -> set[int]:
        return {w for w, n in self._webhooks.items() if n >= self.cap_of(w)}

    def full_tenants(self) -> list[int]:
        return sorted(t for t, n in self._tenants.items() if n >= self._caps[1])
