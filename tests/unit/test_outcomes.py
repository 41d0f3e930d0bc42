from __future__ import annotations

import json
import random

import pytest

from dochooks.delivery.attempts import Attempt
from dochooks.delivery.backoff import MAX_RETRIES
from dochooks.delivery.outcomes import Kind, judge, not_sent, recorded
from dochooks.delivery.sender import SendResult
from dochooks.webhooks.store import Gone, Refused
from tests.factories.deliveries import claimed

ENDED = 1_800_000_000_000  # ms: when the attempt ended
SEED = 7


def scheduled(attempt: int, *, scale: float = 1.0) -> int:
    """When the published schedule puts the next attempt, with the jitter the seeded rng draws."""
    jitter = random.Random(SEED).uniform(0, 30)
    return ENDED + round((attempt**5 + jitter) * 1000 * scale)


def answer(status: int | None, *, error: str | None = None, retry_after: str | None = None) -> SendResult:
    return SendResult(status, b"thanks" if status is not None else b"", error, retry_after)


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_a_success(status: int) -> None:
    verdict = judge(claimed(), answer(status), ENDED, rng=random.Random(SEED))
    assert verdict.kind is Kind.SUCCEEDED and verdict.status == "succeeded"
    assert verdict.error is None and verdict.next_attempt_at is None and verdict.found is None


@pytest.mark.parametrize(
    ("result", "error"),
    [
        (answer(301), "HTTP 301 (redirects are not followed)"),
        (answer(302), "HTTP 302 (redirects are not followed)"),
        (answer(400), "HTTP 400"),
        (answer(401), "HTTP 401"),
        (answer(404), "HTTP 404"),
        (answer(409), "HTTP 409"),
        (answer(500), "HTTP 500"),
        (answer(502), "HTTP 502"),
        (answer(504), "HTTP 504"),
        (answer(199), "HTTP 199"),
        (answer(None, error="timed out after 15 s"), "timed out after 15 s"),
        (answer(None, error="ClientConnectorError: connection refused"), "ClientConnectorError: connection refused"),
        (answer(None, error="localhost does not resolve"), "localhost does not resolve"),  # DNS may answer later
    ],
)
@pytest.mark.parametrize("attempt", range(1, MAX_RETRIES + 1))
def test_other_answers_and_no_answer_are_retried_n_to_the_fifth_seconds_plus_jitter_later(
    result: SendResult, error: str, attempt: int
) -> None:
    verdict = judge(claimed(attempt=attempt), result, ENDED, rng=random.Random(SEED))
    assert verdict.kind is Kind.RETRY and verdict.status == "pending" and verdict.found is None
    assert verdict.error == error
    assert verdict.next_attempt_at == scheduled(attempt)


def test_the_time_scale_shrinks_the_whole_wait() -> None:
    verdict = judge(claimed(attempt=3), answer(500), ENDED, scale=0.001, rng=random.Random(SEED))
    assert verdict.next_attempt_at == scheduled(3, scale=0.001)


def test_the_ninth_attempt_fails_for_good() -> None:
    eighth = judge(claimed(attempt=MAX_RETRIES), answer(500), ENDED, rng=random.Random(SEED))
    assert eighth.kind is Kind.RETRY
    ninth = judge(claimed(attempt=MAX_RETRIES + 1), answer(500), ENDED, rng=random.Random(SEED))
    assert ninth.kind is Kind.FAILED and ninth.status == "failed"
    assert ninth.next_attempt_at is None and ninth.error == "HTTP 500" and ninth.found is None


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_on_429_and_503_moves_the_retry_later_and_says_so(status: int) -> None:
    later = judge(claimed(), answer(status, retry_after="3600"), ENDED, rng=random.Random(SEED))
    assert later.kind is Kind.RETRY and later.next_attempt_at == ENDED + 3_600_000
    assert later.error == f"HTTP {status} (Retry-After: 3600 s)"


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_never_moves_the_retry_earlier(status: int) -> None:
    sooner = judge(claimed(attempt=4), answer(status, retry_after="1"), ENDED, rng=random.Random(SEED))
    assert sooner.next_attempt_at == scheduled(4)
    unreadable = judge(claimed(), answer(status, retry_after="soon"), ENDED, rng=random.Random(SEED))
    assert unreadable.next_attempt_at == scheduled(1) and unreadable.error == f"HTTP {status}"


def test_retry_after_on_other_statuses_is_ignored() -> None:
    verdict = judge(claimed(), answer(500, retry_after="3600"), ENDED, rng=random.Random(SEED))
    assert verdict.next_attempt_at == scheduled(1) and verdict.error == "HTTP 500"


@pytest.mark.parametrize("attempt", [1, MAX_RETRIES + 1])
def test_410_fails_at_once_and_reports_the_endpoint_gone(attempt: int) -> None:
    verdict = judge(claimed(webhook=5, attempt=attempt), answer(410), ENDED, rng=random.Random(SEED))
    assert verdict.kind is Kind.GONE and verdict.status == "failed" and verdict.next_attempt_at is None
    assert verdict.error == "HTTP 410 (the endpoint is gone; webhook disabled)"
    assert verdict.found == Gone(5, ENDED)


def test_a_refused_address_fails_at_once_and_is_not_retried() -> None:
    why = "refused: 127.0.0.1 is not a public address (loopback)"
    rng = random.Random(SEED)
    verdict = judge(claimed(webhook=5), SendResult(None, b"", why, refused=True), ENDED, rng=rng)
    assert verdict.kind is Kind.REFUSED and verdict.status == "failed" and verdict.next_attempt_at is None
    assert verdict.error == f"{why} (not retried; webhook disabled)"
    assert verdict.found == Refused(5, ENDED, why)
    assert rng.random() == random.Random(SEED).random()  # no jitter was drawn: no retry was planned


def test_a_delivery_that_cannot_be_sent_fails_for_good_saying_why() -> None:
    verdict = not_sent("webhook is disabled; not sent")
    assert verdict.kind is Kind.FAILED and verdict.status == "failed"
    assert verdict.error == "webhook is disabled; not sent" and verdict.next_attempt_at is None


def test_the_record_of_an_attempt_keeps_what_the_log_shows() -> None:
    item = claimed(webhook=5, attempt=2, delivery=9, lease_end=123)
    result = SendResult(500, b"bad\x00\xff", None)
    made = Attempt(ENDED - 40, 40, {"Authorization": "****1234"}, result)
    row = recorded(item, made, judge(item, result, made.ended, rng=random.Random(SEED)))
    assert (row.delivery_id, row.webhook_id, row.number, row.lease_end) == (9, 5, 2, 123)
    assert (row.started_at, row.duration_ms, row.response_status) == (ENDED - 40, 40, 500)
    assert row.response_body == "bad\ufffd\ufffd"  # storable: no NUL, valid UTF-8
    assert json.loads(row.request_headers) == {"Authorization": "****1234"}
    assert (row.status, row.next_attempt_at, row.error) == ("pending", scheduled(2), "HTTP 500")
    unanswered = Attempt(ENDED, 15_000, {}, SendResult(None, b"", "timed out after 15 s"))
    assert recorded(item, unanswered, judge(item, unanswered.result, ENDED)).response_body is None


def test_the_record_of_an_attempt_says_whether_its_delivery_keeps_its_documents_order() -> None:
    made = Attempt(ENDED - 40, 40, {}, SendResult(200, b"", None))
    for in_order in (True, False):
        item = claimed(in_order=in_order)
        assert recorded(item, made, judge(item, made.result, made.ended)).in_order is in_order
