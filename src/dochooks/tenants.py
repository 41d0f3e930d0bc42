"""Tenants and their API tokens. Tokens are shown once and stored as SHA-256 digests."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from dochooks.clock import Clock, SystemClock
from dochooks.db import Connection

TOKEN_PREFIX = "dh_"


@dataclass(frozen=True)
class NewTenant:
    tenant_id: int
    token: str


def token_digest(token: str) -> str:
    # Tokens carry 256 random bits, so a plain digest is enough; no slow KDF on every request.
    return hashlib.sha256(token.encode()).hexdigest()


def create_tenant(conn: Connection, name: str, clock: Clock | None = None) -> NewTenant:
    now = (clock or SystemClock()).now_ms()
    row = conn.one("INSERT INTO tenants (name, created_at) VALUES (:n, :t) RETURNING id", {"n": name, "t": now})
    assert row is not None
    return NewTenant(row["id"], issue_token(conn, row["id"], now))


def issue_token(conn: Connection, tenant_id: int, now_ms: int) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.run(
        "INSERT INTO api_tokens (tenant_id, token_hash, created_at) VALUES (:tenant, :hash, :t)",
        {"tenant": tenant_id, "hash": token_digest(token), "t": now_ms},
    )
    return token


def tenant_for_token(conn: Connection, token: str) -> int | None:
    row = conn.one("SELECT tenant_id FROM api_tokens WHERE token_hash = :h", {"h": token_digest(token)})
    return None if row is None else int(row["tenant_id"])
