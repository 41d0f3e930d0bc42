"""Sign-in sessions of the web UI and their CSRF tokens.

The cookie holds a random session id; the database keeps only its SHA-256 digest, with an
expiry. The CSRF token is an HMAC of "csrf" keyed with the session id: it needs no storage,
and nobody who cannot read the HttpOnly cookie can compute it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from dochooks.db import Connection
from dochooks.tokens import bearer_of, note_use, use_worth_noting

SESSION_COOKIE = "dochooks_session"
SESSION_TTL_MS = 12 * 3600 * 1000


@dataclass(frozen=True)
class Session:
    session_id: str
    tenant_id: int
    tenant_name: str
    expires_at: int

    @property
    def csrf_token(self) -> str:
        return csrf_token_for(self.session_id)


def digest(session_id: str) -> str:
    """What the database keeps of a session id (and keys the session's flashes by)."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_token_for(secret: str) -> str:
    """The CSRF token that belongs to a session id (or to a sign-in form's nonce)."""
    return hmac.new(secret.encode(), b"csrf", hashlib.sha256).hexdigest()


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def sign_in(conn: Connection, token: str, now_ms: int) -> str | None:
    """A new session id for the tenant of an API token, or None when the token is not valid.
    The session lasts only as long as the token; expired sessions are removed on the way."""
    bearer = bearer_of(conn, token.strip())
    if bearer is None:
        return None
    if use_worth_noting(bearer.last_used_at, now_ms):
        note_use(conn, bearer, now_ms)
    conn.run("DELETE FROM ui_sessions WHERE expires_at <= :now", {"now": now_ms})
    session_id = secrets.token_urlsafe(32)
    conn.run(
        "INSERT INTO ui_sessions (tenant_id, token_id, session_hash, created_at, expires_at) "
        "VALUES (:tenant, :token, :hash, :now, :expires)",
        {
            "tenant": bearer.tenant_id,
            "token": bearer.token_id,
            "hash": digest(session_id),
            "now": now_ms,
            "expires": now_ms + SESSION_TTL_MS,
        },
    )
    return session_id


def find(conn: Connection, session_id: str, now_ms: int) -> Session | None:
    """The live session with this id, if any: not expired, and its token not revoked."""
    row = conn.one(
        "SELECT s.tenant_id, s.expires_at, t.name FROM ui_sessions s JOIN tenants t ON t.id = s.tenant_id "
        "JOIN api_tokens k ON k.id = s.token_id "
        "WHERE s.session_hash = :hash AND s.expires_at > :now",
        {"hash": digest(session_id), "now": now_ms},
    )
    if row is None:
        return None
    return Session(session_id, int(row["tenant_id"]), row["name"], int(row["expires_at"]))


def sign_out(conn: Connection, session_id: str) -> None:
    conn.run("DELETE FROM ui_sessions WHERE session_hash = :hash", {"hash": digest(session_id)})
