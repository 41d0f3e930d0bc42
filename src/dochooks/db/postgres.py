"""PostgreSQL, for scale-out: a psycopg connection pool (its connections: `pg_connections.py`),
LISTEN/NOTIFY for wake-ups."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import psycopg
import psycopg_pool
from psycopg.rows import dict_row

from dochooks.db.dialects import POSTGRESQL
from dochooks.db.engine import Connection, Row
from dochooks.db.pg_connections import Pipelined, Pool, Reading
from dochooks.errors import DatabaseClosed, StorageError
from dochooks.settings import redact

logger = logging.getLogger("dochooks.db")


class PostgresDatabase:
    """PostgreSQL through a psycopg connection pool; each transaction takes one connection."""

    dialect = POSTGRESQL

    def __init__(self, url: str, max_size: int = 16) -> None:
        self.url = url
        self._closed = False
        # Signs this database's NOTIFYs: its own listeners skip them, because the commit
        # that sent one has already announced it in this process (`signals.Signal`).
        self._sender = secrets.token_hex(8)
        try:  # fail fast with PostgreSQL's own words rather than after the pool's retries
            psycopg.connect(url, connect_timeout=10).close()
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL at {redact(url)}: {exc}".strip()) from exc
        self._pool: Pool = psycopg_pool.ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": dict_row},
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
        conn = Pipelined(self._pool, self._sender)
        try:
            yield conn
            conn.commit()
        except BaseException:
            conn.end(failed=True)
            raise
        conn.end(failed=False)
        conn.fire()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        self._refuse_if_closed()
        conn = Reading(self._pool)
        try:
            yield conn
        finally:
            conn.end()

    async def listen(self, channel: str, on_notify: Callable[[], None]) -> None:
        """Call `on_notify` for every NOTIFY on `channel` but this database's own (its commits
        announce those in this process), reconnecting until cancelled."""
        while True:
            self._refuse_if_closed()  # closed: stop, rather than reconnect for ever
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {channel}")
                    on_notify()  # whatever was sent while we were not listening
                    async for notification in conn.notifies():
                        if notification.payload != self._sender:
                            on_notify()
            except Exception as exc:  # the dispatcher polls meanwhile; never give up listening
                logger.warning("LISTEN %s lost its connection (%s); reconnecting", channel, exc)
                await asyncio.sleep(1)

    @contextmanager
    def own(self) -> Iterator[None]:
        """Nothing to hold: any number of processes share the database."""
        self._refuse_if_closed()
        yield

    def reclaim(self, tables: Sequence[str]) -> None:
        """VACUUM (ANALYZE) `tables` if the server's autovacuum is off: dead rows are never
        reused otherwise, and the statistics the pruning walk is planned by go stale. With
        autovacuum on (PostgreSQL's default) it does both by itself, when it measures a need."""
        self._refuse_if_closed()
        with self._pool.connection() as raw:  # autocommit: VACUUM refuses a transaction
            row = raw.execute("SHOW autovacuum").fetchone()
            if row is not None and row["autovacuum"] == "off":
                raw.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")

    def close(self) -> None:
        """Close the pool; from now on every use raises `DatabaseClosed`."""
        self._closed = True
        self._pool.close()
