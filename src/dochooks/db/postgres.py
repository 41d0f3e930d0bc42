"""PostgreSQL, for scale-out: a psycopg connection pool, LISTEN/NOTIFY for wake-ups."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
import psycopg_pool
from psycopg.rows import dict_row

from dochooks.db.dialects import POSTGRESQL
from dochooks.db.engine import Connection, Hooks, Params, Row
from dochooks.errors import DatabaseClosed, StorageError
from dochooks.settings import redact

logger = logging.getLogger("dochooks.db")


@lru_cache(maxsize=512)
def _pg_sql(sql: str) -> str:
    """`:name` parameters to psycopg's `%(name)s`, leaving `::type` casts alone."""
    return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", sql.replace("%", "%%"))


class _PostgresConnection(Hooks):
    dialect = POSTGRESQL

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

    def notify(self, channel: str) -> None:
        self.run(f"NOTIFY {channel}")  # PostgreSQL sends it at commit, not before


class PostgresDatabase:
    """PostgreSQL through a psycopg connection pool; each transaction takes one connection."""

    dialect = POSTGRESQL

    def __init__(self, url: str, max_size: int = 16) -> None:
        self.url = url
        self._closed = False
        try:  # fail fast with PostgreSQL's own words rather than after the pool's retries
            psycopg.connect(url, connect_timeout=10).close()
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL at {redact(url)}: {exc}".strip()) from exc
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
            raise StorageError(f"cannot connect to PostgreSQL at {redact(url)}") from exc

    def _refuse_if_closed(self) -> None:
        if self._closed:
            raise DatabaseClosed(f"the database {redact(self.url)} is closed")

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        self._refuse_if_closed()
        with self._pool.connection() as raw, raw.transaction():
            conn = _PostgresConnection(raw)
            yield conn
        conn.fire()

    read = transaction

    async def listen(self, channel: str, on_notify: Callable[[], None]) -> None:
        """Call `on_notify` for every NOTIFY on `channel`, reconnecting until cancelled."""
        while True:
            self._refuse_if_closed()  # closed: stop, rather than reconnect for ever
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {channel}")
                    on_notify()  # whatever was sent while we were not listening
                    async for _ in conn.notifies():
                        on_notify()
            except Exception as exc:  # the dispatcher polls meanwhile; never give up listening
                logger.warning("LISTEN %s lost its connection (%s); reconnecting", channel, exc)
                await asyncio.sleep(1)

    @contextmanager
    def own(self) -> Iterator[None]:
        """Nothing to hold: any number of processes share the database."""
        self._refuse_if_closed()
        yield

    def close(self) -> None:
        """Close the pool; from now on every use raises `DatabaseClosed`."""
        self._closed = True
        self._pool.close()
