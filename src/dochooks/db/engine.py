"""One storage interface, two engines: SQLite (embedded default, `sqlite.py`) and
PostgreSQL (scale-out, `postgres.py`).

SQL is written once with `:name` parameters; the PostgreSQL engine rewrites them to
psycopg's style. Callers never learn which engine they run on: where the two differ,
they ask the connection's `dialect` (`dialects.py`) what it means for them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from dochooks.db.dialects import Dialect

Row = dict[str, Any]
Params = Mapping[str, Any] | None


class Connection(Protocol):
    """What storage code sees of a connection inside a transaction."""

    dialect: Dialect

    def all(self, sql: str, params: Params = None) -> list[Row]: ...

    def one(self, sql: str, params: Params = None) -> Row | None: ...

    def run(self, sql: str, params: Params = None) -> int: ...

    def queue(self, sql: str, params: Params = None) -> None:
        """Run a write whose answer nobody reads: at once, or (PostgreSQL) sent with the next
        statement that is read or with COMMIT, its errors raised there."""
        ...

    def many(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run a write once per row; like `queue`, it may be sent with what follows."""
        ...

    def after_commit(self, callback: Callable[[], None]) -> None: ...

    def notify(self, channel: str) -> None:
        """At commit, wake whoever `listen`s on `channel` in other processes."""
        ...


class Database(Protocol):
    """A database: transactions and snapshots, wake-ups between processes, ownership."""

    dialect: Dialect

    def transaction(self) -> AbstractContextManager[Connection]: ...

    def read(self) -> AbstractContextManager[Connection]: ...

    async def listen(self, channel: str, on_notify: Callable[[], None]) -> None:
        """Call `on_notify` whenever another database object's transaction `notify`s `channel`
        (this one's announce in-process, `signals.Signal`); and once when it starts listening."""
        ...

    def own(self) -> AbstractContextManager[None]:
        """Hold the database for this process until exit where one process owns it
        (`dialect.owned_by_one_process`); raises `StorageError` if another process holds it."""
        ...

    def reclaim(self, tables: Sequence[str]) -> None:
        """After many rows of `tables` were deleted: make their space reusable where the
        engine needs telling (PostgreSQL with autovacuum off), outside any transaction."""
        ...

    def close(self) -> None: ...


class Hooks:
    """Callbacks a connection runs once its transaction has committed."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def fire(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


def in_clause(name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """`(:name0, :name1, ...)` and its parameters, for `column IN` on either engine."""
    params = {f"{name}{i}": v for i, v in enumerate(values)}
    return "(" + ", ".join(f":{key}" for key in params) + ")", params


def rows_by(conn: Connection, query: str, key: str, values: Sequence[Any]) -> dict[Any, list[Row]]:
    """The rows of `query` (its `{values}` filled in as an IN list) grouped by their `key`
    column, with an empty list for each of `values` that has none."""
    found: dict[Any, list[Row]] = {v: [] for v in values}
    if values:
        listed, params = in_clause("v", values)
        for row in conn.all(query.format(values=listed), params):
            found[row[key]].append(row)
    return found
