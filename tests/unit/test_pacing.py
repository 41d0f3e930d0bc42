"""How background batch work paces itself, without a clock."""

from __future__ import annotations

import pytest

from dochooks.pacing import rest


@pytest.mark.parametrize(
    ("share", "worked", "rests"),
    [(0.25, 1.0, 3.0), (0.5, 2.0, 2.0), (1.0, 1.0, 0.05), (0.25, 0.001, 0.05), (0.0, 1.0, 99.0), (7.0, 1.0, 0.05)],
)
def test_pruning_rests_enough_to_work_its_share_of_the_time_and_at_least_the_pause(
    share: float, worked: float, rests: float
) -> None:
    # A share out of bounds counts as its nearest bound (0.01 or 1), never a division by zero.
    assert rest(0.05, worked, share) == pytest.approx(rests)
