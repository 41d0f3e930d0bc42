"""The feed's cursor: opaque, round-trips its position and the horizon it was given out at,
bound to its tenant."""

from __future__ import annotations

import pytest

from dochooks.errors import InvalidParameter, NotFound
from dochooks.events.cursor import START, Position, decode, encode


def test_a_cursor_gives_back_its_position_and_horizon_to_its_tenant() -> None:
    position, horizon = Position(xact=2**40 + 7, id=123), Position(xact=5, id=99)
    made = encode(7, position, horizon)
    assert decode(7, made) == (position, horizon) and "123" not in made  # not readable at a glance
    assert decode(7, encode(7, START, START)) == (START, START)


def test_positions_order_by_transaction_then_id() -> None:
    assert Position(1, 900) < Position(2, 5) < Position(2, 6)


def test_another_tenants_cursor_is_not_found() -> None:
    with pytest.raises(NotFound):
        decode(8, encode(7, Position(1, 2), START))


@pytest.mark.parametrize("cursor", ["", "!!!", "e30", encode(7, Position(1, 2), START)[:-3], "A" * 500])
def test_anything_else_is_a_bad_after_parameter(cursor: str) -> None:
    with pytest.raises(InvalidParameter) as raised:
        decode(7, cursor)
    assert raised.value.parameter == "after"
