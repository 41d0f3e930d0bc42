"""Which database a URL names, opened."""

from __future__ import annotations

from dochooks.db.postgres import PostgresDatabase
from dochooks.db.sqlite import SqliteDatabase
from dochooks.errors import StorageError
from dochooks.settings import redact


def open_database(url: str) -> SqliteDatabase | PostgresDatabase:
    """Open the database a URL names: `sqlite:///relative.db`, `sqlite:////abs.db` or `postgresql://...`."""
    if url.startswith("sqlite:///"):
        return SqliteDatabase(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url)
    raise StorageError(f"unsupported database URL {redact(url)!r}: use sqlite:///PATH or postgresql://...")
