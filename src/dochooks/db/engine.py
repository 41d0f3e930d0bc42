"""One storage interface, two engines: SQLite (embedded default) and PostgreSQL (scale-out).

SQL is written once with `:name` parameters; the PostgreSQL engine rewrites them to
psycopg's style. Callers never learn which engine they run on, apart from `dialect`
where a statement truly differs (row locking).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import psycopg
import psycopg_pool
from psycopg.rows import dict_row

from dochooks.errors import StorageError
from dochooks.private_files import private_dir, private_file, tighten

log = logging.getLogger("dochooks.db")
Row = dict[str, Any]
Params = Mapping[str, Any] | None


class Connection(Protocol):
    """What storage code sees of a connection inside a transaction."""

    dialect: str

    def all(self, sql: str, params: Params = None) -> list[Row]: ...

    def one(self, sql: str, params: Params = None) -> Row | None: ...

    def run(self, sql: str, params: Params = None) -> int: ...

    def many(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None: ...

    def after_commit(self, callback: Callable[[], None]) -> None: ...


class Database(Protocol):
    dialect: str

    def transaction(self) -> AbstractContextManager[Connection]: ...

    def read(self) -> AbstractContextManager[Connection]: ...

    async def listen(self, channel: str, on_notify: Callable[[], None]) -> None: ...

    def close(self) -> None: ...


class _Hooks:
    def __init__(self) -> None:
        self._callbacks: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def fire(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


def _dict_factory(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {col[0]: value for col, value in zip(cursor.description, row, strict=True)}


class _SqliteConnection(_Hooks):
    dialect = "sqlite"

    def __init__(self, raw: sqlite3.Connection) -> None:
        super().__init__()
        self.raw = raw

    def all(self, sql: str, params: Params = None) -> list[Row]:
        return self.raw.execute(sql, params or {}).fetchall()

    def one(self, sql: str, params: Params = None) -> Row | None:
        row: Row | None = self.raw.execute(sql, params or {}).fetchone()
        return row

    def run(self, sql: str, params: Params = None) -> int:
        return self.raw.execute(sql, params or {}).rowcount

    def many(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.raw.executemany(sql, rows)


class SqliteDatabase:
    """SQLite in WAL mode. Every write goes through one connection under a lock
    (`BEGIN IMMEDIATE`), so writers queue in-process instead of failing busy."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":
            # Made 0600 before SQLite opens it: SQLite gives the -wal and -shm files its mode.
            private_dir(Path(path).parent, tighten_existing=False)  # maybe a shared directory
            private_file(Path(path))
            for companion in ("-wal", "-shm"):  # left by an earlier version, which made them 0644
                tighten(Path(path + companion))
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()

    def _open(self) -> sqlite3.Connection:
        raw = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        raw.row_factory = _dict_factory
        raw.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed attempt survives a power cut, not just a process crash.
        raw.execute("PRAGMA synchronous=FULL")
        raw.execute("PRAGMA foreign_keys=ON")
        raw.execute("PRAGMA busy_timeout=30000")
        with self._all_lock:
            self._all.append(raw)
        return raw

    def _thread_connection(self) -> sqlite3.Connection:
        raw: sqlite3.Connection | None = getattr(self._local, "raw", None)
        if raw is None:
            raw = self._local.raw = self._open()
        return raw

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self._write_lock:
            conn = _SqliteConnection(self._thread_connection())
            try:
                conn.raw.execute("BEGIN IMMEDIATE")
                yield conn
                conn.raw.execute("COMMIT")
            except BaseException:
                if conn.raw.in_transaction:
                    conn.raw.execute("ROLLBACK")
                raise
        conn.fire()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A consistent snapshot for reading, without waiting for the writer (WAL)."""
        conn = _SqliteConnection(self._thread_connection())
        conn.raw.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.raw.execute("COMMIT")

    async def listen(self, channel: str, on_notify: Callable[[], None]) -> None:
        """SQLite has no notifications between processes; in-process wake-ups do the job."""
        await asyncio.Future()

    def close(self) -> None:
        with self._all_lock:
            for raw in self._all:
                raw.close()
            self._all.clear()
        self._local = threading.local()


@lru_cache(maxsize=512)
def _pg_sql(sql: str) -> str:
    """`:name` parameters to psycopg's `%(name)s`, leaving `::type` casts alone."""
    return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", sql.replace("%", "%%"))


class _PostgresConnection(_Hooks):
    dialect = "postgresql"

    def __init__(self, raw: psycopg.Connection[Row]) -> None:
        super().__init__()
        self.raw = raw

    def all(self, sql: str, params: Params = None) -> list[Row]:
        return self.raw.execute(_pg_sql(sql), params or {}).fetchall()

    def one(self, sql: str, params: Params = None) -> Row | None:
        return self.raw.execute(_pg_sql(sql), params or {}).fetchone()

    def run(self, sql: str, params: Params = None) -> int:
        return self.raw.execute(_pg_sql(sql), params or {}).rowcount

    def many(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            with self.raw.cursor() as cur:
                cur.executemany(_pg_sql(sql), rows)


class PostgresDatabase:
    """PostgreSQL through a psycopg connection pool; each transaction takes one connection."""

    dialect = "postgresql"

    def __init__(self, url: str, max_size: int = 16) -> None:
        self.url = url
        try:  # fail fast with PostgreSQL's own words rather than after the pool's retries
            psycopg.connect(url, connect_timeout=10).close()
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL at {_redact(url)}: {exc}".strip()) from exc
        self._pool: psycopg_pool.ConnectionPool[psycopg.Connection[Row]] = psycopg_pool.ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": dict_row},
            check=psycopg_pool.ConnectionPool.check_connection,  # a restarted server costs no failed request
            connection_class=psycopg.Connection[Row],
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=10)
        except psycopg_pool.PoolTimeout as exc:
            self._pool.close()
            raise StorageError(f"cannot connect to PostgreSQL at {_redact(url)}") from exc

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self._pool.connection() as raw, raw.transaction():
            conn = _PostgresConnection(raw)
            yield conn
        conn.fire()

    read = transaction

    async def listen(self, channel: str, on_notify: Callable[[], None]) -> None:
        """Call `on_notify` for every NOTIFY on `channel`, reconnecting until cancelled."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {channel}")
                    on_notify()  # whatever was sent while we were not listening
                    async for _ in conn.notifies():
                        on_notify()
            except Exception as exc:  # the dispatcher polls meanwhile; never give up listening
                log.warning("LISTEN %s lost its connection (%s); reconnecting", channel, exc)
                await asyncio.sleep(1)

    def close(self) -> None:
        self._pool.close()


def in_clause(name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """`(:name0, :name1, ...)` and its parameters, for `column IN` on either engine."""
    params = {f"{name}{i}": v for i, v in enumerate(values)}
    return "(" + ", ".join(f":{key}" for key in params) + ")", params


def _redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def open_database(url: str) -> SqliteDatabase | PostgresDatabase:
    """Open the database a URL names: `sqlite:///relative.db`, `sqlite:////abs.db` or `postgresql://...`."""
    if url.startswith("sqlite:///"):
        return SqliteDatabase(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url)
    raise StorageError(f"unsupported database URL {_redact(url)!r}: use sqlite:///PATH or postgresql://...")
