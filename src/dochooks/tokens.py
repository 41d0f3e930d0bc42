"""A tenant's named API tokens. A token is shown once; only its SHA-256 digest and a short
prefix (to recognise it in a list) are stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from dochooks.db import Connection
from dochooks.errors import Conflict, InvalidInput, NotFound

TOKEN_PREFIX = "dh_"
SHOWN_PREFIX_LENGTH = len(TOKEN_PREFIX) + 8
# "Last used" is for people deciding what to revoke: a minute's precision spares a write per request.
LAST_USED_PRECISION_MS = 60_000


@dataclass(frozen=True)
class Bearer:
    """Who a valid token belongs to, and when its use was last written down."""

    token_id: int
    tenant_id: int
    last_used_at: int | None


@dataclass(frozen=True)
class TokenInfo:
    token_id: int
    name: str
    prefix: str | None  # None for a token made before tokens had names: its plaintext was never kept
    created_at: int
    last_used_at: int | None


def token_digest(token: str) -> str:
    # Tokens carry 256 random bits, so a plain digest is enough; no slow KDF on every request.
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(conn: Connection, tenant_id: int, name: str, now_ms: int) -> str:
    """A new token of the tenant under a name unique to it; the plaintext, returned only now."""
    if not name.strip():
        raise InvalidInput("a token needs a name")
    if conn.one("SELECT id FROM api_tokens WHERE tenant_id = :t AND name = :n", {"t": tenant_id, "n": name}):
        raise Conflict(f"the tenant already has a token named {name!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.run(
        "INSERT INTO api_tokens (tenant_id, name, prefix, token_hash, created_at) "
        "VALUES (:tenant, :name, :prefix, :hash, :t)",
        {
            "tenant": tenant_id,
            "name": name,
            "prefix": token[:SHOWN_PREFIX_LENGTH],
            "hash": token_digest(token),
            "t": now_ms,
        },
    )
    return token


def list_tokens(conn: Connection, tenant_id: int) -> list[TokenInfo]:
    rows = conn.all(
        "SELECT id, name, prefix, created_at, last_used_at FROM api_tokens WHERE tenant_id = :t ORDER BY id",
        {"t": tenant_id},
    )
    return [TokenInfo(r["id"], r["name"], r["prefix"], r["created_at"], r["last_used_at"]) for r in rows]


def revoke_token(conn: Connection, tenant_id: int, name_or_prefix: str) -> TokenInfo:
    """Delete the token with this name, or else the one token whose prefix starts with it,
    and the UI sessions signed in with it: both stop working with this commit."""
    tokens = list_tokens(conn, tenant_id)
    chosen = [t for t in tokens if t.name == name_or_prefix] or [
        t
        for t in tokens
        if t.prefix and len(name_or_prefix) > len(TOKEN_PREFIX) and t.prefix.startswith(name_or_prefix)
    ]
    if not chosen:
        raise NotFound(f"the tenant has no token named or starting with {name_or_prefix!r}")
    if len(chosen) > 1:
        raise Conflict(f"{name_or_prefix!r} starts several tokens' prefixes: give more of it, or the name")
    # Explicit, not left to ON DELETE CASCADE: SQLite enforces that only with foreign_keys on.
    conn.run("DELETE FROM ui_sessions WHERE token_id = :id", {"id": chosen[0].token_id})
    conn.run("DELETE FROM api_tokens WHERE id = :id", {"id": chosen[0].token_id})
    return chosen[0]


def bearer_of(conn: Connection, token: str) -> Bearer | None:
    """The owner of a valid (not revoked) token, or None."""
    row = conn.one(
        "SELECT id, tenant_id, last_used_at FROM api_tokens WHERE token_hash = :h", {"h": token_digest(token)}
    )
    return None if row is None else Bearer(int(row["id"]), int(row["tenant_id"]), row["last_used_at"])


def use_worth_noting(last_used_at: int | None, now_ms: int) -> bool:
    """Whether a use at now_ms should be written: at most once per LAST_USED_PRECISION_MS."""
    return last_used_at is None or now_ms - last_used_at >= LAST_USED_PRECISION_MS


def note_use(conn: Connection, bearer: Bearer, now_ms: int) -> None:
    """Record a use, unless another process recorded one within the precision meanwhile."""
    conn.run(
        "UPDATE api_tokens SET last_used_at = :now WHERE id = :id AND (last_used_at IS NULL OR last_used_at <= :stale)",
        {"now": now_ms, "id": bearer.token_id, "stale": now_ms - LAST_USED_PRECISION_MS},
    )
