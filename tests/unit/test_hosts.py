from __future__ import annotations

from collections.abc import Callable

from dochooks.delivery.hosts import Hosts
from dochooks.delivery.leases import Claimed
from tests.factories.deliveries import claimed


def test_held_deliveries_move_into_the_line_only_while_their_webhook_has_room() -> None:
    hosts = Hosts()
    host = hosts.of("https://a.example")
    for delivery in (1, 2, 3):
        host.hold((claimed(7, delivery=delivery), 0.0))
    asked: list[tuple[int, int]] = []

    def room_for(n: int) -> Callable[[Claimed, int], bool]:  # a webhook with room for n more
        def has_room(item: Claimed, held: int) -> bool:
            asked.append((item.delivery_id, held))
            return len(asked) <= n

        return has_room

    assert host.unhold(7, room_for(2)) == 2
    assert [item.delivery_id for item, _ in host.waiting] == [1, 2]  # oldest claim first
    assert asked == [(1, 3), (2, 2), (3, 1)]  # asked with how many are still held
    assert hosts.held_of("https://a.example", 7) == 1 and hosts.held_of("https://b.example", 7) == 0
    asked.clear()
    assert host.unhold(7, room_for(1)) == 1 and 7 not in host.held  # emptied: forgotten
    assert host.unhold(8, room_for(5)) == 0  # nothing held for it


def test_a_host_is_forgotten_once_nothing_waits_is_held_or_is_sent() -> None:
    hosts = Hosts()
    host = hosts.of("https://a.example")
    assert hosts.of("https://a.example") is host
    host.lanes = 1
    hosts.forget_if_idle(host)
    assert hosts.of("https://a.example") is host  # a lane still sends
    host.lanes = 0
    hosts.forget_if_idle(host)
    assert hosts.of("https://a.example") is not host


def test_draining_takes_every_waiting_and_held_delivery_once() -> None:
    hosts = Hosts()
    a, b = hosts.of("https://a.example"), hosts.of("https://b.example")
    a.waiting.extend([(claimed(1, delivery=1), 0.0), (claimed(1, delivery=2), 0.0)])
    a.hold((claimed(1, delivery=3), 0.0))
    b.hold((claimed(2, delivery=4), 0.0))
    assert sorted(item.delivery_id for item in hosts.drain()) == [1, 2, 3, 4]
    assert list(hosts.drain()) == [] and not a.held and not b.held


def test_webhooks_behind_a_full_line_are_those_waiting_in_it() -> None:
    hosts = Hosts()
    hosts.of("https://a.example").waiting.extend([(claimed(1), 0.0), (claimed(2), 0.0)])
    hosts.of("https://b.example").waiting.append((claimed(3), 0.0))
    assert hosts.webhooks_behind_full(2) == {1, 2}
    assert hosts.webhooks_behind_full(3) == set()
