"""Webhook rows: create, read, change and delete a tenant's webhooks, and disable those
that deliveries found gone or refused or that failed too long (`webhooks/health.py`).
Secrets are encrypted on the way in and decrypted on the way out; callers see plain records."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from dochooks.clock import iso
from dochooks.db import Connection, Row, in_clause, rows_by
from dochooks.errors import InvalidInput, NotFound
from dochooks.logs import fields, scrubbed
from dochooks.signals import webhooks_changed
from dochooks.topics import ALL_TOPICS
from dochooks.webhooks.config import Health, HealthState, Webhook, origin
from dochooks.webhooks.secrets import Cipher, is_masked_form_of, looks_masked, new_signing_secret

_TOPIC_ORDER = {t.value: i for i, t in enumerate(ALL_TOPICS)}
logger = logging.getLogger("dochooks.webhooks")
# What a webhook's health is read from (`health_of`).
HEALTH_COLUMNS = (
    "enabled, failing_since, consecutive_failures, last_success_at, last_error, disabled_at, disabled_reason"
)
COLUMNS = (
    "id, tenant_id, name, url, headers, secret, created_at, updated_at, ordered, "
    f"previous_secret, previous_secret_expires_at, {HEALTH_COLUMNS}"
)  # what `decoded` reads
SECRET_OVERLAP_MS = 24 * 3600 * 1000  # how long a rotated-away signing secret still signs
# Every change moves updated_at forward, within one millisecond too: it is the version by
# which the dispatcher knows its decrypted copy of a webhook is stale (delivery/targets.py).
_CHANGED = "updated_at = CASE WHEN updated_at < :now THEN :now ELSE updated_at + 1 END"


def _topics_of(conn: Connection, webhook_ids: list[int]) -> dict[int, list[str]]:
    rows = rows_by(
        conn, "SELECT webhook_id, topic FROM webhook_topics WHERE webhook_id IN {values}", "webhook_id", webhook_ids
    )
    return {webhook: [r["topic"] for r in found] for webhook, found in rows.items()}


def health_of(row: Row) -> Health:
    """A webhook row's health (its `HEALTH_COLUMNS`): disabled, else failing while failing_since is set."""
    state = (
        HealthState.DISABLED
        if not row["enabled"]
        else HealthState.FAILING
        if row["failing_since"] is not None
        else HealthState.HEALTHY
    )
    return Health(
        state=state,
        failing_since=row["failing_since"],
        consecutive_failures=row["consecutive_failures"],
        last_success_at=row["last_success_at"],
        last_error=row["last_error"],
        disabled_at=row["disabled_at"],
        disabled_reason=row["disabled_reason"],
    )


def decoded(row: Row, cipher: Cipher, topics: Iterable[str] = ()) -> Webhook:
    """A webhook row (its COLUMNS) as a record, secrets decrypted: the one place that reads
    them. A secret that does not decrypt raises (a DochooksError)."""
    return Webhook(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        url=row["url"],
        headers=orjson.loads(cipher.decrypt(row["headers"])),
        topics=tuple(sorted(topics, key=_TOPIC_ORDER.__getitem__)),
        enabled=bool(row["enabled"]),
        secret=cipher.decrypt(row["secret"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        disabled_reason=row["disabled_reason"],
        previous_secret=cipher.decrypt(row["previous_secret"]) if row["previous_secret"] else None,
        previous_secret_expires_at=row["previous_secret_expires_at"],
        health=health_of(row),
        ordered=bool(row["ordered"]),
    )


def _lock(conn: Connection, webhook_id: int) -> None:
    """Hold the webhook's row until commit, so concurrent changes apply one after the other."""
    conn.one(f"SELECT id FROM webhooks WHERE id = :id{conn.dialect.for_update}", {"id": webhook_id})


def _set_topics(conn: Connection, webhook_id: int, topics: tuple[str, ...]) -> None:
    conn.run("DELETE FROM webhook_topics WHERE webhook_id = :id", {"id": webhook_id})
    conn.many(
        "INSERT INTO webhook_topics (webhook_id, topic) VALUES (:id, :topic)",
        [{"id": webhook_id, "topic": t} for t in topics],
    )


def create_webhook(
    conn: Connection,
    cipher: Cipher,
    *,
    tenant_id: int,
    name: str,
    url: str,
    headers: dict[str, str],
    topics: tuple[str, ...],
    enabled: bool,
    now_ms: int,
    ordered: bool = False,
) -> Webhook:
    row = conn.one(
        "INSERT INTO webhooks (tenant_id, name, url, headers, secret, enabled, ordered, created_at, updated_at) "
        f"VALUES (:tenant, :name, :url, :headers, :secret, :enabled, :ordered, :now, :now) RETURNING {COLUMNS}",
        {
            "tenant": tenant_id,
            "name": name,
            "url": url,
            "headers": cipher.encrypt(orjson.dumps(headers).decode()),
            "secret": cipher.encrypt(new_signing_secret()),
            "enabled": enabled,
            "ordered": ordered,
            "now": now_ms,
        },
    )
    assert row is not None
    _set_topics(conn, row["id"], topics)
    log_change(conn, row["id"], "created", tenant=tenant_id)
    return decoded(row, cipher, topics)


def get_webhook(conn: Connection, cipher: Cipher, tenant_id: int, webhook_id: int) -> Webhook:
    row = conn.one(
        f"SELECT {COLUMNS} FROM webhooks WHERE id = :id AND tenant_id = :tenant",
        {"id": webhook_id, "tenant": tenant_id},
    )
    if row is None:
        raise NotFound(f"no webhook {webhook_id}")
    return decoded(row, cipher, _topics_of(conn, [webhook_id])[webhook_id])


def rows_of(conn: Connection, webhook_ids: list[int]) -> list[Row]:
    """The rows (`COLUMNS`, for `decoded`) of those of these webhooks that still exist."""
    if not webhook_ids:
        return []
    listed, params = in_clause("w", webhook_ids)
    return conn.all(f"SELECT {COLUMNS} FROM webhooks WHERE id IN {listed}", params)


def require_webhook(conn: Connection, tenant_id: int, webhook_id: int) -> None:
    """Raise NotFound unless the tenant has this webhook (without decrypting anything)."""
    found = conn.one(
        "SELECT id FROM webhooks WHERE id = :id AND tenant_id = :tenant", {"id": webhook_id, "tenant": tenant_id}
    )
    if found is None:
        raise NotFound(f"no webhook {webhook_id}")


def list_webhooks(conn: Connection, cipher: Cipher, tenant_id: int) -> list[Webhook]:
    rows = conn.all(f"SELECT {COLUMNS} FROM webhooks WHERE tenant_id = :tenant ORDER BY id", {"tenant": tenant_id})
    topics = _topics_of(conn, [r["id"] for r in rows])
    return [decoded(r, cipher, topics[r["id"]]) for r in rows]


def merge_headers(current: dict[str, str], given: dict[str, str]) -> tuple[dict[str, str], set[str]]:
    """The new header set, and the names whose stored value it keeps. A value given back in
    its masked form keeps the stored value, so a client (or the web form) can send the
    headers it was shown without erasing them. A masked value under a name that holds no
    such value (a header renamed, say) is refused: stored, it would send the mask itself."""
    lowered = {k.lower(): v for k, v in current.items()}
    merged, kept = {}, set()
    for name, value in given.items():
        old = lowered.get(name.lower())
        if old is not None and is_masked_form_of(value, old):
            merged[name] = old
            kept.add(name)
        elif looks_masked(value):
            raise InvalidInput(
                f"header {name} holds a masked value, not one of its own; type the value itself",
                attribute=f"headers/{name}",
            )
        else:
            merged[name] = value
    return merged, kept


def headers_after(current: Webhook, changes: dict[str, Any]) -> dict[str, str]:
    """The headers a change leaves. Stored values were given for the webhook's origin: a
    URL that moves to another scheme, host or port does not take them along unless they
    are sent again, in full, in the same change (masking would otherwise protect nothing
    from whoever holds the token)."""
    if "headers" in changes:
        headers, kept = merge_headers(current.headers, changes["headers"])
    else:
        headers, kept = current.headers, set(current.headers)
    moved_to = origin(changes.get("url", current.url))
    if kept and moved_to != origin(current.url):
        names = ", ".join(sorted(kept))
        raise InvalidInput(
            f"the URL moves to another origin ({moved_to}), and stored header values are not sent to a new "
            f"origin unless they are given again: send the full value of {names} with the new URL, or remove "
            "the header",
            attribute="headers",
        )
    return headers


def update_webhook(
    conn: Connection, cipher: Cipher, tenant_id: int, webhook_id: int, changes: dict[str, Any], now_ms: int
) -> Webhook:
    """Apply validated changes (any of name, url, headers, topics, enabled, ordered). Setting
    `enabled` either way clears the reason dochooks disabled the webhook for; enabling a
    disabled webhook makes it healthy again (its next attempts judge it afresh)."""
    _lock(conn, webhook_id)
    current = get_webhook(conn, cipher, tenant_id, webhook_id)
    headers = headers_after(current, changes)
    enabled = changes.get("enabled", current.enabled)
    health = current.health
    if enabled != current.enabled:
        health = Health(last_success_at=health.last_success_at, last_error=health.last_error)
        if not enabled:
            health = Health(
                HealthState.DISABLED,
                last_success_at=health.last_success_at,
                last_error=health.last_error,
                disabled_at=now_ms,
            )
    conn.run(
        "UPDATE webhooks SET name = :name, url = :url, headers = :headers, enabled = :enabled, ordered = :ordered, "
        "disabled_reason = :reason, disabled_at = :disabled_at, failing_since = :failing_since, "
        f"consecutive_failures = :failures, {_CHANGED} WHERE id = :id",
        {
            "disabled_at": health.disabled_at,
            "failing_since": health.failing_since,
            "failures": health.consecutive_failures,
            "id": webhook_id,
            "name": changes.get("name", current.name),
            "url": changes.get("url", current.url),
            "headers": cipher.encrypt(orjson.dumps(headers).decode()),
            "enabled": enabled,
            "ordered": changes.get("ordered", current.ordered),
            "reason": None if "enabled" in changes else current.disabled_reason,
            "now": now_ms,
        },
    )
    if "topics" in changes:
        _set_topics(conn, webhook_id, changes["topics"])
    webhooks_changed.announce(conn)  # deliveries already claimed go by the change too
    log_change(conn, webhook_id, "changed", tenant=tenant_id, fields=",".join(sorted(changes)))
    return get_webhook(conn, cipher, tenant_id, webhook_id)


def delete_webhook(conn: Connection, tenant_id: int, webhook_id: int) -> None:
    """Delete a webhook with its delivery log; its pending deliveries are dropped, those a
    dispatcher has claimed too (`webhooks_changed`)."""
    deleted = conn.run(
        "DELETE FROM webhooks WHERE id = :id AND tenant_id = :tenant", {"id": webhook_id, "tenant": tenant_id}
    )
    if not deleted:
        raise NotFound(f"no webhook {webhook_id}")
    webhooks_changed.announce(conn)  # deliveries already claimed are not sent
    log_change(conn, webhook_id, "deleted", tenant=tenant_id)


def rotate_secret(conn: Connection, cipher: Cipher, tenant_id: int, webhook_id: int, now_ms: int) -> Webhook:
    """Give the webhook a new signing secret. The old one keeps signing too, for
    SECRET_OVERLAP_MS, so a receiver can switch to the new one without missing a delivery.
    Rotating again within that time replaces the old one: the last two secrets sign."""
    _lock(conn, webhook_id)
    current = get_webhook(conn, cipher, tenant_id, webhook_id)
    conn.run(
        "UPDATE webhooks SET secret = :secret, previous_secret = :previous, previous_secret_expires_at = :until, "
        f"{_CHANGED} WHERE id = :id",
        {
            "id": webhook_id,
            "secret": cipher.encrypt(new_signing_secret()),
            "previous": cipher.encrypt(current.secret),
            "until": now_ms + SECRET_OVERLAP_MS,
            "now": now_ms,
        },
    )
    webhooks_changed.announce(conn)
    log_change(conn, webhook_id, "secret rotated", tenant=tenant_id)
    return get_webhook(conn, cipher, tenant_id, webhook_id)


@dataclass(frozen=True)
class Gone:
    """A delivery's endpoint answered 410 Gone at `at_ms`: it says it will take no more."""

    webhook_id: int
    at_ms: int


@dataclass(frozen=True)
class Refused:
    """The address policy refused, at `at_ms`, where a delivery's URL leads (`why`, as the
    sender put it): no retry would be let through either."""

    webhook_id: int
    at_ms: int
    why: str


Unreachable = Gone | Refused  # what a delivery can find out that no retry would change


def disabled_reason(found: Unreachable) -> str:
    """What the webhook's owner reads of why dochooks disabled it, and how to resume."""
    if isinstance(found, Gone):
        return f"the endpoint answered 410 Gone at {iso(found.at_ms)}; enable the webhook again to resume"
    return (
        f"deliveries are refused since {iso(found.at_ms)}: {found.why}; change the URL (or have the "
        "operator open its range) and enable the webhook again"
    )


def unreachable_reasons(found: Iterable[Unreachable]) -> dict[int, str]:
    """Why each webhook that deliveries found gone or refused is to be disabled (the last
    finding of a webhook's, should one batch hold two): `webhooks.health.record` disables them."""
    return {f.webhook_id: disabled_reason(f) for f in found}


def disable_for(conn: Connection, reasons: dict[int, str], now_ms: int) -> None:
    """Disable webhooks on dochooks' own account (their endpoints are gone, or have failed
    every attempt for too long), saying why."""
    for webhook_id, reason in sorted(reasons.items()):
        disabled = conn.run(
            f"UPDATE webhooks SET enabled = :off, disabled_reason = :reason, disabled_at = :now, {_CHANGED} "
            "WHERE id = :id AND enabled = :on",
            {"id": webhook_id, "reason": reason, "now": now_ms, "on": True, "off": False},
        )
        if disabled:
            webhooks_changed.announce(conn)  # its deliveries held by a dispatcher are not sent
            log_change(conn, webhook_id, "disabled", level=logging.WARNING, reason=scrubbed(reason))


def log_change(conn: Connection, webhook_id: int, change: str, *, level: int = logging.INFO, **more: Any) -> None:
    """A line for the operator once the change commits: ids and what changed, never a URL,
    a header value or a secret."""
    line = fields(webhook=webhook_id, change=change, **more)
    conn.after_commit(lambda: logger.log(level, "webhook %d %s", webhook_id, change, extra=line))


def reencrypt_all(conn: Connection, cipher: Cipher) -> int:
    """Encrypt every stored secret again with the cipher's first key; returns the webhooks done."""
    rows = conn.all(f"SELECT id, headers, secret, previous_secret FROM webhooks ORDER BY id{conn.dialect.for_update}")
    for row in rows:
        conn.run(
            "UPDATE webhooks SET headers = :headers, secret = :secret, previous_secret = :previous WHERE id = :id",
            {
                "id": row["id"],
                "headers": cipher.reencrypt(row["headers"]),
                "secret": cipher.reencrypt(row["secret"]),
                "previous": cipher.reencrypt(row["previous_secret"]) if row["previous_secret"] else None,
            },
        )
    return len(rows)
