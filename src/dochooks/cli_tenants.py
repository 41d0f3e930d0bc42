"""`dochooks tenant ...` and `dochooks token ...`: tenants and their named API tokens, on the
database the service uses (migrated first, like every command that writes)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import click

from dochooks.cli_support import Group, settings_from, settings_options
from dochooks.clock import SystemClock, iso
from dochooks.db import Database, migrate, open_database
from dochooks.tenants import Tenant, create_tenant, find_tenant, list_tenants, rename_tenant
from dochooks.tokens import TokenInfo, issue_token, list_tokens, revoke_token

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
_DATABASE = settings_options("database_url", "log_level", "log_format")
_TENANT = click.argument("tenant_ref", metavar="TENANT")  # a name, or an id


@contextlib.contextmanager
def _database(flags: dict[str, Any]) -> Iterator[Database]:
    db = open_database(settings_from(flags).database_url)
    try:
        migrate(db)
        yield db
    finally:
        db.close()


def _tenant_doc(found: Tenant) -> dict[str, object]:
    return {
        "tenant_id": found.tenant_id,
        "name": found.name,
        "created_at": iso(found.created_at),
        "tokens": found.tokens,
    }


def _token_doc(info: TokenInfo) -> dict[str, object]:
    return {
        "name": info.name,
        "prefix": info.prefix,
        "created_at": iso(info.created_at),
        "last_used_at": iso(info.last_used_at),
    }


@click.group(cls=Group)
def tenant() -> None:
    """Manage tenants: names are unique."""


@tenant.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help='Print exactly {"tenant_id": ..., "token": ...}.')
@_DATABASE
def tenant_create(name: str, as_json: bool, **flags: Any) -> None:
    """Create a tenant and print its id and its first API token, named "default" (shown only this once)."""
    with _database(flags) as db, db.transaction() as conn:
        created = create_tenant(conn, name)
    if as_json:
        click.echo(json.dumps({"tenant_id": created.tenant_id, "token": created.token}))
    else:
        click.echo(
            f"tenant id: {created.tenant_id}\ntoken:     {created.token}\nKeep the token: it is not shown again."
        )


@tenant.command("list")
@_JSON
@_DATABASE
def tenant_list(as_json: bool, **flags: Any) -> None:
    """List every tenant: id, name, created, number of tokens."""
    with _database(flags) as db, db.read() as conn:
        found = list_tenants(conn)
    if as_json:
        click.echo(json.dumps([_tenant_doc(t) for t in found]))
        return
    for t in found:
        click.echo(f"{t.tenant_id:>6}  {t.name}  created {iso(t.created_at)}  {t.tokens} token(s)")


@tenant.command("show")
@_TENANT
@_JSON
@_DATABASE
def tenant_show(tenant_ref: str, as_json: bool, **flags: Any) -> None:
    """Show one tenant (by name, or by id) and its tokens."""
    with _database(flags) as db, db.read() as conn:
        found = find_tenant(conn, tenant_ref)
        tokens = list_tokens(conn, found.tenant_id)
    if as_json:
        click.echo(json.dumps({**_tenant_doc(found), "token_names": [t.name for t in tokens]}))
        return
    click.echo(f"tenant id: {found.tenant_id}\nname:      {found.name}\ncreated:   {iso(found.created_at)}")
    click.echo(f"tokens:    {', '.join(t.name for t in tokens) or 'none'}")


@tenant.command("rename")
@_TENANT
@click.argument("new_name")
@_DATABASE
def tenant_rename(tenant_ref: str, new_name: str, **flags: Any) -> None:
    """Give a tenant (by name, or by id) a new name, unused by any other tenant."""
    with _database(flags) as db, db.transaction() as conn:
        renamed = rename_tenant(conn, tenant_ref, new_name)
    click.echo(f"tenant {renamed.tenant_id} is now named {renamed.name!r}")


@click.group(cls=Group)
def token() -> None:
    """Manage a tenant's named API tokens."""


@token.command("create")
@_TENANT
@click.option("--name", required=True, help="A name for the token, unique within the tenant (e.g. ci).")
@_JSON
@_DATABASE
def token_create(tenant_ref: str, name: str, as_json: bool, **flags: Any) -> None:
    """Make a new API token for a tenant and print it (shown only this once)."""
    with _database(flags) as db, db.transaction() as conn:
        owner = find_tenant(conn, tenant_ref)
        made = issue_token(conn, owner.tenant_id, name, SystemClock().now_ms())
    if as_json:
        click.echo(json.dumps({"tenant_id": owner.tenant_id, "name": name, "token": made}))
    else:
        click.echo(f"token {name!r} of tenant {owner.name!r}:\n{made}\nKeep the token: it is not shown again.")


@token.command("list")
@_TENANT
@_JSON
@_DATABASE
def token_list(tenant_ref: str, as_json: bool, **flags: Any) -> None:
    """List a tenant's tokens: prefix, name, created, last used (to the minute)."""
    with _database(flags) as db, db.read() as conn:
        tokens = list_tokens(conn, find_tenant(conn, tenant_ref).tenant_id)
    if as_json:
        click.echo(json.dumps([_token_doc(t) for t in tokens]))
        return
    for t in tokens:
        # A token from before tokens had names has no known prefix: revoke it by name.
        click.echo(
            f"{t.prefix or '(unknown)':<12}  {t.name}  created {iso(t.created_at)}  "
            f"last used {iso(t.last_used_at) or 'never'}"
        )


@token.command("revoke")
@_TENANT
@click.argument("name_or_prefix", metavar="NAME-OR-PREFIX")
@_DATABASE
def token_revoke(tenant_ref: str, name_or_prefix: str, **flags: Any) -> None:
    """Revoke a token by its name or its prefix: API calls and web UI sessions made with it stop at once."""
    with _database(flags) as db, db.transaction() as conn:
        revoked = revoke_token(conn, find_tenant(conn, tenant_ref).tenant_id, name_or_prefix)
    click.echo(f"revoked token {revoked.name!r}")
