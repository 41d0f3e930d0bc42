"""Versioned migrations: numbered .sql files applied in order, each in its own transaction."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

from dochooks.clock import SystemClock
from dochooks.db.dialects import Dialect
from dochooks.db.engine import Connection, Database
from dochooks.errors import MigrationError

# Serializes concurrent `migrate` runs of several workers on one shared database.
_LOCK_KEY = 0x646F63686F6F6B73


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self, dialect: Dialect) -> list[str]:
        text = re.sub(r"--[^\n]*", "", self.sql).replace("{pk}", dialect.primary_key)
        text = text.replace("{bytes}", dialect.binary).replace("{xid}", dialect.xid)
        text = text.replace("{current_xact}", dialect.current_xact)
        return [s.strip() for s in text.split(";") if s.strip()]


def available() -> list[Migration]:
    """Every migration shipped with the package, oldest first."""
    found = []
    for entry in resources.files("dochooks.db").joinpath("migrations").iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def missing(conn: Connection) -> list[Migration]:
    """The migrations this version ships that the database lacks (read only: for readiness)."""
    applied = {row["version"] for row in conn.all("SELECT version FROM schema_migrations")}
    return [m for m in shipped() if m.version not in applied]


@functools.cache
def shipped() -> tuple[Migration, ...]:
    return tuple(available())


def _applied(conn: Connection) -> set[int]:
    conn.run(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
    )
    return {row["version"] for row in conn.all("SELECT version FROM schema_migrations")}


def migrate(db: Database, *, target: int | None = None) -> list[Migration]:
    """Apply every migration not yet applied (up to version `target`, if given); returns
    the ones applied now."""
    done: list[Migration] = []
    for migration in available():
        if target is not None and migration.version > target:
            break
        with db.transaction() as conn:
            if db.dialect.lock_until_commit:
                conn.run(db.dialect.lock_until_commit, {"key": _LOCK_KEY})
            if migration.version in _applied(conn):
                continue
            try:
                for statement in migration.statements(db.dialect):
                    conn.run(statement)
            except Exception as exc:
                raise MigrationError(f"migration {migration.version:04d}_{migration.name} failed: {exc}") from exc
            conn.run(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (:v, :n, :t)",
                {"v": migration.version, "n": migration.name, "t": SystemClock().now_ms()},
            )
            done.append(migration)
    return done
