"""Tenants: created with a first token named "default", listed, shown, renamed. Names are
unique: in code for a clear message, and by the index `tenants_name` against races."""

from __future__ import annotations

from dataclasses import dataclass

from dochooks.clock import Clock, SystemClock
from dochooks.db import Connection, Row
from dochooks.errors import Conflict, InvalidInput, NotFound
from dochooks.tokens import issue_token

FIRST_TOKEN_NAME = "default"


@dataclass(frozen=True)
class NewTenant:
    tenant_id: int
    token: str


@dataclass(frozen=True)
class Tenant:
    tenant_id: int
    name: str
    created_at: int
    tokens: int


def _check_name_free(conn: Connection, name: str) -> None:
    if not name.strip():
        raise InvalidInput("a tenant needs a name")
    if conn.one("SELECT id FROM tenants WHERE name = :n", {"n": name}):
        raise Conflict(f"a tenant named {name!r} already exists")


def create_tenant(conn: Connection, name: str, clock: Clock | None = None) -> NewTenant:
    """A new tenant and the plaintext of its first token, named "default"."""
    _check_name_free(conn, name)
    now = (clock or SystemClock()).now_ms()
    row = conn.one("INSERT INTO tenants (name, created_at) VALUES (:n, :t) RETURNING id", {"n": name, "t": now})
    assert row is not None
    return NewTenant(row["id"], issue_token(conn, row["id"], FIRST_TOKEN_NAME, now))


_SELECT = (
    "SELECT t.id, t.name, t.created_at, (SELECT COUNT(*) FROM api_tokens k WHERE k.tenant_id = t.id) AS tokens "
    "FROM tenants t "
)


def _tenant(row: Row) -> Tenant:
    return Tenant(int(row["id"]), str(row["name"]), int(row["created_at"]), int(row["tokens"]))


def list_tenants(conn: Connection) -> list[Tenant]:
    return [_tenant(r) for r in conn.all(_SELECT + "ORDER BY t.id")]


def find_tenant(conn: Connection, name_or_id: str) -> Tenant:
    """The tenant of this name or, failing that, of this numeric id; NotFound otherwise."""
    row = conn.one(_SELECT + "WHERE t.name = :n", {"n": name_or_id})
    if row is None and name_or_id.isdigit():
        row = conn.one(_SELECT + "WHERE t.id = :id", {"id": int(name_or_id)})
    if row is None:
        raise NotFound(f"no tenant named {name_or_id!r}")
    return _tenant(row)


def rename_tenant(conn: Connection, name_or_id: str, new_name: str) -> Tenant:
    found = find_tenant(conn, name_or_id)
    if new_name != found.name:
        _check_name_free(conn, new_name)
        conn.run("UPDATE tenants SET name = :n WHERE id = :id", {"n": new_name, "id": found.tenant_id})
    return Tenant(found.tenant_id, new_name, found.created_at, found.tokens)
