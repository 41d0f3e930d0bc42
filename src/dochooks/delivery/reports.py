"""What the operator sees of each settled attempt: the outcome counters, and a log line for
every attempt that failed (webhook, delivery, attempt number, status or error, what next)."""

from __future__ import annotations

import logging

from dochooks.clock import iso
from dochooks.delivery.attempts import Attempt
from dochooks.delivery.leases import Claimed
from dochooks.delivery.outcomes import Kind, Verdict
from dochooks.logs import fields, scrubbed
from dochooks.metrics import OUTCOME, WEBHOOK_FAILURES

logger = logging.getLogger("dochooks.deliveries")


def report(item: Claimed, made: Attempt, verdict: Verdict, *, sent: bool = True) -> None:
    """Count the attempt; log it if it failed: at info while it will be tried again or when
    nothing was sent (its webhook disabled by its tenant), at warning once a sent delivery
    will not be tried again (retries exhausted, endpoint gone or refused)."""
    if verdict.kind is Kind.SUCCEEDED:
        OUTCOME["succeeded"].inc()
        return
    retrying = verdict.kind is Kind.RETRY
    error, next_attempt = scrubbed(verdict.error), iso(verdict.next_attempt_at)
    OUTCOME["retrying" if retrying else "failed"].inc()
    WEBHOOK_FAILURES.labels(str(item.webhook_id)).inc()
    logger.log(
        logging.INFO if retrying or not sent else logging.WARNING,
        "delivery %d to webhook %d: attempt %d failed: %s; %s",
        item.delivery_id,
        item.webhook_id,
        item.attempt_number,
        error,
        f"next attempt at {next_attempt}" if retrying else "not tried again",
        extra=fields(
            tenant=item.tenant_id,
            webhook=item.webhook_id,
            delivery=item.delivery_id,
            attempt=item.attempt_number,
            status=made.result.status,
            error=error,
            next_attempt=next_attempt,
        ),
    )
