"""Stores for tests: settings, the real PostgreSQL (a fresh database per test) or a SQLite
file, and the tenants and webhooks in them."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dochooks.db import Database
from dochooks.settings import Settings
from dochooks.tenants import NewTenant, create_tenant
from dochooks.webhooks import store
from dochooks.webhooks.config import Webhook
from dochooks.webhooks.secrets import Cipher
from tests.factories.missing import missing

PG_ADMIN_URL = os.environ.get("DOCHOOKS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
# The topics of a plain upload, in order, when no validation levels are configured.


TEST_KEY = "hVfXnQzGmHf0uF1fJ8u7bq6h2KkQ3p6xk8z7r1wJxQo="


def postgres_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


running_test: pytest.Item | None = None  # set by conftest.py while a test runs


def require_marker() -> None:
    """Fail a test that reaches for PostgreSQL without the `postgres` marker: `-m "not postgres"`
    would otherwise run it, and it would skip, or fail in CI, where PostgreSQL is not there."""
    if running_test is not None and running_test.get_closest_marker("postgres") is None:
        pytest.fail(f"{running_test.nodeid} uses PostgreSQL: mark it @pytest.mark.postgres")


def require_postgres() -> None:
    """Skip without PostgreSQL on a developer's machine; in CI its absence is a failure."""
    require_marker()
    if postgres_reachable():
        return
    missing(f"PostgreSQL is not reachable at {PG_ADMIN_URL} (set DOCHOOKS_TEST_POSTGRES)")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    require_postgres()
    name = "dochooks_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def database_url(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/dochooks.db"
    else:
        with postgres_database() as url:
            yield url


def make_settings(tmp_path: Path, url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "data_dir": tmp_path / "data",
        "secret_key": TEST_KEY,
        "allow_private_targets": True,
        "poll_interval": 0.2,
        # In-process, where a test can see and swap every part; tests/integration/test_sender_process.py
        # and the commands run as subprocesses cover the sender process.
        "sender_process": False,
    }
    values.update(overrides)
    return Settings(**values)


def make_tenant(db: Database, name: str | None = None) -> NewTenant:
    """A tenant named `name`, or "acme" (then "acme 2", "acme 3"… once taken: names are unique)."""
    with db.transaction() as conn:
        wanted, n = name or "acme", 1
        while name is None and conn.one("SELECT id FROM tenants WHERE name = :n", {"n": wanted}):
            n += 1
            wanted = f"acme {n}"
        return create_tenant(conn, wanted)


def make_webhook(db: Database, cipher: Cipher, tenant_id: int, url: str, **overrides: Any) -> Webhook:
    values: dict[str, Any] = {
        "name": "hook",
        "url": url,
        "headers": {"Authorization": "Bearer receiver-token-0123456789"},
        "topics": ("document-received",),
        "enabled": True,
    }
    values.update(overrides)
    with db.transaction() as conn:
        return store.create_webhook(conn, cipher, tenant_id=tenant_id, now_ms=int(time.time() * 1000), **values)
