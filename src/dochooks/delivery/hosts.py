"""Where claimed deliveries wait to be sent: per host, in line for one of its connections (a
lane), or, over their webhook's cap, held until one of the webhook's requests settles."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from dochooks.delivery.leases import Claimed

Waiting = tuple[Claimed, float]  # a claimed delivery and the monotonic clock at the claim


@dataclass
class Host:
    """One host's line of deliveries, its held ones per webhook, and the lanes sending them."""

    name: str
    waiting: deque[Waiting] = field(default_factory=deque)  # oldest claim first
    held: dict[int, deque[Waiting]] = field(default_factory=dict)  # per webhook, oldest claim first
    lanes: int = 0  # tasks sending to this host, each taking the next waiting delivery when done

    def held_of(self, webhook_id: int) -> int:
        held = self.held.get(webhook_id)
        return len(held) if held else 0

    def hold(self, waiting: Waiting) -> None:
        self.held.setdefault(waiting[0].webhook_id, deque()).append(waiting)

    def unhold(self, webhook_id: int, has_room: Callable[[Claimed, int], bool]) -> int:
        """Move the webhook's held deliveries into the line while `has_room(first held, how
        many held)` says it may have one more in flight; how many moved."""
        held = self.held.get(webhook_id)
        moved = 0
        while held and has_room(held[0][0], len(held)):
            self.waiting.append(held.popleft())
            moved += 1
        if held is not None and not held:
            del self.held[webhook_id]
        return moved

    def idle(self) -> bool:
        return not (self.lanes or self.waiting or self.held)


class Hosts:
    """Every host with deliveries waiting, held or being sent."""

    def __init__(self) -> None:
        self._hosts: dict[str, Host] = {}

    def of(self, name: str) -> Host:
        host = self._hosts.get(name)
        if host is None:
            host = self._hosts[name] = Host(name)
        return host

    def held_of(self, name: str, webhook_id: int) -> int:
        host = self._hosts.get(name)
        return host.held_of(webhook_id) if host else 0

    def forget_if_idle(self, host: Host) -> None:
        if host.idle() and self._hosts.get(host.name) is host:
            del self._hosts[host.name]

    def webhooks_behind_full(self, cap: int) -> set[int]:
        """Webhooks with a delivery in the line of a host that has `cap` or more waiting."""
        return {item.webhook_id for h in self._hosts.values() if len(h.waiting) >= cap for item, _ in h.waiting}

    def drain(self) -> Iterator[Claimed]:
        """Take every delivery that waits in a line or is held, none of them sent."""
        for host in self._hosts.values():
            for line in (host.waiting, *host.held.values()):
                while line:
                    yield line.popleft()[0]
            host.held.clear()
