"""A webhook's health: healthy, failing (since when, how many attempts in a row) or disabled
(why, when), kept from its workflow deliveries' attempts in the transaction that records
them. What a batch of attempts does to a webhook is a pure function (`after`); `record`
reads the webhooks' rows under lock, writes what changed in one statement, and disables
those whose attempts have all failed for too long, or that a delivery found unreachable."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import orjson

from dochooks.clock import iso
from dochooks.db import Connection, in_clause
from dochooks.logs import scrubbed
from dochooks.webhooks import store
from dochooks.webhooks.config import Health, HealthState
from dochooks.webhooks.store import HEALTH_COLUMNS, health_of


class Change(StrEnum):
    """A change of state that the webhook's owner hears of (operational topics)."""

    FAILING = "webhook-failing"  # each the value of its operational topic (topics.py)
    DISABLED = "webhook-disabled"
    RECOVERED = "webhook-recovered"


def shown(health: Health) -> dict[str, Any]:
    """A webhook's health as the API and the operational notifications show it (times in ISO)."""
    return {
        "state": str(health.state),
        "failing_since": iso(health.failing_since),
        "consecutive_failures": health.consecutive_failures,
        "last_success_at": iso(health.last_success_at),
        "last_error": health.last_error,
        "disabled_at": iso(health.disabled_at),
        "disabled_reason": health.disabled_reason,
    }


@dataclass(frozen=True)
class Tally:
    """One webhook's attempts in a batch, as its health needs them: its latest success, and the
    failures after it (all of them if none succeeded)."""

    webhook_id: int
    succeeded_at: int | None = None
    failures: int = 0
    first_failure_at: int | None = None
    last_error: str | None = None


def tally(attempts: Iterable[tuple[int, bool, int, str | None]]) -> dict[int, Tally]:
    """Per webhook, its (webhook id, succeeded, ended at, error) attempts in the order they ended."""
    found: dict[int, Tally] = {}
    for webhook_id, succeeded, at, error in attempts:
        t = found.get(webhook_id) or Tally(webhook_id)
        if succeeded:
            found[webhook_id] = Tally(webhook_id, succeeded_at=at)
        else:
            first = at if t.failures == 0 else t.first_failure_at
            found[webhook_id] = replace(t, failures=t.failures + 1, first_failure_at=first, last_error=error)
    return found


def after(health: Health, t: Tally, *, now_ms: int, disable_after_ms: int | None) -> tuple[Health, Change | None]:
    """A webhook's health after a batch's attempts, and the change its owner hears of, if any.
    A disabled webhook's health stays (its deliveries fail unsent, through no fault of its endpoint);
    `disable_after_ms` None never disables."""
    if health.state is HealthState.DISABLED:
        return health, None
    was_failing = health.state is HealthState.FAILING
    if t.succeeded_at is not None:
        health = replace(
            health,
            state=HealthState.HEALTHY,
            failing_since=None,
            consecutive_failures=0,
            last_success_at=t.succeeded_at,
        )
    if t.failures:
        health = replace(
            health,
            state=HealthState.FAILING,
            failing_since=health.failing_since if health.failing_since is not None else t.first_failure_at,
            consecutive_failures=health.consecutive_failures + t.failures,
            last_error=t.last_error,
        )
    failing_for = None if health.failing_since is None else now_ms - health.failing_since
    if failing_for is not None and disable_after_ms is not None and failing_for >= disable_after_ms:
        reason = (
            f"every delivery attempt failed since {iso(health.failing_since)} ({health.consecutive_failures} in a "
            f"row, the last: {health.last_error}); enable the webhook again to resume"
        )
        return disabled(health, reason, now_ms), Change.DISABLED
    if health.state is HealthState.FAILING and not was_failing:
        return health, Change.FAILING
    if was_failing and health.state is HealthState.HEALTHY:
        return health, Change.RECOVERED
    return health, None


def disabled(health: Health, reason: str, now_ms: int) -> Health:
    return replace(health, state=HealthState.DISABLED, disabled_at=now_ms, disabled_reason=reason)


@dataclass(frozen=True)
class Subject:
    """A webhook as its health was before a batch, with what an operational notice names."""

    webhook_id: int
    tenant_id: int
    name: str
    health: Health


@dataclass(frozen=True)
class Transition:
    webhook: Subject  # before
    change: Change
    health: Health  # after


@dataclass(frozen=True)
class Recorded:
    """What `record` found and did: the webhooks as they were, their health now, the changes."""

    before: dict[int, Subject]
    after: dict[int, Health]
    transitions: list[Transition]


def record(
    conn: Connection,
    tallies: Mapping[int, Tally],
    unreachable: Mapping[int, str],
    *,
    now_ms: int,
    disable_after_ms: int | None,
) -> Recorded:
    """Apply a batch's attempts (`tallies`) and what they found (`unreachable`: webhook id ->
    why it is disabled) to the webhooks' health: one read under lock (in id order, as every
    recorder takes them), one write of the health columns; a webhook to disable also goes
    through `store.disable_for`."""
    ids = sorted(set(tallies) | set(unreachable))
    if not ids:
        return Recorded({}, {}, [])
    listed, params = in_clause("w", ids)
    rows = conn.all(
        f"SELECT id, tenant_id, name, {HEALTH_COLUMNS} FROM webhooks WHERE id IN {listed} ORDER BY id"
        f"{conn.dialect.for_no_key_update}",
        params,
    )
    subjects = {r["id"]: Subject(r["id"], r["tenant_id"], r["name"], health_of(r)) for r in rows}
    written: list[tuple[int, Health]] = []
    transitions = []
    now: dict[int, Health] = {}
    for webhook_id, subject in subjects.items():
        now_health, change = subject.health, None
        if webhook_id in tallies:
            now_health, change = after(
                now_health, tallies[webhook_id], now_ms=now_ms, disable_after_ms=disable_after_ms
            )
        if webhook_id in unreachable and now_health.state is not HealthState.DISABLED:
            now_health, change = disabled(now_health, unreachable[webhook_id], now_ms), Change.DISABLED
        now[webhook_id] = now_health
        if now_health != subject.health:
            written.append((webhook_id, now_health))
        if change is not None:
            transitions.append(Transition(subject, change, now_health))
    _write(conn, written)
    _note(conn, transitions, now_ms)
    return Recorded(subjects, now, transitions)


def _write(conn: Connection, written: list[tuple[int, Health]]) -> None:
    """The health columns of every webhook whose health changed, in one statement (queued: no
    round trip before the commit). It leaves updated_at alone: the dispatcher's copy of a
    webhook stays current, since nothing it sends by has changed."""
    if not written:
        return
    rows, item = conn.dialect.elements("health")
    conn.queue(
        f"UPDATE webhooks SET failing_since = {item(1, 'BIGINT')}, consecutive_failures = {item(2, 'INTEGER')}, "
        f"last_success_at = {item(3, 'BIGINT')}, last_error = {item(4, 'TEXT')} FROM {rows} "
        f"WHERE webhooks.id = {item(0, 'BIGINT')}",
        {
            "health": orjson.dumps(
                [(i, h.failing_since, h.consecutive_failures, h.last_success_at, h.last_error) for i, h in written]
            ).decode()
        },
    )


def _note(conn: Connection, transitions: list[Transition], now_ms: int) -> None:
    """Disable what is to be disabled; a log line for the other changes (`disable_for` logs its own)."""
    store.disable_for(
        conn,
        {t.webhook.webhook_id: t.health.disabled_reason or "" for t in transitions if t.change is Change.DISABLED},
        now_ms,
    )
    for t in transitions:
        if t.change is Change.FAILING:
            store.log_change(
                conn,
                t.webhook.webhook_id,
                "failing",
                level=logging.WARNING,
                tenant=t.webhook.tenant_id,
                since=iso(t.health.failing_since or now_ms),
                error=scrubbed(t.health.last_error),
            )
        elif t.change is Change.RECOVERED:
            store.log_change(conn, t.webhook.webhook_id, "recovered", tenant=t.webhook.tenant_id)
