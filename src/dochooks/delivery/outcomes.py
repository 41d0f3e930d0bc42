"""What an answer means: a pure function from what one attempt got to what becomes of its
delivery (succeeded, tried again at a given time, failed for good), and what the attempt
found out about its webhook's endpoint (gone, refused) for the webhooks module to act on."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import Enum

import orjson

from dochooks.delivery.attempts import Attempt
from dochooks.delivery.backoff import RETRY_AFTER_STATUSES, next_attempt_after_failure, retry_after_ms
from dochooks.delivery.leases import Claimed, DeliveryStatus, Outcome
from dochooks.delivery.sender import SendResult
from dochooks.webhooks.store import Gone, Refused, Unreachable


class Kind(Enum):
    """What becomes of a delivery after an attempt, or after it could not be made."""

    SUCCEEDED = "succeeded"  # a 2xx answer
    RETRY = "retry"  # failed; tried again at the verdict's next_attempt_at
    FAILED = "failed"  # failed for good: its retries are used up, or it could not be sent at all
    GONE = "gone"  # failed for good: the endpoint answered 410 Gone
    REFUSED = "refused"  # failed for good: the address policy refuses where the URL leads


@dataclass(frozen=True)
class Verdict:
    """What an answer means for its delivery and, if it found that out, for its webhook."""

    kind: Kind
    error: str | None = None  # what the delivery log says of a failure
    next_attempt_at: int | None = None  # when it is tried again (RETRY)
    found: Unreachable | None = None  # what the webhook's endpoint turned out to be (GONE, REFUSED)
    status: DeliveryStatus = field(init=False)  # the delivery's status once this is recorded

    def __post_init__(self) -> None:
        # Worked out once, not on every read: the one success verdict is read for every delivery.
        kind = self.kind
        status = (
            DeliveryStatus.SUCCEEDED
            if kind is Kind.SUCCEEDED
            else DeliveryStatus.PENDING
            if kind is Kind.RETRY
            else DeliveryStatus.FAILED
        )
        object.__setattr__(self, "status", status)


SUCCESS = Verdict(Kind.SUCCEEDED)


def judge(
    item: Claimed, result: SendResult, ended_ms: int, *, scale: float = 1.0, rng: random.Random | None = None
) -> Verdict:
    """What `result` means for the delivery whose attempt it answered, that attempt having
    ended at `ended_ms`. Retries follow the published schedule (times `scale`, jitter from
    `rng`); a 429 or 503 with Retry-After can only move a retry later."""
    status = result.status
    if status is not None and 200 <= status < 300:
        return SUCCESS
    if result.refused:  # the policy: no retry would be let through either
        error = f"{result.error or _failure(status)} (not retried; webhook disabled)"
        return Verdict(Kind.REFUSED, error, found=Refused(item.webhook_id, ended_ms, result.error or ""))
    if status == 410:  # the endpoint says it is gone for good
        return Verdict(Kind.GONE, result.error or _failure(status, gone=True), found=Gone(item.webhook_id, ended_ms))
    wait_ms = retry_after_ms(result.retry_after, ended_ms) if status in RETRY_AFTER_STATUSES else None
    error = result.error or _failure(status, wait_ms=wait_ms)
    next_at = next_attempt_after_failure(item.attempt_number, ended_ms, scale=scale, rng=rng, retry_after=wait_ms)
    return Verdict(Kind.FAILED, error) if next_at is None else Verdict(Kind.RETRY, error, next_at)


def not_sent(why: str) -> Verdict:
    """A delivery that cannot be sent at all (its webhook disabled, its secret unreadable):
    failed for good, without a request."""
    return Verdict(Kind.FAILED, why)


def recorded(item: Claimed, made: Attempt, verdict: Verdict) -> Outcome:
    """The attempt row and the delivery's new state, as the queue records them."""
    result = made.result
    return Outcome(
        delivery_id=item.delivery_id,
        webhook_id=item.webhook_id,
        number=item.attempt_number,
        started_at=made.started,
        duration_ms=made.duration_ms,
        request_headers=orjson.dumps(made.headers).decode(),
        response_status=result.status,
        response_body=_text(result.body) if result.status is not None else None,
        error=verdict.error,
        status=verdict.status,
        next_attempt_at=verdict.next_attempt_at,
        lease_end=item.lease_end,
        topic=item.topic,
        in_order=item.in_order,
    )


def _text(body: bytes) -> str:
    """A response excerpt as storable text: PostgreSQL text cannot hold NUL, and one NUL
    would fail the write of a whole batch of attempts."""
    return body.decode("utf-8", "replace").replace("\x00", "\ufffd")


def _failure(status: int | None, *, gone: bool = False, wait_ms: int | None = None) -> str:
    """What the delivery log says of a response that was not a success."""
    if status is not None and 300 <= status < 400:
        return f"HTTP {status} (redirects are not followed)"
    if gone:
        return f"HTTP {status} (the endpoint is gone; webhook disabled)"
    if wait_ms:
        return f"HTTP {status} (Retry-After: {wait_ms / 1000:g} s)"
    return f"HTTP {status}"
