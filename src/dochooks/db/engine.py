"""One storage interface, two engines: SQLite (embedded default, `sqlite.py`) and
PostgreSQL (scale-out, `postgres.py`).

SQL is written once with `:name` parameters; the PostgreSQL engine rewrites them to
psycopg's style. Callers never learn which engine they run on, apart from `dialect`
where a statement truly differs (row locking).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

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


def redact(url: str) -> str:
    """A database URL with its password masked, for messages."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
