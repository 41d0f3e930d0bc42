"""The connections PostgreSQL code is given: a transaction pipelined on a pooled connection
(`Pipelined`), and `read()`'s statements each on their own in autocommit (`Reading`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, suppress
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from psycopg.pq import TransactionStatus

from dochooks.db.dialects import POSTGRESQL
from dochooks.db.engine import Hooks, Params, Row
from dochooks.errors import StorageError


@lru_cache(maxsize=512)
def _pg_sql(sql: str) -> str:
    """`:name` parameters to psycopg's `%(name)s`, leaving `::type` casts alone."""
    return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", sql.replace("%", "%%"))


# A statement to send: SQL in psycopg's style, its parameters, and whether those are a
# list of rows (executemany).
_Statement = tuple[str, Any, bool]
_T = TypeVar("_T")
Pool = psycopg_pool.ConnectionPool[psycopg.Connection[Row]]


def _lost(raw: psycopg.Connection[Row], exc: psycopg.Error) -> bool:
    """Whether the error ended the connection: the server went (broken), or ended the session
    (a shutdown's FATAL error can arrive before the connection is seen to close)."""
    return raw.broken or raw.closed or isinstance(exc, psycopg.errors.AdminShutdown | psycopg.errors.CrashShutdown)


class Pipelined(Hooks):
    """One transaction on a pooled connection in pipeline mode: what nobody waits to read
    (BEGIN, `queue`, `many`, NOTIFY) travels with the next statement that is read, or with
    COMMIT, so a transaction costs a round trip per statement read, plus its COMMIT.

    Until the server first answers, the transaction exists only here: if the connection
    turns out broken (a restarted server), it is sent again on a fresh one. That is the
    pool's check of a connection, without a round trip of its own."""

    dialect = POSTGRESQL

    def __init__(self, pool: Pool, sender: str) -> None:
        super().__init__()
        self._pool = pool
        self._sender = sender
        self._raw: psycopg.Connection[Row] | None = None
        self._pipelined: AbstractContextManager[psycopg.Pipeline] | None = None
        self._unanswered: list[_Statement] | None = []  # None once the server has answered
        self._notified: set[str] = set()

    def all(self, sql: str, params: Params = None) -> list[Row]:
        return self._answer((_pg_sql(sql), params or {}, False), lambda cur: cur.fetchall())

    def one(self, sql: str, params: Params = None) -> Row | None:
        return self._answer((_pg_sql(sql), params or {}, False), lambda cur: cur.fetchone())

    def run(self, sql: str, params: Params = None) -> int:
        return self._answer((_pg_sql(sql), params or {}, False), self._rowcount)

    def queue(self, sql: str, params: Params = None) -> None:
        self._send((_pg_sql(sql), params or {}, False))

    def many(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self._send((_pg_sql(sql), list(rows), True))

    def notify(self, channel: str) -> None:
        if channel not in self._notified:  # PostgreSQL sends it at commit, once is enough
            self._notified.add(channel)
            self._send((f"NOTIFY {channel}, '{self._sender}'", None, False))

    def commit(self) -> None:
        if self._raw is None:
            return  # nothing was sent: there is no transaction to commit
        if self._unanswered is not None:
            # A COMMIT cannot be sent again (it may have committed), so what it would carry
            # is first answered on a connection known to work.
            self._answer(None, lambda _: self._pipeline().sync())
        raw = self._raw
        raw.execute("COMMIT")
        self._leave_pipeline()  # its closing sync sends the COMMIT and waits for it

    def end(self, failed: bool) -> None:
        """Give the connection back to the pool, rolled back if the transaction failed."""
        raw, self._raw = self._raw, None
        if raw is None:
            return
        if failed:
            with suppress(psycopg.Error):
                self._leave_pipeline()
            if not raw.closed and raw.info.transaction_status != TransactionStatus.IDLE:
                try:
                    raw.execute("ROLLBACK")
                except psycopg.Error:
                    raw.close()  # the pool replaces it
        self._pool.putconn(raw)

    def _pipeline(self) -> psycopg.Pipeline:
        assert self._raw is not None and self._raw._pipeline is not None
        return self._raw._pipeline

    @staticmethod
    def _rowcount(cur: psycopg.Cursor[Row]) -> int:
        if cur.rowcount < 0:  # not answered yet
            cur.connection._pipeline.sync()  # type: ignore[union-attr]
        return cur.rowcount

    def _send(self, statement: _Statement) -> psycopg.Cursor[Row]:
        if self._unanswered is not None:
            self._unanswered.append(statement)
        try:
            return self._execute(statement)
        except psycopg.Error as exc:
            return self._sent_again(exc)

    def _answer(self, statement: _Statement | None, read: Callable[[psycopg.Cursor[Row]], _T]) -> _T:
        cur = self._send(statement) if statement is not None else self._execute(None)
        try:
            result = read(cur)
        except psycopg.Error as exc:
            result = read(self._sent_again(exc))
        self._unanswered = None
        return result

    def _execute(self, statement: _Statement | None) -> psycopg.Cursor[Row]:
        if self._raw is None:
            self._raw = self._pool.getconn()
            self._pipelined = self._raw.pipeline()
            self._pipelined.__enter__()
            self._raw.execute("BEGIN")
        cur = self._raw.cursor()
        if statement is not None:
            sql, params, rows = statement
            if rows:
                cur.executemany(sql, params)
            else:
                cur.execute(sql, params)
        return cur

    def _sent_again(self, exc: psycopg.Error) -> psycopg.Cursor[Row]:
        """Called while a psycopg error is handled: the transaction sent again from BEGIN
        on a fresh connection if the server never answered it and the connection broke;
        otherwise the error, raised again. Returns the cursor of the last statement."""
        raw = self._raw
        if self._unanswered is None or raw is None or not _lost(raw, exc):
            raise  # the error being handled (only ever called from an except block)
        self.end(failed=True)
        self._pool.check()  # a restarted server leaves every idle connection broken
        cur = self._execute(None)
        for statement in self._unanswered:
            cur = self._execute(statement)
        return cur

    def _leave_pipeline(self) -> None:
        pipelined, self._pipelined = self._pipelined, None
        if pipelined is not None:
            pipelined.__exit__(None, None, None)


class Reading(Hooks):
    """What `read()` gives: each statement on its own, in autocommit, a round trip each.
    Under READ COMMITTED a transaction would give each statement a snapshot of its own all
    the same; its BEGIN and COMMIT would only cost a round trip more. It refuses writes.
    A statement that finds its connection broken (a restarted server) is sent again, once,
    on a fresh one: it changed nothing."""

    dialect = POSTGRESQL

    def __init__(self, pool: Pool) -> None:
        super().__init__()
        self._pool = pool
        self._raw: psycopg.Connection[Row] | None = None

    def all(self, sql: str, params: Params = None) -> list[Row]:
        return self._answer(sql, params, lambda cur: cur.fetchall())

    def one(self, sql: str, params: Params = None) -> Row | None:
        return self._answer(sql, params, lambda cur: cur.fetchone())

    def run(self, sql: str, params: Params = None) -> int:
        raise StorageError("a read() does not write: use transaction()")

    def queue(self, sql: str, params: Params = None) -> None:
        self.run(sql, params)

    def many(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        self.run(sql)

    def notify(self, channel: str) -> None:
        self.run(channel)

    def end(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            self._pool.putconn(raw)

    def _answer(self, sql: str, params: Params, read: Callable[[psycopg.Cursor[Row]], _T]) -> _T:
        for fresh in (False, True):
            if self._raw is None:
                self._raw = self._pool.getconn()
            raw = self._raw
            try:
                return read(raw.execute(_pg_sql(sql), params or {}))
            except psycopg.Error as exc:
                if fresh or not _lost(raw, exc):
                    raise
                self.end()
                self._pool.check()  # a restarted server leaves every idle connection broken
        raise AssertionError("unreachable")
