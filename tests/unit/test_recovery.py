"""Where a recovery's batch leaves the job: a pure decision, tested without a database."""

from __future__ import annotations

from dochooks.delivery.recovery import JobStatus, Recovery, Which, progressed


def job(total: int, recovered: int = 0) -> Recovery:
    return Recovery(1, 1, 1, 0, Which.FAILED, JobStatus.RUNNING, total, recovered, 0, None, None)


def test_a_full_batch_moves_the_cursor_to_its_last_delivery_and_goes_on() -> None:
    now = progressed(job(10, 2), seen=[5, 7, 9], made_due=3, batch=3, last_id=40)
    assert (now.status, now.recovered, now.total, now.after_id) == (JobStatus.RUNNING, 5, 10, 9)


def test_a_short_batch_ends_the_walk_and_the_total_becomes_what_was_made_due() -> None:
    now = progressed(job(10, 6), seen=[31], made_due=1, batch=3, last_id=40)
    assert (now.status, now.recovered, now.total, now.after_id) == (JobStatus.DONE, 7, 7, 40)


def test_a_delivery_not_chosen_or_in_flight_is_passed_over_not_counted() -> None:
    now = progressed(job(4), seen=[1, 2, 3], made_due=2, batch=3, last_id=9)
    assert (now.status, now.recovered, now.after_id) == (JobStatus.RUNNING, 2, 3)


def test_more_matching_than_counted_at_the_start_raises_the_total() -> None:
    now = progressed(job(2, 2), seen=[8, 9], made_due=2, batch=2, last_id=9)
    assert (now.recovered, now.total) == (4, 4)
