"""Retention's decisions, without a database: where a walk stops, what it picks, the bounds
of a tenant's document age."""

from __future__ import annotations

import pytest

from dochooks.documents import config as workflow_config
from dochooks.errors import InvalidInput
from dochooks.retention import DAY_MS, Pruned, cutoff, settled_before, step


def row(id: int, created_at: int, status: str = "succeeded", updated_at: int | None = None) -> dict[str, object]:
    return {
        "id": id,
        "created_at": created_at,
        "status": status,
        "updated_at": created_at if updated_at is None else updated_at,
    }


def test_zero_days_is_no_cutoff_and_n_days_is_n_days_back() -> None:
    assert cutoff(10 * DAY_MS, 0) is None
    assert cutoff(10 * DAY_MS, 3) == 7 * DAY_MS


def test_a_walk_picks_settled_rows_and_skips_pending_and_lately_settled_ones() -> None:
    rows = [row(1, 10), row(2, 20, "pending"), row(3, 30, "failed"), row(4, 40, updated_at=500)]
    walk = step(rows, batch=4, cutoff_ms=100, deletable=settled_before(100))
    assert (walk.chosen, walk.after, walk.last) == ([1, 3], 4, False)


def test_a_walk_stops_at_the_first_row_made_after_the_cutoff() -> None:
    rows = [row(1, 10), row(2, 100), row(3, 10)]
    walk = step(rows, batch=3, cutoff_ms=100, deletable=settled_before(100))
    assert (walk.chosen, walk.last) == ([1], True)


def test_a_short_batch_is_the_end_of_the_table() -> None:
    assert step([row(7, 10)], batch=2, cutoff_ms=100, deletable=settled_before(100)).last
    assert step([], batch=2, cutoff_ms=100, deletable=settled_before(100)).last


def test_counts_add_up() -> None:
    total = Pruned(deliveries=1, attempts=2) + Pruned(events=3, documents=4, files=5)
    assert total == Pruned(1, 2, 3, 4, 5) and total.rows == 15


@pytest.mark.parametrize("days", [-1, workflow_config.MAX_RETENTION_DAYS + 1])
def test_a_tenants_document_age_out_of_bounds_is_refused(days: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        workflow_config.checked({"document_retention_days": days})
    assert refused.value.pointer and refused.value.pointer.endswith("document_retention_days")


@pytest.mark.parametrize("days", [None, 0, 7, workflow_config.MAX_RETENTION_DAYS])
def test_a_tenants_document_age_in_bounds_is_kept(days: int | None) -> None:
    assert workflow_config.checked({"document_retention_days": days}) == {"document_retention_days": days}
