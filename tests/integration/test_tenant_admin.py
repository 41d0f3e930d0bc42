"""Tenants and their named tokens on SQLite and PostgreSQL: unique names, revocation that
takes effect at once (API and web UI), last use written at most once a minute, and the
upgrade of a database from before tokens had names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dochooks.db import migrate, open_database
from dochooks.errors import Conflict, NotFound
from dochooks.runtime import Runtime, open_runtime
from dochooks.tenants import NewTenant, create_tenant, list_tenants, rename_tenant
from dochooks.tokens import issue_token, list_tokens, revoke_token
from dochooks.ui import sessions
from tests.factories.clients import Api, WebClient, live_service
from tests.factories.stores import make_settings, make_tenant

MINUTE_MS = 60_000


class SetClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def now_ms(self) -> int:
        return self.now


def test_a_second_tenant_of_one_name_is_refused_on_create_and_on_rename(runtime: Runtime) -> None:
    make_tenant(runtime.db, "acme")
    make_tenant(runtime.db, "globex")
    with pytest.raises(Conflict, match="a tenant named 'acme' already exists"), runtime.db.transaction() as conn:
        create_tenant(conn, "acme")
    with pytest.raises(Conflict, match="'acme' already exists"), runtime.db.transaction() as conn:
        rename_tenant(conn, "globex", "acme")
    with runtime.db.transaction() as conn:
        assert rename_tenant(conn, "globex", "initech").name == "initech"
    with runtime.db.read() as conn:
        assert [t.name for t in list_tenants(conn)] == ["acme", "initech"]


def test_a_revoked_token_fails_at_once_in_the_api_and_ends_its_ui_sessions(runtime: Runtime, acme: NewTenant) -> None:
    with runtime.db.transaction() as conn:
        ci = issue_token(conn, acme.tenant_id, "ci", runtime.clock.now_ms())
    with live_service(runtime) as base:
        web, other_web = WebClient(base), WebClient(base)
        web.sign_in(ci)
        other_web.sign_in(acme.token)
        assert Api(base, ci).call("GET", "/v1/webhooks")[0] == 200
        with runtime.db.transaction() as conn:
            revoke_token(conn, acme.tenant_id, ci[:8])  # by a prefix of it
        assert Api(base, ci).call("GET", "/v1/webhooks")[0] == 401
        page = web.get("/development/webhooks")
        assert page.status == 303 and page.location is not None and page.location.startswith("/sign-in")
        # The tenant's other token, and the session made with it, carry on.
        assert Api(base, acme.token).call("GET", "/v1/webhooks")[0] == 200
        assert other_web.get("/development/webhooks").status == 200
    with runtime.db.transaction() as conn, pytest.raises(NotFound):
        revoke_token(conn, acme.tenant_id, "ci")


def test_a_prefix_that_starts_several_tokens_revokes_none(runtime: Runtime, acme: NewTenant) -> None:
    with runtime.db.transaction() as conn:
        issue_token(conn, acme.tenant_id, "ci", 1)
        with pytest.raises(NotFound):
            revoke_token(conn, acme.tenant_id, "dh_")  # a bare "dh_" starts every token
        assert [t.name for t in list_tokens(conn, acme.tenant_id)] == ["default", "ci"]
        with pytest.raises(Conflict, match="named 'ci'"):
            issue_token(conn, acme.tenant_id, "ci", 2)


@pytest.fixture
def clocked(db_url: str, tmp_path: Path) -> Iterator[tuple[Runtime, SetClock]]:
    clock = SetClock()
    rt = open_runtime(make_settings(tmp_path, db_url), clock=clock)
    yield rt, clock
    rt.close()


def test_last_use_is_written_at_most_once_a_minute(clocked: tuple[Runtime, SetClock]) -> None:
    rt, clock = clocked
    acme = make_tenant(rt.db)

    def last_used() -> int | None:
        with rt.db.read() as conn:
            return list_tokens(conn, acme.tenant_id)[0].last_used_at

    with live_service(rt) as base:
        api = Api(base, acme.token)
        assert last_used() is None
        first = clock.now
        assert api.call("GET", "/v1/webhooks")[0] == 200
        assert last_used() == first
        clock.now += MINUTE_MS - 1
        assert api.call("GET", "/v1/webhooks")[0] == 200
        assert last_used() == first  # within the minute: no write
        clock.now += 1
        assert api.call("GET", "/v1/webhooks")[0] == 200
        assert last_used() == clock.now


def test_upgrading_keeps_old_tokens_and_sessions_working_and_makes_duplicate_names_unique(db_url: str) -> None:
    db = open_database(db_url)
    try:
        migrate(db, target=4)
        with db.transaction() as conn:
            for name in ("acme", "acme", "globex", "acme"):
                conn.run("INSERT INTO tenants (name, created_at) VALUES (:n, 1)", {"n": name})
            ids = [r["id"] for r in conn.all("SELECT id FROM tenants ORDER BY id")]
            for n, tenant_id in enumerate([ids[0], ids[0], ids[2]]):  # acme had two tokens
                conn.run(
                    "INSERT INTO api_tokens (tenant_id, token_hash, created_at) VALUES (:t, :h, 1)",
                    {"t": tenant_id, "h": f"hash-{n}"},
                )
            conn.run(
                "INSERT INTO ui_sessions (tenant_id, session_hash, created_at, expires_at) VALUES (:t, :h, 1, :far)",
                {"t": ids[2], "h": sessions.digest("old-session"), "far": 10**15},
            )
        migrate(db)
        with db.read() as conn:
            names = [t.name for t in list_tenants(conn)]
            assert names == ["acme", f"acme ({ids[1]})", "globex", f"acme ({ids[3]})"]
            first, second = list_tokens(conn, ids[0])
            assert (first.name, second.name) == ("default", f"default-{second.token_id}")
            assert first.prefix is None  # its plaintext was never stored
            assert [t.name for t in list_tokens(conn, ids[2])] == ["default"]
            found = sessions.find(conn, "old-session", 2)
            assert found is not None and found.tenant_name == "globex"
        with db.transaction() as conn, pytest.raises(Conflict):
            create_tenant(conn, "globex")
        # The index holds even where a racing writer passed the check in code.
        with pytest.raises(Exception, match=r"(?i)unique"), db.transaction() as conn:
            conn.run("INSERT INTO tenants (name, created_at) VALUES ('globex', 1)")
    finally:
        db.close()
